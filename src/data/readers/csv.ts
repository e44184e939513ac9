// CSV and TSV through csv-parse: a header row names the columns; quoted fields may hold delimiters, quotes and
// newlines. A row with a different number of fields than the header is an error naming its line.
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { parse, CsvError } from 'csv-parse';
import { UserError } from '../../util/errors.js';
import { oneLine } from '../../util/json.js';
import type { RawRow } from '../readers.js';

export async function* readCsvRows(file: string): AsyncGenerator<RawRow> {
  const delimiter = extname(file).toLowerCase() === '.tsv' ? '\t' : ',';
  const parser = createReadStream(file).pipe(
    parse({ delimiter, columns: true, bom: true, skip_empty_lines: true, info: true, relax_column_count: false }),
  );
  // info.lines is the line a record ends on; it starts after the previous one (quoted fields may span lines).
  let prevEnd = 1;
  try {
    for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      yield { value: rec.record, source: { file, line: prevEnd + 1 } };
      prevEnd = rec.info.lines;
    }
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    const err = e as CsvError & { lines?: number; record?: unknown[] };
    const line = err.lines ?? prevEnd + 1;
    if (err.code === 'CSV_RECORD_INCONSISTENT_COLUMNS' || err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH') {
      const header = /columns length is (\d+)/.exec(err.message)?.[1] ?? '?';
      throw new UserError(
        `${file}:${line}: ragged row: ${err.record?.length ?? '?'} fields where the header has ${header} columns`,
        { cause: e },
      );
    }
    throw new UserError(`${file}:${line}: invalid ${delimiter === '\t' ? 'TSV' : 'CSV'}: ${oneLine(err.message)}`, {
      cause: e,
    });
  }
}
