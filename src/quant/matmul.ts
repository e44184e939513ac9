// The 4-bit GEMM entry point: the backend's fused nf4Gemm when it has one, else (reference backend, tests) the
// matrix is dequantized exactly as bitsandbytes does and multiplied with the backend's plain gemm.
import type { Backend, Nf4GemmArgs, Quantized4BitMatrix } from '../engine/index.js';
import { blockScales } from './blockwise.js';

/** The f32 W [rows, cols] of a 4-bit matrix (for references and tests: it materialises the whole matrix). */
export function dequantizeMatrix(w: Quantized4BitMatrix): Float32Array {
  const n = w.rows * w.cols;
  const scales = blockScales({ absmax: w.absmax, nested: w.nested ?? null });
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = w.packed[i >> 1]!;
    out[i] = Math.fround(w.code[i & 1 ? byte & 15 : byte >> 4]! * scales[Math.floor(i / w.blocksize)]!);
  }
  return out;
}

/** nf4Gemm through dequantize-then-gemm: what the fused kernel must equal. */
export function referenceNf4Gemm(be: Backend, args: Nf4GemmArgs): void {
  const { w, m } = args;
  const dense = dequantizeMatrix(w);
  const compute = args.compute ?? 'bf16';
  if (args.transposed) {
    be.gemm({
      transA: false,
      transB: false,
      m,
      n: w.cols,
      k: w.rows,
      a: args.a,
      b: dense,
      c: args.c,
      accumulate: args.accumulate,
      compute,
    });
  } else {
    be.gemm({
      transA: false,
      transB: true,
      m,
      n: w.rows,
      k: w.cols,
      a: args.a,
      b: dense,
      c: args.c,
      accumulate: args.accumulate,
      compute,
    });
  }
}

/** C = A·Wᵀ or A·W with W 4-bit, on `be` (fused when the backend implements nf4Gemm). */
export function nf4Gemm(be: Backend, args: Nf4GemmArgs): void {
  if (be.nf4Gemm) be.nf4Gemm(args);
  else referenceNf4Gemm(be, args);
}
