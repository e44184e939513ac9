// How the native addon is found (local build, then the prebuilt binary) and what the install hook says when it
// can neither use a prebuilt binary nor build one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nativeAddonCandidates, prebuiltAddonPath } from '../../src/engine/native.js';
import { packageRoot } from '../../src/util/paths.js';
import { nodeCommand } from '../helpers/cli.js';

test('the addon is looked for in SFTKIT_NATIVE, else build/Release, then prebuilds/<platform>-<arch>', () => {
  const root = '/pkg';
  const saved = process.env.SFTKIT_NATIVE;
  try {
    delete process.env.SFTKIT_NATIVE;
    assert.deepEqual(nativeAddonCandidates(root), [
      join(root, 'build', 'Release', 'sftkit.node'),
      join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'sftkit.napi.node'),
    ]);
    assert.equal(prebuiltAddonPath(root), nativeAddonCandidates(root)[1]);
    process.env.SFTKIT_NATIVE = '/x/addon.node';
    assert.deepEqual(nativeAddonCandidates(root), ['/x/addon.node']);
  } finally {
    if (saved === undefined) delete process.env.SFTKIT_NATIVE;
    else process.env.SFTKIT_NATIVE = saved;
  }
});

test('install without a usable prebuilt binary and without build tools names what is missing', () => {
  const [cmd, ...pre] = nodeCommand();
  const r = spawnSync(cmd, [...pre, join(packageRoot(), 'scripts', 'install-native.mjs')], {
    env: { PATH: '/nonexistent', SFTKIT_BUILD_FROM_SOURCE: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 1, r.stderr);
  const msg = r.stderr.trim();
  assert.equal(msg.split('\n').length, 1, msg);
  assert.match(msg, /no prebuilt native addon for \w+-\w+ \(prebuilt binaries: linux-x64 and linux-arm64/);
  assert.match(msg, /Python 3/);
  assert.match(msg, /a C\+\+17 compiler \(c\+\+ or g\+\+ or clang\+\+\)/);
  assert.match(msg, /make/);
  assert.match(msg, /npm rebuild sftkit/);
});
