// The data path, end to end: a dataset (a file or folder, records, or already prepared examples) in; tokenised
// examples with loss masks out. Files are read row by row (src/data/readers.ts) and validated into records
// (load.ts), split when asked, rendered and masked with each record kind's loss mode, encoded in batches
// (encodeBatch when the tokenizer has it), and cached on disk keyed by data, tokenizer, template and options.
// The trainer, `sftkit eval` and the library API all prepare data here.
import type { DataTokenizer, PreparedExample, SftRecord } from './types.js';
import {
  emptyLoadReport,
  listDataFiles,
  readRecords,
  summarizeSkipped,
  type LoadOptions,
  type LoadReport,
  type SplitOptions,
} from './load.js';
import { datasetLayout, isSplitName, looksLikeSplitName } from './splits.js';
import { applyReasoningHistory, type ReasoningHistory } from './reasoning.js';
import { parquetInfo } from './readers/parquet.js';
import {
  DEFAULT_MAX_LENGTH,
  emptyPrepareReport,
  type BatchEncoder,
  type PrepareOptions,
  type PrepareReport,
} from './prepare.js';
import {
  finishChunk,
  PREPARE_CHUNK,
  startChunk,
  type ChunkOptions,
  type LossKeys,
  type Stage,
} from './prepare-chunk.js';
import { defaultWorkerCount, PrepareWorkers, type ChunkResult } from './prepare-workers.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { cacheKey, dataCacheDir, readCache, writeCache } from './cache.js';
import { ExampleSlab } from './example-slab.js';
import { shuffleInPlace } from '../util/random.js';
import { UserError } from '../util/errors.js';

/** A dataset as the library API accepts it: a path (.jsonl/.json file or folder), records, or prepared examples. */
export type DatasetInput = string | SftRecord[] | PreparedExample[];

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
  /**
   * Worker threads preparing the chunks of a large split (0: this thread only). Default: one per core up to 4, for a
   * src/tokenizer Tokenizer, once a split has passed 4,096 rows; when given, from the first chunk. The examples are
   * the same either way (so it is not part of the cache key).
   */
  workers?: number;
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

/** With the default worker count, worker threads start once a split has passed this many rows. */
const WORKERS_AFTER_ROWS = 4096;

/** The options a chunk is prepared with (plain data, the same on this thread and in workers). */
function chunkOptions(opts: DataPipelineOptions): ChunkOptions {
  const o: ChunkOptions = {};
  if (opts.lossKeys !== undefined) o.lossKeys = opts.lossKeys;
  if (opts.loss !== undefined) o.loss = opts.loss;
  if (opts.eosToken !== undefined) o.eosToken = opts.eosToken;
  if (opts.templateName !== undefined) o.templateName = opts.templateName;
  if (opts.templateExtra !== undefined) o.templateExtra = opts.templateExtra;
  if (opts.maxLength !== undefined) o.maxLength = opts.maxLength;
  if (opts.truncation !== undefined) o.truncation = opts.truncation;
  return o;
}

/**
 * Render, mask, encode and truncate records as they come: each kind with its loss mode, each conversation as
 * reasoning_history makes it, PREPARE_CHUNK records per encodeBatch.
 *
 * Each chunk's examples are stored as one ExampleSlab (a few buffers, not objects per example: example-slab.ts).
 * Pipelined: while the tokenizer encodes one chunk on its own threads, this thread reads and renders the next;
 * large splits are prepared by worker threads (prepare-workers.ts), chunk by chunk, while this thread reads. Either
 * way chunks are finished in order, so examples, counts and the first error are exactly those of preparing the
 * chunks one after another: a chunk's failure surfaces only after the chunks before it are finished.
 */
