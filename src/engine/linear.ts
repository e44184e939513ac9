// The linear layer op: base product, bias and an optional LoRA adapter in one tape node,
//   y = x·Wᵀ + bias + scale·(xl·Aᵀ)·Bᵀ      (xl = lora.input ?? x, e.g. dropout(x))
// The base product is pluggable (LinearBase): a dense f32/bf16 weight tensor (trainable under full fine-tuning),
// or any frozen storage that computes x·Wᵀ and dY·W itself, such as src/quant's fused 4-bit dequantize-GEMM
// (QLoRA). As mlx-lm's LoRALinear wraps any base layer, the LoRA half is written once, so every base gets
// every speed-up of the low-rank path (gemmNarrow for the rank-wide products).
//
// With an adapter the node holds only the [N, r] product H; backward gives dB = scale·dYᵀ·H, dH = scale·dY·B,
// dA = dHᵀ·Xl and dX = dY·W (+ dH·A when the low-rank path reads x itself) in one buffer, and dW = dYᵀ·X for a
// trainable dense W. Nothing of size [N, out] but y exists.
import type { FloatDType, GemmArgs, GemmNarrowFn, Mat } from './backend.js';
import { getBackend } from './current-backend.js';
import { f32Data, lastDim, matData, shapeStr, withCompute } from './op-args.js';
import { allocF32, release } from './pool.js';
import { accumulateBiasGrad, gradSink, needsGrad, own, record, save, shouldRecord, type TapeNode } from './tape.js';
import { Tensor } from './tensor.js';

/** The product of a linear layer's weight W [out, in], whatever its storage. */
export interface LinearBase {
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** A trainable W (dense, full fine-tuning): the op adds dYᵀ·X to its gradient. Null for a frozen base. */
  readonly weight: Tensor | null;
  /** y [rows, out] (+)= x·Wᵀ. `compute` is the layer's GEMM precision; a base may keep its own. */
  forward(x: Mat, rows: number, y: Float32Array, accumulate: boolean, compute: FloatDType | undefined): void;
  /**
   * Called once when the op records a node whose input needs a gradient: returns dX [rows, in] (+)= dY·W,
   * keeping what it reads alive on `node` until the node is done.
   */
  inputGrad(node: TapeNode): BaseInputGrad;
}

export type BaseInputGrad = (
  dy: Float32Array,
  rows: number,
  dx: Float32Array,
  accumulate: boolean,
  compute: FloatDType | undefined,
) => void;

/** A dense f32 or bf16 weight tensor W [out, in] as a LinearBase. */
export function denseBase(w: Tensor, op = 'linear'): LinearBase {
  const wd = matData(w, op, 'w');
  if (w.shape.length !== 2) throw new Error(`${op}: w must be [out, in], got ${shapeStr(w)}`);
  const [outFeatures, inFeatures] = w.shape as [number, number];
  return {
    outFeatures,
    inFeatures,
    weight: w,
    forward(x, rows, y, accumulate, compute) {
      getBackend().gemm(
        withCompute(
          { transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures, a: x, b: wd, c: y, accumulate },
          compute,
        ),
      );
    },
    inputGrad(node) {
      const saved = save<Mat>(node, w);
      return (dy, rows, dx, accumulate, compute) =>
        getBackend().gemm(
          withCompute(
            {
              transA: false,
              transB: false,
              m: rows,
              n: inFeatures,
              k: outFeatures,
              a: dy,
              b: saved,
              c: dx,
              accumulate,
            },
            compute,
          ),
        );
    },
  };
}

/** The low-rank path of a LoRA linear: scale · (input·aᵀ)·bᵀ, added to the base product. */
export interface LoraPath {
  /** [r, in] */
  a: Tensor;
  /** [out, r] */
  b: Tensor;
  scale: number;
  /** What the low-rank path reads (e.g. dropout(x)); default x itself. */
  input?: Tensor | null;
}

export interface LinearOpts {
  /** GEMM precision of the dense base and of the low-rank products a narrow kernel does not take. */
  compute?: FloatDType;
  /** The LoRA adapter, fused into the same node. */
  lora?: LoraPath | null;
}

/** The widest a product's narrow side may be for the backend's gemmNarrow (LoRA ranks). */
const NARROW_MAX = 64;

/** The backend's gemmNarrow when the product has a narrow side and f32 operands, else null (use gemm). */
function narrowKernel(m: number, n: number, a: Mat, b: Mat): GemmNarrowFn | null {
  const be = getBackend();
  return be.gemmNarrow && Math.min(m, n) <= NARROW_MAX && a instanceof Float32Array && b instanceof Float32Array
    ? be.gemmNarrow
    : null;
}

