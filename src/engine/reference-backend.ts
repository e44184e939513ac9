// The float64 reference backend: every Backend kernel written by its definition in plain TypeScript,
// accumulating in float64. Clarity over speed: tests use it as the ground truth for the native kernels.
import {
  IGNORE_INDEX,
  type AdamWArgs,
  type AttentionBackwardArgs,
  type AttentionForwardArgs,
  type AttentionShape,
  type Backend,
  type GemmArgs,
  type GemmNarrowFn,
  type Mat,
} from './backend.js';
import { keep } from './counter-rng.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> bf16 bits, round-to-nearest-even; NaN stays NaN (quiet bit set), ±Inf and overflow give ±Inf. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bits -> the exact f32 value. */
export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** x rounded to bf16 (RNE) and back. */
export function roundToBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

/** Element i of a Mat as a number (bf16 widened exactly). */
function at(m: Mat, i: number): number {
  return m instanceof Uint16Array ? bf16BitsToF32(m[i]!) : m[i]!;
}

function gemm(g: GemmArgs): void {
  const { transA, transB, m, n, k, a, b, c } = g;
  const lda = g.lda ?? (transA ? m : k);
  const ldb = g.ldb ?? (transB ? k : n);
  const ldc = g.ldc ?? n;
  const alpha = g.alpha ?? 1;
  const accumulate = g.accumulate ?? false;
  const compute = g.compute ?? (a instanceof Uint16Array || b instanceof Uint16Array ? 'bf16' : 'f32');
  const batch = g.batch ?? 1;
  const strideA = g.strideA ?? m * k;
  const strideB = g.strideB ?? k * n;
  const strideC = g.strideC ?? m * n;
  const load = compute === 'bf16' ? (mat: Mat, i: number) => roundToBf16(at(mat, i)) : at;
  // op(A) as [m][k] and op(B) transposed as [n][k], both float64, so each output is a contiguous dot product
  const opA = new Float64Array(m * k);
  const opBt = new Float64Array(n * k);
  for (let bi = 0; bi < batch; bi++) {
    const oa = bi * strideA,
      ob = bi * strideB,
      oc = bi * strideC;
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) opA[i * k + p] = load(a, oa + (transA ? p * lda + i : i * lda + p));
    }
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < k; p++) opBt[j * k + p] = load(b, ob + (transB ? j * ldb + p : p * ldb + j));
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += opA[i * k + p]! * opBt[j * k + p]!;
        const ci = oc + i * ldc + j;
        c[ci] = accumulate ? c[ci]! + alpha * s : alpha * s;
      }
    }
  }
}

function kvIndexer(s: AttentionShape): (b: number, j: number, kvh: number) => number {
  const stride = s.kvBatchStride ?? s.kvLen * s.kvHeads * s.headDim;
  return (b, j, kvh) => b * stride + (j * s.kvHeads + kvh) * s.headDim;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** PyTorch's gelu(approximate='tanh') and its derivative, in float64. */
function geluTanh(x: number): { value: number; derivative: number } {
  const inner = GELU_C * (x + 0.044715 * x * x * x);
  const t = Math.tanh(inner);
  const value = 0.5 * x * (1 + t);
  const derivative = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
  return { value, derivative };
}

/** Whether query i of batch b sees key j. */
function visible(s: AttentionShape, b: number, i: number, j: number): boolean {
  if (j > s.kvLen - s.qLen + i) return false;
  if (s.window && s.kvLen - s.qLen + i - j >= s.window) return false;
  if (s.qSeg && s.kSeg) return s.qSeg[b * s.qLen + i] === s.kSeg[b * s.kvLen + j];
  return true;
}

/** Softmax probabilities (float64) of one query row over all keys; null when no key is visible. */
function attentionRow(
  s: AttentionShape,
  q: Float32Array,
  k: Float32Array,
  b: number,
  h: number,
  i: number,
): { p: Float64Array; lse: number } | null {
  const { kvLen, headDim, heads, kvHeads } = s;
  const kvh = Math.floor(h / (heads / kvHeads));
  const kvIdx = kvIndexer(s);
  const qo = ((b * s.qLen + i) * heads + h) * headDim;
  const scores = new Float64Array(kvLen).fill(-Infinity);
  let max = -Infinity;
  for (let j = 0; j < kvLen; j++) {
    if (!visible(s, b, i, j)) continue;
    const ko = kvIdx(b, j, kvh);
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += q[qo + d]! * k[ko + d]!;
    scores[j] = dot * s.scale;
    if (scores[j]! > max) max = scores[j]!;
  }
  if (max === -Infinity) return null;
  let sum = 0;
  for (let j = 0; j < kvLen; j++) sum += scores[j] === -Infinity ? 0 : Math.exp(scores[j]! - max);
  const p = new Float64Array(kvLen);
  for (let j = 0; j < kvLen; j++) p[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j]! - max) / sum;
  return { p, lse: max + Math.log(sum) };
}

