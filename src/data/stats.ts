// Dataset statistics: token length percentiles and trained-token ratio over prepared examples.
import type { PreparedExample } from './types.js';

/** Nearest-rank percentile of sorted numbers (p in [0, 100]). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LengthStats {
  count: number;
  totalTokens: number;
  trainedTokens: number;
  trainedRatio: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  truncated: number;
}

export function lengthStats(examples: PreparedExample[]): LengthStats {
  const lengths = Float64Array.from(examples.map((e) => e.inputIds.length)).sort();
  let total = 0;
  let trained = 0;
  let truncated = 0;
  for (const e of examples) {
    total += e.inputIds.length;
    trained += e.numTrained;
    if (e.truncated) truncated++;
  }
  return {
    count: examples.length,
    totalTokens: total,
    trainedTokens: trained,
    trainedRatio: total ? trained / total : 0,
    mean: examples.length ? total / examples.length : 0,
    min: lengths.length ? lengths[0]! : 0,
    p50: percentile(lengths, 50),
    p90: percentile(lengths, 90),
    p95: percentile(lengths, 95),
    p99: percentile(lengths, 99),
    max: lengths.length ? lengths[lengths.length - 1]! : 0,
    truncated,
  };
}
