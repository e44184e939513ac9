// generate(): continuations of a set of token-id prompts, batched with left padding over one KV cache, run to
// completion by the step-wise loop in batch.ts. Rows leave the batch as soon as they finish (end-of-turn / eos
// id, stop string, or max_new_tokens), so the cache and the GEMMs shrink with them. Results do not depend on
// batching except for float rounding.
import type { LlamaModel } from '../model/llama.js';
import { UserError } from '../util/errors.js';
import {
  BatchGenerator,
  emptyStats,
  PrefixCache,
  type FinishReason,
  type GenerateStats,
  type Sequence,
} from './batch.js';
import { resolveSampling, rowSeed, type SamplingOptions } from './sampling.js';
import type { Decode } from './text-stream.js';

export { PrefixCache, type FinishReason, type GenerateStats };

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

export interface Generation {
  promptTokenIds: number[];
  /** Generated ids, the final stop id included (as HF generate returns it). */
  tokenIds: number[];
  /** Decoded generated text without the stop token or stop string ('' without `decode`). */
  text: string;
  finishReason: FinishReason;
}

export interface GenerateResult {
  generations: Generation[];
  stats: GenerateStats;
}

/** Generate continuations of token-id prompts (batched, KV-cached, noGrad). */
export function generate(
  model: LlamaModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): GenerateResult {
  if (prompts.length === 0) return { generations: [], stats: emptyStats() };
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0)
    throw new UserError(`max_new_tokens must be an integer >= 0, got ${opts.maxNewTokens}`);
  if (opts.prefixCache && prompts.length !== 1) throw new Error('generate: prefixCache works with exactly one prompt');
  const sampling = resolveSampling(opts);
  const started = performance.now();
  const gen = new BatchGenerator(model, { padTokenId: opts.padTokenId });
  const onToken = opts.onToken;
  const seqs = gen.add(
    prompts.map((prompt, index) => ({
      prompt,
      maxNewTokens: opts.maxNewTokens,
      sampling,
      seed: rowSeed(opts.seed ?? 0, (opts.rowOffset ?? 0) + index),
      stopTokenIds: opts.stopTokenIds,
      stopStrings: opts.stopStrings,
      decode: opts.decode,
      onToken: onToken ? (tokenId: number, text: string) => onToken({ index, tokenId, text }) : undefined,
    })),
    { prefixCache: opts.prefixCache },
  );
  while (gen.size > 0) gen.step();
  const pc = opts.prefixCache;
  if (pc && gen.retiredCache) {
    // Every token but the last sampled one went through the model: those fill the cached slots.
    const r = seqs[0]!;
    pc.cache = gen.retiredCache;
    pc.ids = [...r.prompt, ...r.generated].slice(0, pc.cache.length);
  }
  const stats = { ...gen.stats, totalSeconds: (performance.now() - started) / 1000 };
  return { generations: seqs.map(toGeneration), stats };
}

function toGeneration(r: Sequence): Generation {
  return {
    promptTokenIds: r.prompt,
    tokenIds: r.generated,
    text: r.text(),
    finishReason: r.finish ?? 'length',
  };
}
