// `sftkit bench gemm|kernels`: throughput of the native kernels (median of timed runs after warm-up).
import type { Command } from './command.js';
import { numberFlag } from './command.js';
import { UserError } from '../util/errors.js';
import type { Backend, FloatDType, GemmArgs } from '../engine/backend.js';
import { cpuBackend } from '../engine/cpu-backend.js';
import { loadNative } from '../engine/native.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

export interface GemmBenchResult {
  gflops: number;
  ms: number;
  m: number;
  k: number;
  n: number;
  dtype: FloatDType;
  trans: Trans;
  threads: number;
  isa: string;
}

type Trans = 'nt' | 'nn' | 'tn';

/** Median wall time in ms of fn over `reps` runs after `warmup` runs. */
export function medianMs(fn: () => void, reps: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Deterministic values in [-1, 1) so runs are comparable. */
function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function randomMat(backend: Backend, n: number, seed: number, dtype: FloatDType): Float32Array | Uint16Array {
  const f = randomF32(n, seed);
  if (dtype === 'f32') return f;
  const h = new Uint16Array(n);
  backend.f32ToBf16(f, h);
  return h;
}

/**
 * Builds the arguments of one GEMM in a training layout: 'nt' is x·Wᵀ (A [m,k], B [n,k], a linear
 * layer's forward), 'nn' is dY·W (A [m,k], B [k,n]), 'tn' is dYᵀ·X (A [k,m], B [k,n], a weight gradient).
 */
export function gemmArgs(backend: Backend, m: number, k: number, n: number, dtype: FloatDType, trans: Trans): GemmArgs {
  return {
    transA: trans === 'tn',
    transB: trans === 'nt',
    m,
    n,
    k,
    a: randomMat(backend, m * k, 1, dtype),
    b: randomMat(backend, k * n, 2, dtype),
    c: new Float32Array(m * n),
    compute: dtype,
  };
}

export function benchGemm(
  m: number,
  k: number,
  n: number,
  dtype: FloatDType,
  trans: Trans,
  reps: number,
): GemmBenchResult {
  const backend = cpuBackend();
  const args = gemmArgs(backend, m, k, n, dtype, trans);
  const ms = medianMs(() => backend.gemm(args), reps);
  return {
    gflops: round1((2 * m * n * k) / ms / 1e6),
    ms: round3(ms),
    m,
    k,
    n,
    dtype,
    trans,
    threads: backend.threads(),
    isa: backend.isa(),
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

function positiveInt(flags: Flags, name: string, fallback: number): number {
  const v = numberFlag(flags, name, 'bench', fallback);
  if (!Number.isInteger(v) || v < 1)
    throw new UserError(`sftkit bench: --${name} must be a positive integer, got '${String(flags[name])}'`);
  return v;
}

function dtypeFlag(flags: Flags): FloatDType {
  const v = flags.dtype ?? 'bf16';
  if (v !== 'bf16' && v !== 'f32') throw new UserError(`sftkit bench: --dtype must be bf16 or f32, got '${String(v)}'`);
  return v;
}

/** Applies --threads and --isa to the addon (both change process-wide kernel settings). */
function applyMachineFlags(flags: Flags): void {
  const addon = loadNative();
  if (flags.threads !== undefined) addon.setThreads(positiveInt(flags, 'threads', 1));
  if (typeof flags.isa === 'string') {
    try {
      addon.setIsa(flags.isa);
    } catch (e) {
      throw new UserError(`sftkit bench: --isa ${flags.isa}: ${(e as Error).message}`);
    }
  }
}

function runGemm(flags: Flags): void {
  const trans = (flags.trans ?? 'nt') as Trans;
  if (!['nt', 'nn', 'tn'].includes(trans))
    throw new UserError(`sftkit bench: --trans must be nt, nn or tn, got '${String(trans)}'`);
  const r = benchGemm(
    positiveInt(flags, 'm', 2048),
    positiveInt(flags, 'k', 576),
    positiveInt(flags, 'n', 1536),
    dtypeFlag(flags),
    trans,
    positiveInt(flags, 'reps', 15),
  );
  if (flags.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
  } else {
    process.stdout.write(
      `gemm ${r.trans} m=${r.m} k=${r.k} n=${r.n} ${r.dtype}: ${r.gflops} GFLOP/s (${r.ms} ms median, ${r.threads} threads, ${r.isa})\n`,
    );
  }
}

// ---- `bench kernels`: one SmolLM2-135M layer at seq 512 -----------------------------------------

const LAYER = { hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocab: 49152 };

interface Row {
  name: string;
  shape: string;
  ms: number;
  rate: string;
}

function missingKernel(e: unknown): boolean {
  return e instanceof Error && /is not built into this addon/.test(e.message);
}

/** Times fn and formats its rate; null when the kernel is not in this addon. */
function timeRow(
  name: string,
  shape: string,
  fn: () => void,
  reps: number,
  work: { flops?: number; bytes?: number },
): Row | null {
  try {
    fn();
  } catch (e) {
    if (missingKernel(e)) return null;
    throw e;
  }
  const ms = medianMs(fn, reps, 1);
  const rate =
    work.flops !== undefined
      ? `${round1(work.flops / ms / 1e6)} GFLOP/s`
      : `${round1((work.bytes ?? 0) / ms / 1e6)} GB/s`;
  return { name, shape, ms: round3(ms), rate };
}

function kernelRows(seq: number, dtype: FloatDType, reps: number): { rows: Row[]; skipped: string[] } {
  const b = cpuBackend();
  const { hidden: d, intermediate: f, heads: h, kvHeads: kvh, headDim: hd, vocab: v } = LAYER;
  const rows: Row[] = [];
  const skipped: string[] = [];
  const add = (r: Row | null, name: string) => (r ? rows.push(r) : skipped.push(name));
  // The 7 projections as [out, in]; forward x·Wᵀ, backward dX = dY·W and dW = dYᵀ·X.
  const projections: [string, number, number][] = [
    ['q_proj', h * hd, d],
    ['k_proj', kvh * hd, d],
    ['v_proj', kvh * hd, d],
    ['o_proj', d, h * hd],
    ['gate_proj', f, d],
    ['up_proj', f, d],
    ['down_proj', d, f],
  ];
  for (const [name, out, inp] of projections) {
    const flops = 2 * seq * out * inp;
    const fwd = gemmArgs(b, seq, inp, out, dtype, 'nt');
    add(
      timeRow(`${name} fwd x·Wᵀ`, `${seq}x${inp} · ${out}x${inp}ᵀ`, () => b.gemm(fwd), reps, { flops }),
      name,
    );
    const dx = gemmArgs(b, seq, out, inp, dtype, 'nn');
    add(
      timeRow(`${name} bwd dY·W`, `${seq}x${out} · ${out}x${inp}`, () => b.gemm(dx), reps, { flops }),
      name,
    );
    const dw = gemmArgs(b, out, seq, inp, dtype, 'tn');
    add(
      timeRow(`${name} bwd dYᵀ·X`, `${seq}x${out}ᵀ · ${seq}x${inp}`, () => b.gemm(dw), reps, { flops }),
      name,
    );
  }

  // Attention (causal, GQA): forward ≈ 2 GEMMs over half the score matrix, backward ≈ 2.5x forward.
  const q = randomF32(seq * h * hd, 3),
    k = randomF32(seq * kvh * hd, 4),
    vv = randomF32(seq * kvh * hd, 5);
  const out = new Float32Array(q.length),
    lse = new Float32Array(h * seq);
  const shape = { batch: 1, qLen: seq, kvLen: seq, heads: h, kvHeads: kvh, headDim: hd, scale: 1 / Math.sqrt(hd) };
  const attnFlops = (2 * 2 * h * hd * (seq * (seq + 1))) / 2;
  add(
    timeRow(
      'attention fwd',
      `T=${seq} H=${h}/${kvh} hd=${hd}`,
      () => b.attentionForward({ ...shape, q, k, v: vv, out, lse }),
      reps,
      { flops: attnFlops },
    ),
    'attention fwd',
  );
  const dout = randomF32(q.length, 6),
    dq = new Float32Array(q.length),
    dk = new Float32Array(k.length),
    dv = new Float32Array(vv.length);
  add(
    timeRow(
      'attention bwd',
      `T=${seq} H=${h}/${kvh} hd=${hd}`,
      () => b.attentionBackward({ ...shape, q, k, v: vv, out, lse, dout, dq, dk, dv }),
      reps,
      { flops: 2.5 * attnFlops },
    ),
    'attention bwd',
  );

  // RMSNorm: bytes moved (x in, y out, w; backward also dy in, dx out).
  const x = randomF32(seq * d, 7),
    w = randomF32(d, 8),
    y = new Float32Array(x.length),
    rstd = new Float32Array(seq);
  add(
    timeRow('rmsnorm fwd', `${seq}x${d}`, () => b.rmsnormForward(x, w, seq, d, 1e-5, y, rstd), reps, {
      bytes: 4 * (2 * seq * d + d),
    }),
    'rmsnorm fwd',
  );
  const dy = randomF32(x.length, 9),
    dxn = new Float32Array(x.length),
    dwn = new Float32Array(d);
  add(
    timeRow('rmsnorm bwd', `${seq}x${d}`, () => b.rmsnormBackward(dy, x, w, rstd, seq, d, dxn, dwn), reps, {
      bytes: 4 * (3 * seq * d + 2 * d),
    }),
    'rmsnorm bwd',
  );

  // Cross-entropy over the vocabulary: logits read, gradient written in place.
  const logits0 = randomF32(seq * v, 10),
    logits = new Float32Array(logits0.length);
  const targets = new Int32Array(seq).map((_, i) => (i * 7919) % v),
    losses = new Float32Array(seq);
  add(
    timeRow(
      'cross-entropy fwd+bwd',
      `${seq}x${v}`,
      () => {
        logits.set(logits0);
        b.crossEntropy(logits, targets, seq, v, losses, true, 1 / seq);
      },
      reps,
      { bytes: 4 * 3 * seq * v },
    ),
    'cross-entropy',
  );
  return { rows, skipped };
}

function runKernels(flags: Flags): void {
  const seq = positiveInt(flags, 'seq', 512);
  const { rows, skipped } = kernelRows(seq, dtypeFlag(flags), positiveInt(flags, 'reps', 7));
  const b = cpuBackend();
  if (flags.json) {
    process.stdout.write(
      JSON.stringify({ seq, dtype: dtypeFlag(flags), threads: b.threads(), isa: b.isa(), rows, skipped }) + '\n',
    );
    return;
  }
  process.stdout.write(
    `SmolLM2-135M layer, seq ${seq}, GEMM operands ${dtypeFlag(flags)}, ${b.threads()} threads, ${b.isa()}\n`,
  );
  const w: [number, number] = [
    Math.max(...rows.map((r) => r.name.length), 6),
    Math.max(...rows.map((r) => r.shape.length), 5),
  ];
  process.stdout.write(`${'kernel'.padEnd(w[0])}  ${'shape'.padEnd(w[1])}  ${'ms'.padStart(9)}  rate\n`);
  for (const r of rows)
    process.stdout.write(
      `${r.name.padEnd(w[0])}  ${r.shape.padEnd(w[1])}  ${r.ms.toFixed(3).padStart(9)}  ${r.rate}\n`,
    );
  if (skipped.length > 0)
    process.stdout.write(`skipped (kernel not in this addon): ${[...new Set(skipped)].join(', ')}\n`);
}

export const command: Command = {
  name: 'bench',
  summary: 'Measure native kernel throughput (GEMM GFLOP/s, a SmolLM2-135M layer)',
  usage:
    'sftkit bench gemm [--m M --k K --n N --dtype bf16|f32 --trans nt|nn|tn --json]\nsftkit bench kernels [--seq 512 --dtype bf16|f32 --json]',
  positionals: true,
  flags: {
    m: { type: 'string', help: 'gemm: rows of op(A) and C', default: '2048' },
    k: { type: 'string', help: 'gemm: inner dimension', default: '576' },
    n: { type: 'string', help: 'gemm: columns of op(B) and C', default: '1536' },
    dtype: { type: 'string', help: 'operand type and compute: bf16 or f32', default: 'bf16' },
    trans: { type: 'string', help: 'gemm layout: nt = x·Wᵀ, nn = dY·W, tn = dYᵀ·X', default: 'nt' },
    seq: { type: 'string', help: 'kernels: sequence length', default: '512' },
    reps: { type: 'string', help: 'timed runs (the median is reported)' },
    threads: { type: 'string', help: 'worker threads (default: all cores, or SFTKIT_THREADS)' },
    isa: {
      type: 'string',
      help: 'force an instruction set: scalar, avx2, avx512, avx512bf16 (x86-64); neon, neon-bf16 (ARM64)',
    },
    json: { type: 'boolean', help: 'print one JSON object' },
  },
  async run(flags, positionals) {
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UserError(`sftkit bench: unexpected argument '${extra[0]}'`);
    if (sub !== 'gemm' && sub !== 'kernels')
      throw new UserError(`sftkit bench: expected 'gemm' or 'kernels', got '${sub ?? ''}' (see sftkit bench --help)`);
    applyMachineFlags(flags);
    if (sub === 'gemm') runGemm(flags);
    else runKernels(flags);
  },
};
