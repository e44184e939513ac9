// Trainable token rows: PEFT's `trainable_token_indices` (TrainableTokensLayer) for the embedding and LM head.
//
// PEFT semantics, which this follows exactly:
// - `trainable_tokens_delta` holds the NEW values of the selected rows (not differences); the layer's weight
//   is the base weight with those rows index_copy()'d in. Merging writes them into the weight for good.
// - Tied embedding/head: one adapter on the embedding; the head follows it (nothing saved for lm_head).
// - Saved tensors: `base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta` [n, D] (and
//   `base_model.model.lm_head.token_adapter.trainable_tokens_delta` for an untied head); adapter_config.json
//   has `trainable_token_indices`: a list (the input embedding) or a dict {embed_tokens: [...], lm_head: [...]}.
//
// Here the rows live in the model's tables: scatter() writes them in, so the forward, generation, merge and
// export all see the adapted weights with no special path. For training, backward fills the full tables'
// .grad; gather() copies the selected rows' gradient into the small [n, D] parameters the optimizer updates.
import { getBackend, Tensor } from '../engine/index.js';
import { UserError } from '../util/errors.js';
import type { LlamaModel } from './llama.js';

export type TokenRowsModule = 'model.embed_tokens' | 'lm_head';

/** PEFT's state-dict key for the trained rows of a module. */
export function tokenRowsKey(module: TokenRowsModule): string {
  return `base_model.model.${module}.token_adapter.trainable_tokens_delta`;
}

/** Token ids whose rows are adapted: of the embedding, and of an untied LM head (null: no head rows). */
export interface TokenIndices {
  embed: number[];
  head: number[] | null;
}

/**
 * Parse adapter_config.json's `trainable_token_indices` for `model` (null when absent or empty).
 * Accepts PEFT's list form and its dict form keyed by module name (embed_tokens / lm_head).
 */
export function parseTrainableTokenIndices(field: unknown, source: string, model: LlamaModel): TokenIndices | null {
  if (field === undefined || field === null) return null;
  const V = model.config.vocabSize;
  const ids = (v: unknown, where: string): number[] => {
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x)))
      throw new UserError(`${source}: ${where} must be a list of token ids, got ${JSON.stringify(v)}`);
    const bad = (v as number[]).find((x) => x < 0 || x >= V);
    if (bad !== undefined)
      throw new UserError(`${source}: ${where} has token id ${bad}, outside this model's vocabulary (0..${V - 1})`);
    if (new Set(v).size !== v.length) throw new UserError(`${source}: ${where} lists a token id twice`);
    return v as number[];
  };
  let embed: number[] = [];
  let head: number[] | null = null;
  if (Array.isArray(field)) embed = ids(field, 'trainable_token_indices');
  else if (typeof field === 'object') {
    for (const [name, v] of Object.entries(field as Record<string, unknown>)) {
      const module = name.split('.').pop();
      if (module === 'embed_tokens') embed = ids(v, `trainable_token_indices.${name}`);
      else if (module === 'lm_head') head = ids(v, `trainable_token_indices.${name}`);
      else
        throw new UserError(`${source}: trainable_token_indices.${name}: only embed_tokens and lm_head are supported`);
    }
  } else
    throw new UserError(
      `${source}: trainable_token_indices must be a list of token ids or a dict of them, got ${JSON.stringify(field)}`,
    );
  if (head && model.tied) {
    // Tied weights: PEFT adapts the embedding and the head follows, which needs the same rows.
    const same = head.length === embed.length && head.every((id, i) => id === embed[i]);
    if (!same && embed.length > 0)
      throw new UserError(
        `${source}: trainable_token_indices lists different rows for embed_tokens and lm_head, but this model ties them`,
      );
    if (embed.length === 0) embed = head;
    head = null;
  }
  if (embed.length === 0 && (!head || head.length === 0)) return null;
  return { embed, head: head && head.length > 0 ? head : null };
}

function widen(t: Tensor): Tensor {
  return t.dtype === 'f32' ? t : Tensor.from(t.toF32(), t.shape, 'f32');
}

function takeRows(table: Tensor, ids: readonly number[], D: number): Float32Array {
  const out = new Float32Array(ids.length * D);
  const src = table.dtype === 'f32' ? (table.data as Float32Array) : null;
  ids.forEach((id, i) => out.set(src ? src.subarray(id * D, (id + 1) * D) : rowF32(table, id, D), i * D));
  return out;
}

function rowF32(table: Tensor, id: number, D: number): Float32Array {
  const bits = (table.data as Uint16Array).subarray(id * D, (id + 1) * D);
  const out = new Float32Array(D);
  new Uint32Array(out.buffer).set(Array.from(bits, (b) => b << 16));
  return out;
}

/** Write `rows` [n, D] into `table` at `ids` (bf16 tables get the values rounded, as PEFT's .to(W) does). */
function putRows(table: Tensor, ids: readonly number[], rows: Float32Array, D: number): void {
  if (table.dtype === 'f32') {
    const t = table.data as Float32Array;
    ids.forEach((id, i) => t.set(rows.subarray(i * D, (i + 1) * D), id * D));
    return;
  }
  if (table.dtype !== 'bf16') throw new Error(`token rows: unsupported table dtype ${table.dtype}`);
  const bits = new Uint16Array(rows.length);
  getBackend().f32ToBf16(rows, bits);
  const t = table.data as Uint16Array;
  ids.forEach((id, i) => t.set(bits.subarray(i * D, (i + 1) * D), id * D));
}

