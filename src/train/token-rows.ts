// Untrained token rows: many base models never trained the embedding (and tied LM-head) rows of the tokens
// SFT needs, above all the end-of-turn token, so LoRA on the linear layers alone cannot teach the model to
// stop. This module finds such rows (near-duplicates of other rows, or a norm far below typical) among the
// special tokens that occur in the labels, and trains exactly those rows alongside LoRA with PEFT's
// `trainable_token_indices` semantics: the trained values REPLACE the rows (PEFT's TrainableTokensLayer
// keeps the new values in `trainable_tokens_delta` and index_copy()s them into the weight).
//
// How it hooks into the model without a model-side adapter type: the embedding table (and the untied LM
// head) get requiresGrad so backward fills their .grad; after backward, gather() copies the selected rows'
// gradient into a small [n, D] parameter that the optimizer updates; scatter() writes the rows back into
// the tables. Every other row stays exactly as loaded. Cost: a full [V, D] gradient buffer per table.
import { Tensor } from '../engine/index.js';
import type { LlamaModel } from '../model/llama.js';

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
export function findUntrainedRows(table: Float32Array, V: number, D: number, candidates: Iterable<number>, tokenName: (id: number) => string, opts: DetectOptions = {}): RowSuspicion[] {
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
      out.push({ id, token: tokenName(id), reason: `norm ${n.toExponential(2)} is below ${lowNorm} x the median row norm ${med.toExponential(2)}` });
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
    if (dups >= minDup) out.push({ id, token: tokenName(id), reason: `near-duplicate (cosine >= ${cosLimit}) of ${dups} other rows, e.g. ${tokenName(closest)}` });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** The special tokens among the trained labels: the candidates whose rows must be trained for SFT to work. */
export function specialLabelTokens(labelIds: Iterable<number>, specialIds: ReadonlySet<number>): number[] {
  const out = new Set<number>();
  for (const id of labelIds) if (specialIds.has(id)) out.add(id);
  return [...out].sort((a, b) => a - b);
}

/** PEFT's state-dict key for the trained rows of a module ('model.embed_tokens' or 'lm_head'). */
export function tokenRowsKey(module: 'model.embed_tokens' | 'lm_head'): string {
  return `base_model.model.${module}.token_adapter.trainable_tokens_delta`;
}

function widen(t: Tensor): Tensor {
  return t.dtype === 'f32' ? t : Tensor.from(t.toF32(), t.shape, 'f32');
}

/** Trainable rows of the embedding (and of an untied LM head) for a fixed list of token ids. */
export class TrainableTokenRows {
  /** [n, D] values of the rows in the embedding (PEFT's trainable_tokens_delta: new values, not differences). */
  readonly embedRows: Tensor;
  /** [n, D] rows of an untied LM head (null when tied: the embedding rows are the head rows). */
  readonly headRows: Tensor | null;

  constructor(private readonly model: LlamaModel, readonly ids: number[]) {
    const wasTied = model.tied;
    model.embedTokens = widen(model.embedTokens);
    model.lmHead = wasTied ? model.embedTokens : widen(model.lmHead);
    model.embedTokens.requiresGrad = true;
    model.lmHead.requiresGrad = true;
    const D = model.config.hiddenSize;
    this.embedRows = Tensor.from(this.take(model.embedTokens.data as Float32Array, D), [ids.length, D], 'f32');
    this.embedRows.requiresGrad = true;
    this.embedRows.name = tokenRowsKey('model.embed_tokens');
    this.headRows = wasTied ? null : Tensor.from(this.take(model.lmHead.data as Float32Array, D), [ids.length, D], 'f32');
    if (this.headRows) {
      this.headRows.requiresGrad = true;
      this.headRows.name = tokenRowsKey('lm_head');
    }
  }

  private take(table: Float32Array, D: number): Float32Array {
    const out = new Float32Array(this.ids.length * D);
    this.ids.forEach((id, i) => out.set(table.subarray(id * D, (id + 1) * D), i * D));
    return out;
  }

  /** The parameters the optimizer updates, by their PEFT key names. */
  parameters(): { name: string; tensor: Tensor }[] {
    const out = [{ name: this.embedRows.name!, tensor: this.embedRows }];
    if (this.headRows) out.push({ name: this.headRows.name!, tensor: this.headRows });
    return out;
  }

  /** The full tables whose .grad backward fills (the trainer keeps them out of the optimizer). */
  tables(): Tensor[] {
    return this.model.tied ? [this.model.embedTokens] : [this.model.embedTokens, this.model.lmHead];
  }

  /** After backward: copy the selected rows' gradients into the row parameters, and drop the full-table grads. */
  gather(): void {
    const D = this.model.config.hiddenSize;
    const pairs: [Tensor, Tensor][] = [[this.model.embedTokens, this.embedRows]];
    if (this.headRows) pairs.push([this.model.lmHead, this.headRows]);
    for (const [table, rows] of pairs) {
      if (!rows.grad) rows.grad = new Float32Array(rows.numel);
      const g = table.grad;
      if (g) this.ids.forEach((id, i) => rows.grad!.set(g.subarray(id * D, (id + 1) * D), i * D));
      else rows.grad.fill(0);
      table.grad = null;
    }
  }

  /** After the optimizer step: write the row values into the tables. */
  scatter(): void {
    const D = this.model.config.hiddenSize;
    const pairs: [Tensor, Tensor][] = [[this.model.embedTokens, this.embedRows]];
    if (this.headRows) pairs.push([this.model.lmHead, this.headRows]);
    for (const [table, rows] of pairs) {
      const t = table.data as Float32Array;
      const r = rows.data as Float32Array;
      this.ids.forEach((id, i) => t.set(r.subarray(i * D, (i + 1) * D), id * D));
    }
  }

  /** adapter_config.json field as PEFT writes it: a list for the (tied) embedding, a dict when the head is untied. */
  adapterConfigField(): number[] | Record<string, number[]> {
    return this.headRows ? { embed_tokens: [...this.ids], lm_head: [...this.ids] } : [...this.ids];
  }
}
