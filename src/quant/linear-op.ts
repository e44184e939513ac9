// The differentiable op of a frozen 4-bit linear, optionally with its LoRA adapter in the same node (QLoRA):
//   y = x·Wᵀ + bias + scale·(xl·Aᵀ)·Bᵀ      (xl = lora.input ?? x, e.g. dropout(x))
// W is 4-bit (fused dequantize + GEMM, at W's compute precision); the low-rank GEMMs run at `loraCompute`. As in
// the engine's linearLora, one node holds only the [N, r] product H: backward gives dB = scale·dYᵀ·H,
// dH = scale·dY·B, dA = dHᵀ·Xl and dX = dY·W (+ dH·A), with dY·W through the same 4-bit kernel (W is frozen).
import {
  getBackend,
  Tensor,
  type Compute,
  type GemmArgs,
  type LoraPath,
  type Quantized4BitMatrix,
} from '../engine/index.js';
import { allocF32, release } from '../engine/pool.js';
import { accumulateBiasGrad, gradSink, needsGrad, own, record, save, shouldRecord } from '../engine/tape.js';
import { nf4Gemm } from './matmul.js';

function f32Of(t: Tensor, what: string): Float32Array {
  t.assertLive('quantizedLinear');
  if (!(t.data instanceof Float32Array)) throw new Error(`quantizedLinear: ${what} must be f32, got ${t.dtype}`);
  return t.data;
}

export function quantizedLinear(
  x: Tensor,
  w: Quantized4BitMatrix,
  bias: Tensor | null,
  compute: Compute,
  lora: LoraPath | null = null,
  loraCompute: Compute = compute,
): Tensor {
  const xd = f32Of(x, 'x');
  const inF = w.cols;
  const outF = w.rows;
  if (x.shape[x.shape.length - 1] !== inF)
    throw new Error(`quantizedLinear: x [${x.shape.join(', ')}] does not match W [${outF}, ${inF}]`);
  const rows = x.numel / inF;
  const y = Tensor.empty([...x.shape.slice(0, -1), outF]);
  const yd = y.data as Float32Array;
  if (bias) {
    if (bias.numel !== outF)
      throw new Error(`quantizedLinear: bias [${bias.shape.join(', ')}] does not match W [${outF}, ${inF}]`);
    const b = bias.toF32();
    for (let r = 0; r < rows; r++) yd.set(b, r * outF);
  }
  const be = getBackend();
  nf4Gemm(be, { w, transposed: false, m: rows, a: xd, c: yd, accumulate: !!bias, compute });

  // The low-rank path: H = Xl·Aᵀ [N, r]; Y += scale·H·Bᵀ.
  const xl = lora?.input ?? x;
  const r = lora ? lora.a.shape[0]! : 0;
  let h: Float32Array | null = null;
  const lowRank = (args: GemmArgs) => be.gemm({ ...args, compute: loraCompute });
  if (lora) {
    const ad = f32Of(lora.a, 'lora a');
    const bd = f32Of(lora.b, 'lora b');
    if (lora.a.shape[1] !== inF || lora.b.shape[0] !== outF || lora.b.shape[1] !== r || xl.numel !== x.numel) {
      throw new Error(
        `quantizedLinear: lora a [${lora.a.shape.join(', ')}] / b [${lora.b.shape.join(', ')}] do not match W [${outF}, ${inF}]`,
      );
    }
    h = allocF32(rows * r);
    lowRank({ transA: false, transB: true, m: rows, n: r, k: inF, a: f32Of(xl, 'lora input'), b: ad, c: h });
    lowRank({
      transA: false,
      transB: true,
      m: rows,
      n: outF,
      k: r,
      a: h,
      b: bd,
      c: yd,
      accumulate: true,
      alpha: lora.scale,
    });
  }

  if (!shouldRecord(x, bias, lora?.a, lora?.b, xl)) {
    release(h);
    record('quantizedLinear', y, null);
    return y;
  }
  const needA = !!lora && needsGrad(lora.a);
  const needB = !!lora && needsGrad(lora.b);
  const needXl = xl !== x && needsGrad(xl);
  const needX = needsGrad(x);
  let savedXl: Float32Array | null = null;
  let savedA: Float32Array | null = null;
  let savedB: Float32Array | null = null;
  const node = record('quantizedLinear', y, (g) => {
    const be = getBackend();
    let dh: Float32Array | null = null;
    if (lora && h) {
      if (needB) {
        const db = gradSink(lora.b)!; // dB += scale·dYᵀ·H
        lowRank({
          transA: true,
          transB: false,
          m: outF,
          n: r,
          k: rows,
          a: g,
          b: h,
          c: db.buf,
          accumulate: !db.fresh,
          alpha: lora.scale,
        });
      }
      if (needA || needXl || (xl === x && needX)) {
        dh = allocF32(rows * r); // dH = scale·dY·B
        lowRank({ transA: false, transB: false, m: rows, n: r, k: outF, a: g, b: savedB!, c: dh, alpha: lora.scale });
        if (needA) {
          const da = gradSink(lora.a)!; // dA += dHᵀ·Xl
          lowRank({
            transA: true,
            transB: false,
            m: r,
            n: inF,
            k: rows,
            a: dh,
            b: savedXl!,
            c: da.buf,
            accumulate: !da.fresh,
          });
        }
      }
    }
    const dx = gradSink(x);
    if (dx) {
      nf4Gemm(be, { w, transposed: true, m: rows, a: g, c: dx.buf, accumulate: !dx.fresh, compute }); // dX = dY·W
      if (dh && xl === x)
        lowRank({
          transA: false,
          transB: false,
          m: rows,
          n: inF,
          k: r,
          a: dh,
          b: savedA!,
          c: dx.buf,
          accumulate: true,
        });
    }
    if (dh && needXl) {
      const dxl = gradSink(xl)!;
      lowRank({
        transA: false,
        transB: false,
        m: rows,
        n: inF,
        k: r,
        a: dh,
        b: savedA!,
        c: dxl.buf,
        accumulate: !dxl.fresh,
      });
    }
    release(dh);
    accumulateBiasGrad(bias, g, rows, outF);
  })!;
  if (lora && h) {
    own(node, h);
    if (needA) savedXl = save<Float32Array>(node, xl);
    if (needX || needXl) savedA = save<Float32Array>(node, lora.a);
    savedB = save<Float32Array>(node, lora.b);
  }
  return y;
}
