// The data path, end to end: a dataset (a file or folder, records, or already prepared examples) in; tokenised
// examples with loss masks out. Files are read row by row (src/data/readers.ts) and validated into records
// (load.ts), split when asked, rendered and masked with each record kind's loss mode, encoded in batches
// (encodeBatch when the tokenizer has it), and cached on disk keyed by data, tokenizer, template and options.
// The trainer, `sftkit eval` and the library API all prepare data here.
import { formatRef, type DataTokenizer, type PreparedExample, type SftRecord } from './types.js';
import {
  emptyLoadReport,
  listDataFiles,
  readRecords,
  summarizeSkipped,
  type LoadOptions,
  type LoadReport,
  type SplitOptions,
} from './load.js';
import { datasetLayout, isSplitName } from './splits.js';
import { applyReasoningHistory, type ReasoningHistory } from './reasoning.js';
import { parquetInfo } from './readers/parquet.js';
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
  /** The split of a dataset folder to train on (TRL's dataset_train_split; default 'train'). */
  trainSplit?: string;
  /** The split of the train folder to evaluate on when no eval data or ratio is given (dataset_test_split). */
  testSplit?: string;
  /** Use the train folder's testSplit as eval data when it has one and nothing else gives eval data. */
  evalFromTestSplit?: boolean;
  /** Earlier turns' reasoning (see reasoning.ts; default 'template'). */
  reasoningHistory?: ReasoningHistory;
  /** Called as rows are prepared (rows so far, total rows when the files tell it, e.g. Parquet footers). */
  onProgress?: (p: { what: string; rows: number; total: number | null; done: boolean }) => void;
}

