#!/usr/bin/env node
// npm's install hook: use the prebuilt addon when the package ships one for this platform and it loads here;
// otherwise build from source with node-gyp, after checking for what that needs and naming what is missing.
// SFTKIT_BUILD_FROM_SOURCE=1 skips the prebuilt binary.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = `${process.platform}-${process.arch}`;
const prebuilt = join(root, 'prebuilds', target, 'sftkit.napi.node');
const PREBUILT_PLATFORMS = 'linux-x64 and linux-arm64 (glibc)';

if (!process.env.SFTKIT_BUILD_FROM_SOURCE && existsSync(prebuilt)) {
  try {
    const addon = createRequire(import.meta.url)(prebuilt);
    console.log(`sftkit: using the prebuilt native addon for ${target} (kernels: ${addon.detectedIsa()})`);
    process.exit(0);
  } catch (e) {
    console.warn(
      `sftkit: the prebuilt addon for ${target} does not load here (${e.message.split('\n')[0]}); building from source`,
    );
  }
}

function onPath(cmd) {
  if (process.platform === 'win32') return spawnSync('where', [cmd], { stdio: 'ignore' }).status === 0;
  return spawnSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' }).status === 0;
}

// What node-gyp needs: Python 3, a C++17 compiler and make (POSIX); on Windows it finds Visual Studio itself.
const missing = [];
if (!['python3', 'python'].some(onPath) && !process.env.npm_config_python && !process.env.PYTHON)
  missing.push('Python 3 (for node-gyp)');
if (process.platform !== 'win32') {
  const cxx = process.env.CXX ? [process.env.CXX.split(' ')[0]] : ['c++', 'g++', 'clang++'];
  if (!cxx.some(onPath)) missing.push(`a C++17 compiler (${cxx.join(' or ')})`);
  if (!onPath('make')) missing.push('make');
}
if (missing.length) {
  const how =
    process.platform === 'darwin'
      ? 'xcode-select --install'
      : process.platform === 'win32'
        ? 'Visual Studio Build Tools with "Desktop development with C++", and Python 3'
        : 'e.g. apt-get install -y g++ make python3';
  console.error(
    `sftkit: no prebuilt native addon for ${target} (prebuilt binaries: ${PREBUILT_PLATFORMS}), and building it ` +
      `from source needs what is missing here: ${missing.join(', ')}. Install it (${how}), then run ` +
      '`npm rebuild sftkit`.',
  );
  process.exit(1);
}

console.log(`sftkit: building the native addon from source for ${target} (node-gyp)`);
const gyp =
  process.env.npm_config_node_gyp ??
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const r = existsSync(gyp)
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  console.error(`sftkit: building the native addon for ${target} failed (see the node-gyp output above)`);
  process.exit(r.status ?? 1);
}
