// The model's view of a batch: flat row-major [B,T] int arrays, plus the derived inputs the forward needs
// (per-token positions, attention segments for packed rows, next-token targets with the HF shift).
import { readFileSync } from 'node:fs';
import { IGNORE_INDEX } from '../engine/backend.js';
import { UserError } from '../util/errors.js';

export interface ModelBatch {
  batch: number;
  seq: number;
  /** [B*T] token ids. */
  inputIds: Int32Array;
  /** [B*T] labels aligned with inputIds (-100 = not trained); default: inputIds. */
  labels?: Int32Array | null;
  /** [B*T] positions; when given (packed rows), a new document starts where the position is 0 or decreases. */
  positionIds?: Int32Array | null;
}

/** Per-token RoPE positions: position_ids when given, else 0..T-1 in every row. */
export function positionsOf(b: ModelBatch): Int32Array {
  if (b.positionIds) return b.positionIds;
  const pos = new Int32Array(b.batch * b.seq);
  for (let r = 0; r < b.batch; r++) for (let t = 0; t < b.seq; t++) pos[r * b.seq + t] = t;
  return pos;
}

/**
 * Attention segment ids [B*T] for packed rows (null without position_ids): a token attends only to earlier
 * tokens of its own document. A document starts at t=0 and wherever the position is 0 or goes down.
 */
export function segmentIdsOf(b: ModelBatch): Int32Array | null {
  const pos = b.positionIds;
  if (!pos) return null;
  const seg = new Int32Array(b.batch * b.seq);
  for (let r = 0; r < b.batch; r++) {
    let id = 0;
    for (let t = 0; t < b.seq; t++) {
      const i = r * b.seq + t;
      if (t > 0 && (pos[i] === 0 || pos[i]! < pos[i - 1]!)) id++;
      seg[i] = id;
    }
  }
  return seg;
}

/** Next-token targets [B*T]: targets[r,t] = labels[r,t+1]; the last column is ignored (HF shift). */
export function shiftedTargets(b: ModelBatch): Int32Array {
  const labels = b.labels ?? b.inputIds;
  const out = new Int32Array(b.batch * b.seq).fill(IGNORE_INDEX);
  for (let r = 0; r < b.batch; r++) {
    for (let t = 0; t + 1 < b.seq; t++) out[r * b.seq + t] = labels[r * b.seq + t + 1]!;
  }
  return out;
}

/** The rows (of [B*T]) whose next-token target is trained, and those targets. */
export function trainedRows(b: ModelBatch): { rows: Int32Array; targets: Int32Array } {
  const all = shiftedTargets(b);
  let n = 0;
  for (const t of all) if (t !== IGNORE_INDEX) n++;
  const rows = new Int32Array(n);
  const targets = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i] !== IGNORE_INDEX) {
      rows[k] = i;
      targets[k++] = all[i]!;
    }
  }
  return { rows, targets };
}

function matrix(
  v: unknown,
  field: string,
  source: string,
  rows?: number,
  cols?: number,
): { data: Int32Array; rows: number; cols: number } {
  if (!Array.isArray(v) || v.length === 0)
    throw new UserError(`${source}: "${field}" must be a non-empty array of rows of integers`);
  const r = v.length;
  const c = Array.isArray(v[0]) ? v[0].length : -1;
  if (c <= 0) throw new UserError(`${source}: "${field}"[0] must be a non-empty array of integers`);
  if ((rows !== undefined && r !== rows) || (cols !== undefined && c !== cols)) {
    throw new UserError(`${source}: "${field}" is ${r}x${c} but input_ids is ${rows}x${cols}`);
  }
  const data = new Int32Array(r * c);
  v.forEach((row: unknown, i: number) => {
    if (!Array.isArray(row) || row.length !== c)
      throw new UserError(`${source}: "${field}"[${i}] must have ${c} entries like row 0 (rows must be equally long)`);
    row.forEach((x: unknown, j: number) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || Math.abs(x) > 2 ** 31 - 1) {
        throw new UserError(`${source}: "${field}"[${i}][${j}] must be an integer, got ${JSON.stringify(x)}`);
      }
      data[i * c + j] = x;
    });
  });
  return { data, rows: r, cols: c };
}

/** Parse the `sftkit dump` batch JSON {input_ids, labels?, position_ids?}; ids are checked against vocabSize. */
export function parseBatchJson(json: unknown, source: string, vocabSize: number): ModelBatch {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UserError(`${source}: expected an object {"input_ids": [[...]], "labels"?: ..., "position_ids"?: ...}`);
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['input_ids', 'labels', 'position_ids'].includes(k))
      throw new UserError(`${source}: unknown field "${k}" (allowed: input_ids, labels, position_ids)`);
  }
  const ids = matrix(o.input_ids, 'input_ids', source);
  ids.data.forEach((x, i) => {
    if (x < 0 || x >= vocabSize)
      throw new UserError(
        `${source}: input_ids[${Math.floor(i / ids.cols)}][${i % ids.cols}] = ${x} is outside the vocabulary (0..${vocabSize - 1})`,
      );
  });
  const b: ModelBatch = { batch: ids.rows, seq: ids.cols, inputIds: ids.data };
  if (o.labels !== undefined && o.labels !== null) {
    const l = matrix(o.labels, 'labels', source, ids.rows, ids.cols);
    l.data.forEach((x, i) => {
      if (x !== IGNORE_INDEX && (x < 0 || x >= vocabSize))
        throw new UserError(
          `${source}: labels[${Math.floor(i / l.cols)}][${i % l.cols}] = ${x} must be -100 or a token id below ${vocabSize}`,
        );
    });
    b.labels = l.data;
  }
  if (o.position_ids !== undefined && o.position_ids !== null) {
    const p = matrix(o.position_ids, 'position_ids', source, ids.rows, ids.cols);
    p.data.forEach((x, i) => {
      if (x < 0)
        throw new UserError(`${source}: position_ids[${Math.floor(i / p.cols)}][${i % p.cols}] = ${x} must be >= 0`);
    });
    b.positionIds = p.data;
  }
  return b;
}

export function readBatchFile(path: string, vocabSize: number): ModelBatch {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: cannot read the batch JSON: ${(e as Error).message}`);
  }
  return parseBatchJson(json, path, vocabSize);
}