/** A file or folder and the split of it to read. */
interface PathSource {
  path: string;
  split: string;
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

/** Records of one input: streamed from a path (read and prepared chunk by chunk), in memory, or already prepared. */
type Loaded =
  | { stream: AsyncIterable<SftRecord>; origin: () => string; load: LoadReport; total: number | null }
  | { records: SftRecord[]; origin: () => string; load: null }
  | { prepared: PreparedExample[] };

/** Total rows of `files` when every file's footer tells it (Parquet), else null. */
async function knownRowCount(files: string[]): Promise<number | null> {
  let total = 0;
  for (const f of files) {
    if (!f.toLowerCase().endsWith('.parquet')) return null;
    total += (await parquetInfo(f)).rows;
  }
  return total;
}

async function loadInput(input: DatasetInput | PathSource, what: string, opts: LoadOptions): Promise<Loaded> {
  if (typeof input === 'string') input = { path: input, split: 'train' };
  if (!Array.isArray(input)) {
    const src = input as PathSource;
    const load = emptyLoadReport();
    const files = listDataFiles(src.path, src.split);
    const label = src.split !== 'train' ? `${src.path} [${src.split}]` : src.path;
    const origin = () =>
      `${label} (${load.detected ?? load.format ?? 'mixed'}, ${load.records} records${load.skipped ? `, ${load.skipped} skipped: ${summarizeSkipped(load)}` : ''})`;
    return {
      stream: readRecords(src.path, { ...opts, split: src.split }, load),
      origin,
      load,
      total: await knownRowCount(files),
    };
  }
  if (input.length === 0) throw new UserError(`${what}: the dataset is empty`);
  if (isPrepared(input)) return { prepared: input };
  const records = input as SftRecord[];
  return { records, origin: () => `${records.length} records`, load: null };
}

/** Records are prepared this many at a time (render, encodeBatch, mask), so a streamed file never sits in memory. */
const PREPARE_CHUNK = 512;

/**
 * Render, mask, encode and truncate records as they come: each kind with its loss mode, each conversation as
 * reasoning_history makes it, PREPARE_CHUNK records per encodeBatch.
 */
async function prepareSplit(
  tok: DataTokenizer & Partial<BatchEncoder>,
  records: Iterable<SftRecord> | AsyncIterable<SftRecord>,
  opts: DataPipelineOptions,
  progress?: (rows: number, done: boolean) => void,
): Promise<{ examples: PreparedExample[]; report: PrepareReport }> {
  const examples: PreparedExample[] = [];
  const report = emptyPrepareReport();
  let chunk: SftRecord[] = [];
  let rows = 0;
  const flush = async () => {
    const byKind = new Map<SftRecord['kind'], SftRecord[]>();
    for (const r of chunk) {
      const group = byKind.get(r.kind);
      if (group) group.push(r);
      else byKind.set(r.kind, [r]);
    }
    for (const [kind, group] of byKind) {
      let loss: LossMode | undefined;
      try {
        loss = opts.lossKeys ? lossModeFor(opts.lossKeys, kind) : opts.loss;
      } catch (e) {
        // name the file and the first record of that kind
        if (e instanceof UserError) throw new UserError(`${formatRef(group[0]!.source)}: ${e.message}`, { cause: e });
        throw e;
      }
      const part = await prepareRecordsBatched(tok, group, { ...opts, loss }, PREPARE_CHUNK);
      for (const e of part.examples) examples.push(e);
      addReport(report, part.report);
    }
    chunk = [];
    progress?.(rows, false);
  };
  for await (const r of records) {
    rows++;
    for (const x of applyReasoningHistory(r, opts.reasoningHistory)) chunk.push(x);
    if (chunk.length >= PREPARE_CHUNK) await flush();
  }
  if (chunk.length) await flush();
  progress?.(rows, true);
  return { examples, report };
}

/**
 * A seeded, deterministic carve of `ratio` of the examples as eval (TRL's test_size): eval gets round(n * ratio),
 * at least 1; train keeps its order.
 */
export function carveEval<T>(items: T[], ratio: number, seed = 42): { train: T[]; eval: T[] } {
  if (!(ratio > 0 && ratio < 1)) throw new UserError(`data: test_size must be in (0, 1), got ${ratio}`);
  const nEval = Math.max(1, Math.round(items.length * ratio));
  if (nEval >= items.length)
    throw new UserError(`data: test_size ${ratio} leaves no training examples out of ${items.length}`);
  const order = shuffleInPlace(
    Array.from({ length: items.length }, (_, i) => i),
    seed,
  );
  const isEval = new Uint8Array(items.length);
  for (let k = 0; k < nEval; k++) isEval[order[k]!] = 1;
  const train: T[] = [];
  const evalSet: T[] = [];
  for (let i = 0; i < items.length; i++) (isEval[i] ? evalSet : train).push(items[i]!);
  return { train, eval: evalSet };
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
  const total = 'stream' in loaded ? loaded.total : loaded.records.length;
  const progress = opts.onProgress && ((rows: number, done: boolean) => opts.onProgress!({ what, rows, total, done }));
  const { examples, report } = await prepareSplit(
    tok,
    'stream' in loaded ? loaded.stream : loaded.records,
    opts,
    progress,
  );
  if (examples.length === 0)
    throw new UserError(`${what}: no example has a trained token after masking and truncation (${loaded.origin()})`);
  return {
    examples,
    report,
    summary: summaryLine(what, loaded.origin(), report, opts.maxLength ?? DEFAULT_MAX_LENGTH),
  };
}

/** Where train and eval data come from: paths with the split to read, or in-memory inputs. */
function resolveSources(opts: DataPipelineOptions): {
  train: DatasetInput | PathSource;
  eval: DatasetInput | PathSource | null;
} {
  const trainPath = typeof opts.train === 'string' ? opts.train : null;
  const train: DatasetInput | PathSource = trainPath
    ? { path: trainPath, split: opts.trainSplit ?? 'train' }
    : opts.train;
  let evalSrc: DatasetInput | PathSource | null = null;
  if (typeof opts.eval === 'string') {
    // eval_dataset may name a split of the train folder ('validation', 'test').
    if (trainPath && isSplitName(opts.eval, trainPath)) evalSrc = { path: trainPath, split: opts.eval };
    else {
      const layout = datasetLayout(opts.eval);
      const want = opts.testSplit ?? 'test';
      const split = [want, 'test', 'validation'].find((n) => layout.splits.has(n)) ?? 'train';
      evalSrc = { path: opts.eval, split };
    }
  } else if (opts.eval) evalSrc = opts.eval;
  else if (trainPath && opts.evalFromTestSplit && !(opts.evalRatio && opts.evalRatio > 0)) {
    const layout = datasetLayout(trainPath);
    const split = opts.testSplit ?? 'test';
    if (layout.kind !== 'unsplit' && layout.kind !== 'file' && layout.splits.has(split))
      evalSrc = { path: trainPath, split };
  }
  return { train, eval: evalSrc };
}

function filesOf(src: DatasetInput | PathSource | null): string[] {
  if (src && !Array.isArray(src) && typeof src === 'object') return listDataFiles(src.path, src.split);
  return [];
}

/** Load, validate, split, tokenise and mask a dataset (or read it from the cache). */
export async function prepareDataset(
  tok: DataTokenizer & Partial<BatchEncoder>,
  opts: DataPipelineOptions,
): Promise<PreparedDataset> {
  const sources = resolveSources(opts);
  const paths = typeof opts.train === 'string' && (opts.eval == null || typeof opts.eval === 'string');
  const useCache = paths && opts.cache !== false && !!opts.tokenizerDir;
  let key: string | null = null;
  const dir = dataCacheDir(opts.outputDir);
  if (useCache) {
    const dataFiles = [...filesOf(sources.train), ...filesOf(sources.eval)];
    const { tokenizerDir: _t, outputDir: _o, cache: _c, label: _l, onProgress: _p, ...options } = opts;
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
  const train = await loadInput(sources.train, opts.label ?? 'train', opts);
  const t = await finishSplit(tok, train, opts.label ?? 'train', opts);
  let trainExamples = t.examples;
  let e: Awaited<ReturnType<typeof finishSplit>> | null = null;
  if (sources.eval) {
    e = await finishSplit(tok, await loadInput(sources.eval, 'eval', opts), 'eval', opts);
  } else if (opts.evalRatio && opts.evalRatio > 0 && !('prepared' in train)) {
    const carved = carveEval(trainExamples, opts.evalRatio, opts.seed ?? 42);
    trainExamples = carved.train;
    e = {
      examples: carved.eval,
      report: null,
      summary: `eval: ${carved.eval.length} examples held out of the training data (test_size ${opts.evalRatio}, seed ${opts.seed ?? 42})`,
    };
  }
  if (opts.shuffle !== false && !('prepared' in train)) shuffleInPlace(trainExamples, opts.seed ?? 42);
  const load = ('load' in train && train.load) || emptyLoadReport();
  const result: PreparedDataset = {
    train: trainExamples,
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
