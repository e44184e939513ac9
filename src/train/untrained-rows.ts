// Untrained token rows: many base models never trained the embedding (and tied LM-head) rows of the tokens
// SFT needs, above all the end-of-turn token, so LoRA on the linear layers alone cannot teach the model to
// stop. This module finds such rows (near-duplicates of other rows, or a norm far below typical) among the
// special tokens that occur in the labels; the trainer then trains exactly those rows alongside LoRA with
// src/model/token-rows.ts (PEFT's `trainable_token_indices`).
export interface RowSuspicion {
  id: number;
  token: string;
  reason: string;
}

export interface DetectOptions {
  /** Cosine similarity above which two rows count as near-duplicates. */
  duplicateCosine?: number;
  /** A row is suspicious when it has at least this many near-duplicates among all rows. */
  minDuplicates?: number;
  /** A row is suspicious when its norm is below this fraction of the median row norm. */
  lowNormRatio?: number;
}

function rowNorms(table: Float32Array, V: number, D: number): Float64Array {
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += table[v * D + d]! ** 2;
    out[v] = Math.sqrt(s);
  }
  return out;
}

function median(xs: Float64Array): number {
  const s = Float64Array.from(xs).sort();
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
}

/**
 * Which of `candidates` look untrained in `table` [V, D] (f32): near-duplicates of at least `minDuplicates`
 * other rows (the rows of never-seen tokens drift together under the softmax's shared push), or a norm far
 * below the median (zero/small-initialised rows never updated).
 */
export function findUntrainedRows(
  table: Float32Array,
  V: number,
  D: number,
  candidates: Iterable<number>,
  tokenName: (id: number) => string,
  opts: DetectOptions = {},
): RowSuspicion[] {
  const cosLimit = opts.duplicateCosine ?? 0.9;
  const minDup = opts.minDuplicates ?? 3;
  const lowNorm = opts.lowNormRatio ?? 0.25;
  const norms = rowNorms(table, V, D);
  const med = median(norms);
  const out: RowSuspicion[] = [];
  for (const id of new Set(candidates)) {
    if (id < 0 || id >= V) continue;
    const n = norms[id]!;
    if (n < lowNorm * med) {
      out.push({
        id,
        token: tokenName(id),
        reason: `norm ${n.toExponential(2)} is below ${lowNorm} x the median row norm ${med.toExponential(2)}`,
      });
      continue;
    }
    let dups = 0;
    let closest = -1;
    for (let v = 0; v < V; v++) {
      if (v === id || norms[v] === 0) continue;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += table[id * D + d]! * table[v * D + d]!;
      const cos = dot / (n * norms[v]!);
      if (cos >= cosLimit) {
        dups++;
        if (closest < 0) closest = v;
      }
    }
    if (dups >= minDup)
      out.push({
        id,
        token: tokenName(id),
        reason: `near-duplicate (cosine >= ${cosLimit}) of ${dups} other rows, e.g. ${tokenName(closest)}`,
      });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** The special tokens among the trained labels: the candidates whose rows must be trained for SFT to work. */
export function specialLabelTokens(labelIds: Iterable<number>, specialIds: ReadonlySet<number>): number[] {
  const out = new Set<number>();
  for (const id of labelIds) if (specialIds.has(id)) out.add(id);
  return [...out].sort((a, b) => a - b);
}
