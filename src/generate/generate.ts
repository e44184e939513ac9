// Batched generation with a KV cache: one prefill over left-padded prompts, then one token per live row per
// step. Rows leave the batch as soon as they finish (end-of-turn / eos id, stop string, or max_new_tokens),
// so the cache and the GEMMs shrink with them. Results do not depend on batching except for float rounding.
import type { LlamaModel } from '../model/llama.js';
import { UserError } from '../util/errors.js';
import { createCache, forwardStep } from './forward.js';
import { KVCache, PAD_SEGMENT, REAL_SEGMENT } from './kv-cache.js';
import { resolveSampling, rowSeed, Sampler, type SamplingOptions } from './sampling.js';
import { TextStream, type Decode } from './text-stream.js';

export type FinishReason = 'eos' | 'stop_string' | 'length';

export interface TokenEvent {
  /** Index of the prompt in the request. */
  index: number;
  tokenId: number;
  /** Newly printable text (may be '' while a character or a possible stop string is incomplete). */
  text: string;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Generation of a row ends after one of these ids (kept in tokenIds, not in text). */
  stopTokenIds?: readonly number[];
  /** Generation of a row ends when its text contains one of these (text is cut before it). Needs `decode`. */
  stopStrings?: readonly string[];
  /** Sampling seed (row i draws from its own stream derived from seed and rowOffset + i). Default 0. */
  seed?: number;
  /** Index of the first prompt within a larger request split into batches, so a prompt's draws do not depend on the batching. */
  rowOffset?: number;
  /** Turns generated ids into text (e.g. ids => tok.decode(ids, { skipSpecialTokens: true })). */
  decode?: Decode;
  /** Called for every generated token, in order per row. */
  onToken?: (e: TokenEvent) => void;
  /** Id written into padding slots (they are masked out); default 0. */
  padTokenId?: number;
  /**
   * Single-prompt only: keys/values kept from the previous call (e.g. the previous chat turn). The longest
   * common prefix of its tokens and the new prompt is not recomputed; the cache is updated for the next call.
   */
  prefixCache?: PrefixCache;
}

/** The KV cache of one sequence kept between generate() calls, with the tokens its slots hold. */
export class PrefixCache {
  cache: KVCache | null = null;
  /** Tokens whose keys/values fill slots [0, ids.length) of `cache`. */
  ids: number[] = [];

  clear(): void {
    this.cache = null;
    this.ids = [];
  }
}

export interface Generation {
  promptTokenIds: number[];
  /** Generated ids, the final stop id included (as HF generate returns it). */
  tokenIds: number[];
  /** Decoded generated text without the stop token or stop string ('' without `decode`). */
  text: string;
  finishReason: FinishReason;
}

export interface GenerateStats {
  prefillTokens: number;
  prefillSeconds: number;
  /** Tokens produced by decode steps (every generated token after each row's first). */
  decodeTokens: number;
  decodeSeconds: number;
  generatedTokens: number;
  totalSeconds: number;
  /** Prompt tokens whose keys/values came from a prefix cache instead of the prefill. */
  reusedTokens: number;
}

export interface GenerateResult {
  generations: Generation[];
  stats: GenerateStats;
}

interface Row {
  index: number;
  prompt: number[];
  generated: number[];
  seen: number[];
  sampler: Sampler;
  stream: TextStream | null;
  finish: FinishReason | null;
}