interface QueryRow {
  b: number;
  h: number;
  i: number;
  /** The kv head this query head reads (GQA). */
  kvh: number;
  /** Offset of this row in q, out and dout. */
  qo: number;
  /** Its softmax over the keys; null when no key is visible. */
  probs: { p: Float64Array; lse: number } | null;
}

/** Calls fn for every (batch, head, query) row of an attention call. */
function forEachQueryRow(x: AttentionShape, q: Float32Array, k: Float32Array, fn: (row: QueryRow) => void): void {
  const { batch, qLen, heads, kvHeads, headDim } = x;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / (heads / kvHeads));
      for (let i = 0; i < qLen; i++)
        fn({ b, h, i, kvh, qo: ((b * qLen + i) * heads + h) * headDim, probs: attentionRow(x, q, k, b, h, i) });
    }
}

function attentionForward(x: AttentionForwardArgs): void {
  const { qLen, kvLen, heads, headDim } = x;
  const kvIdx = kvIndexer(x);
  forEachQueryRow(x, x.q, x.k, ({ b, h, i, kvh, qo, probs }) => {
    if (x.lse) x.lse[(b * heads + h) * qLen + i] = probs ? probs.lse : -Infinity;
    const acc = new Float64Array(headDim);
    if (probs) {
      for (let j = 0; j < kvLen; j++) {
        const pj = probs.p[j]!;
        if (pj === 0) continue;
        const vo = kvIdx(b, j, kvh);
        for (let d = 0; d < headDim; d++) acc[d]! += pj * x.v[vo + d]!;
      }
    }
    for (let d = 0; d < headDim; d++) x.out[qo + d] = acc[d]!;
  });
}

// Backward by the definition: probabilities are recomputed in float64 from q and k (out and lse are not
// needed by the definition). dk/dv are laid out like k/v (same kvBatchStride) and overwritten.
function attentionBackward(x: AttentionBackwardArgs): void {
  const { kvLen, headDim, scale } = x;
  const kvIdx = kvIndexer(x);
  const dk = new Float64Array(x.dk.length);
  const dv = new Float64Array(x.dv.length);
  x.dq.fill(0);
  forEachQueryRow(x, x.q, x.k, ({ b, kvh, qo, probs }) => {
    if (!probs) return;
    // dp_j = dout·v_j ; ds_j = p_j (dp_j - Σ p·dp)
    const dp = new Float64Array(kvLen);
    let dot = 0;
    for (let j = 0; j < kvLen; j++) {
      if (probs.p[j] === 0) continue;
      const vo = kvIdx(b, j, kvh);
      let s = 0;
      for (let d = 0; d < headDim; d++) s += x.dout[qo + d]! * x.v[vo + d]!;
      dp[j] = s;
      dot += probs.p[j]! * s;
    }
    const dq = new Float64Array(headDim);
    for (let j = 0; j < kvLen; j++) {
      const pj = probs.p[j]!;
      if (pj === 0) continue;
      const ds = pj * (dp[j]! - dot) * scale;
      const ko = kvIdx(b, j, kvh);
      for (let d = 0; d < headDim; d++) {
        dq[d]! += ds * x.k[ko + d]!;
        dk[ko + d]! += ds * x.q[qo + d]!;
        dv[ko + d]! += pj * x.dout[qo + d]!;
      }
    }
    for (let d = 0; d < headDim; d++) x.dq[qo + d] = dq[d]!;
  });
  for (let i = 0; i < dk.length; i++) x.dk[i] = dk[i]!;
  for (let i = 0; i < dv.length; i++) x.dv[i] = dv[i]!;
}

const rmsnormForward: Backend['rmsnormForward'] = (x, w, rows, dim, eps, y, rstd) => {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[o + d]! * x[o + d]!;
    const rs = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = rs;
    for (let d = 0; d < dim; d++) y[o + d] = x[o + d]! * rs * at(w, d);
  }
};

// With xhat = x·rstd: dx = rstd·(w∘dy − xhat·mean(w∘dy∘xhat)); dw += Σ_rows dy∘xhat.
const rmsnormBackward: Backend['rmsnormBackward'] = (dy, x, w, rstd, rows, dim, dx, dw) => {
  const dwAcc = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const rs = rstd[r]!;
    let dotSum = 0;
    for (let d = 0; d < dim; d++) dotSum += at(w, d) * dy[o + d]! * x[o + d]! * rs;
    const mean = dotSum / dim;
    for (let d = 0; d < dim; d++) {
      const xhat = x[o + d]! * rs;
      dx[o + d] = rs * (at(w, d) * dy[o + d]! - xhat * mean);
      dwAcc[d]! += dy[o + d]! * xhat;
    }
  }
  if (dw) for (let d = 0; d < dim; d++) dw[d] = dw[d]! + dwAcc[d]!;
};

