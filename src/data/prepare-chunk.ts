// One chunk of records -> examples, in two halves so that a chunk can be encoded (on the tokenizer's own threads)
// while the next one is rendered: startChunk renders each record kind with its loss mode and starts its encoding,
// finishChunk masks, checks and truncates. Used by the pipeline's own thread and by its worker threads alike.
import type { DataTokenizer, PreparedExample, SftRecord, TokenEncoding } from './types.js';
import { formatRef } from './types.js';
import {
  emptyPrepareReport,
  finishEncoded,
  prepareRecords,
  renderRecords,
  type BatchEncoder,
  type PrepareOptions,
  type PrepareReport,
} from './prepare.js';
import type { LossMode, RenderedText } from './render.js';
import { UserError } from '../util/errors.js';

/** TRL's loss keys (SFTConfig names). */
export interface LossKeys {
  assistant_only_loss: boolean;
  /** null = yes for prompt-completion data. */
  completion_only_loss: boolean | null;
}

/**
 * TRL's loss semantics: assistant_only_loss trains assistant turns; completion_only_loss (null = auto) trains
 * the completion of prompt-completion data; otherwise every token.
 */
export function lossModeFor(keys: LossKeys, kind: SftRecord['kind']): LossMode {
  if (keys.assistant_only_loss) {
    if (kind === 'prompt-completion' && keys.completion_only_loss !== false) return 'completion-only';
    if (kind !== 'conversation')
      throw new UserError(
        `assistant_only_loss needs conversational data ({"messages": [...]}); this dataset is ${kind}`,
      );
    return 'assistant-only';
  }
  if (kind === 'prompt-completion') return keys.completion_only_loss === false ? 'all' : 'completion-only';
  return 'all';
}

/** What preparing a chunk needs besides the tokenizer (plain data: it is sent to worker threads). */
export interface ChunkOptions extends PrepareOptions {
  /** Each record kind's loss mode from TRL's keys (lossModeFor); without them `loss` applies to every record. */
  lossKeys?: LossKeys;
}

/** Records are rendered and encoded this many at a time (one encodeBatch call). */
export const PREPARE_CHUNK = 512;

/** Part of a chunk: one record kind's records (at most PREPARE_CHUNK), rendered, with their encoding under way. */
export type Stage =
  | {
      records: SftRecord[];
      rendered: RenderedText[];
      encs: Promise<TokenEncoding[]>;
      opts: PrepareOptions;
      /** Shared by the stages of one kind of one chunk (its warnings are counted once per kind and chunk). */
      report: PrepareReport;
      last: boolean;
    }
  | { done: { examples: PreparedExample[]; report: PrepareReport } }
  | { error: unknown };

/**
 * Render every kind of `records` with its loss mode and start encoding it (PREPARE_CHUNK texts per encodeBatch).
 * A failure ends the list as an error stage, so that it surfaces only after the stages before it are finished.
 * Without encodeBatch, each kind is prepared record by record here.
 */
export function startChunk(
  tok: DataTokenizer & Partial<BatchEncoder>,
  records: SftRecord[],
  opts: ChunkOptions,
): Stage[] {
  const byKind = new Map<SftRecord['kind'], SftRecord[]>();
  for (const r of records) {
    const group = byKind.get(r.kind);
    if (group) group.push(r);
    else byKind.set(r.kind, [r]);
  }
  const stages: Stage[] = [];
  try {
    for (const [kind, group] of byKind) {
      let loss: LossMode | undefined;
      try {
        loss = opts.lossKeys ? lossModeFor(opts.lossKeys, kind) : opts.loss;
      } catch (e) {
        // name the file and the first record of that kind
        if (e instanceof UserError) throw new UserError(`${formatRef(group[0]!.source)}: ${e.message}`, { cause: e });
        throw e;
      }
      const o = { ...opts, loss };
      if (typeof tok.encodeBatch !== 'function') {
        stages.push({ done: prepareRecords(tok, group, o) });
        continue;
      }
      const groupReport = emptyPrepareReport();
      for (let s = 0; s < group.length; s += PREPARE_CHUNK) {
        const part = group.slice(s, s + PREPARE_CHUNK);
        const rendered = renderRecords(tok, part, o);
        const encs = tok.encodeBatch(
          rendered.map((r) => r.text),
          { addSpecialTokens: false },
        );
        encs.catch(() => {}); // awaited in finishChunk; an earlier failure may leave it unread
        const last = s + PREPARE_CHUNK >= group.length;
        stages.push({ records: part, rendered, encs, opts: o, report: groupReport, last });
      }
    }
  } catch (e) {
    stages.push({ error: e });
  }
  return stages;
}

/** Finish the stages in order: examples into `into`, each kind's counts into `reports`; the first failure throws. */
export async function finishChunk(
  tok: DataTokenizer,
  stages: Stage[],
  into: PreparedExample[],
  reports: PrepareReport[],
): Promise<void> {
  for (const st of stages) {
    if ('error' in st) throw st.error;
    if ('done' in st) {
      for (const e of st.done.examples) into.push(e);
      reports.push(st.done.report);
      continue;
    }
    finishEncoded(tok, st.records, st.rendered, await st.encs, st.opts, st.report, into);
    if (st.last) reports.push(st.report);
  }
}
