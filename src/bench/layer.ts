// One SmolLM2-135M layer's kernels, timed one by one (`sftkit bench kernels`): the 7 projections x (forward, dX,
// dW), attention forward/backward, RMSNorm forward/backward and the cross-entropy over the vocabulary.
import type { FloatDType } from '../engine/backend.js';
import { cpuBackend } from '../engine/cpu-backend.js';
import { gemmArgs } from './gemm.js';
import { formatTable, medianMs, randomF32, round1, round3 } from './measure.js';

export const SMOLLM2_LAYER = { hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocab: 49152 };

export interface KernelRow {
  name: string;
  shape: string;
  ms: number;
  rate: string;
}

export interface LayerBench {
  seq: number;
  dtype: FloatDType;
  threads: number;
  isa: string;
  rows: KernelRow[];
  /** Kernels this addon does not have. */
  skipped: string[];
}

/** Causal attention FLOPs (QKᵀ and PV over half the score matrix); backward is about 2.5x this. */
export function attentionFlops(batch: number, heads: number, headDim: number, seq: number): number {
  return (4 * batch * heads * headDim * seq * (seq + 1)) / 2;
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
): KernelRow | null {
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

export function benchLayer(seq: number, dtype: FloatDType, reps: number): LayerBench {
  const b = cpuBackend();
  const { hidden: d, intermediate: f, heads: h, kvHeads: kvh, headDim: hd, vocab: v } = SMOLLM2_LAYER;
  const rows: KernelRow[] = [];
  const skipped: string[] = [];
  const add = (name: string, shape: string, fn: () => void, work: { flops?: number; bytes?: number }) => {
    const r = timeRow(name, shape, fn, reps, work);
    if (r) rows.push(r);
    else skipped.push(name.split(' ')[0]!);
  };
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
    add(`${name} fwd x·Wᵀ`, `${seq}x${inp} · ${out}x${inp}ᵀ`, () => b.gemm(fwd), { flops });
    const dx = gemmArgs(b, seq, out, inp, dtype, 'nn');
    add(`${name} bwd dY·W`, `${seq}x${out} · ${out}x${inp}`, () => b.gemm(dx), { flops });
    const dw = gemmArgs(b, out, seq, inp, dtype, 'tn');
    add(`${name} bwd dYᵀ·X`, `${seq}x${out}ᵀ · ${seq}x${inp}`, () => b.gemm(dw), { flops });
  }

  // Attention (causal, GQA).
  const q = randomF32(seq * h * hd, 3),
    k = randomF32(seq * kvh * hd, 4),
    vv = randomF32(seq * kvh * hd, 5);
  const out = new Float32Array(q.length),
    lse = new Float32Array(h * seq);
  const shape = { batch: 1, qLen: seq, kvLen: seq, heads: h, kvHeads: kvh, headDim: hd, scale: 1 / Math.sqrt(hd) };
  const attnFlops = attentionFlops(1, h, hd, seq);
  const attnShape = `T=${seq} H=${h}/${kvh} hd=${hd}`;
  add('attention fwd', attnShape, () => b.attentionForward({ ...shape, q, k, v: vv, out, lse }), { flops: attnFlops });
  const dout = randomF32(q.length, 6),
    dq = new Float32Array(q.length),
    dk = new Float32Array(k.length),
    dv = new Float32Array(vv.length);
  add('attention bwd', attnShape, () => b.attentionBackward({ ...shape, q, k, v: vv, out, lse, dout, dq, dk, dv }), {
    flops: 2.5 * attnFlops,
  });

  // RMSNorm: bytes moved (x in, y out, w; backward also dy in, dx out).
  const x = randomF32(seq * d, 7),
    w = randomF32(d, 8),
    y = new Float32Array(x.length),
    rstd = new Float32Array(seq);
  add('rmsnorm fwd', `${seq}x${d}`, () => b.rmsnormForward(x, w, seq, d, 1e-5, y, rstd), {
    bytes: 4 * (2 * seq * d + d),
  });
  const dy = randomF32(x.length, 9),
    dxn = new Float32Array(x.length),
    dwn = new Float32Array(d);
  add('rmsnorm bwd', `${seq}x${d}`, () => b.rmsnormBackward(dy, x, w, rstd, seq, d, dxn, dwn), {
    bytes: 4 * (3 * seq * d + 2 * d),
  });

  // Cross-entropy over the vocabulary: logits read, gradient written in place.
  const logits0 = randomF32(seq * v, 10),
    logits = new Float32Array(logits0.length);
  const targets = new Int32Array(seq).map((_, i) => (i * 7919) % v),
    losses = new Float32Array(seq);
  add(
    'cross-entropy fwd+bwd',
    `${seq}x${v}`,
    () => {
      logits.set(logits0);
      b.crossEntropy(logits, targets, seq, v, losses, true, 1 / seq);
    },
    { bytes: 4 * 3 * seq * v },
  );
  return { seq, dtype, threads: b.threads(), isa: b.isa(), rows, skipped: [...new Set(skipped)] };
}

/** The layer bench as text: a title line, one row per kernel, and the kernels this addon lacks. */
export function formatLayerBench(r: LayerBench): string {
  const title = `SmolLM2-135M layer, seq ${r.seq}, GEMM operands ${r.dtype}, ${r.threads} threads, ${r.isa}\n`;
  const table = formatTable(
    ['kernel', 'shape', 'ms', 'rate'],
    r.rows.map((x) => [x.name, x.shape, x.ms.toFixed(3), x.rate]),
    { align: ['l', 'l', 'r', 'l'] },
  );
  const skipped = r.skipped.length > 0 ? `skipped (kernel not in this addon): ${r.skipped.join(', ')}\n` : '';
  return title + table + skipped;
}
