// Coarse differentiable ops: each runs one Backend kernel forward and one (or a GEMM or two) backward.
// Activations and gradients are f32; weights passed to GEMMs (linear, embedding tables, lm head) may be bf16.
import { IGNORE_INDEX, type FloatDType, type Mat } from './backend.js';
import { getBackend } from './current-backend.js';
import { linear } from './linear.js';
import { f32Data, lastDim, matData, shapeStr, withCompute } from './op-args.js';
import { allocF32, release } from './pool.js';
import {
  accumulateGrad,
  accumulateSink,
  needsGrad,
  onStepEnd,
  overwriteSink,
  own,
  passGrad,
  record,
  save,
  shouldRecord,
} from './tape.js';
import { Tensor } from './tensor.js';

export {
  linear,
  linearLora,
  denseBase,
  type BaseInputGrad,
  type LinearBase,
  type LinearOpts,
  type LoraPath,
} from './linear.js';

/** A view of x with a new shape (same storage); one dimension may be -1. Its gradient is x's, same elements. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const view = x.view(shape);
  record('reshape', view, shouldRecord(x) ? (g) => passGrad(x, g) : null);
  return view;
}

/** Logits [N, V] = hidden·wᵀ (inference and dumps; differentiable like linear). */
export function logits(hidden: Tensor, w: Tensor, opts?: { compute?: FloatDType }): Tensor {
  return linear(hidden, w, null, opts);
}

/** a + b, same number of elements; the result has a's shape. */
export function add(a: Tensor, b: Tensor): Tensor {
  const ad = f32Data(a, 'add', 'a');
  const bd = f32Data(b, 'add', 'b');
  if (a.numel !== b.numel) throw new Error(`add: shapes ${shapeStr(a)} and ${shapeStr(b)} differ`);
  const out = Tensor.empty(a.shape);
  getBackend().add(ad, bd, out.data as Float32Array);
  record(
    'add',
    out,
    shouldRecord(a, b)
      ? (g) => {
          if (needsGrad(b)) accumulateGrad(b, g);
          passGrad(a, g);
        }
      : null,
  );
  return out;
}

/** x·s */
export function mulScalar(x: Tensor, s: number): Tensor {
  const xd = f32Data(x, 'mulScalar', 'x');
  const out = Tensor.empty(x.shape);
  const od = out.data as Float32Array;
  od.set(xd);
  getBackend().scale(od, s);
  record(
    'mulScalar',
    out,
    shouldRecord(x)
      ? (g) => {
          getBackend().scale(g, s);
          passGrad(x, g);
        }
      : null,
  );
  return out;
}

/** Rows of table [V, D] (f32 or bf16) gathered by ids: [N, D]. Backward scatter-adds into the table's grad. */
export function embedding(table: Tensor, ids: Int32Array): Tensor {
  const td = matData(table, 'embedding', 'table');
  if (table.shape.length !== 2) throw new Error(`embedding: table must be [V, D], got ${shapeStr(table)}`);
  const [vocab, dim] = table.shape as [number, number];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i]! < 0 || ids[i]! >= vocab)
      throw new RangeError(`embedding: id ${ids[i]} at position ${i} is outside [0, ${vocab})`);
  }
  const out = Tensor.empty([ids.length, dim]);
  getBackend().embeddingForward(td, ids, dim, out.data as Float32Array);
  if (!shouldRecord(table)) {
    record('embedding', out, null);
    return out;
  }
  const savedIds = ids.slice();
  record('embedding', out, (g) => {
    const dt = accumulateSink(table);
    if (dt) getBackend().embeddingBackward(g, savedIds, dim, dt);
  });
  return out;
}

/**
 * RMSNorm over the last dimension: x·rstd·w, w [D]. With `offset` (Gemma: 1) the scale is (offset + w) in
 * f32, while the gradient still accumulates into w (d(offset + w)/dw = 1).
 */
