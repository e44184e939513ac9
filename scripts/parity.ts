// `npm run parity`: the model against the PyTorch reference on freshly generated models (see parity.sh).
// Usage: node --import tsx scripts/parity.ts [--keep] [--seed N]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as cli } from '../src/cli/main.js';
import { cpuBackend, referenceBackend, setBackend, type Backend } from '../src/engine/index.js';
import { loadNative } from '../src/engine/native.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { compareDumps, FP32_TOLERANCES } from '../src/model/dump.js';
import { sharedDir } from '../test/helpers/shared.js';

const PY = '/usr/bin/python3';
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const seedArg = args.indexOf('--seed');
const seed = seedArg >= 0 ? Number(args[seedArg + 1]) : 1234;

function chooseBackend(): string {
  if (process.env.SFTKIT_BACKEND === 'reference') {
    setBackend(referenceBackend);
    return 'reference';
  }
  const needed: (keyof Backend)[] = [
    'gemm',
    'embeddingForward',
    'rmsnormForward',
    'rope',
    'attentionForward',
    'attentionBackward',
    'swigluForward',
    'gegluForward',
    'crossEntropy',
  ];
  try {
    const addon = loadNative();
    if (needed.every((k) => typeof addon[k] === 'function')) {
      setBackend(cpuBackend());
      return `native (${addon.isa()})`;
    }
  } catch {
    // fall through
  }
  setBackend(referenceBackend);
  return 'reference (native kernels missing)';
}

function readAll(path: string): Map<string, Float32Array> {
  const f = SafetensorsFile.open(path);
  try {
    return new Map([...f.tensors.keys()].map((k) => [k, f.readF32(k)]));
  } finally {
    f.close();
  }
}

/** A deterministic batch: 2 rows × 16 tokens, a masked prompt, optionally two packed documents per row. */
function makeBatch(vocab: number, packed: boolean, s: number): object {
  let x = s >>> 0;
  const rand = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) % vocab;
  const T = 16;
  const ids = [0, 1].map(() => Array.from({ length: T }, rand));
  const labels = ids.map((row, r) => row.map((t, i) => (i < 3 + r ? -100 : t)));
  const b: Record<string, unknown> = { input_ids: ids, labels };
  if (packed)
    b.position_ids = [
      [...Array(6).keys(), ...Array(10).keys()],
      [...Array(11).keys(), ...Array(5).keys()],
    ];
  return b;
}

