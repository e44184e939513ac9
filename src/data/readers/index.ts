// One entry point from a data file to raw rows, by file extension: JSON Lines, JSON arrays, Parquet, Arrow IPC,
// CSV and TSV. Every reader streams.
import { extname } from 'node:path';
import { UserError } from '../../util/errors.js';
import { readJsonRows } from './json.js';
import { readParquetRows } from './parquet.js';
import { readArrowRows } from './arrow.js';
import { readCsvRows } from './csv.js';
import type { RawRow, RowReader } from './types.js';

export type { RawRow } from './types.js';

const READERS: Record<string, RowReader> = {
  '.jsonl': readJsonRows,
  '.json': readJsonRows,
  '.parquet': readParquetRows,
  '.arrow': readArrowRows,
  '.feather': readArrowRows,
  '.csv': readCsvRows,
  '.tsv': readCsvRows,
};

/** The file extensions sftkit reads, with the dot. */
export const DATA_EXTENSIONS: readonly string[] = Object.keys(READERS);

export function isDataFile(name: string): boolean {
  return extname(name).toLowerCase() in READERS;
}

/** The raw rows of one data file, streamed. */
export function readRows(file: string): AsyncGenerator<RawRow> {
  const reader = READERS[extname(file).toLowerCase()];
  if (!reader) throw new UserError(`${file}: unknown data file type (expected one of ${DATA_EXTENSIONS.join(', ')})`);
  return reader(file);
}