export function rmsnorm(x: Tensor, w: Tensor, eps: number, offset = 0): Tensor {
  const xd = f32Data(x, 'rmsnorm', 'x');
  let wd = matData(w, 'rmsnorm', 'w');
  let shifted: Float32Array | null = null;
  if (offset !== 0) {
    const src = w.dtype === 'f32' ? (wd as Float32Array) : w.toF32();
    shifted = allocF32(src.length);
    for (let i = 0; i < src.length; i++) shifted[i] = Math.fround(offset + src[i]!);
    wd = shifted;
  }
  const dim = w.numel;
  if (lastDim(x) !== dim) throw new Error(`rmsnorm: x ${shapeStr(x)} does not match w ${shapeStr(w)}`);
  const rows = x.numel / dim;
  const out = Tensor.empty(x.shape);
  const rstd = allocF32(rows);
  getBackend().rmsnormForward(xd, wd, rows, dim, eps, out.data as Float32Array, rstd);
  if (!shouldRecord(x, w)) {
    release(rstd);
    release(shifted);
    record('rmsnorm', out, null);
    return out;
  }
  let savedX!: Float32Array;
  let savedW!: Mat;
  const node = record('rmsnorm', out, (g) => {
    const dx = overwriteSink(x);
    const dw = needsGrad(w) ? accumulateSink(w) : null;
    getBackend().rmsnormBackward(g, savedX, savedW, rstd, rows, dim, dx.buf, dw);
    dx.finish();
  })!;
  own(node, rstd);
  savedX = save(node, x);
  if (shifted) {
    own(node, shifted);
    savedW = shifted;
  } else savedW = save(node, w);
  return out;
}

/** cos/sin tables [maxPositions, rotaryDim/2], built by the caller (the model applies any scaling). */
export interface RopeTable {
  cos: Float32Array;
  sin: Float32Array;
  rotaryDim: number;
  maxPositions: number;
}

/** HF rotate-half RoPE of x [N, H, hd] or [N, H·hd] at positions [N]. */
export function rope(x: Tensor, positions: Int32Array, heads: number, headDim: number, table: RopeTable): Tensor {
  const xd = f32Data(x, 'rope', 'x');
  const tokens = positions.length;
  if (x.numel !== tokens * heads * headDim) {
    throw new Error(`rope: x ${shapeStr(x)} is not ${tokens} positions × ${heads} heads × ${headDim}`);
  }
  const { rotaryDim, maxPositions } = table;
  if (rotaryDim % 2 !== 0 || rotaryDim > headDim)
    throw new Error(`rope: rotaryDim ${rotaryDim} must be even and <= headDim ${headDim}`);
  if (table.cos.length < maxPositions * (rotaryDim / 2) || table.sin.length < maxPositions * (rotaryDim / 2)) {
    throw new Error('rope: cos/sin tables are smaller than [maxPositions, rotaryDim/2]');
  }
  for (let i = 0; i < tokens; i++) {
    if (positions[i]! < 0 || positions[i]! >= maxPositions)
      throw new RangeError(`rope: position ${positions[i]} is outside [0, ${maxPositions})`);
  }
  const out = Tensor.empty(x.shape);
  const od = out.data as Float32Array;
  od.set(xd);
  getBackend().rope(od, positions, tokens, heads, headDim, rotaryDim, table.cos, table.sin, false);
  if (!shouldRecord(x)) {
    record('rope', out, null);
    return out;
  }
  const savedPositions = positions.slice();
  record('rope', out, (g) => {
    getBackend().rope(g, savedPositions, tokens, heads, headDim, rotaryDim, table.cos, table.sin, true);
    passGrad(x, g);
  });
  return out;
}

export interface AttentionOpts {
  batch: number;
  seq: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  scale: number;
  /** [B·T]: tokens attend only to earlier (or the same) tokens with an equal id. */
  segmentIds?: Int32Array | null;
  /** Sliding window: token i sees token j only when i - j < window (null: full causal). */
  window?: number | null;
}

