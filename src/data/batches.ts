// Batching for the trainer: best-fit-decreasing packing (position ids restart per example) or
// length-grouped right-padded batches. Labels are aligned like Hugging Face's: labels[t] is the target
// at position t before the model's shift, -100 where nothing is learned.
import { UserError } from '../util/errors.js';
import type { PreparedExample, SourceRef } from './types.js';
import { IGNORE_INDEX } from '../engine/backend.js';
import { seededRandom, shuffleInPlace } from '../util/random.js';

/** One batch, row-major [batch, seq]. */
export interface Batch {
  inputIds: Int32Array;
  labels: Int32Array;
  positionIds: Int32Array;
  batch: number;
  seq: number;
  /** Labels != -100 (each is one loss term after the model's shift). */
  numTrainedTokens: number;
  /** Where each example of the batch came from, in placement order (batches built by collate()). */
  sources?: SourceRef[];
}

export interface BatchOptions {
  batchSize: number;
  maxLength: number;
  packing?: boolean;
  seed?: number;
  /** Each epoch reshuffles with seed + epoch. */
  epoch?: number;
  /** Token id written into padding (default 0; labels there are always -100, by position, so any id is safe). */
  padTokenId?: number;
}

/** A row of packed examples (indices into the example list), in placement order. */
export type PackedRow = number[];

/**
 * Best-fit-decreasing: examples sorted by length (longest first), each placed in the row whose free space
 * is smallest but still fits it, else a new row. Examples are never split (longer ones must be truncated first).
 */
export function packBestFitDecreasing(lengths: number[], capacity: number): PackedRow[] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  // rowsByFree[f] = rows with exactly f tokens free; scanning up from the needed length finds the best fit.
  const rowsByFree: number[][] = Array.from({ length: capacity + 1 }, () => []);
  const rows: PackedRow[] = [];
  const free: number[] = [];
  for (const i of order) {
    const len = lengths[i]!;
    if (len > capacity)
      throw new UserError(
        `packing: example ${i} has ${len} tokens, more than max_length ${capacity}; truncate or drop it first`,
      );
    let row = -1;
    for (let f = len; f <= capacity; f++) {
      const bucket = rowsByFree[f]!;
      if (bucket.length > 0) {
        row = bucket.pop()!;
        break;
      }
    }
    if (row < 0) {
      row = rows.length;
      rows.push([]);
      free.push(capacity);
    }
    rows[row]!.push(i);
    free[row]! -= len;
    rowsByFree[free[row]!]!.push(row);
  }
  return rows;
}

/** Real tokens / row capacity over a packing. */
export function packingEfficiency(rows: PackedRow[], lengths: number[], capacity: number): number {
  if (rows.length === 0) return 1;
  let used = 0;
  for (const r of rows) for (const i of r) used += lengths[i]!;
  return used / (rows.length * capacity);
}

/**
 * Build one [rows.length, seq] batch from groups of examples (one group per row; a group of several is a
 * packed row). Per example: position ids 0..n-1, label of its first token -100, mask 0 -> -100.
 * Padding: pad id, position ids continuing 0.., labels -100.
 */
export function collate(examples: PreparedExample[], rows: number[][], seq: number, padTokenId: number): Batch {
  const b = rows.length;
  const inputIds = new Int32Array(b * seq).fill(padTokenId);
  const labels = new Int32Array(b * seq).fill(IGNORE_INDEX);
  const positionIds = new Int32Array(b * seq);
  let trained = 0;
  const sources: SourceRef[] = [];
  for (let r = 0; r < b; r++) {
    let at = r * seq;
    const rowEnd = at + seq;
    for (const i of rows[r]!) {
      const ex = examples[i]!;
      sources.push(ex.source);
      const n = ex.inputIds.length;
      if (at + n > rowEnd) throw new Error(`collate: row ${r} overflows seq ${seq}`);
      inputIds.set(ex.inputIds, at);
      for (let t = 0; t < n; t++) {
        positionIds[at + t] = t;
        if (t > 0 && ex.assistantMask[t]) {
          labels[at + t] = ex.inputIds[t]!;
          trained++;
        }
      }
      at += n;
    }
    for (let p = 0; at < rowEnd; at++, p++) positionIds[at] = p;
  }
  return { inputIds, labels, positionIds, batch: b, seq, numTrainedTokens: trained, sources };
}

/** How a dataset batches: rows of example indices plus, with packing, its efficiency. */
export interface BatchPlan {
  batches: number[][][];
  efficiency: number;
}

/**
 * Plan the batches of one epoch. Packing: rows from best-fit-decreasing, row order shuffled with the seed.
 * No packing: a seeded shuffle, then megabatches of 64 batches sorted by length so a batch holds similar
 * lengths (less padding), and batch order shuffled again.
 */
export function planBatches(examples: PreparedExample[], opts: BatchOptions): BatchPlan {
  const { batchSize, maxLength } = opts;
  if (!(batchSize >= 1)) throw new UserError(`batches: batch size must be >= 1, got ${batchSize}`);
  const seed = (opts.seed ?? 42) + (opts.epoch ?? 0) * 1000003;
  const lengths = examples.map((e) => e.inputIds.length);
  for (let i = 0; i < lengths.length; i++) {
    if (lengths[i]! > maxLength)
      throw new UserError(
        `batches: example ${i} (${examples[i]!.source.file}:${examples[i]!.source.line}) has ${lengths[i]} tokens > max_length ${maxLength}`,
      );
  }
  let rows: number[][];
  let efficiency: number;
  if (opts.packing) {
    rows = packBestFitDecreasing(lengths, maxLength);
    efficiency = packingEfficiency(rows, lengths, maxLength);
    shuffleInPlace(rows, seed);
  } else {
    const order = shuffleInPlace(
      examples.map((_, i) => i),
      seed,
    );
    const mega = batchSize * 64;
    rows = [];
    for (let s = 0; s < order.length; s += mega) {
      const chunk = order.slice(s, s + mega).sort((a, b) => lengths[b]! - lengths[a]!);
      for (const i of chunk) rows.push([i]);
    }
    efficiency = 1;
  }
  const batches: number[][][] = [];
  for (let s = 0; s < rows.length; s += batchSize) batches.push(rows.slice(s, s + batchSize));
  if (!opts.packing) {
    shuffleInPlace(batches, seed + 1);
    let used = 0;
    let cap = 0;
    for (const bt of batches) {
      const seq = Math.max(...bt.map((r) => lengths[r[0]!]!));
      cap += seq * bt.length;
      for (const r of bt) used += lengths[r[0]!]!;
    }
    efficiency = cap ? used / cap : 1;
  }
  return { batches, efficiency };
}

/**
 * The batches of one epoch, in order; seq is the longest row of the batch (at most maxLength). Padding is masked by position (labels -100), whatever the pad id is.
 */
export function* batches(examples: PreparedExample[], opts: BatchOptions): Generator<Batch> {
  const plan = planBatches(examples, opts);
  const pad = opts.padTokenId ?? 0;
  for (const rows of plan.batches) {
    // The longest row: a full packed row is maxLength; shorter batches cost no padding beyond it.
    const seq = Math.max(...rows.map((r) => r.reduce((s, i) => s + examples[i]!.inputIds.length, 0)));
    yield collate(examples, rows, seq, pad);
  }
}

/** A seeded random order of indices (for callers sampling examples, e.g. inspect). */
export function sampleIndices(n: number, k: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < Math.min(k, n); i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, Math.min(k, n));
}
