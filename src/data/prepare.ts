// Records -> tokenised examples: one encode of the full rendered text, character spans -> token mask via offsets,
// BOS handling, truncation, and the load-time invariants (BOS once, end-of-turn tokens trained, no empty masks).
import { IGNORE_INDEX } from '../engine/backend.js';
import { UserError } from '../util/errors.js';
import type { DataTokenizer, PreparedExample, SftRecord, TokenEncoding } from './types.js';
import { formatRef } from './types.js';
import { renderRecord, type CharSpan, type LossMode, type RenderOptions, type RenderedText } from './render.js';

export type TruncationPolicy = 'truncate' | 'drop';

export interface PrepareOptions extends RenderOptions {
  /** Longest example in tokens (default 1024). */
  maxLength?: number;
  /** 'truncate' keeps the head; 'drop' skips over-long examples (default 'truncate'). */
  truncation?: TruncationPolicy;
}

export const DEFAULT_MAX_LENGTH = 1024;

/** Counts from preparing a dataset; nothing is dropped without being counted here. */
export interface PrepareReport {
  examples: number;
  truncated: number;
  droppedTooLong: number;
  droppedNoTrainedTokens: number;
  /** Prompt-completion records whose template broke the prompt-prefix property (spans located instead). */
  prefixBroken: number;
  totalTokens: number;
  trainedTokens: number;
  warnings: string[];
}

export function emptyPrepareReport(): PrepareReport {
  return {
    examples: 0,
    truncated: 0,
    droppedTooLong: 0,
    droppedNoTrainedTokens: 0,
    prefixBroken: 0,
    totalTokens: 0,
    trainedTokens: 0,
    warnings: [],
  };
}

/** A tokenised example before truncation, with what the invariant checks need. */
export interface TokenizedExample {
  inputIds: Int32Array;
  assistantMask: Uint8Array;
  text: string;
  offsets: [number, number][];
  prefixBroken: boolean;
}

/** Render + encode one record and build its mask (no truncation). Throws UserError when an invariant fails. */
export function tokenizeRecord(tok: DataTokenizer, record: SftRecord, opts: RenderOptions = {}): TokenizedExample {
  const rendered = renderRecord(tok, record, opts);
  return maskEncoding(tok, record, rendered, tok.encode(rendered.text, { addSpecialTokens: false }));
}

/**
 * The second half of tokenizeRecord, given the encoding of `rendered.text` without special tokens:
 * BOS (prepended only when the text lacks it and the tokenizer adds one), the mask, and the invariants.
 */
export function maskEncoding(
  tok: DataTokenizer,
  record: SftRecord,
  rendered: RenderedText,
  enc: TokenEncoding,
): TokenizedExample {
  const ref = formatRef(record.source);
  const { text } = rendered;
  const bosInText = tok.bosToken !== null && tok.bosToken !== '' && text.startsWith(tok.bosToken);
  let ids = enc.ids;
  let offsets = enc.offsets;
  const prependBos = !bosInText && tok.addBosToken && tok.bosTokenId !== null;
  if (prependBos) {
    ids = [tok.bosTokenId!, ...ids];
    offsets = [[0, 0], ...offsets];
  }
  const mask = spansToTokenMask(offsets, rendered.spans);
  // Invariant: BOS exactly once at the start when the model expects one.
  if (
    tok.bosTokenId !== null &&
    (bosInText || prependBos) &&
    ids.length > 1 &&
    ids[1] === tok.bosTokenId &&
    ids[0] === tok.bosTokenId
  ) {
    throw new UserError(
      `${ref}: BOS appears twice at the start (the template adds one and the text starts with another)`,
    );
  }
  // Invariant: every trained turn's end-of-turn token is a single token inside the mask.
  for (const m of rendered.endMarkers) {
    const id = tok.tokenToId(m.token);
    const t = tokenAt(offsets, m.span[0]);
    if (t < 0 || ids[t] !== id || offsets[t]![1] !== m.span[1]) {
      throw new UserError(
        `${ref}: the end-of-turn marker ${m.token} at character ${m.span[0]} does not encode as its own token (id ${id}); the model would never learn to stop`,
      );
    }
    if (!mask[t])
      throw new UserError(
        `${ref}: the end-of-turn token ${m.token} at position ${t} is outside the loss mask; the model would never learn to stop`,
      );
  }
  return {
    inputIds: Int32Array.from(ids),
    assistantMask: mask,
    text,
    offsets,
    prefixBroken: rendered.prefixBroken === true,
  };
}

/** The token whose offsets start at character `pos`, or -1. Offsets are sorted by start. */
function tokenAt(offsets: [number, number][], pos: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = offsets[mid]![0];
    if (s < pos) lo = mid + 1;
    else hi = mid - 1;
  }
  for (let t = lo; t < offsets.length && offsets[t]![0] === pos; t++) if (offsets[t]![1] > pos) return t;
  return -1;
}

/**
 * 1 for every token whose character range overlaps a trained span (a token straddling the start of a span,
 * such as '▁Hello' carrying the space before the content, belongs to the content). Zero-width tokens are 0.
 */
export function spansToTokenMask(offsets: [number, number][], spans: CharSpan[]): Uint8Array {
  const mask = new Uint8Array(offsets.length);
  let k = 0;
  for (let t = 0; t < offsets.length; t++) {
    const [s, e] = offsets[t]!;
    if (e <= s) continue;
    while (k < spans.length && spans[k]![1] <= s) k++;
    if (k === spans.length) break;
    if (spans[k]![0] < e) mask[t] = 1;
  }
  return mask;
}