/** Causal (GQA) attention: q [B·T, H·hd], k/v [B·T, Hkv·hd] -> [B·T, H·hd] (the kernel's [B,T,H,hd] layout, same memory). */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOpts): Tensor {
  const qd = f32Data(q, 'attention', 'q');
  const kd = f32Data(k, 'attention', 'k');
  const vd = f32Data(v, 'attention', 'v');
  const { batch, seq, heads, kvHeads, headDim, scale } = opts;
  if (heads % kvHeads !== 0) throw new Error(`attention: heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
  if (q.numel !== batch * seq * heads * headDim)
    throw new Error(`attention: q ${shapeStr(q)} is not [${batch}·${seq}, ${heads}·${headDim}]`);
  for (const [t, name] of [
    [k, 'k'],
    [v, 'v'],
  ] as const) {
    if (t.numel !== batch * seq * kvHeads * headDim)
      throw new Error(`attention: ${name} ${shapeStr(t)} is not [${batch}·${seq}, ${kvHeads}·${headDim}]`);
  }
  const seg = opts.segmentIds ? opts.segmentIds.slice() : null;
  if (seg && seg.length !== batch * seq)
    throw new Error(`attention: segmentIds has ${seg.length} ids, expected ${batch * seq}`);
  const window = opts.window ?? null;
  if (window !== null && !(Number.isSafeInteger(window) && window > 0))
    throw new RangeError(`attention: window must be a positive integer, got ${window}`);
  const shape = { batch, qLen: seq, kvLen: seq, heads, kvHeads, headDim, scale, qSeg: seg, kSeg: seg, window };
  const out = Tensor.empty(q.shape);
  const od = out.data as Float32Array;
  const recording = shouldRecord(q, k, v);
  const lse = recording ? allocF32(batch * heads * seq) : null;
  getBackend().attentionForward({ ...shape, q: qd, k: kd, v: vd, out: od, lse });
  if (!recording) {
    record('attention', out, null);
    return out;
  }
  let sq!: Float32Array, sk!: Float32Array, sv!: Float32Array, so!: Float32Array;
  const node = record('attention', out, (g) => {
    const dq = overwriteSink(q);
    const dk = overwriteSink(k);
    const dv = overwriteSink(v);
    getBackend().attentionBackward({
      ...shape,
      q: sq,
      k: sk,
      v: sv,
      out: so,
      lse: lse!,
      dout: g,
      dq: dq.buf,
      dk: dk.buf,
      dv: dv.buf,
    });
    dq.finish();
    dk.finish();
    dv.finish();
  })!;
  own(node, lse!);
  sq = save(node, q);
  sk = save(node, k);
  sv = save(node, v);
  so = save(node, out);
  return out;
}

/** act(gate)·up for the gated MLPs: one tape node over the named backend kernel pair. */
function gated(op: 'swiglu' | 'geglu', gate: Tensor, up: Tensor): Tensor {
  const gd = f32Data(gate, op, 'gate');
  const ud = f32Data(up, op, 'up');
  if (gate.numel !== up.numel) throw new Error(`${op}: gate ${shapeStr(gate)} and up ${shapeStr(up)} differ`);
  const out = Tensor.empty(gate.shape);
  getBackend()[`${op}Forward`](gd, ud, out.data as Float32Array);
  if (!shouldRecord(gate, up)) {
    record(op, out, null);
    return out;
  }
  let sg!: Float32Array, su!: Float32Array;
  const node = record(op, out, (g) => {
    const dg = overwriteSink(gate);
    const du = overwriteSink(up);
    getBackend()[`${op}Backward`](g, sg, su, dg.buf, du.buf);
    dg.finish();
    du.finish();
  })!;
  sg = save(node, gate);
  su = save(node, up);
  return out;
}

/** silu(gate)·up */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  return gated('swiglu', gate, up);
}

/** gelu_tanh(gate)·up (Gemma's GeGLU: GELU with the tanh approximation, as PyTorch's approximate='tanh'). */
export function geglu(gate: Tensor, up: Tensor): Tensor {
  return gated('geglu', gate, up);
}

/** tanh(x / cap)·cap (Gemma's final logit soft-capping), elementwise. */
export function softcap(x: Tensor, cap: number): Tensor {
  const xd = f32Data(x, 'softcap', 'x');
  if (!(cap > 0)) throw new RangeError(`softcap: cap must be positive, got ${cap}`);
  const out = Tensor.empty(x.shape);
  const od = out.data as Float32Array;
  softcapInPlace(od, xd, cap);
  if (!shouldRecord(x)) {
    record('softcap', out, null);
    return out;
  }
  let so!: Float32Array;
  const node = record('softcap', out, (g) => {
    softcapGradInPlace(g, so, cap);
    passGrad(x, g);
  })!;
  so = save(node, out);
  return out;
}

/** out = tanh(x / cap)·cap (f32 arithmetic as torch: x / cap, tanh, · cap). */
function softcapInPlace(out: Float32Array, x: Float32Array, cap: number): void {
  const c = Math.fround(cap);
  for (let i = 0; i < x.length; i++) out[i] = Math.fround(Math.fround(Math.tanh(Math.fround(x[i]! / c))) * c);
}

/** g *= 1 - (y / cap)² where y is the capped value (d/dx tanh(x/c)·c = 1 - tanh²). */
function softcapGradInPlace(g: Float32Array, y: Float32Array, cap: number): void {
  for (let i = 0; i < g.length; i++) {
    const t = y[i]! / cap;
    g[i] = g[i]! * (1 - t * t);
  }
}

// Each dropout call in a step draws from its own range of the counter-based RNG; the range restarts
// when the step ends, so a step's masks depend only on the seeds and the order of the calls.
let dropoutOffset = 0;
onStepEnd(() => {
  dropoutOffset = 0;
});

/** The dropout counter's position in this step; checkpoint() rewinds it so a recomputed segment redraws the same masks. */
export function dropoutCounter(): number {
  return dropoutOffset;
}

export function setDropoutCounter(offset: number): void {
  dropoutOffset = offset;
}

/** Inverted dropout with drop probability p (a view of x when p is 0). */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  const xd = f32Data(x, 'dropout', 'x');
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p ${p} is outside [0, 1)`);
  if (p === 0) return reshape(x, x.shape);
  const offset = dropoutOffset;
  dropoutOffset += x.numel;
  const out = Tensor.empty(x.shape);
  getBackend().dropout(xd, out.data as Float32Array, p, seed, offset);
  record(
    'dropout',
    out,
    shouldRecord(x)
      ? (g) => {
          const dx = overwriteSink(x);
          getBackend().dropout(g, dx.buf, p, seed, offset);
          dx.finish();
        }
      : null,
  );
  return out;
}

