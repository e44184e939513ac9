// Fused 4-bit GEMM (nf4Gemm) vs the bf16 GEMM on the same shapes: forward x·Wᵀ and input gradient dY·W; median
// of --reps runs after warm-up.
//   npx tsx bench/nf4-gemm.ts [--m 256] [--reps 5]
import { benchArgs, medianMs, randomF32 } from '../src/bench/measure.js';
import { cpuBackend } from '../src/engine/index.js';
import { quantize4Bit } from '../src/quant/blockwise.js';

const args = benchArgs();
const M = args.number('m', 256);
const reps = args.number('reps', 5);
const be = cpuBackend();
const shapes: [string, number, number][] = [
  ['q_proj 576x576', 576, 576],
  ['gate_proj 1536x576', 1536, 576],
  ['down_proj 576x1536', 576, 1536],
];
const time = (fn: () => void) => medianMs(fn, reps, 1);

console.log(`isa ${be.isa()}, threads ${be.threads()}, m = ${M}`);
for (const [name, rows, cols] of shapes) {
  const w = randomF32(rows * cols, 1, 0.025);
  const q = quantize4Bit(w, [rows, cols], { doubleQuant: true });
  const mat = { rows, cols, blocksize: 64, packed: q.packed, code: q.code, absmax: q.absmax, nested: q.nested };
  const wb = new Uint16Array(rows * cols);
  be.f32ToBf16(w, wb);
  const x = randomF32(M * cols, 2, 0.5);
  const dy = randomF32(M * rows, 3, 0.5);
  const y = new Float32Array(M * rows);
  const dx = new Float32Array(M * cols);
  const gf = (2 * M * rows * cols) / 1e9;
  const fwdBf16 = time(() =>
    be.gemm({ transA: false, transB: true, m: M, n: rows, k: cols, a: x, b: wb, c: y, compute: 'bf16' }),
  );
  const fwdNf4 = time(() => be.nf4Gemm!({ w: mat, transposed: false, m: M, a: x, c: y }));
  const bwdBf16 = time(() =>
    be.gemm({ transA: false, transB: false, m: M, n: cols, k: rows, a: dy, b: wb, c: dx, compute: 'bf16' }),
  );
  const bwdNf4 = time(() => be.nf4Gemm!({ w: mat, transposed: true, m: M, a: dy, c: dx }));
  const f = (ms: number) => `${ms.toFixed(2)} ms (${(gf / (ms / 1000)).toFixed(0)} GFLOP/s)`;
  console.log(`${name}: forward bf16 ${f(fwdBf16)} | nf4 ${f(fwdNf4)};  dY·W bf16 ${f(bwdBf16)} | nf4 ${f(bwdNf4)}`);
}
