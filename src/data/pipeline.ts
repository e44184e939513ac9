// The data pipeline end to end, as the trainer calls it: load + validate + split, render + mask + truncate,
// with the prepared result cached on disk.
import type { DataTokenizer, PreparedExample } from './types.js';
import { listDataFiles, loadDataset, type DatasetOptions, type LoadReport } from './load.js';
import {
  prepareRecordsBatched,
  type BatchEncoder,
  type PrepareOptions,
  type PrepareReport,
  DEFAULT_MAX_LENGTH,
} from './prepare.js';
import { cacheKey, dataCacheDir, readCache, writeCache } from './cache.js';

export interface DataPipelineOptions extends DatasetOptions, PrepareOptions {
  /** Folder holding the tokenizer files (part of the cache key); without it nothing is cached. */
  tokenizerDir?: string | null;
  /** Cache root: `<outputDir>/data-cache` (default ~/.cache/sftkit/data-cache); null disables caching. */
  outputDir?: string | null;
  cache?: boolean;
}

export interface PreparedDataset {
  train: PreparedExample[];
  eval: PreparedExample[];
  load: LoadReport;
  prepare: PrepareReport;
  evalPrepare: PrepareReport | null;
  /** True when read from the on-disk cache. */
  fromCache: boolean;
  cacheFile: string | null;
}

interface CachedSummary {
  load: LoadReport;
  prepare: PrepareReport;
  evalPrepare: PrepareReport | null;
}

/** Load, validate, split, tokenise and mask a dataset (or read it from the cache). */
export async function prepareDataset(
  tok: DataTokenizer & Partial<BatchEncoder>,
  opts: DataPipelineOptions,
): Promise<PreparedDataset> {
  const useCache = opts.cache !== false && !!opts.tokenizerDir;
  let key: string | null = null;
  const dir = dataCacheDir(opts.outputDir);
  if (useCache) {
    const dataFiles = [...listDataFiles(opts.train), ...(opts.eval ? listDataFiles(opts.eval) : [])];
    const { tokenizerDir: _t, outputDir: _o, cache: _c, ...options } = opts;
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
        fromCache: true,
        cacheFile: `${dir}/${key}.bin`,
      };
    }
  }
  const ds = await loadDataset(opts);
  const train = await prepareRecordsBatched(tok, ds.train, opts);
  const ev = ds.eval.length ? await prepareRecordsBatched(tok, ds.eval, opts) : null;
  const result: PreparedDataset = {
    train: train.examples,
    eval: ev?.examples ?? [],
    load: ds.report,
    prepare: train.report,
    evalPrepare: ev?.report ?? null,
    fromCache: false,
    cacheFile: null,
  };
  if (useCache && key) {
    const summary: CachedSummary = { load: ds.report, prepare: train.report, evalPrepare: ev?.report ?? null };
    result.cacheFile = writeCache(dir, key, { train: result.train, eval: result.eval }, summary);
  }
  return result;
}
