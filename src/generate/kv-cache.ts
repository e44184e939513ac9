// The key/value cache of a batch of sequences: per layer one buffer [B, capacity, Hkv, hd] for K and one for V,
// read in place by the attention kernel (kvBatchStride = capacity·Hkv·hd). Every row shares the slot count;
// rows with shorter prompts are left-padded, and a per-slot segment id (PAD vs REAL) hides the padding.

/** Segment ids: real tokens attend only to real tokens; padding slots form their own segment. */
export const REAL_SEGMENT = 0;
export const PAD_SEGMENT = -1;

export class KVCache {
  /** Per layer [B, capacity, kvHeads, headDim]. */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  /** [B, capacity] segment id of each slot. */
  seg: Int32Array;
  /** Slots filled (equal for every row). */
  length = 0;

  constructor(
    readonly layers: number,
    public batch: number,
    readonly capacity: number,
    readonly kvHeads: number,
    readonly headDim: number,
  ) {
    const n = batch * capacity * kvHeads * headDim;
    this.k = Array.from({ length: layers }, () => new Float32Array(n));
    this.v = Array.from({ length: layers }, () => new Float32Array(n));
    this.seg = new Int32Array(batch * capacity);
  }

  /** Elements between rows of a layer buffer. */
  get rowStride(): number {
    return this.capacity * this.kvHeads * this.headDim;
  }

  /** Bytes held by the cache. */
  get bytes(): number {
    return 2 * this.layers * this.batch * this.rowStride * 4;
  }

  /**
   * Write T new slots of layer `layer` for every row: k/v are [B·T, Hkv·hd] (row-major by batch row, then time),
   * stored at slots [length, length + T). Call for every layer, then advance(T).
   */
  write(layer: number, k: Float32Array, v: Float32Array, T: number): void {
    if (this.length + T > this.capacity)
      throw new Error(`KVCache: ${this.length} + ${T} slots exceed the capacity ${this.capacity}`);
    const w = this.kvHeads * this.headDim;
    const kd = this.k[layer]!;
    const vd = this.v[layer]!;
    for (let b = 0; b < this.batch; b++) {
      const src = b * T * w;
      const dst = b * this.rowStride + this.length * w;
      kd.set(k.subarray(src, src + T * w), dst);
      vd.set(v.subarray(src, src + T * w), dst);
    }
  }

  /** Record the segment ids [B·T] of the T slots just written and move past them. */
  advance(T: number, seg: Int32Array): void {
    for (let b = 0; b < this.batch; b++)
      this.seg.set(seg.subarray(b * T, (b + 1) * T), b * this.capacity + this.length);
    this.length += T;
  }

  /** Segment ids [B, kvLen] of the first kvLen slots, tightly packed (the kernel's kSeg layout). */
  keySegments(kvLen: number): Int32Array {
    const out = new Int32Array(this.batch * kvLen);
    for (let b = 0; b < this.batch; b++)
      out.set(this.seg.subarray(b * this.capacity, b * this.capacity + kvLen), b * kvLen);
    return out;
  }

  /** Copy the first n slots of every row from another cache of the same shape (e.g. a smaller one being grown). */
  copyPrefix(from: KVCache, n: number): void {
    if (
      from.batch !== this.batch ||
      from.kvHeads !== this.kvHeads ||
      from.headDim !== this.headDim ||
      n > from.length ||
      n > this.capacity
    )
      throw new Error('KVCache: incompatible copy');
    const w = this.kvHeads * this.headDim;
    for (let l = 0; l < this.layers; l++) {
      for (let b = 0; b < this.batch; b++) {
        this.k[l]!.set(from.k[l]!.subarray(b * from.rowStride, b * from.rowStride + n * w), b * this.rowStride);
        this.v[l]!.set(from.v[l]!.subarray(b * from.rowStride, b * from.rowStride + n * w), b * this.rowStride);
      }
    }
    for (let b = 0; b < this.batch; b++)
      this.seg.set(from.seg.subarray(b * from.capacity, b * from.capacity + n), b * this.capacity);
    this.length = n;
  }

  /** Forget every slot from `length` on (they are overwritten by the next writes). */
  truncate(length: number): void {
    if (length < 0 || length > this.length)
      throw new Error(`KVCache: cannot truncate ${this.length} slots to ${length}`);
    this.length = length;
  }

  /** Leading slots that are padding in every row (they can be dropped when the rows are stacked anew). */
  commonPadding(): number {
    let n = this.length;
    for (let b = 0; b < this.batch && n > 0; b++) {
      let lead = 0;
      while (lead < n && this.seg[b * this.capacity + lead] === PAD_SEGMENT) lead++;
      n = lead;
    }
    return n;
  }

  /**
   * The rows of several caches in one new cache of `capacity` slots (continuous batching: sequences joining a
   * running batch). Each part's filled slots, less its common leading padding, are right-aligned to the
   * longest part; the slots before them become padding. Keys/values do not depend on their slot (positions
   * do, and those travel with the tokens), so the moved rows attend exactly as before.
   */
  static stack(parts: readonly KVCache[], capacity: number): KVCache {
    const first = parts[0];
    if (!first) throw new Error('KVCache.stack: no parts');
    const lead = parts.map((p) => p.commonPadding());
    const length = Math.max(...parts.map((p, i) => p.length - lead[i]!));
    if (length > capacity) throw new Error(`KVCache.stack: ${length} slots exceed the capacity ${capacity}`);
    const batch = parts.reduce((s, p) => s + p.batch, 0);
    const out = new KVCache(first.layers, batch, capacity, first.kvHeads, first.headDim);
    const w = first.kvHeads * first.headDim;
    let row = 0;
    parts.forEach((p, i) => {
      if (p.layers !== first.layers || p.kvHeads !== first.kvHeads || p.headDim !== first.headDim)
        throw new Error('KVCache.stack: incompatible caches');
      const from = lead[i]!;
      const n = p.length - from;
      const at = length - n;
      for (let b = 0; b < p.batch; b++, row++) {
        const src = b * p.rowStride + from * w;
        const dst = row * out.rowStride + at * w;
        for (let l = 0; l < first.layers; l++) {
          out.k[l]!.set(p.k[l]!.subarray(src, src + n * w), dst);
          out.v[l]!.set(p.v[l]!.subarray(src, src + n * w), dst);
        }
        out.seg.fill(PAD_SEGMENT, row * capacity, row * capacity + at);
        out.seg.set(p.seg.subarray(b * p.capacity + from, b * p.capacity + p.length), row * capacity + at);
      }
    });
    out.length = length;
    return out;
  }

  /** Keep only these rows (ascending indices), moving them to the front: finished sequences leave the batch. */
  keepRows(rows: number[]): void {
    const stride = this.rowStride;
    for (const buf of [...this.k, ...this.v]) {
      rows.forEach((r, i) => {
        if (r !== i) buf.copyWithin(i * stride, r * stride, r * stride + this.length * this.kvHeads * this.headDim);
      });
    }
    rows.forEach((r, i) => {
      if (r !== i) this.seg.copyWithin(i * this.capacity, r * this.capacity, r * this.capacity + this.length);
    });
    this.batch = rows.length;
  }
}