/**
 * A GEMM with an untransposed B (C (+)= alpha·op(A)·B) on gemmNarrow, exact f32, when the product is narrow (m or
 * n a LoRA rank) and the backend has it, else on gemm at args.compute.
 */
function narrowGemm(args: GemmArgs): void {
  const { transA, a, b, c, m, n, k, alpha = 1, accumulate = false } = args;
  const narrow = narrowKernel(m, n, a, b);
  if (narrow) narrow(transA, a as Float32Array, b as Float32Array, c, m, n, k, alpha, accumulate);
  else getBackend().gemm(args);
}

/** [rows, cols] -> [cols, rows] (small matrices: LoRA A). */
function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = allocF32(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

/**
 * y = x·wᵀ + bias (+ the LoRA path of opts.lora) for x [..., in], w [out, in] (a dense tensor or any LinearBase),
 * bias [out]; y [..., out]. Differentiable in x, a trainable dense w, bias and the adapter.
 */
export function linear(x: Tensor, w: Tensor | LinearBase, bias?: Tensor | null, opts?: LinearOpts): Tensor {
  const lora = opts?.lora ?? null;
  const op = lora ? 'linearLora' : 'linear';
  const base = w instanceof Tensor ? denseBase(w, op) : w;
  const xd = matData(x, op, 'x');
  const outF = base.outFeatures,
    inF = base.inFeatures;
  const wShape = `[${outF}, ${inF}]`;
  if (lastDim(x) !== inF) throw new Error(`${op}: x ${shapeStr(x)} does not match w ${wShape}`);
  const rows = x.numel / inF;
  const compute = opts?.compute;
  const y = Tensor.empty([...x.shape.slice(0, -1), outF]);
  const yd = y.data as Float32Array;
  if (bias) {
    if (bias.numel !== outF) throw new Error(`${op}: bias ${shapeStr(bias)} does not match w ${wShape}`);
    const bv = bias.dtype === 'f32' ? (bias.data as Float32Array) : bias.toF32();
    for (let i = 0; i < rows; i++) yd.set(bv, i * outF);
  }
  base.forward(xd, rows, yd, !!bias, compute);
  const low = lora ? lowRankForward(op, x, xd, lora, rows, inF, outF, yd, compute) : null;

  const xl = lora?.input ?? x;
  if (!shouldRecord(x, base.weight, bias, lora?.a, lora?.b, xl)) {
    release(low?.h);
    record(op, y, null);
    return y;
  }
  const needX = needsGrad(x),
    needW = needsGrad(base.weight);
  let savedX: Mat | null = null;
  let dxBase: BaseInputGrad | null = null;
  let backwardLow: ((g: Float32Array, dx: Float32Array | null) => void) | null = null;
  const node = record(op, y, (g) => {
    const dx = gradSink(x);
    // dX = dY·W (+ dH·A from the low-rank path, which writes after the base)
    if (dx) dxBase!(g, rows, dx.buf, !dx.fresh, compute);
    backwardLow?.(g, dx ? dx.buf : null);
    const dw = needW ? gradSink(base.weight!) : null;
    if (dw)
      narrowGemm(
        withCompute(
          { transA: true, transB: false, m: outF, n: inF, k: rows, a: g, b: savedX!, c: dw.buf, accumulate: !dw.fresh },
          compute,
        ),
      ); // dW += dYᵀ·X
    accumulateBiasGrad(bias, g, rows, outF);
  })!;
  if (needW) savedX = save<Mat>(node, x);
  if (needX) dxBase = base.inputGrad(node);
  if (lora && low) backwardLow = lowRankBackward(node, x, lora, low.h, rows, inF, outF, savedX, compute);
  return y;
}

/** linear() with its LoRA path (kept as the name the model and tests call). */
export function linearLora(
  x: Tensor,
  w: Tensor | LinearBase,
  bias: Tensor | null | undefined,
  lora: LoraPath,
  opts?: { compute?: FloatDType },
): Tensor {
  return linear(x, w, bias, { compute: opts?.compute, lora });
}

/** Checks the adapter against W and adds scale·(Xl·Aᵀ)·Bᵀ into y; returns H = Xl·Aᵀ [rows, r]. */
function lowRankForward(
  op: string,
  x: Tensor,
  xd: Mat,
  lora: LoraPath,
  rows: number,
  inF: number,
  outF: number,
  yd: Float32Array,
  compute: FloatDType | undefined,
): { h: Float32Array } {
  const xl = lora.input ?? x;
  const xld = lora.input ? matData(xl, op, 'lora input') : xd;
  const ad = f32Data(lora.a, op, 'lora a');
  const bd = f32Data(lora.b, op, 'lora b');
  if (xl.numel !== x.numel) throw new Error(`${op}: lora input ${shapeStr(xl)} does not match x ${shapeStr(x)}`);
  const r = lora.a.shape[0] ?? 0;
  if (
    lora.a.shape.length !== 2 ||
    lora.a.shape[1] !== inF ||
    lora.b.shape.length !== 2 ||
    lora.b.shape[0] !== outF ||
    lora.b.shape[1] !== r
  ) {
    throw new Error(`${op}: lora a ${shapeStr(lora.a)} / b ${shapeStr(lora.b)} do not match w [${outF}, ${inF}]`);
  }
  const be = getBackend();
  const h = allocF32(rows * r);
  // (Decoding a few rows: transposing A would cost more than the product.)
  const narrowH = rows >= 64 ? narrowKernel(rows, r, xld, ad) : null;
  if (narrowH) {
    // H = Xl·Aᵀ with Aᵀ [in, r] (rank-wide: no packing of Xl)
    const at = transposed(ad, r, inF);
    narrowH(false, xld as Float32Array, at, h, rows, r, inF, 1, false);
    release(at);
  } else {
    be.gemm(withCompute({ transA: false, transB: true, m: rows, n: r, k: inF, a: xld, b: ad, c: h }, compute));
  }
  // Y += scale·H·Bᵀ
  be.gemm(
    withCompute(
      { transA: false, transB: true, m: rows, n: outF, k: r, a: h, b: bd, c: yd, accumulate: true, alpha: lora.scale },
      compute,
    ),
  );
  return { h };
}

/**
 * Takes H onto the node and saves what the adapter's backward reads; returns that backward, which adds the
 * adapter's gradients and, into dx (x's gradient, already holding dY·W) when the low-rank path reads x, dH·A.
 */
function lowRankBackward(
  node: TapeNode,
  x: Tensor,
  lora: LoraPath,
  h: Float32Array,
  rows: number,
  inF: number,
  outF: number,
  savedX: Mat | null,
  compute: FloatDType | undefined,
): (g: Float32Array, dx: Float32Array | null) => void {
  const xl = lora.input ?? x;
  const { scale } = lora;
  const r = lora.a.shape[0]!;
  const needX = needsGrad(x),
    needA = needsGrad(lora.a),
    needB = needsGrad(lora.b);
  const needXl = xl !== x && needsGrad(xl);
  own(node, h);
  const savedXl = needA ? (xl === x && savedX ? savedX : save<Mat>(node, xl)) : null;
  const savedA = needX || needXl ? save<Float32Array>(node, lora.a) : null;
  const savedB = needA || needXl || needX ? save<Float32Array>(node, lora.b) : null;
  return (g, dx) => {
    const be = getBackend();
    if (needB) {
      // dB += scale·dYᵀ·H
      const db = gradSink(lora.b)!;
      narrowGemm(
        withCompute(
          {
            transA: true,
            transB: false,
            m: outF,
            n: r,
            k: rows,
            a: g,
            b: h,
            c: db.buf,
            alpha: scale,
            accumulate: !db.fresh,
          },
          compute,
        ),
      );
    }
    if (!(needA || needXl || (dx && xl === x))) return;
    // dH = scale·dY·B
    const dh = allocF32(rows * r);
    narrowGemm(
      withCompute(
        { transA: false, transB: false, m: rows, n: r, k: outF, a: g, b: savedB!, c: dh, alpha: scale },
        compute,
      ),
    );
    if (needA) {
      // dA += dHᵀ·Xl
      const da = gradSink(lora.a)!;
      narrowGemm(
        withCompute(
          { transA: true, transB: false, m: r, n: inF, k: rows, a: dh, b: savedXl!, c: da.buf, accumulate: !da.fresh },
          compute,
        ),
      );
    }
    // dX += dH·A (the low-rank path reads x) or dXl (+)= dH·A (it reads e.g. dropout(x))
    if (dx && xl === x)
      be.gemm(
        withCompute(
          { transA: false, transB: false, m: rows, n: inF, k: r, a: dh, b: savedA!, c: dx, accumulate: true },
          compute,
        ),
      );
    if (needXl) {
      const dxl = gradSink(xl)!;
      be.gemm(
        withCompute(
          {
            transA: false,
            transB: false,
            m: rows,
            n: inF,
            k: r,
            a: dh,
            b: savedA!,
            c: dxl.buf,
            accumulate: !dxl.fresh,
          },
          compute,
        ),
      );
    }
    release(dh);
  };
}