export interface LmHeadCrossEntropyOpts {
  /** The loss is (Σ CE over rows whose target is not -100) / normalizer. */
  normalizer: number;
  /** Rows whose logits exist at once (default: at most 64M logits (256 MB) per chunk, chunks of equal size). */
  rowsPerChunk?: number;
  compute?: FloatDType;
  /** Final logit soft-capping (Gemma): the loss reads tanh(logits / cap)·cap. */
  softcap?: number | null;
}

/** Most logits that exist at once by default: 256 MB of f32. */
const HEAD_CHUNK_LOGITS = 1 << 26;

/**
 * Rows per LM-head chunk: as few chunks as the logit budget allows, split evenly. Each chunk repacks the
 * whole [V, D] head for two GEMMs, so small chunks (tens of rows) waste most of the head's time on packing
 * and run the GEMMs at a fraction of their speed; a tail chunk of a few rows is slower still.
 */
function defaultHeadChunk(rows: number, vocab: number): number {
  const most = Math.max(1, Math.floor(HEAD_CHUNK_LOGITS / Math.max(1, vocab)));
  const chunks = Math.ceil(rows / most);
  return Math.ceil(rows / Math.max(1, chunks));
}

/**
 * The LM head and cross-entropy fused, chunked over rows so [N, V] logits never exist at once. When a
 * gradient is needed the forward computes it chunk by chunk (dHidden = dLogits·W, dW += dLogitsᵀ·hidden)
 * and backward only scales and hands it on. Returns a scalar tensor.
 */
