// Loading: every file of a dataset split streamed through its reader (JSONL, JSON, Parquet, Arrow, CSV),
// validated into records; bad-record policy; shuffle and splits.
import { UserError } from '../util/errors.js';
import { readRawRecords } from './readers.js';
import { datasetLayout, splitFiles } from './splits.js';
import {
  BadRecordError,
  columnRenames,
  normalizeRecord,
  type BadRecordReason,
  type DataFormat,
  type FormatOptions,
} from './formats.js';
import type { SftRecord } from './types.js';
import { shuffleInPlace } from '../util/random.js';

export type BadRecordPolicy = 'error' | 'skip';

export interface LoadOptions extends FormatOptions {
  format?: DataFormat;
  onBadRecord?: BadRecordPolicy;
  /** Which split of a dataset folder to read (default 'train'). */
  split?: string;
}

/** What loading saw: record counts, the detected format, and every skipped record counted by reason. */
export interface LoadReport {
  files: string[];
  format: Exclude<DataFormat, 'auto'> | null;
  /** How the format was found, for the log: `sharegpt (auto-detected from columns conversations, tools)`. */
  detected?: string;
  records: number;
  skipped: number;
  skippedByReason: Partial<Record<BadRecordReason, number>>;
  /** The first few skipped-record messages (file:line, field, reason), for the summary. */
  skippedExamples: string[];
}

export function emptyLoadReport(): LoadReport {
  return { files: [], format: null, records: 0, skipped: 0, skippedByReason: {}, skippedExamples: [] };
}

/**
 * The data files of split `split` (default 'train') of `path`: the file itself, or the split's files in a
 * dataset folder (Hub names, save_to_disk folders; a folder without split names is all 'train').
 */
export function listDataFiles(path: string, split = 'train'): string[] {
  return splitFiles(path, split, datasetLayout(path));
}

/**
 * Validated records from `path` (file or folder), streamed. With onBadRecord 'error' the first bad record
 * throws its BadRecordError; with 'skip' it is counted in `report` by reason. All records of a dataset are
 * validated as one format (the first record's when format is 'auto').
 */
export async function* readRecords(
  path: string,
  opts: LoadOptions = {},
  report: LoadReport = emptyLoadReport(),
): AsyncGenerator<SftRecord> {
  const policy = opts.onBadRecord ?? 'error';
  const files = listDataFiles(path, opts.split);
  report.files.push(...files);
  const fail = (err: BadRecordError) => {
    if (policy === 'error') throw err;
    report.skipped++;
    report.skippedByReason[err.reason] = (report.skippedByReason[err.reason] ?? 0) + 1;
    if (report.skippedExamples.length < 10) report.skippedExamples.push(err.message);
  };
  for (const file of files) {
    for await (const r of readRawRecords(file)) {
      if ('error' in r) {
        fail(r.error);
        continue;
      }
      try {
        const fmt = opts.format && opts.format !== 'auto' ? opts.format : (report.format ?? 'auto');
        const { record, format } = normalizeRecord(r.value, fmt, r.source, opts);
        if (report.format === null) {
          report.format = format;
          report.detected = describeDetection(format, r.value, opts);
        }
        report.records++;
        yield record;
      } catch (e) {
        if (!(e instanceof BadRecordError)) throw e;
        fail(e);
      }
    }
  }
}

function describeDetection(format: string, row: unknown, opts: LoadOptions): string {
  const columns = row && typeof row === 'object' ? Object.keys(row).join(', ') : '';
  const how = opts.format && opts.format !== 'auto' ? 'as configured' : 'auto-detected';
  const renames = columnRenames(opts);
  const mapped = renames
    ? `; columns mapped: ${Object.entries(renames)
        .map(([a, b]) => `${a} -> ${b}`)
        .join(', ')}`
    : '';
  return `${format} (${how} from columns ${columns}${mapped})`;
}

/** All validated records of `path` in memory (records are small; the raw file never is one string). */
export async function loadRecords(
  path: string,
  opts: LoadOptions = {},
): Promise<{ records: SftRecord[]; report: LoadReport }> {
  const report = emptyLoadReport();
  const records: SftRecord[] = [];
  for await (const r of readRecords(path, opts, report)) records.push(r);
  if (records.length === 0)
    throw new UserError(
      `data: no usable records in '${path}'${report.skipped ? ` (${report.skipped} skipped: ${summarizeSkipped(report)})` : ''}`,
    );
  return { records, report };
}

export function summarizeSkipped(report: LoadReport): string {
  return Object.entries(report.skippedByReason)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

export interface SplitOptions {
  /** Fraction of records held out for evaluation (0 = none). */
  evalRatio?: number;
  seed?: number;
  shuffle?: boolean;
}

/** Seeded shuffle (optional) then a train/eval split by ratio; eval gets round(n * ratio) records, at least 1 when ratio > 0. */
export function splitTrainEval<T>(items: T[], opts: SplitOptions = {}): { train: T[]; eval: T[] } {
  const ratio = opts.evalRatio ?? 0;
  if (!(ratio >= 0 && ratio < 1)) throw new UserError(`data: eval ratio must be in [0, 1), got ${ratio}`);
  const all = opts.shuffle === false ? items.slice() : shuffleInPlace(items.slice(), opts.seed ?? 42);
  if (ratio === 0) return { train: all, eval: [] };
  const nEval = Math.max(1, Math.round(all.length * ratio));
  if (nEval >= all.length)
    throw new UserError(`data: eval ratio ${ratio} leaves no training records out of ${all.length}`);
  return { train: all.slice(nEval), eval: all.slice(0, nEval) };
}

export interface DatasetOptions extends LoadOptions, SplitOptions {
  train: string;
  /** A separate eval file/folder; when given, evalRatio is ignored. */
  eval?: string;
}

/** Train (and eval) records: from separate paths or split by ratio, shuffled with the seed. */
export async function loadDataset(
  opts: DatasetOptions,
): Promise<{ train: SftRecord[]; eval: SftRecord[]; report: LoadReport; evalReport: LoadReport | null }> {
  const { records, report } = await loadRecords(opts.train, opts);
  if (opts.eval) {
    const ev = await loadRecords(opts.eval, opts);
    const train = opts.shuffle === false ? records : shuffleInPlace(records, opts.seed ?? 42);
    return { train, eval: ev.records, report, evalReport: ev.report };
  }
  const { train, eval: evalSet } = splitTrainEval(records, opts);
  return { train, eval: evalSet, report, evalReport: null };
}
