// Decoding Parquet through hyparquet (pure JS; every physical encoding and nested list/struct column) with
// hyparquet-compressors (snappy, gzip, zstd, brotli, lz4, lz4_raw): the footer, and one row group at a time, column
// by column, so memory holds one group and an unreadable column chunk is named with its row group. Runs in the
// decoding worker (parquet-worker.ts); the footer is also read on the caller's thread (parquet.ts).
import { read } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
  type AsyncBuffer,
  type FileMetaData,
  type SchemaTree,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { UserError } from '../../util/errors.js';
import { toPlain } from './plain.js';

type ReadAt = (buf: Buffer, offset: number, length: number, position: number) => Promise<{ bytesRead: number }>;

/** An AsyncBuffer over an open file: each slice is one positioned read. */
function fileBuffer(readAt: ReadAt, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const buf = Buffer.allocUnsafeSlow(Math.max(0, stop - start));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await readAt(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + got) as ArrayBuffer;
    },
  };
}

export interface OpenParquet {
  fh: FileHandle;
  buf: AsyncBuffer;
  md: FileMetaData;
}

const readFd = promisify(read);

/**
 * A file already opened by another thread, by its descriptor (which that thread keeps and closes), and its
 * footer (read there first, so it is known to parse).
 */
export async function parquetOfFd(fd: number, size: number): Promise<Pick<OpenParquet, 'buf' | 'md'>> {
  const buf = fileBuffer((b, o, l, p) => readFd(fd, b, o, l, p), size);
  return { buf, md: await parquetMetadataAsync(buf) };
}

/** Open a Parquet file and read its footer; a file that has none is a one-line UserError. */
export async function openParquet(file: string): Promise<OpenParquet> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = fileBuffer((b, o, l, p) => fh.read(b, o, l, p), size);
    return { fh, buf, md: await parquetMetadataAsync(buf) };
  } catch (e) {
    await fh.close();
    const why = (e as Error).message;
    throw new UserError(
      `${file}: not a readable Parquet file (${/PAR1/.test(why) ? 'no PAR1 footer: truncated or not Parquet' : why})`,
      { cause: e },
    );
  }
}

/** The top-level column names of a file. */
export function columnsOf(md: FileMetaData): string[] {
  return parquetSchema(md).children.map((c) => c.element.name);
}

const startsOf = new WeakMap<FileMetaData, number[]>();

/** The first row of each row group, and the row after the last. */
export function groupStarts(md: FileMetaData): number[] {
  let starts = startsOf.get(md);
  if (!starts) {
    starts = [0];
    for (const g of md.row_groups) starts.push(starts[starts.length - 1]! + Number(g.num_rows));
    startsOf.set(md, starts);
  }
  return starts;
}

/** `file: row group g (rows a-b)`: where an error in row group `g` is. */
export function groupPlace(file: string, starts: number[], g: number): string {
  return `${file}: row group ${g} (rows ${starts[g]}-${starts[g + 1]! - 1})`;
}

/** The rows of row group `g` as plain objects (toPlain), decoded column by column. */
export async function decodeRowGroup(
  file: string,
  p: Pick<OpenParquet, 'buf' | 'md'>,
  g: number,
): Promise<Record<string, unknown>[]> {
  const { md, buf } = p;
  const columns = columnsOf(md);
  const starts = groupStarts(md);
  const rowStart = starts[g]!;
  const rowEnd = starts[g + 1]!;
  const n = rowEnd - rowStart;
  const cols: unknown[][] = [];
  for (const column of columns) {
    let values: Record<string, unknown>[];
    try {
      values = await parquetReadObjects({ file: buf, metadata: md, columns: [column], rowStart, rowEnd, compressors });
    } catch (e) {
      throw new UserError(`${groupPlace(file, starts, g)}, column '${column}': cannot read: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (values.length !== n)
      throw new UserError(
        `${file}: row group ${g}, column '${column}': ${values.length} values for ${n} rows (truncated or corrupt file)`,
      );
    cols.push(values.map((v) => v[column]));
  }
  const rows: Record<string, unknown>[] = new Array<Record<string, unknown>>(n);
  for (let i = 0; i < n; i++) {
    const value: Record<string, unknown> = {};
    for (let c = 0; c < columns.length; c++) value[columns[c]!] = toPlain(cols[c]![i]);
    rows[i] = value;
  }
  return rows;
}

/**
 * The top-level columns whose values may hold numbers that JSON does not carry exactly (NaN, infinities, -0):
 * those with a float leaf (FLOAT, DOUBLE, FLOAT16 as FIXED_LEN_BYTE_ARRAY) or a decoded geometry or variant. Other
 * columns decode (through toPlain) to strings, finite numbers, booleans, nulls, lists and objects only.
 */
export function inexactJsonColumns(md: FileMetaData): string[] {
  const inexact = (t: SchemaTree): boolean =>
    ['FLOAT', 'DOUBLE', 'FIXED_LEN_BYTE_ARRAY'].includes(t.element.type ?? '') ||
    ['GEOMETRY', 'GEOGRAPHY', 'VARIANT'].includes(t.element.logical_type?.type ?? '') ||
    t.children.some(inexact);
  return parquetSchema(md)
    .children.filter(inexact)
    .map((c) => c.element.name);
}

/** True when `v` holds a number that JSON would change (NaN, an infinity or -0). */
export function hasInexactNumber(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v) || Object.is(v, -0);
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(hasInexactNumber);
  return Object.values(v).some(hasInexactNumber);
}