/** Generate continuations of token-id prompts (batched, KV-cached, noGrad). */
export function generate(
  model: LlamaModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): GenerateResult {
  const V = model.config.vocabSize;
  if (prompts.length === 0) return { generations: [], stats: emptyStats() };
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0)
    throw new UserError(`max_new_tokens must be an integer >= 0, got ${opts.maxNewTokens}`);
  prompts.forEach((p, i) => {
    if (p.length === 0)
      throw new UserError(`prompt ${i + 1} has no tokens (give some text, or a tokenizer that adds BOS)`);
    for (const id of p)
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new UserError(`prompt ${i + 1}: token id ${id} is outside the vocabulary (0..${V - 1})`);
  });
  if (opts.stopStrings?.length && !opts.decode) throw new Error('generate: stopStrings need a decode function');
  if (opts.prefixCache && prompts.length !== 1) throw new Error('generate: prefixCache works with exactly one prompt');
  const settings = resolveSampling(opts);
  const stopIds = new Set(opts.stopTokenIds ?? []);
  const seed = opts.seed ?? 0;
  const rows: Row[] = prompts.map((p, index) => ({
    index,
    prompt: [...p],
    generated: [],
    seen: [...p],
    sampler: new Sampler(settings, rowSeed(seed, (opts.rowOffset ?? 0) + index)),
    stream: opts.decode ? new TextStream(opts.decode, opts.stopStrings ?? []) : null,
    finish: null,
  }));
  const started = performance.now();
  const stats = emptyStats();
  const done = () => {
    stats.totalSeconds = (performance.now() - started) / 1000;
    return { generations: rows.map(toGeneration), stats };
  };
  if (opts.maxNewTokens === 0) {
    for (const r of rows) r.finish = 'length';
    return done();
  }

  let t0 = performance.now();
  const prefilled = opts.prefixCache
    ? prefillReusing(model, rows[0]!.prompt, opts.maxNewTokens, opts.prefixCache, stats)
    : prefillBatch(model, rows, opts, stats);
  const cache = prefilled.cache;
  let logits = prefilled.logits;
  stats.prefillSeconds = (performance.now() - t0) / 1000;

  let live = rows;
  t0 = performance.now();
  for (;;) {
    // Choose the next token of every live row from its logits row.
    for (let i = 0; i < live.length; i++) {
      const r = live[i]!;
      const id = r.sampler.next(logits.subarray(i * V, (i + 1) * V), r.seen);
      r.generated.push(id);
      r.seen.push(id);
      stats.generatedTokens++;
      let text = '';
      if (stopIds.has(id)) r.finish = 'eos';
      else if (r.stream) {
        text = r.stream.push(id);
        if (r.stream.stoppedText !== null) r.finish = 'stop_string';
      }
      if (!r.finish && r.generated.length >= opts.maxNewTokens) r.finish = 'length';
      if (r.finish && r.stream && r.finish !== 'stop_string') text += r.stream.flush();
      opts.onToken?.({ index: r.index, tokenId: id, text });
    }
    const keep: number[] = [];
    live.forEach((r, i) => {
      if (!r.finish) keep.push(i);
    });
    if (keep.length === 0) break;
    if (keep.length < live.length) {
      cache.keepRows(keep);
      live = keep.map((i) => live[i]!);
    }
    const n = live.length;
    const stepIds = new Int32Array(n);
    const stepPos = new Int32Array(n);
    live.forEach((r, i) => {
      stepIds[i] = r.generated[r.generated.length - 1]!;
      stepPos[i] = r.prompt.length + r.generated.length - 1;
    });
    logits = forwardStep(model, cache, {
      T: 1,
      ids: stepIds,
      positions: stepPos,
      seg: new Int32Array(n).fill(REAL_SEGMENT),
    });
    stats.decodeTokens += n;
  }
  stats.decodeSeconds = (performance.now() - t0) / 1000;
  if (opts.prefixCache) {
    // Every token but the last sampled one went through the model: those fill the cached slots.
    const r = rows[0]!;
    opts.prefixCache.cache = cache;
    opts.prefixCache.ids = [...r.prompt, ...r.generated].slice(0, cache.length);
  }
  return done();
}

function emptyStats(): GenerateStats {
  return {
    prefillTokens: 0,
    prefillSeconds: 0,
    decodeTokens: 0,
    decodeSeconds: 0,
    generatedTokens: 0,
    totalSeconds: 0,
    reusedTokens: 0,
  };
}

/** Prompts left-padded to the longest in one prefill; positions count real tokens only. */
function prefillBatch(
  model: LlamaModel,
  rows: Row[],
  opts: GenerateOptions,
  stats: GenerateStats,
): { cache: KVCache; logits: Float32Array } {
  const P = Math.max(...rows.map((r) => r.prompt.length));
  const B = rows.length;
  const cache = createCache(model, B, P + opts.maxNewTokens);
  const ids = new Int32Array(B * P).fill(opts.padTokenId ?? 0);
  const positions = new Int32Array(B * P);
  const seg = new Int32Array(B * P).fill(PAD_SEGMENT);
  rows.forEach((r, b) => {
    const pad = P - r.prompt.length;
    r.prompt.forEach((id, t) => {
      ids[b * P + pad + t] = id;
      positions[b * P + pad + t] = t;
      seg[b * P + pad + t] = REAL_SEGMENT;
    });
  });
  stats.prefillTokens = rows.reduce((s, r) => s + r.prompt.length, 0);
  return { cache, logits: forwardStep(model, cache, { T: P, ids, positions, seg }) };
}

/** Prefill one prompt, reusing the cached keys/values of its longest common prefix with the previous call. */
function prefillReusing(
  model: LlamaModel,
  prompt: number[],
  maxNewTokens: number,
  pc: PrefixCache,
  stats: GenerateStats,
): { cache: KVCache; logits: Float32Array } {
  const needed = prompt.length + maxNewTokens;
  const old = pc.cache && pc.cache.batch === 1 ? pc.cache : null;
  let common = 0;
  if (old) {
    // At least the last prompt token is recomputed: its logits choose the first new token.
    const limit = Math.min(pc.ids.length, old.length, prompt.length - 1);
    while (common < limit && pc.ids[common] === prompt[common]) common++;
  }
  let cache: KVCache;
  if (old && old.capacity >= needed) {
    cache = old;
    cache.truncate(common);
  } else {
    // Grow geometrically so a long chat reallocates rarely; the common prefix moves over.
    cache = createCache(model, 1, Math.max(needed, 2 * (old?.capacity ?? 0)));
    if (old && common > 0) cache.copyPrefix(old, common);
  }
  pc.clear(); // slots past `common` are about to be overwritten
  const T = prompt.length - common;
  const positions = Int32Array.from({ length: T }, (_, i) => common + i);
  stats.prefillTokens = T;
  stats.reusedTokens = common;
  return {
    cache,
    logits: forwardStep(model, cache, {
      T,
      ids: Int32Array.from(prompt.slice(common)),
      positions,
      seg: new Int32Array(T).fill(REAL_SEGMENT),
    }),
  };
}

function toGeneration(r: Row): Generation {
  return {
    promptTokenIds: r.prompt,
    tokenIds: r.generated,
    text: r.stream?.text() ?? '',
    finishReason: r.finish ?? 'length',
  };
}
