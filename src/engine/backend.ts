// The Backend seam: every numeric kernel the engine needs, over flat typed arrays.
// The native CPU backend (native/ via N-API) and the float64 reference backend
// (reference.ts, used by tests) implement it; a GPU backend would be a third.
//
// Conventions (all backends):
// - Row-major, tightly packed unless a leading dimension is given.
// - bf16 values are raw bit patterns in a Uint16Array; conversion is round-to-nearest-even.
// - Activations, gradients and optimizer state are always f32. Only matrices passed to
//   gemm (weights, and optionally activations) may be bf16.
// - "Accumulate" outputs add into what is there; all other outputs are overwritten.
// - Int32Array targets use IGNORE_INDEX (-100) as "ignore".

/** The label / target that trains nothing (PyTorch's ignore_index): the one definition of -100. */
export const IGNORE_INDEX = -100;

export type Mat = Float32Array | Uint16Array;

/**
 * A float storage or GEMM precision: 'f32', or 'bf16' (stored as raw bits in a Uint16Array; as a GEMM precision,
 * inputs rounded to bf16 (RNE) with f32 accumulation). Weight dtypes, `compute` options and CLI flags use it.
 */
export type FloatDType = 'f32' | 'bf16';

export interface GemmArgs {
  /** A is [m,k] (or [k,m] when transA). */
  transA: boolean;
  /** B is [k,n] (or [n,k] when transB). x·Wᵀ with W [out,in] is transB=true. */
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: Mat;
  b: Mat;
  /** C is [m,n], always f32. */
  c: Float32Array;
  /** Leading dimensions (elements between consecutive rows as stored). Default: tight. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** C += alpha·op(A)·op(B) when true; C = alpha·op(A)·op(B) otherwise. */
  accumulate?: boolean;
  alpha?: number;
  /**
   * 'bf16': both operands are rounded to bf16 (RNE) while packing, products accumulate in f32.
   * 'f32': exact f32 (a bf16 operand is widened exactly). Default: 'bf16' if a or b is bf16, else 'f32'.
   */
  compute?: FloatDType;
  /** Strided batch: batch items at a+i·strideA, b+i·strideB, c+i·strideC (elements). Default 1. */
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

/** A 4-bit blockwise-quantized matrix W [rows, cols] in bitsandbytes' layout (NF4 or FP4; see src/quant/). */
export interface Quantized4BitMatrix {
  rows: number;
  cols: number;
  blocksize: number;
  /** ceil(rows·cols / 2) bytes over the row-major flattened W; element 2i in the high nibble of byte i. */
  packed: Uint8Array;
  /** The 16 code values (NF4 or FP4). */
  code: Float32Array;
  /** One scale per block: f32, or uint8 codes of the nested (double) quantization. */
  absmax: Float32Array | Uint8Array;
  /** Double quantization: scale[b] = nested.code[absmax[b]]·nested.absmax[b / nested.blocksize] + nested.offset (f32). */
  nested?: { absmax: Float32Array; code: Float32Array; blocksize: number; offset: number } | null;
}

export interface Nf4GemmArgs {
  w: Quantized4BitMatrix;
  /**
   * false: C [m, rows] = A [m, cols]·Wᵀ (the forward x·Wᵀ); true: C [m, cols] = A [m, rows]·W (the input
   * gradient dY·W). W is dequantized panel by panel, never as a whole.
   */
  transposed: boolean;
  m: number;
  a: Float32Array;
  c: Float32Array;
  /** C += when true. */
  accumulate?: boolean;
  /** 'bf16' (default): W dequantized to bf16 and A rounded to bf16, f32 accumulation; 'f32': exact f32 products. */
  compute?: FloatDType;
}

export interface AttentionShape {
  batch: number;
  /** Query length Tq and key/value length Tk (Tk >= Tq; query i sits at key position Tk - Tq + i). */
  qLen: number;
  kvLen: number;
  heads: number;
  kvHeads: number; // heads % kvHeads === 0 (GQA: query head h reads kv head floor(h / (heads / kvHeads)))
  headDim: number;
  /** Softmax scale, usually 1/sqrt(headDim). */
  scale: number;
  /**
   * Elements between batch items of k and v (default kvLen·kvHeads·headDim); lets a KV cache
   * with capacity > kvLen be read in place.
   */
  kvBatchStride?: number;
  /**
   * Optional segment ids [batch, qLen] and [batch, kvLen]: query i sees key j iff j is causal
   * (j <= Tk - Tq + i) and qSeg[b,i] === kSeg[b,j]. Used for packed documents and padding.
   * A query that sees no key outputs zeros (and lse = -Infinity).
   */
  qSeg?: Int32Array | null;
  kSeg?: Int32Array | null;
  /**
   * Sliding window (Gemma 3's local layers, Mistral): query i also needs (Tk - Tq + i) - j < window.
   * Absent, null or 0: no window.
   */
  window?: number | null;
}

export interface AttentionForwardArgs extends AttentionShape {
  q: Float32Array; // [B, Tq, H, hd]
  k: Float32Array; // [B, Tk, Hkv, hd]
  v: Float32Array; // [B, Tk, Hkv, hd]
  out: Float32Array; // [B, Tq, H, hd]
  /** Log-sum-exp of the scaled scores per query row [B, H, Tq]; saved for backward. May be null at inference. */
  lse: Float32Array | null;
}

export interface AttentionBackwardArgs extends AttentionShape {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
  lse: Float32Array;
  dout: Float32Array; // [B, Tq, H, hd]
  dq: Float32Array; // overwritten
  dk: Float32Array; // overwritten
  dv: Float32Array; // overwritten
}

export interface AdamWArgs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** C (+)= alpha·op(A)·B, op(A) = Aᵀ of A [k, m] (transA) or A [m, k]; B [k, n]; C [m, n] (Backend.gemmNarrow). */
export type GemmNarrowFn = (
  transA: boolean,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  n: number,
  k: number,
  alpha: number,
  accumulate: boolean,
) => void;

export interface Backend {
  readonly name: string;
  /** The instruction set in use, e.g. 'amx' | 'avx512bf16' | 'avx512' | 'avx2' | 'neon-bf16' | 'neon' | 'scalar' | 'reference'. */
  isa(): string;
  threads(): number;