async function prepareSplit(
  tok: DataTokenizer & Partial<BatchEncoder>,
  records: Iterable<SftRecord> | AsyncIterable<SftRecord>,
  opts: DataPipelineOptions,
  progress?: (rows: number, done: boolean) => void,
): Promise<{ examples: PreparedExample[]; report: PrepareReport }> {
  const examples: PreparedExample[] = [];
  const report = emptyPrepareReport();
  const copts = chunkOptions(opts);
  const batched = typeof tok.encodeBatch === 'function';
  const nWorkers = batched && tok instanceof Tokenizer ? (opts.workers ?? defaultWorkerCount(tok)) : 0;
  const workersAfter = opts.workers === undefined ? WORKERS_AFTER_ROWS : 0;
  let pool: PrepareWorkers | null | undefined; // undefined: not started (yet)
  let chunk: SftRecord[] = [];
  let rows = 0;
  const queue: { rows: number; work: Stage[] | Promise<ChunkResult> }[] = [];
  const finishOne = async (f: (typeof queue)[number]) => {
    const reports: PrepareReport[] = [];
    if (Array.isArray(f.work)) {
      const chunk: PreparedExample[] = [];
      await finishChunk(tok, f.work, chunk, reports);
      for (const e of ExampleSlab.pack(chunk).examples()) examples.push(e);
    } else {
      const r = await f.work;
      for (const e of r.examples) examples.push(e);
      reports.push(...r.reports);
    }
    for (const r of reports) addReport(report, r);
    progress?.(f.rows, false);
  };
  const flush = async () => {
    if (pool === undefined && nWorkers > 0 && rows > workersAfter)
      pool = await PrepareWorkers.start(tok as Tokenizer, nWorkers);
    const records = chunk;
    chunk = [];
    let work: Stage[] | Promise<ChunkResult>;
    if (pool) {
      work = pool.run(records, copts);
      work.catch(() => {}); // awaited in order by finishOne; an earlier failure may leave it unread
    } else work = startChunk(tok, records, copts);
    queue.push({ rows, work });
    // In flight: two chunks per worker; on this thread, one being encoded while the next is rendered.
    const depth = pool ? 2 * nWorkers : batched ? 1 : 0;
    while (queue.length > depth) await finishOne(queue.shift()!);
  };
  const it =
    Symbol.asyncIterator in records
      ? (records as AsyncIterable<SftRecord>)[Symbol.asyncIterator]()
      : (records as Iterable<SftRecord>)[Symbol.iterator]();
  let read = false;
  try {
    for (;;) {
      let rowRecords: SftRecord[];
      try {
        const next = await it.next();
        if (next.done) {
          read = true;
          break;
        }
        rows++;
        rowRecords = applyReasoningHistory(next.value, opts.reasoningHistory);
      } catch (e) {
        // A later row fails to read: the chunks before it are finished (and report their own failures) first.
        read = true;
        while (queue.length) await finishOne(queue.shift()!);
        throw e;
      }
      for (const x of rowRecords) chunk.push(x);
      if (chunk.length >= PREPARE_CHUNK) await flush();
    }
    if (chunk.length) await flush();
    while (queue.length) await finishOne(queue.shift()!);
  } finally {
    if (!read) await it.return?.(); // a chunk failed: close the file being read
    await pool?.close();
  }
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
    else if (looksLikeSplitName(opts.eval)) {
      // a bare name that is neither a path nor a split of the train data
      const splits = trainPath ? [...datasetLayout(trainPath).splits.keys()] : [];
      throw new UserError(
        `eval_dataset '${opts.eval}': no such file or folder${trainPath ? `, and not a split of ${trainPath} (${splits.length > 1 ? `its splits: ${splits.join(', ')}` : 'it has only a train split'}; or carve one with test_size)` : ''}`,
      );
    } else {
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
    const { tokenizerDir: _t, outputDir: _o, cache: _c, label: _l, onProgress: _p, workers: _w, ...options } = opts;
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
    result.cacheFile = await writeCache(dir, key, { train: result.train, eval: result.eval }, summary);
  }
  return result;
}
