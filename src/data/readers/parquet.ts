// Parquet through hyparquet (pure JS; every physical encoding and nested list/struct column) with
// hyparquet-compressors (snappy, gzip, zstd, brotli, lz4, lz4_raw). Read one row group at a time, column by
// column, so memory holds one group and an unreadable column chunk is named with its row group.
import { open, type FileHandle } from 'node:fs/promises';
import {
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
  type AsyncBuffer,
  type FileMetaData,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { UserError } from '../../util/errors.js';
import { toPlain } from './plain.js';
import type { RawRow } from '../readers.js';

/** An AsyncBuffer over an open file: each slice is one positioned read. */
function fileBuffer(fh: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const buf = Buffer.allocUnsafeSlow(Math.max(0, stop - start));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + got) as ArrayBuffer;
    },
  };
}

export interface ParquetFileInfo {
  rows: number;
  rowGroups: number[];
  columns: string[];
  createdBy: string | null;
}

/** The footer of a Parquet file: row counts per group, top-level columns, writer. */
export async function parquetInfo(file: string): Promise<ParquetFileInfo> {
  const { fh, md } = await openParquet(file);
  await fh.close();
  return infoOf(md);
}

function infoOf(md: FileMetaData): ParquetFileInfo {
  return {
    rows: Number(md.num_rows),
    rowGroups: md.row_groups.map((g) => Number(g.num_rows)),
    columns: parquetSchema(md).children.map((c) => c.element.name),
    createdBy: md.created_by ?? null,
  };
}

async function openParquet(file: string): Promise<{ fh: FileHandle; buf: AsyncBuffer; md: FileMetaData }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = fileBuffer(fh, size);
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

/** The rows of a Parquet file as plain objects, one row group at a time. */
export async function* readParquetRows(file: string): AsyncGenerator<RawRow> {
  const { fh, buf, md } = await openParquet(file);
  try {
    const { columns, rowGroups } = infoOf(md);
    let groupStart = 0;
    for (let g = 0; g < rowGroups.length; g++) {
      const n = rowGroups[g]!;
      const rowEnd = groupStart + n;
      const cols: unknown[][] = [];
      for (const column of columns) {
        let values: Record<string, unknown>[];
        try {
          values = await parquetReadObjects({
            file: buf,
            metadata: md,
            columns: [column],
            rowStart: groupStart,
            rowEnd,
            compressors,
          });
        } catch (e) {
          throw new UserError(
            `${file}: row group ${g} (rows ${groupStart}-${rowEnd - 1}), column '${column}': cannot read: ${(e as Error).message}`,
            { cause: e },
          );
        }
        if (values.length !== n)
          throw new UserError(
            `${file}: row group ${g}, column '${column}': ${values.length} values for ${n} rows (truncated or corrupt file)`,
          );
        cols.push(values.map((v) => v[column]));
      }
      for (let i = 0; i < n; i++) {
        const value: Record<string, unknown> = {};
        for (let c = 0; c < columns.length; c++) value[columns[c]!] = toPlain(cols[c]![i]);
        const row = groupStart + i;
        yield { value, source: { file, line: row + 1, row, rowGroup: g } };
      }
      groupStart = rowEnd;
    }
  } finally {
    await fh.close();
  }
}