function countOnes(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  return n;
}

/**
 * Tokenise, mask, truncate: one record -> one example, or null when it is dropped (counted in `report`).
 * User errors (unlocatable spans, broken invariants) throw with the example's file:line.
 */
export function prepareRecord(
  tok: DataTokenizer,
  record: SftRecord,
  opts: PrepareOptions = {},
  report: PrepareReport = emptyPrepareReport(),
): PreparedExample | null {
  return finishExample(record, tokenizeRecord(tok, record, opts), opts, report);
}

/** Truncation, the no-trained-token check and the counts, for an example already tokenised and masked. */
export function finishExample(
  record: SftRecord,
  t: TokenizedExample,
  opts: PrepareOptions,
  report: PrepareReport,
): PreparedExample | null {
  const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH;
  if (t.prefixBroken) {
    report.prefixBroken++;
    if (report.prefixBroken === 1)
      report.warnings.push(
        `${formatRef(record.source)}: the chat template renders the prompt differently when the completion follows (not prefix-stable); completion spans are located per assistant turn instead`,
      );
  }
  let ids = t.inputIds;
  let mask = t.assistantMask;
  let truncated = false;
  if (ids.length > maxLength) {
    if ((opts.truncation ?? 'truncate') === 'drop') {
      report.droppedTooLong++;
      return null;
    }
    ids = ids.slice(0, maxLength);
    mask = mask.slice(0, maxLength);
    truncated = true;
  }
  // The first token is never a target (nothing predicts it), so it does not count as trained.
  if (mask.length > 0) mask[0] = 0;
  const numTrained = countOnes(mask);
  if (numTrained === 0) {
    report.droppedNoTrainedTokens++;
    return null;
  }
  if (truncated) report.truncated++;
  report.examples++;
  report.totalTokens += ids.length;
  report.trainedTokens += numTrained;
  return { inputIds: ids, assistantMask: mask, source: record.source, numTrained, truncated };
}

/** Prepare many records; returns kept examples and the counts of everything dropped. */
export function prepareRecords(
  tok: DataTokenizer,
  records: Iterable<SftRecord>,
  opts: PrepareOptions = {},
): { examples: PreparedExample[]; report: PrepareReport } {
  const report = emptyPrepareReport();
  const examples: PreparedExample[] = [];
  for (const r of records) {
    const ex = prepareRecord(tok, r, opts, report);
    if (ex) examples.push(ex);
  }
  return { examples, report };
}

/** Tokenisers that can encode many strings at once (src/tokenizer's Tokenizer does, on Rust threads). */
export interface BatchEncoder {
  encodeBatch(texts: string[], opts?: { addSpecialTokens?: boolean }): Promise<TokenEncoding[]>;
}

/** prepareRecords, encoding `chunk` rendered texts per encodeBatch call when the tokenizer offers it. */
export async function prepareRecordsBatched(
  tok: DataTokenizer & Partial<BatchEncoder>,
  records: SftRecord[],
  opts: PrepareOptions = {},
  chunk = 256,
): Promise<{ examples: PreparedExample[]; report: PrepareReport }> {
  if (typeof tok.encodeBatch !== 'function') return prepareRecords(tok, records, opts);
  const report = emptyPrepareReport();
  const examples: PreparedExample[] = [];
  for (let s = 0; s < records.length; s += chunk) {
    const part = records.slice(s, s + chunk);
    const rendered = renderRecords(tok, part, opts);
    const encs = await tok.encodeBatch(
      rendered.map((r) => r.text),
      { addSpecialTokens: false },
    );
    finishEncoded(tok, part, rendered, encs, opts, report, examples);
  }
  return { examples, report };
}

/** The first half of a batch: every record rendered with its trained spans (the first failure throws). */
export function renderRecords(tok: DataTokenizer, records: SftRecord[], opts: RenderOptions): RenderedText[] {
  return records.map((r) => renderRecord(tok, r, opts));
}

/** The second half: mask, check, truncate and count records given the encodings of their rendered texts. */
export function finishEncoded(
  tok: DataTokenizer,
  records: SftRecord[],
  rendered: RenderedText[],
  encs: TokenEncoding[],
  opts: PrepareOptions,
  report: PrepareReport,
  into: PreparedExample[],
): void {
  for (let i = 0; i < records.length; i++) {
    const ex = finishExample(records[i]!, maskEncoding(tok, records[i]!, rendered[i]!, encs[i]!), opts, report);
    if (ex) into.push(ex);
  }
}

/** The one place masks become labels: -100 where the mask is 0, the token id where it is 1. */
export function buildLabels(inputIds: ArrayLike<number>, mask: ArrayLike<number>): Int32Array {
  if (inputIds.length !== mask.length)
    throw new Error(`buildLabels: ${inputIds.length} ids but ${mask.length} mask entries`);
  const labels = new Int32Array(inputIds.length);
  for (let i = 0; i < labels.length; i++) labels[i] = mask[i] ? inputIds[i]! : IGNORE_INDEX;
  return labels;
}

/** The loss mode actually applied to a record kind under 'auto'. */
export function effectiveLoss(kind: SftRecord['kind'], loss: LossMode = 'auto'): Exclude<LossMode, 'auto'> {
  if (loss !== 'auto') return loss;
  return kind === 'conversation' ? 'assistant-only' : kind === 'prompt-completion' ? 'completion-only' : 'all';
}