  gemm(args: GemmArgs): void;
  /**
   * Optional: C (+)= alpha·op(A)·B with op(A) = Aᵀ of A [k, m] when transA, else A [m, k]; B [k, n]; C [m, n]
   * (f32, tight, exact f32 products; C overlaps neither). For products with a narrow side, which a packed
   * GEMM spends packing: LoRA's weight gradients dA = dHᵀ·X, dB = dYᵀ·H and its rank-wide H = X·Aᵀ,
   * dH = dY·B (m or n is the rank). Ops fall back to gemm without it.
   */
  gemmNarrow?: GemmNarrowFn;
  /** Optional: fused 4-bit dequantize + GEMM (src/quant falls back to dequantized panels + gemm without it). */
  nf4Gemm?(args: Nf4GemmArgs): void;

  f32ToBf16(src: Float32Array, dst: Uint16Array): void;
  bf16ToF32(src: Uint16Array, dst: Float32Array): void;

  /** out = a + b (out may alias a or b). */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** y += alpha·x */
  axpy(alpha: number, x: Float32Array, y: Float32Array): void;
  /** x *= alpha in place */
  scale(x: Float32Array, alpha: number): void;
  /** Σ x² in float64 */
  sumSquares(x: Float32Array): number;

  /** out[t, :] = table[ids[t], :]; table [V, dim] f32 or bf16. */
  embeddingForward(table: Mat, ids: Int32Array, dim: number, out: Float32Array): void;
  /** dTable[ids[t], :] += dOut[t, :] (accumulate). */
  embeddingBackward(dOut: Float32Array, ids: Int32Array, dim: number, dTable: Float32Array): void;

  /** y = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps) in f32, per row; rstd [rows] saved. */
  rmsnormForward(
    x: Float32Array,
    w: Mat,
    rows: number,
    dim: number,
    eps: number,
    y: Float32Array,
    rstd: Float32Array,
  ): void;
  /** dx overwritten; dw (if not null) accumulated. */
  rmsnormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Mat,
    rstd: Float32Array,
    rows: number,
    dim: number,
    dx: Float32Array,
    dw: Float32Array | null,
  ): void;

  /**
   * HF rotate-half RoPE in place on x [tokens, heads, headDim]; only the first rotaryDim dims rotate
   * (pairs (i, i + rotaryDim/2)). cos/sin tables are [maxPos, rotaryDim/2]; positions [tokens].
   * inverse=true applies the transpose rotation (the backward pass).
   */
  rope(
    x: Float32Array,
    positions: Int32Array,
    tokens: number,
    heads: number,
    headDim: number,
    rotaryDim: number,
    cos: Float32Array,
    sin: Float32Array,
    inverse: boolean,
  ): void;

  attentionForward(args: AttentionForwardArgs): void;
  attentionBackward(args: AttentionBackwardArgs): void;

  /** out = gelu_tanh(g)·u with gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GeGLU). */
  gegluForward(g: Float32Array, u: Float32Array, out: Float32Array): void;
  /** dg, du overwritten. */
  gegluBackward(dout: Float32Array, g: Float32Array, u: Float32Array, dg: Float32Array, du: Float32Array): void;

  /** out = silu(g)·u */
  swigluForward(g: Float32Array, u: Float32Array, out: Float32Array): void;
  /** dg, du overwritten. */
  swigluBackward(dout: Float32Array, g: Float32Array, u: Float32Array, dg: Float32Array, du: Float32Array): void;

  /**
   * Fused softmax cross-entropy over rows of logits [rows, vocab] (f32).
   * losses[r] = -log softmax(logits[r])[targets[r]] (0 where target is -100).
   * If grad is true, logits is overwritten in place with gradScale·(softmax - onehot) (zero rows for ignored targets).
   */
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    rows: number,
    vocab: number,
    losses: Float32Array,
    grad: boolean,
    gradScale: number,
  ): void;

  /** Fused AdamW with decoupled weight decay and bias correction, in place on param/m/v. */
  adamw(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, args: AdamWArgs): void;

  /**
   * Inverted dropout: out[i] = x[i]·keep(i)/(1-p), keep(i) from a counter-based RNG on (seed, offset + i),
   * so the same (seed, offset) reproduces the mask (the backward pass calls it on dout).
   */
  dropout(x: Float32Array, out: Float32Array, p: number, seed: number, offset: number): void;
}
