// One inference step over a KV cache: T new tokens per row go through every layer (the model's own block
// pieces: embed, qkv, finishLayer, finalNorm), their keys/values are appended to the cache, and attention reads
// the whole cache in place (qLen T <= kvLen). Only the last slot of each row reaches the LM head.
import { getBackend, noGrad, Tensor } from '../engine/index.js';
import type { LlamaModel } from '../model/llama.js';
import { KVCache, PAD_SEGMENT } from './kv-cache.js';
import { totalmem } from 'node:os';
import { formatBytes } from '../util/bytes.js';
import { UserError } from '../util/errors.js';

export interface StepInput {
  /** Token count per row this step (prompt length at prefill, 1 while decoding). */
  T: number;
  /** [B·T] token ids (padding slots hold any valid id). */
  ids: Int32Array;
  /** [B·T] RoPE positions (a row's first real token is at 0). */
  positions: Int32Array;
  /** [B·T] REAL_SEGMENT for tokens, PAD_SEGMENT for left padding. */
  seg: Int32Array;
}

/** A cache sized for this model. */
export function createCache(model: LlamaModel, batch: number, capacity: number): KVCache {
  const c = model.config;
  // f32 keys and values per layer, plus a segment id per slot: refuse what this machine cannot hold before allocating
  const bytes = batch * capacity * (c.numLayers * 2 * c.numKvHeads * c.headDim * 4 + 4);
  if (bytes > totalmem())
    throw new UserError(
      `generation needs a key/value cache of ${formatBytes(bytes)} for ${capacity.toLocaleString('en-US')} tokens (prompt + max_new_tokens)${batch > 1 ? ` x ${batch} rows` : ''}, more than this machine's ${formatBytes(totalmem())} of memory; ask for fewer new tokens`,
    );
  return new KVCache(c.numLayers, batch, capacity, c.numKvHeads, c.headDim);
}

/** Run T tokens per row through the model, appending to `cache`; returns the logits [B, V] of each row's last slot. */
export function forwardStep(model: LlamaModel, cache: KVCache, input: StepInput): Float32Array {
  const c = model.config;
  const B = cache.batch;
  const { T, ids, positions, seg } = input;
  if (ids.length !== B * T || positions.length !== B * T || seg.length !== B * T)
    throw new Error(`forwardStep: inputs must have ${B}x${T} entries`);
  return noGrad(() => {
    const be = getBackend();
    const ctx = model.forwardContext(false);
    const kvLen = cache.length + T;
    const padded = seg.includes(PAD_SEGMENT) || cache.seg.includes(PAD_SEGMENT);
    let kSeg: Int32Array | null = null;
    if (padded) {
      kSeg = cache.keySegments(kvLen);
      for (let b = 0; b < B; b++) kSeg.set(seg.subarray(b * T, (b + 1) * T), b * kvLen + cache.length);
    }
    let x = model.embed(ids);
    for (let i = 0; i < c.numLayers; i++) {
      const { q, k, v } = model.qkv(i, x, positions, ctx);
      cache.write(i, k.data as Float32Array, v.data as Float32Array, T);
      k.dispose();
      v.dispose();
      const attn = Tensor.empty([B * T, c.numHeads * c.headDim]);
      be.attentionForward({
        batch: B,
        qLen: T,
        kvLen,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
        scale: model.attentionScale,
        kvBatchStride: cache.rowStride,
        qSeg: padded ? seg : null,
        kSeg,
        window: model.attentionWindow(i),
        q: q.data as Float32Array,
        k: cache.k[i]!,
        v: cache.v[i]!,
        out: attn.data as Float32Array,
        lse: null,
      });
      q.dispose();
      const next = model.finishLayer(i, x, attn, ctx);
      x.dispose();
      attn.dispose();
      x = next;
    }
    cache.advance(T, seg);
    const D = c.hiddenSize;
    const last = Tensor.empty([B, D]);
    const xd = x.data as Float32Array;
    const ld = last.data as Float32Array;
    for (let b = 0; b < B; b++) ld.set(xd.subarray((b * T + T - 1) * D, (b * T + T) * D), b * D);
    x.dispose();
    const h = model.finalNorm(last);
    last.dispose();
    const logits = model.headLogits(h);
    h.dispose();
    const out = Float32Array.from(logits.data as Float32Array);
    logits.dispose();
    return out;
  });
}
