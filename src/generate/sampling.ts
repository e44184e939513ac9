// Next-token choice with Hugging Face `generate` semantics. The logits processors run in HF's order:
// repetition penalty (also in greedy mode), then for sampling temperature, top-k, top-p, min-p; the token
// is drawn from the softmax of what survives with a seeded RNG (deterministic for a seed).
import { UserError } from '../util/errors.js';
import { SplitMix64 } from '../util/random.js';

export interface SamplingOptions {
  /** true: sample from the filtered distribution; false (default, as HF's do_sample): greedy argmax after the repetition penalty. */
  doSample?: boolean;
  /** Divides the logits before filtering; 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k highest logits (ties at the k-th value kept, as HF); 0 disables. HF's default is 50. */
  topK?: number;
  /** Nucleus: keep the smallest set of most likely tokens whose probability sums to >= topP (at least one). 1 disables. */
  topP?: number;
  /** Drop tokens whose probability is below minP · (the top probability); 0 disables. */
  minP?: number;
  /** HF CTRL penalty over tokens of prompt + generated text: positive logits divided, negative multiplied. 1 disables. */
  repetitionPenalty?: number;
}

/** The settings after defaults: what a sampler actually does. */
export interface ResolvedSampling {
  greedy: boolean;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
}

/** Defaults as HF GenerationConfig (temperature 1, top_k 50, top_p 1), validated with flag-style messages. */
export function resolveSampling(o: SamplingOptions, source = 'sampling'): ResolvedSampling {
  const temperature = o.temperature ?? 1;
  const topK = o.topK ?? 50;
  const topP = o.topP ?? 1;
  const minP = o.minP ?? 0;
  const repetitionPenalty = o.repetitionPenalty ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new UserError(`${source}: temperature must be a number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new UserError(`${source}: top_k must be an integer >= 0, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new UserError(`${source}: top_p must be in (0, 1], got ${topP}`);
  if (!(minP >= 0 && minP <= 1)) throw new UserError(`${source}: min_p must be in [0, 1], got ${minP}`);
  if (!(repetitionPenalty > 0) || !Number.isFinite(repetitionPenalty))
    throw new UserError(`${source}: repetition_penalty must be a number > 0, got ${repetitionPenalty}`);
  const greedy = o.doSample !== true || temperature === 0;
  return { greedy, temperature: greedy ? 1 : temperature, topK, topP, minP, repetitionPenalty };
}

/** HF RepetitionPenaltyLogitsProcessor, in place: each distinct token seen so far is penalised once. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  const done = new Set<number>();
  for (const id of seen) {
    if (done.has(id) || id < 0 || id >= logits.length) continue;
    done.add(id);
    const x = logits[id]!;
    logits[id] = x < 0 ? x * penalty : x / penalty;
  }
}

/** Index of the largest logit (the first on ties, as torch.argmax). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** A candidate set: token ids sorted by descending logit, with their (scaled) logits. */
interface Candidates {
  ids: number[];
  logits: number[];
}

function sortedCandidates(logits: Float32Array, topK: number): Candidates {
  const V = logits.length;
  let ids: number[];
  if (topK > 0 && topK < V) {
    // The k-th largest value by a partial selection over a copy, then every id at or above it (HF keeps ties).
    const vals = Float32Array.from(logits).sort();
    const kth = vals[V - topK]!;
    ids = [];
    for (let i = 0; i < V; i++) if (logits[i]! >= kth) ids.push(i);
  } else {
    ids = [];
    for (let i = 0; i < V; i++) if (logits[i]! > -Infinity) ids.push(i);
  }
  // Stable by id on ties so the order (and the draw) is deterministic.
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  return { ids, logits: ids.map((i) => logits[i]!) };
}

function softmax(xs: number[]): number[] {
  const m = xs.length ? xs[0]! : 0; // sorted descending: the first is the max
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * The distribution sampling draws from: temperature, then top-k, top-p and min-p filtering (HF warper order).
 * Returns the surviving ids (descending probability) and their renormalised probabilities.
 */
export function filteredDistribution(logits: Float32Array, s: ResolvedSampling): { ids: number[]; probs: number[] } {
  const scaled = s.temperature === 1 ? logits : logits.map((x) => x / s.temperature);
  const c = sortedCandidates(scaled, s.topK);
  if (c.ids.length === 0) throw new Error('sampling: every logit is -Infinity');
  let n = c.ids.length;
  let probs = softmax(c.logits);
  if (s.topP < 1) {
    // Keep a token while the mass of the tokens ranked above it is < topP (HF: cumulative ascending > 1 - top_p).
    let above = 0;
    let keep = 0;
    while (keep < n && above < s.topP) above += probs[keep++]!;
    n = Math.max(1, keep);
    probs = softmax(c.logits.slice(0, n));
  }
  if (s.minP > 0) {
    const threshold = s.minP * probs[0]!;
    let keep = 0;
    while (keep < n && probs[keep]! >= threshold) keep++;
    n = Math.max(1, keep);
    probs = softmax(c.logits.slice(0, n));
  }
  return { ids: c.ids.slice(0, n), probs: probs.slice(0, n) };
}

/** One sequence's token chooser: its own seeded RNG, so a row's draws do not depend on the rest of a batch. */
export class Sampler {
  readonly settings: ResolvedSampling;
  private readonly rng: SplitMix64;

  constructor(settings: ResolvedSampling, seed: number | bigint) {
    this.settings = settings;
    this.rng = new SplitMix64(seed);
  }

  /** Choose the next token; `logits` [V] is modified in place (penalty); `seen` = prompt + generated ids. */
  next(logits: Float32Array, seen: Iterable<number>): number {
    const s = this.settings;
    applyRepetitionPenalty(logits, seen, s.repetitionPenalty);
    if (s.greedy) return argmax(logits);
    const { ids, probs } = filteredDistribution(logits, s);
    const u = this.rng.nextDouble();
    let acc = 0;
    for (let i = 0; i < ids.length; i++) {
      acc += probs[i]!;
      if (u < acc) return ids[i]!;
    }
    return ids[ids.length - 1]!;
  }
}

/** Seed of row `row` of a batch: row 0 uses the seed itself, so a single prompt samples the same alone or first in a batch. */
export function rowSeed(seed: number, row: number): bigint {
  return BigInt.asUintN(64, BigInt(seed) + BigInt(row) * 0x632be59bd9b4e019n);
}
