// The fused 4-bit dequantize + GEMM (native nf4Gemm) against dequantize-then-gemm, on every ISA path the
// machine supports: forward x·Wᵀ and input gradient dY·W, NF4 and FP4, with and without double quantization,
// shapes whose blocks straddle rows and whose element count is odd.
//
// The fused kernel feeds the very same GEMM with the very same dequantized values (f32 code·scale, rounded to
// bf16 for bf16 compute), so the result must match the dequantize-then-gemm reference to within reordering of
// f32 sums: |c - ref| <= 2·(k + 2)·2⁻²⁴·Σ|a·w| (the γ_k bound used by test/engine/gemm.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend } from '../../src/engine/cpu-backend.js';
import type { Quantized4BitMatrix } from '../../src/engine/backend.js';
import { quantize4Bit } from '../../src/quant/blockwise.js';
import { dequantizeMatrix, referenceNf4Gemm } from '../../src/quant/matmul.js';
import type { QuantType } from '../../src/quant/codebook.js';
import { forEachGemmPath } from '../helpers/isa.js';

const backend = cpuBackend();

function gaussian(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

function matrix(rows: number, cols: number, type: QuantType, doubleQuant: boolean, seed: number): Quantized4BitMatrix {
  const q = quantize4Bit(gaussian(rows * cols, seed, 0.05), [rows, cols], { type, doubleQuant });
  return { rows, cols, blocksize: q.blocksize, packed: q.packed, code: q.code, absmax: q.absmax, nested: q.nested };
}

/** Per-element tolerance: the γ_k bound over Σ|a·w| (|a| widened by 2⁻⁸ for its bf16 rounding). */
function tolerances(
  a: Float32Array,
  w: Float32Array,
  m: number,
  rows: number,
  cols: number,
  transposed: boolean,
): Float64Array {
  const k = transposed ? rows : cols;
  const n = transposed ? cols : rows;
  const tol = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let mag = 0;
      for (let p = 0; p < k; p++) mag += Math.abs(a[i * k + p]! * (transposed ? w[p * cols + j]! : w[j * cols + p]!));
      tol[i * n + j] = 2 * (k + 2) * 2 ** -24 * mag * (1 + 2 ** -8) + 1e-30;
    }
  }
  return tol;
}

function assertClose(c: Float32Array, ref: Float32Array, tol: Float64Array, what: string): void {
  for (let i = 0; i < c.length; i++) {
    const d = Math.abs(c[i]! - ref[i]!);
    if (!(d <= tol[i]!)) assert.fail(`${what}: C[${i}] = ${c[i]} vs ${ref[i]} (|d| ${d} > ${tol[i]})`);
  }
}

const SHAPES: [number, number, number][] = [
  [5, 96, 128], // m > 4 (packed GEMM path), rows a multiple of 32
  [3, 70, 45], // m <= 4 (dot-product path), blocks straddle rows, odd element count
  [17, 200, 130], // several panels and slabs, partial last block
];

test('nf4Gemm equals dequantize-then-gemm (forward and input gradient, every ISA)', () => {
  let seed = 1;
  for (const [m, rows, cols] of SHAPES) {
    for (const type of ['nf4', 'fp4'] as const) {
      for (const doubleQuant of [true, false]) {
        const w = matrix(rows, cols, type, doubleQuant, seed++);
        const dense = dequantizeMatrix(w);
        for (const transposed of [false, true]) {
          const k = transposed ? rows : cols;
          const n = transposed ? cols : rows;
          const a = gaussian(m * k, seed++, 1);
          const tol = tolerances(a, dense, m, rows, cols, transposed);
          for (const compute of ['bf16', 'f32'] as const) {
            for (const accumulate of compute === 'bf16' ? [false, true] : [false]) {
              const start = gaussian(m * n, seed++, 1);
              const ref = start.slice();
              referenceNf4Gemm(backend, { w, transposed, m, a, c: ref, accumulate, compute });
              forEachGemmPath((isa) => {
                const c = start.slice();
                backend.nf4Gemm!({ w, transposed, m, a, c, accumulate, compute });
                assertClose(
                  c,
                  ref,
                  tol,
                  `${isa} ${type} dq=${doubleQuant} ${m}x${rows}x${cols} transposed=${transposed} ${compute} acc=${accumulate}`,
                );
              });
            }
          }
        }
      }
    }
  }
});

test('nf4Gemm rejects buffers too small for the shape', () => {
  const w = matrix(8, 64, 'nf4', true, 7);
  const a = new Float32Array(2 * 64);
  assert.throws(
    () => backend.nf4Gemm!({ w, transposed: false, m: 2, a, c: new Float32Array(15) }),
    /'c' has 15 elements, needs 16/,
  );
  assert.throws(
    () =>
      backend.nf4Gemm!({
        w: { ...w, packed: w.packed.subarray(1) },
        transposed: false,
        m: 2,
        a,
        c: new Float32Array(16),
      }),
    /w\.packed/,
  );
  assert.throws(
    () => backend.nf4Gemm!({ w: { ...w, nested: null }, transposed: false, m: 2, a, c: new Float32Array(16) }),
    /nested/,
  );
});