export function lmHeadCrossEntropy(
  hidden: Tensor,
  w: Tensor,
  targets: Int32Array,
  opts: LmHeadCrossEntropyOpts,
): Tensor {
  const hd = f32Data(hidden, 'lmHeadCrossEntropy', 'hidden');
  const wd = matData(w, 'lmHeadCrossEntropy', 'w');
  if (w.shape.length !== 2) throw new Error(`lmHeadCrossEntropy: w must be [V, D], got ${shapeStr(w)}`);
  const [vocab, dim] = w.shape as [number, number];
  if (lastDim(hidden) !== dim)
    throw new Error(`lmHeadCrossEntropy: hidden ${shapeStr(hidden)} does not match w ${shapeStr(w)}`);
  const rows = hidden.numel / dim;
  if (targets.length !== rows) throw new Error(`lmHeadCrossEntropy: ${targets.length} targets for ${rows} rows`);
  const { normalizer, compute } = opts;
  if (!(normalizer > 0) || !Number.isFinite(normalizer))
    throw new RangeError(`lmHeadCrossEntropy: normalizer must be a positive number, got ${normalizer}`);

  // Only rows with a target reach the head (with assistant-only loss most rows have none): they are gathered
  // into a compact block, and their dHidden rows scattered back (ignored rows get zero gradient).
  let active = 0;
  for (let i = 0; i < rows; i++) if (targets[i] !== IGNORE_INDEX) active++;
  const compact = active < rows;
  let src = hd;
  let srcTargets = targets;
  let order: Int32Array | null = null;
  if (compact) {
    order = new Int32Array(active);
    srcTargets = new Int32Array(active);
    src = allocF32(active * dim);
    for (let i = 0, j = 0; i < rows; i++) {
      if (targets[i] === IGNORE_INDEX) continue;
      order[j] = i;
      srcTargets[j] = targets[i]!;
      src.set(hd.subarray(i * dim, (i + 1) * dim), j * dim);
      j++;
    }
  }
  const chunk = Math.max(1, Math.min(active, opts.rowsPerChunk ?? defaultHeadChunk(active, vocab)));

  const be = getBackend();
  const wantGrad = shouldRecord(hidden, w);
  let dHidden: Float32Array | null = wantGrad && needsGrad(hidden) ? allocF32(rows * dim) : null;
  const dSrc = dHidden && compact ? allocF32(active * dim) : dHidden;
  let dW: Float32Array | null = wantGrad && needsGrad(w) ? allocF32(vocab * dim) : null;
  let dWWritten = false;
  const logitsBuf = allocF32(chunk * vocab);
  const cap = opts.softcap ?? null;
  const capBuf = cap && wantGrad ? allocF32(chunk * vocab) : null;
  const losses = allocF32(chunk);
  let total = 0;
  try {
    for (let r0 = 0; r0 < active; r0 += chunk) {
      const n = Math.min(chunk, active - r0);
      const lg = logitsBuf.subarray(0, n * vocab);
      const hRows = src.subarray(r0 * dim, (r0 + n) * dim);
      be.gemm(withCompute({ transA: false, transB: true, m: n, n: vocab, k: dim, a: hRows, b: wd, c: lg }, compute));
      const capped = capBuf ? capBuf.subarray(0, n * vocab) : null;
      if (cap) softcapInPlace(lg, lg, cap);
      if (capped) capped.set(lg);
      be.crossEntropy(lg, srcTargets.subarray(r0, r0 + n), n, vocab, losses.subarray(0, n), wantGrad, 1 / normalizer);
      if (capped) softcapGradInPlace(lg, capped, cap!);
      for (let i = 0; i < n; i++) total += losses[i]!;
      if (!wantGrad) continue;
      if (dSrc) {
        be.gemm(
          withCompute(
            {
              transA: false,
              transB: false,
              m: n,
              n: dim,
              k: vocab,
              a: lg,
              b: wd,
              c: dSrc.subarray(r0 * dim, (r0 + n) * dim),
            },
            compute,
          ),
        );
      }
      if (dW) {
        be.gemm(
          withCompute(
            { transA: true, transB: false, m: vocab, n: dim, k: n, a: lg, b: hRows, c: dW, accumulate: dWWritten },
            compute,
          ),
        );
        dWWritten = true;
      }
    }
    if (dHidden && dSrc !== dHidden && dSrc) {
      dHidden.fill(0);
      for (let j = 0; j < active; j++) dHidden.set(dSrc.subarray(j * dim, (j + 1) * dim), order![j]! * dim);
    }
  } catch (e) {
    release(dHidden);
    release(dW);
    throw e;
  } finally {
    release(logitsBuf);
    release(capBuf);
    release(losses);
    if (compact) release(src);
    if (dSrc !== dHidden) release(dSrc);
  }
  if (dW && !dWWritten) dW.fill(0);
  const loss = Tensor.empty([]);
  (loss.data as Float32Array)[0] = total / normalizer;
  if (!wantGrad) {
    record('lmHeadCrossEntropy', loss, null);
    return loss;
  }
  const node = record('lmHeadCrossEntropy', loss, (g) => {
    const s = g[0]!;
    const be = getBackend();
    if (dHidden) {
      if (s !== 1) be.scale(dHidden, s);
      passGrad(hidden, dHidden);
      dHidden = null;
    }
    if (dW) {
      if (s !== 1) be.scale(dW, s);
      passGrad(w, dW);
      dW = null;
    }
  })!;
  node.saved.push(() => {
    release(dHidden);
    release(dW);
  });
  return loss;
}
