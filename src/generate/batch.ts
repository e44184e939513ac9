// The one generation loop: a batch of sequences over a shared KV cache, advanced one step at a time. A step
// chooses the next token of every live row from its logits, drops the rows that finished (eos / end-of-turn
// id, stop string, max new tokens, or cancelled), then runs one forward pass for the rest. New sequences join
// between steps (continuous batching): they are prefilled together, left-padded, and their cache rows are
// stacked with the running ones. `generate()` is this loop run to completion; `sftkit serve` drives it from
// its request scheduler.
import type { LlamaModel } from '../model/llama.js';
import { UserError } from '../util/errors.js';
import { createCache, forwardStep } from './forward.js';
import { KVCache, PAD_SEGMENT, REAL_SEGMENT } from './kv-cache.js';
import { Sampler, type ResolvedSampling } from './sampling.js';
import { TextStream, type Decode } from './text-stream.js';

export type FinishReason = 'eos' | 'stop_string' | 'length' | 'cancelled';

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
  /** Forward passes run by decode steps (each advances every live row by one token). */
  decodeSteps: number;
}

export function emptyStats(): GenerateStats {
  return {
    prefillTokens: 0,
    prefillSeconds: 0,
    decodeTokens: 0,
    decodeSeconds: 0,
    generatedTokens: 0,
    totalSeconds: 0,
    reusedTokens: 0,
    decodeSteps: 0,
  };
}

/** What one sequence asks for. */
export interface SequenceSpec {
  prompt: readonly number[];
  maxNewTokens: number;
  sampling: ResolvedSampling;
  /** Seed of this row's own RNG stream (see rowSeed). */
  seed: bigint;
  /** Generation ends after one of these ids (kept in tokenIds, not in text). */
  stopTokenIds?: readonly number[];
  /** Generation ends when the text contains one of these (text is cut before it). Needs `decode`. */
  stopStrings?: readonly string[];
  /** Turns generated ids into text. */
  decode?: Decode;
  /** Called for every generated token with the newly printable text (maybe ''). */
  onToken?: (tokenId: number, text: string) => void;
}

/** The keys/values of one sequence kept between calls, with the tokens its slots hold (a chat's earlier turns). */
export class PrefixCache {
  cache: KVCache | null = null;
  /** Tokens whose keys/values fill slots [0, ids.length) of `cache`. */
  ids: number[] = [];

  clear(): void {
    this.cache = null;
    this.ids = [];
  }
}

/** One sequence in (or done with) a batch. */
export class Sequence {
  readonly prompt: number[];
  readonly generated: number[] = [];
  readonly seen: number[];
  finish: FinishReason | null = null;
  readonly sampler: Sampler;
  readonly stream: TextStream | null;
  readonly stopIds: ReadonlySet<number>;

  constructor(readonly spec: SequenceSpec) {
    this.prompt = [...spec.prompt];
    this.seen = [...spec.prompt];
    this.sampler = new Sampler(spec.sampling, spec.seed);
    this.stream = spec.decode ? new TextStream(spec.decode, spec.stopStrings ?? []) : null;
    this.stopIds = new Set(spec.stopTokenIds ?? []);
  }

  /** Decoded generated text without the stop token or stop string ('' without `decode`). */
  text(): string {
    return this.stream?.text() ?? '';
  }

  /** Token slots this row may still write: its last sampled token and each later one go through the model. */
  get remaining(): number {
    return this.spec.maxNewTokens - this.generated.length;
  }
}

/** Rows generating together over one KV cache; advance with step(), join with add(), leave with cancel(). */
export class BatchGenerator {
  private cache: KVCache | null = null;
  private live: Sequence[] = [];
  /** [live.length, V]: the logits each live row chooses its next token from. */
  private logits: Float32Array = new Float32Array(0);
  readonly stats = emptyStats();
  /** The cache of the last sequence(s) to finish, kept as it was when the batch emptied (for a PrefixCache). */
  retiredCache: KVCache | null = null;
  private readonly padTokenId: number;
  private stepping = false;

  constructor(
    readonly model: LlamaModel,
    opts: { padTokenId?: number } = {},
  ) {
    this.padTokenId = opts.padTokenId ?? 0;
  }

  /** Live rows. */
  get size(): number {
    return this.live.length;
  }

  /** Prefill these sequences and add them to the batch; their first token is chosen by the next step(). */
  add(specs: readonly SequenceSpec[], opts: { prefixCache?: PrefixCache; labels?: string[] } = {}): Sequence[] {
    const V = this.model.config.vocabSize;
    specs.forEach((s, i) => {
      const what = opts.labels?.[i] ?? `prompt ${i + 1}`;
      if (!Number.isInteger(s.maxNewTokens) || s.maxNewTokens < 0)
        throw new UserError(`max_new_tokens must be an integer >= 0, got ${s.maxNewTokens}`);
      if (s.prompt.length === 0)
        throw new UserError(`${what} has no tokens (give some text, or a tokenizer that adds BOS)`);
      for (const id of s.prompt)
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new UserError(`${what}: token id ${id} is outside the vocabulary (0..${V - 1})`);
      if (s.stopStrings?.length && !s.decode) throw new Error('generate: stopStrings need a decode function');
    });
    const seqs = specs.map((s) => new Sequence(s));
    const joining = seqs.filter((s) => {
      if (s.spec.maxNewTokens > 0) return true;
      s.finish = 'length';
      return false;
    });
    if (joining.length === 0) return seqs;
    const t0 = performance.now();
    let prefilled: { cache: KVCache; logits: Float32Array };
    if (opts.prefixCache) {
      if (joining.length !== 1 || this.live.length > 0)
        throw new Error('generate: a prefixCache works with exactly one sequence in an empty batch');
      prefilled = this.prefillReusing(joining[0]!, opts.prefixCache);
    } else {
      prefilled = this.prefill(joining);
    }
    if (this.cache && this.live.length > 0) {
      const rows = [...this.live, ...joining];
      const parts = [this.cache, prefilled.cache];
      const length = Math.max(...parts.map((c) => c.length - c.commonPadding()));
      this.cache = KVCache.stack(parts, length + Math.max(...rows.map((r) => r.remaining)));
      const all = new Float32Array(rows.length * V);
      all.set(this.logits);
      all.set(prefilled.logits, this.live.length * V);
      this.logits = all;
      this.live = rows;
    } else {
      this.cache = prefilled.cache;
      this.logits = prefilled.logits;
      this.live = joining;
    }
    this.stats.prefillSeconds += (performance.now() - t0) / 1000;
    return seqs;
  }

