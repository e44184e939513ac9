#!/usr/bin/env node
// Builds the prebuilt addons the npm package ships (prebuilds/<platform>-<arch>/sftkit.napi.node, N-API 8, so one
// binary serves every Node >= 20): linux-x64 with the host's g++, linux-arm64 cross-compiled with
// g++-aarch64-linux-gnu. Runs at `npm pack` / `npm publish` (prepack); the binaries are not committed to git (each
// is ~0.5 MB and would travel with every clone of every version).
//
//   node scripts/prebuild.mjs [--verify] [--only linux-x64|linux-arm64]
//
// --verify builds each target twice in different staging folders and fails unless the bytes are identical
// (the build is reproducible: scripts/build-native.mjs maps paths and strips symbols).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arm64NodeDir } from './arm64-node.mjs';
import { buildNative } from './build-native.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const verify = argv.includes('--verify');
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;

if (process.env.SFTKIT_SKIP_PREBUILD) {
  console.log('prebuild: skipped (SFTKIT_SKIP_PREBUILD): the package will build from source where it is installed');
  process.exit(0);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error('prebuild: the release prebuilds are made on linux-x64 (set SFTKIT_SKIP_PREBUILD=1 to pack without)');
  process.exit(1);
}

const targets = [
  { name: 'linux-x64', arch: 'x64' },
  { name: 'linux-arm64', arch: 'arm64' },
].filter((t) => !only || t.name === only);

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
for (const t of targets) {
  const nodeDir = t.arch === 'arm64' ? arm64NodeDir() : undefined;
  const out = join(root, 'prebuilds', t.name, 'sftkit.napi.node');
  console.log(`prebuild: ${t.name} ...`);
  buildNative({ out, arch: t.arch, nodeDir, quiet: true });
  const hash = sha256(out);
  console.log(`prebuild: ${t.name} ${readFileSync(out).length} bytes sha256 ${hash}`);
  if (verify) {
    const dir = mkdtempSync(join(tmpdir(), 'sftkit-verify-'));
    try {
      const again = buildNative({ out: join(dir, 'sftkit.node'), arch: t.arch, nodeDir, quiet: true });
      const hash2 = sha256(again);
      if (hash2 !== hash) {
        console.error(`prebuild: ${t.name} is not reproducible: a second build gave sha256 ${hash2}`);
        process.exit(1);
      }
      console.log(`prebuild: ${t.name} reproducible (a second build has the same sha256)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