function py(script: string, ...a: string[]): void {
  execFileSync(PY, [script, ...a], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function sftkit(...a: string[]): Promise<void> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write; // keep the table clean
  try {
    const code = await cli(a);
    if (code !== 0) throw new Error(`sftkit ${a.join(' ')} exited with ${code}`);
  } finally {
    process.stdout.write = write;
  }
}

async function run(): Promise<number> {
  const shared = sharedDir();
  if (!shared) {
    console.error('parity: needs ../shared (the PyTorch reference); not found');
    return 2;
  }
  const ref = join(shared, 'reference');
  const backend = chooseBackend();
  const work = mkdtempSync(join(tmpdir(), 'sftkit-parity-'));
  // variant label -> [make_tiny variant or a model dir, packed rows, make_adapter extra args, also --full]
  const cases: [string, string, boolean, string[], boolean][] = [
    ['llama', 'llama', false, ['8', '16'], true],
    ['qwen2', 'qwen2', false, ['4', '8'], true],
    ['llama3rope', 'llama3rope', false, ['4', '8'], false],
    ['headdim', 'headdim', false, ['8', '16', 'rslora'], false],
    ['mistral', 'mistral', false, ['4', '8'], false],
    ['qwen3', 'qwen3', false, ['8', '16'], true],
    ['gemma3', 'gemma3', false, ['8', '16'], true],
    ['gemma3-packed', 'gemma3', true, ['4', '8'], false],
    ['packed', 'llama', true, ['4', '8'], true],
    ['stories260K', join(shared, 'models', 'stories260K'), false, ['4', '8'], true],
  ];
  const lines: string[] = [];
  const header = `${'variant'.padEnd(12)} ${'mode'.padEnd(10)} ${'logits'.padStart(9)} ${'loss'.padStart(9)} ${'grad max'.padStart(9)} ${'#grads'.padStart(6)}  ok`;
  console.log(
    `sftkit parity vs PyTorch reference (seed ${seed}, backend ${backend}); errors: logits max|Δ|/max|ref|, loss |Δ|/|ref|, grads ‖Δ‖/‖ref‖ (worst tensor)`,
  );
  console.log(
    `tolerances fp32: logits ${FP32_TOLERANCES.logits}, loss ${FP32_TOLERANCES.loss}, grads ${FP32_TOLERANCES.grad}; bf16: loss 1e-2`,
  );
  console.log(header);
  let failures = 0;
  for (const [i, [label, variant, packed, aargs, full]] of cases.entries()) {
    const dir = join(work, label);
    mkdirSync(dir, { recursive: true });
    const modelDir = variant.includes('/') ? variant : join(dir, 'model');
    if (!variant.includes('/')) py(join(ref, 'make_tiny.py'), modelDir, variant, String(seed + i));
    const adapter = join(dir, 'adapter');
    py(join(ref, 'make_adapter.py'), modelDir, adapter, String(seed + 100 + i), ...aargs);
    const vocab = (JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { vocab_size: number })
      .vocab_size;
    const batch = join(dir, 'batch.json');
    writeFileSync(batch, JSON.stringify(makeBatch(vocab, packed, seed + i)));
    const modes: [string, string[], string[]][] = [['lora', ['--adapter', adapter], ['--adapter', adapter]]];
    if (full) modes.push(['full', [], ['--full']]);
    for (const [mode, refArgs, ourArgs] of modes) {
      const refOut = join(dir, `ref_${mode}.safetensors`);
      py(join(ref, 'ref_llama.py'), modelDir, batch, refOut, ...refArgs);
      const ourOut = join(dir, `ours_${mode}.safetensors`);
      await sftkit('dump', '--model', modelDir, ...ourArgs, '--batch', batch, '--out', ourOut);
      const R = readAll(refOut);
      const rows = compareDumps(R, readAll(ourOut));
      const grads = rows.filter((r) => r.name.startsWith('grad.'));
      const ok = rows.every((r) => r.ok);
      if (!ok) failures++;
      const e = (n: string) => rows.find((r) => r.name === n)!.relError.toExponential(2);
      const gmax = Math.max(...grads.map((r) => r.relError));
      lines.push(
        `${label.padEnd(12)} ${mode.padEnd(10)} ${e('logits').padStart(9)} ${e('loss').padStart(9)} ${gmax.toExponential(2).padStart(9)} ${String(grads.length).padStart(6)}  ${
          ok
            ? 'ok'
            : 'FAIL ' +
              rows
                .filter((r) => !r.ok)
                .map((r) => r.name)
                .slice(0, 3)
                .join(',')
        }`,
      );
      console.log(lines[lines.length - 1]);
      if (mode === 'lora') {
        const bfOut = join(dir, 'ours_lora_bf16.safetensors');
        await sftkit('dump', '--model', modelDir, ...ourArgs, '--batch', batch, '--out', bfOut, '--dtype', 'bf16');
        const lr = R.get('loss')![0]!;
        const lb = readAll(bfOut).get('loss')![0]!;
        const err = Math.abs(lb - lr) / Math.abs(lr);
        const bok = err <= 1e-2;
        if (!bok) failures++;
        console.log(
          `${label.padEnd(12)} ${'lora bf16'.padEnd(10)} ${'-'.padStart(9)} ${err.toExponential(2).padStart(9)} ${'-'.padStart(9)} ${'-'.padStart(6)}  ${bok ? 'ok' : 'FAIL'}`,
        );
      }
    }
  }
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
  console.log(failures === 0 ? 'parity: all checks within tolerance' : `parity: ${failures} check(s) FAILED`);
  return failures === 0 ? 0 : 1;
}

run().then((code) => {
  process.exitCode = code;
});