  /** Stop a sequence now: its row leaves the batch (finish reason 'cancelled' unless it had finished). */
  cancel(seq: Sequence): void {
    const i = this.live.indexOf(seq);
    if (seq.finish === null) seq.finish = 'cancelled';
    if (i < 0 || this.stepping) return; // inside step() (an onToken callback), the row leaves with the finished ones
    this.keep(this.live.map((_, j) => j).filter((j) => j !== i));
  }

  /**
   * Choose one token for every live row (reported through its onToken), let finished rows leave, and run one
   * forward pass for the rest. Returns the sequences that finished in this step.
   */
  step(): Sequence[] {
    if (this.live.length === 0) return [];
    const t0 = performance.now();
    const V = this.model.config.vocabSize;
    const finished: Sequence[] = [];
    const keep: number[] = [];
    this.stepping = true;
    this.live.forEach((r, i) => {
      const id = r.sampler.next(this.logits.subarray(i * V, (i + 1) * V), r.seen);
      r.generated.push(id);
      r.seen.push(id);
      this.stats.generatedTokens++;
      let text = '';
      if (r.stopIds.has(id)) r.finish = 'eos';
      else if (r.stream) {
        text = r.stream.push(id);
        if (r.stream.stoppedText !== null) r.finish = 'stop_string';
      }
      if (!r.finish && r.generated.length >= r.spec.maxNewTokens) r.finish = 'length';
      if (r.finish && r.stream && r.finish !== 'stop_string') text += r.stream.flush();
      r.spec.onToken?.(id, text);
      // A callback may have cancelled its own row.
      if (r.finish) finished.push(r);
      else keep.push(i);
    });
    this.stepping = false;
    this.keep(keep);
    const live = this.live;
    if (live.length > 0) {
      const cache = this.cache!;
      const n = live.length;
      const ids = new Int32Array(n);
      const positions = new Int32Array(n);
      live.forEach((r, i) => {
        ids[i] = r.generated[r.generated.length - 1]!;
        positions[i] = r.prompt.length + r.generated.length - 1;
      });
      this.logits = forwardStep(this.model, cache, {
        T: 1,
        ids,
        positions,
        seg: new Int32Array(n).fill(REAL_SEGMENT),
      });
      this.stats.decodeTokens += n;
      this.stats.decodeSteps++;
    }
    this.stats.decodeSeconds += (performance.now() - t0) / 1000;
    return finished;
  }

  /** Keep these live rows (ascending indices); the batch's cache is retired when none is left. */
  private keep(rows: number[]): void {
    if (rows.length === this.live.length) return;
    const V = this.model.config.vocabSize;
    if (rows.length === 0) {
      this.retiredCache = this.cache;
      this.cache = null;
      this.live = [];
      this.logits = new Float32Array(0);
      return;
    }
    this.cache!.keepRows(rows);
    const logits = new Float32Array(rows.length * V);
    rows.forEach((r, i) => logits.set(this.logits.subarray(r * V, (r + 1) * V), i * V));
    this.logits = logits;
    this.live = rows.map((r) => this.live[r]!);
  }

  /** Prompts left-padded to the longest in one prefill; positions count real tokens only. */
  private prefill(rows: Sequence[]): { cache: KVCache; logits: Float32Array } {
    const P = Math.max(...rows.map((r) => r.prompt.length));
    const B = rows.length;
    // Alone, the batch gets room for every new token now; joining rows are stacked into a new cache anyway.
    const capacity = this.live.length === 0 ? P + Math.max(...rows.map((r) => r.remaining)) : P;
    const cache = createCache(this.model, B, capacity);
    const ids = new Int32Array(B * P).fill(this.padTokenId);
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
    this.stats.prefillTokens += rows.reduce((s, r) => s + r.prompt.length, 0);
    return { cache, logits: forwardStep(this.model, cache, { T: P, ids, positions, seg }) };
  }

  /** Prefill one prompt, reusing the cached keys/values of its longest common prefix with the previous call. */
  private prefillReusing(row: Sequence, pc: PrefixCache): { cache: KVCache; logits: Float32Array } {
    const prompt = row.prompt;
    const needed = prompt.length + row.spec.maxNewTokens;
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
      cache = createCache(this.model, 1, Math.max(needed, 2 * (old?.capacity ?? 0)));
      if (old && common > 0) cache.copyPrefix(old, common);
    }
    pc.clear(); // slots past `common` are about to be overwritten
    const T = prompt.length - common;
    const positions = Int32Array.from({ length: T }, (_, i) => common + i);
    this.stats.prefillTokens += T;
    this.stats.reusedTokens += common;
    return {
      cache,
      logits: forwardStep(this.model, cache, {
        T,
        ids: Int32Array.from(prompt.slice(common)),
        positions,
        seg: new Int32Array(T).fill(REAL_SEGMENT),
      }),
    };
  }
}