function rowsTensor(data: Float32Array, n: number, D: number, module: TokenRowsModule): Tensor {
  const t = Tensor.from(data, [n, D], 'f32');
  t.name = tokenRowsKey(module);
  return t;
}

/** The adapted rows of a model's embedding (and untied LM head); held as `model.tokenRows`. */
export class TokenRowsAdapter {
  private constructor(
    private readonly model: LlamaModel,
    /** Embedding token ids, in the order of embedRows' rows. */
    readonly ids: number[],
    /** [n, D] new values of the embedding rows (PEFT's trainable_tokens_delta). */
    readonly embedRows: Tensor,
    /** Untied LM-head ids and rows (null when tied or not adapted). */
    readonly headIds: number[] | null,
    readonly headRows: Tensor | null,
  ) {}

  /**
   * Make the rows of `ids` trainable (the trainer's path): the tables are widened to f32 and get
   * requiresGrad (backward fills their .grad), the rows start as the current table values, and the head of
   * an untied model gets the same rows. Replaces any rows already attached.
   */
  static attachTrainable(model: LlamaModel, ids: readonly number[]): TokenRowsAdapter {
    const wasTied = model.tied;
    model.embedTokens = widen(model.embedTokens);
    model.lmHead = wasTied ? model.embedTokens : widen(model.lmHead);
    const D = model.config.hiddenSize;
    const list = [...ids];
    const embedRows = rowsTensor(takeRows(model.embedTokens, list, D), list.length, D, 'model.embed_tokens');
    const headRows = wasTied ? null : rowsTensor(takeRows(model.lmHead, list, D), list.length, D, 'lm_head');
    const a = new TokenRowsAdapter(model, list, embedRows, wasTied ? null : list, headRows);
    model.embedTokens.requiresGrad = true;
    model.lmHead.requiresGrad = true;
    for (const p of a.parameters()) p.tensor.requiresGrad = true;
    model.tokenRows = a;
    return a;
  }

  /** Attach saved rows (a loaded adapter): written into the tables right away; nothing becomes trainable. */
  static attachLoaded(
    model: LlamaModel,
    indices: TokenIndices,
    embedRows: Float32Array,
    headRows: Float32Array | null,
  ): TokenRowsAdapter {
    const D = model.config.hiddenSize;
    if (embedRows.length !== indices.embed.length * D)
      throw new Error(`token rows: ${embedRows.length} embedding values for ${indices.embed.length} rows of ${D}`);
    if (indices.head && (!headRows || headRows.length !== indices.head.length * D))
      throw new Error('token rows: head rows do not match their indices');
    if (indices.head && model.tied) throw new Error('token rows: separate head rows on a tied model');
    const a = new TokenRowsAdapter(
      model,
      [...indices.embed],
      rowsTensor(embedRows, indices.embed.length, D, 'model.embed_tokens'),
      indices.head ? [...indices.head] : null,
      indices.head ? rowsTensor(headRows!, indices.head.length, D, 'lm_head') : null,
    );
    a.scatter();
    model.tokenRows = a;
    return a;
  }

  /** The row parameters by their PEFT key names (what the optimizer updates and the adapter file holds). */
  parameters(): { name: string; tensor: Tensor }[] {
    const out = [{ name: tokenRowsKey('model.embed_tokens'), tensor: this.embedRows }];
    if (this.headRows) out.push({ name: tokenRowsKey('lm_head'), tensor: this.headRows });
    return out;
  }

  /** The full tables whose .grad backward fills (the trainer keeps them out of the optimizer). */
  tables(): Tensor[] {
    return this.headRows ? [this.model.embedTokens, this.model.lmHead] : [this.model.embedTokens];
  }

  private pairs(): [Tensor, number[], Tensor][] {
    const out: [Tensor, number[], Tensor][] = [[this.model.embedTokens, this.ids, this.embedRows]];
    if (this.headRows) out.push([this.model.lmHead, this.headIds!, this.headRows]);
    return out;
  }

  /** After backward: copy the selected rows' gradients into the row parameters, and drop the full-table grads. */
  gather(): void {
    const D = this.model.config.hiddenSize;
    const tables = new Set(this.tables());
    for (const [table, ids, rows] of this.pairs()) {
      if (!rows.grad) rows.grad = new Float32Array(rows.numel);
      const g = table.grad;
      if (g) ids.forEach((id, i) => rows.grad!.set(g.subarray(id * D, (id + 1) * D), i * D));
      else rows.grad.fill(0);
    }
    for (const t of tables) t.grad = null;
  }

  /** Write the row values into the tables (after an optimizer step, or once when loaded). */
  scatter(): void {
    const D = this.model.config.hiddenSize;
    for (const [table, ids, rows] of this.pairs()) putRows(table, ids, rows.data as Float32Array, D);
  }

  /** adapter_config.json's trainable_token_indices as PEFT writes it: a list for the embedding, a dict with an untied head. */
  adapterConfigField(): number[] | Record<string, number[]> {
    return this.headIds ? { embed_tokens: [...this.ids], lm_head: [...this.headIds] } : [...this.ids];
  }
}

/**
 * Merge the rows for good (PEFT's merge: index_copy into the weight). The tables already hold them, so this
 * detaches the adapter; returns how many rows were folded.
 */
export function foldTokenRows(model: LlamaModel): number {
  const a = model.tokenRows;
  if (!a) return 0;
  a.scatter();
  for (const t of a.tables()) {
    t.requiresGrad = false;
    t.grad = null;
  }
  model.tokenRows = null;
  return a.ids.length + (a.headIds?.length ?? 0);
}
