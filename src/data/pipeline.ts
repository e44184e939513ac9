// The data path, end to end: a dataset (a file or folder, records, or already prepared examples) in; tokenised
// examples with loss masks out. Files are read row by row (src/data/readers.ts) and validated into records
// (load.ts), split when asked, rendered and masked with each record kind's loss mode, encoded in batches
// (encodeBatch when the tokenizer has it), and cached on disk keyed by data, tokenizer, template and options.
// The trainer, `sftkit eval` and the library API all prepare data here.
import type { DataTokenizer, PreparedExample, SftRecord } from './types.js';
import {
  emptyLoadReport,
  listDataFiles,
  loadRecords,
  splitTrainEval,
  type LoadOptions,
  type LoadReport,
  type SplitOptions,
} from './load.js';
import {
  DEFAULT_MAX_LENGTH,
  emptyPrepareReport,
  prepareRecordsBatched,
  type BatchEncoder,
  type PrepareOptions,
  type PrepareReport,
} from './prepare.js';
import type { LossMode } from './render.js';
import { cacheKey, dataCacheDir, readCache, writeCache } from './cache.js';
import { shuffleInPlace } from '../util/random.js';
import { UserError } from '../util/errors.js';

/** A dataset as the library API accepts it: a path (.jsonl/.json file or folder), records, or prepared examples. */
export type DatasetInput = string | SftRecord[] | PreparedExample[];

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

export interface DataPipelineOptions extends LoadOptions, SplitOptions, PrepareOptions {
  train: DatasetInput;
  /** Separate eval data; when given, evalRatio is ignored. */
  eval?: DatasetInput | null;
  /** Each record kind's loss mode from TRL's keys (lossModeFor); without them `loss` applies to every record. */
  lossKeys?: LossKeys;
  /** Folder holding the tokenizer files (part of the cache key); without it nothing is cached. */
  tokenizerDir?: string | null;
  /** Cache root: `<outputDir>/data-cache` (default ~/.cache/sftkit/data-cache). */
  outputDir?: string | null;
  /** false: never read or write the cache. Only file inputs are cached. */
  cache?: boolean;
  /** What the train split is called in messages and its summary line (default 'train'). */
  label?: string;
}

export interface PreparedDataset {
  train: PreparedExample[];
  eval: PreparedExample[];
  /** What loading saw (empty for in-memory inputs). */
  load: LoadReport;
  /** Counts of the train split (null when prepared examples were passed in). */
  prepare: PrepareReport | null;
  evalPrepare: PrepareReport | null;
  /** One line per split for the log: where the data came from and what preparing it gave. */
  summary: { train: string; eval: string | null };
  /** True when read from the on-disk cache. */
  fromCache: boolean;
  cacheFile: string | null;
}

interface CachedSummary {
  load: LoadReport;
  prepare: PrepareReport | null;
  evalPrepare: PrepareReport | null;
  summary: { train: string; eval: string | null };
}

function isPrepared(x: readonly unknown[]): x is PreparedExample[] {
  return x.length > 0 && (x[0] as PreparedExample).inputIds instanceof Int32Array;
}

/** Records of one input and where they came from, or prepared examples passed through. */
type Loaded = { records: SftRecord[]; origin: string; load: LoadReport | null } | { prepared: PreparedExample[] };

async function loadInput(input: DatasetInput, what: string, opts: LoadOptions): Promise<Loaded> {
  if (typeof input === 'string') {
    const { records, report } = await loadRecords(input, opts);
    const origin = `${input} (${report.format ?? 'mixed'}, ${report.records} records${report.skipped ? `, ${report.skipped} skipped` : ''})`;
    return { records, origin, load: report };
  }
  if (input.length === 0) throw new UserError(`${what}: the dataset is empty`);
  if (isPrepared(input)) return { prepared: input };
  return { records: input as SftRecord[], origin: `${input.length} records`, load: null };
}

/** Render, mask, encode and truncate records: each kind with its loss mode (records grouped by kind in one pass). */
async function prepareSplit(
  tok: DataTokenizer & Partial<BatchEncoder>,
  records: SftRecord[],
  opts: DataPipelineOptions,
): Promise<{ examples: PreparedExample[]; report: PrepareReport }> {
  if (!opts.lossKeys) return prepareRecordsBatched(tok, records, opts);
  const byKind = new Map<SftRecord['kind'], SftRecord[]>();
  for (const r of records) {
    const group = byKind.get(r.kind);
    if (group) group.push(r);
    else byKind.set(r.kind, [r]);
  }
  const examples: PreparedExample[] = [];
  const report = emptyPrepareReport();
  for (const [kind, group] of byKind) {
    const part = await prepareRecordsBatched(tok, group, { ...opts, loss: lossModeFor(opts.lossKeys, kind) });
    for (const e of part.examples) examples.push(e);
    addReport(report, part.report);
  }
  return { examples, report };
}

