// One GEMM in a training layout, timed: `sftkit bench gemm` and bench/gemm-compare.ts.
import type { Backend, FloatDType, GemmArgs } from '../engine/backend.js';
import { cpuBackend } from '../engine/cpu-backend.js';
import { medianMs, randomF32, round1, round3 } from './measure.js';

/** 'nt' is x·Wᵀ (A [m,k], B [n,k], a linear layer's forward), 'nn' is dY·W (A [m,k], B [k,n]), 'tn' is dYᵀ·X. */
export type GemmLayout = 'nt' | 'nn' | 'tn';
export const GEMM_LAYOUTS: readonly GemmLayout[] = ['nt', 'nn', 'tn'];

/** `sftkit bench gemm --json` prints this object (a stable contract). */
export interface GemmBenchResult {
  gflops: number;
  ms: number;
  m: number;
  k: number;
  n: number;
  dtype: FloatDType;
  trans: GemmLayout;
  threads: number;
  isa: string;
}

function randomMat(backend: Backend, n: number, seed: number, dtype: FloatDType): Float32Array | Uint16Array {
  const f = randomF32(n, seed);
  if (dtype === 'f32') return f;
  const h = new Uint16Array(n);
  backend.f32ToBf16(f, h);
  return h;
}

/**
 * The arguments of one GEMM in a training layout: 'nt' is x·Wᵀ (A [m,k], B [n,k], a linear layer's forward),
 * 'nn' is dY·W (A [m,k], B [k,n]), 'tn' is dYᵀ·X (A [k,m], B [k,n], a weight gradient).
 */
export function gemmArgs(
  backend: Backend,
  m: number,
  k: number,
  n: number,
  dtype: FloatDType,
  trans: GemmLayout,
): GemmArgs {
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

/** Median GFLOP/s of `reps` runs of one GEMM on the native backend. */
export function benchGemm(
  m: number,
  k: number,
  n: number,
  dtype: FloatDType,
  trans: GemmLayout,
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
