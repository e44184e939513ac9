import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirs } from '../../src/io/make-dirs.js';

test('makeDirs: creates missing parents, accepts an existing folder, refuses a file in the path', () => {
  const root = mkdtempSync(join(tmpdir(), 'sftkit-mkdirs-'));
  const deep = join(root, 'a', 'b', 'c');
  makeDirs(deep);
  assert.ok(statSync(deep).isDirectory());
  makeDirs(deep);
  makeDirs(root);
  writeFileSync(join(root, 'file'), 'x');
  assert.throws(() => makeDirs(join(root, 'file', 'sub')), { code: 'ENOTDIR' });
  assert.throws(() => makeDirs(join(root, 'file')), { code: 'ENOTDIR', path: join(root, 'file') });
});

test(
  'makeDirs under /proc ends with ENOENT (Node’s recursive mkdir spins there forever)',
  { skip: !existsSync('/proc/self/status') && 'no procfs here' },
  () => {
    assert.throws(() => makeDirs('/proc/sftkit-no-such-folder/run'), {
      code: 'ENOENT',
      path: '/proc/sftkit-no-such-folder',
    });
  },
);