function addReport(into: PrepareReport, r: PrepareReport): void {
  into.examples += r.examples;
  into.truncated += r.truncated;
  into.droppedTooLong += r.droppedTooLong;
  into.droppedNoTrainedTokens += r.droppedNoTrainedTokens;
  into.prefixBroken += r.prefixBroken;
  into.totalTokens += r.totalTokens;
  into.trainedTokens += r.trainedTokens;
  into.warnings.push(...r.warnings);
}

/** `train: data.jsonl (alpaca, 7 records) -> 7 examples, 812 tokens, 300 trained, 1 truncated to 64`. */
function summaryLine(what: string, origin: string, r: PrepareReport, maxLength: number): string {
  const dropped = r.droppedNoTrainedTokens + r.droppedTooLong;
  return (
    `${what}: ${origin} -> ${r.examples} examples, ${r.totalTokens.toLocaleString('en-US')} tokens, ${r.trainedTokens.toLocaleString('en-US')} trained` +
    (r.truncated ? `, ${r.truncated} truncated to ${maxLength}` : '') +
    (dropped ? `, ${dropped} dropped` : '')
  );
}

/** Examples of one split with its counts and log line; fails when nothing is left to train on. */
async function finishSplit(
  tok: DataTokenizer & Partial<BatchEncoder>,
  loaded: Loaded,
  what: string,
  opts: DataPipelineOptions,
): Promise<{ examples: PreparedExample[]; report: PrepareReport | null; summary: string }> {
  if ('prepared' in loaded)
    return { examples: loaded.prepared, report: null, summary: `${what}: ${loaded.prepared.length} prepared examples` };
  const { examples, report } = await prepareSplit(tok, loaded.records, opts);
  if (examples.length === 0)
    throw new UserError(`${what}: no example has a trained token after masking and truncation (${loaded.origin})`);
  return { examples, report, summary: summaryLine(what, loaded.origin, report, opts.maxLength ?? DEFAULT_MAX_LENGTH) };
}

/** Load, validate, split, tokenise and mask a dataset (or read it from the cache). */
export async function prepareDataset(
  tok: DataTokenizer & Partial<BatchEncoder>,
  opts: DataPipelineOptions,
): Promise<PreparedDataset> {
  const paths = typeof opts.train === 'string' && (opts.eval == null || typeof opts.eval === 'string');
  const useCache = paths && opts.cache !== false && !!opts.tokenizerDir;
  let key: string | null = null;
  const dir = dataCacheDir(opts.outputDir);
  if (useCache) {
    const dataFiles = [
      ...listDataFiles(opts.train as string),
      ...(opts.eval ? listDataFiles(opts.eval as string) : []),
    ];
    const { tokenizerDir: _t, outputDir: _o, cache: _c, label: _l, ...options } = opts;
    key = await cacheKey({
      dataFiles,
      tokenizerDir: opts.tokenizerDir,
      template: tok.chatTemplate,
      options: { ...options, maxLength: opts.maxLength ?? DEFAULT_MAX_LENGTH },
    });
    const hit = readCache(dir, key);
    if (hit) {
      const s = hit.summary as CachedSummary;
      return {
        train: hit.splits.train ?? [],
        eval: hit.splits.eval ?? [],
        load: s.load,
        prepare: s.prepare,
        evalPrepare: s.evalPrepare,
        summary: s.summary,
        fromCache: true,
        cacheFile: `${dir}/${key}.bin`,
      };
    }
  }
  let train = await loadInput(opts.train, opts.label ?? 'train', opts);
  let evalData: Loaded | null = opts.eval ? await loadInput(opts.eval, 'eval', opts) : null;
  if ('records' in train) {
    if (evalData) {
      if (opts.shuffle !== false) shuffleInPlace(train.records, opts.seed ?? 42);
    } else {
      const split = splitTrainEval(train.records, opts);
      train = { ...train, records: split.train };
      if (split.eval.length > 0)
        evalData = { records: split.eval, origin: `${split.eval.length} held-out records`, load: null };
    }
  }
  const t = await finishSplit(tok, train, opts.label ?? 'train', opts);
  const e = evalData ? await finishSplit(tok, evalData, 'eval', opts) : null;
  const load = ('load' in train && train.load) || emptyLoadReport();
  const result: PreparedDataset = {
    train: t.examples,
    eval: e?.examples ?? [],
    load,
    prepare: t.report,
    evalPrepare: e?.report ?? null,
    summary: { train: t.summary, eval: e?.summary ?? null },
    fromCache: false,
    cacheFile: null,
  };
  if (useCache && key) {
    const summary: CachedSummary = {
      load,
      prepare: result.prepare,
      evalPrepare: result.evalPrepare,
      summary: result.summary,
    };
    result.cacheFile = writeCache(dir, key, { train: result.train, eval: result.eval }, summary);
  }
  return result;
}