const rope: Backend['rope'] = (x, positions, tokens, heads, headDim, rotaryDim, cos, sin, inverse) => {
  const half = rotaryDim / 2;
  const sign = inverse ? -1 : 1;
  for (let t = 0; t < tokens; t++) {
    const po = positions[t]! * half;
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[po + i]!,
          s = sign * sin[po + i]!;
        const x1 = x[o + i]!,
          x2 = x[o + i + half]!;
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
};

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

const crossEntropy: Backend['crossEntropy'] = (logits, targets, rows, vocab, losses, grad, gradScale) => {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const t = targets[r]!;
    if (t === IGNORE_INDEX) {
      losses[r] = 0;
      if (grad) logits.fill(0, o, o + vocab);
      continue;
    }
    if (t < 0 || t >= vocab) throw new RangeError(`crossEntropy: target ${t} at row ${r} is outside [0, ${vocab})`);
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[o + j]! - max);
    const lse = max + Math.log(sum);
    losses[r] = lse - logits[o + t]!;
    if (grad) {
      for (let j = 0; j < vocab; j++) {
        const p = Math.exp(logits[o + j]! - lse);
        logits[o + j] = gradScale * (p - (j === t ? 1 : 0));
      }
    }
  }
};

// PyTorch AdamW: p *= 1 - lr·wd; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
// p -= (lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps).
function adamw(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, a: AdamWArgs): void {
  const bc1 = 1 - Math.pow(a.beta1, a.step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(a.beta2, a.step));
  const stepSize = a.lr / bc1;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    const mi = a.beta1 * m[i]! + (1 - a.beta1) * g;
    const vi = a.beta2 * v[i]! + (1 - a.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const p = param[i]! * (1 - a.lr * a.weightDecay);
    param[i] = p - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2Sqrt + a.eps);
  }
}

function checkIds(ids: Int32Array, rows: number): void {
  for (let t = 0; t < ids.length; t++) {
    if (ids[t]! < 0 || ids[t]! >= rows)
      throw new RangeError(`embedding: id ${ids[t]} at position ${t} is outside [0, ${rows})`);
  }
}

/** C (+)= alpha·op(A)·B, op(A) = Aᵀ of A [k, m] (transA) or A [m, k], B [k, n]; float64 sums of f32 products. */
const gemmNarrow: GemmNarrowFn = (transA, a, b, c, m, n, k, alpha, accumulate) => {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[transA ? t * m + i : i * k + t]! * b[t * n + j]!;
      c[i * n + j] = (accumulate ? c[i * n + j]! : 0) + alpha * s;
    }
  }
};

export const referenceBackend: Backend = {
  name: 'reference',
  isa: () => 'reference',
  threads: () => 1,
  gemm,
  gemmNarrow,
  f32ToBf16(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = f32ToBf16Bits(src[i]!);
  },
  bf16ToF32(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = bf16BitsToF32(src[i]!);
  },
  add(a, b, out) {
    for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  },
  axpy(alpha, x, y) {
    for (let i = 0; i < y.length; i++) y[i] = y[i]! + alpha * x[i]!;
  },
  scale(x, alpha) {
    for (let i = 0; i < x.length; i++) x[i] = x[i]! * alpha;
  },
  sumSquares(x) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
    return s;
  },
  embeddingForward(table, ids, dim, out) {
    checkIds(ids, table.length / dim);
    for (let t = 0; t < ids.length; t++) {
      for (let d = 0; d < dim; d++) out[t * dim + d] = at(table, ids[t]! * dim + d);
    }
  },
  embeddingBackward(dOut, ids, dim, dTable) {
    checkIds(ids, dTable.length / dim);
    for (let t = 0; t < ids.length; t++) {
      for (let d = 0; d < dim; d++) dTable[ids[t]! * dim + d] = dTable[ids[t]! * dim + d]! + dOut[t * dim + d]!;
    }
  },
  rmsnormForward,
  rmsnormBackward,
  rope,
  attentionForward,
  attentionBackward,
  gegluForward(g, u, out) {
    for (let i = 0; i < out.length; i++) out[i] = geluTanh(g[i]!).value * u[i]!;
  },
  gegluBackward(dout, g, u, dg, du) {
    for (let i = 0; i < dout.length; i++) {
      const { value, derivative } = geluTanh(g[i]!);
      du[i] = dout[i]! * value;
      dg[i] = dout[i]! * u[i]! * derivative;
    }
  },
  swigluForward(g, u, out) {
    for (let i = 0; i < out.length; i++) out[i] = g[i]! * sigmoid(g[i]!) * u[i]!;
  },
  swigluBackward(dout, g, u, dg, du) {
    for (let i = 0; i < dout.length; i++) {
      const s = sigmoid(g[i]!);
      const silu = g[i]! * s;
      const dgi = dout[i]! * u[i]! * s * (1 + g[i]! * (1 - s));
      du[i] = dout[i]! * silu;
      dg[i] = dgi;
    }
  },
  crossEntropy,
  adamw,
  dropout(x, out, p, seed, offset) {
    if (p <= 0) {
      for (let i = 0; i < x.length; i++) out[i] = x[i]!;
      return;
    }
    const inv = p >= 1 ? 0 : Math.fround(1 / (1 - p)); // f32 scale, as the native kernel
    for (let i = 0; i < x.length; i++) out[i] = keep(seed, offset + i, p) ? x[i]! * inv : 0;
  },
};
