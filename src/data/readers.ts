// Readers: one function per file type that yields the raw rows of one file (a JSON value each, with its
// file:line), or a per-row error. This is the seam new file types plug into: add a reader to READERS and the
// rest of the data path (validation into records, rendering, masks, batching, cache) takes its rows as they come.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError } from '../util/errors.js';
import { BadRecordError, MAX_RECORD_CHARS } from './formats.js';
import type { SourceRef } from './types.js';
import { oneLine } from '../util/json.js';
import { readParquetRows } from './readers/parquet.js';
import { readArrowRows } from './readers/arrow.js';
import { readCsvRows } from './readers/csv.js';

/** One raw row of a data file, or the error that stopped it from being read (counted by the bad-record policy). */
export type RawRow = { value: unknown; source: SourceRef } | { error: BadRecordError };
export type RawRows = AsyncGenerator<RawRow>;
/** Reads one file's rows in order. */
export type RowReader = (file: string) => RawRows;

/** The reader of each data file extension (lower case, with the dot). */
export const READERS: Readonly<Record<string, RowReader>> = {
  '.jsonl': readJson,
  '.json': readJson,
  // Hugging Face's formats: Parquet (the Hub), Arrow IPC (save_to_disk), CSV/TSV (spreadsheets); src/data/readers/.
  '.parquet': readParquetRows,
  '.arrow': readArrowRows,
  '.feather': readArrowRows,
  '.csv': readCsvRows,
  '.tsv': readCsvRows,
};

/** The file extensions a reader handles, with the dot. */
export const DATA_EXTENSIONS: readonly string[] = Object.keys(READERS);

/** True when `file` has an extension a reader handles (folders are searched for these). */
export function isDataFile(file: string): boolean {
  return Object.hasOwn(READERS, extname(file).toLowerCase());
}

/** The raw rows of one file, by its extension's reader (JSONL for unknown extensions, as before). */
export function readRawRecords(file: string): RawRows {
  const reader = READERS[extname(file).toLowerCase()] ?? readJson;
  return reader === readJson ? reader(file) : limitRecordSize(reader(file));
}

/**
 * Rows of the columnar and delimited readers over the record size limit (as JSONL lines are) become errors
 * before anything tokenizes them: a 10 MB cell is refused at once, not after minutes.
 */
async function* limitRecordSize(rows: RawRows): RawRows {
  for await (const r of rows) {
    const chars = 'value' in r ? stringChars(r.value, MAX_RECORD_CHARS) : 0;
    yield chars > MAX_RECORD_CHARS && 'value' in r ? { error: tooLarge(r.source, chars) } : r;
  }
}

/** Characters in the strings of a value (keys included), counting stops past `limit`. */
function stringChars(v: unknown, limit: number): number {
  let n = 0;
  const walk = (x: unknown): void => {
    if (n > limit) return;
    if (typeof x === 'string') n += x.length;
    else if (Array.isArray(x)) for (const y of x) walk(y);
    else if (x !== null && typeof x === 'object' && !ArrayBuffer.isView(x))
      for (const [k, y] of Object.entries(x)) {
        n += k.length;
        walk(y);
      }
  };
  walk(v);
  return n;
}

/** JSONL streamed line by line; a .json file holds one array (streamed item by item) or JSONL. */
async function* readJson(file: string): RawRows {
  if (extname(file).toLowerCase() === '.json' && firstNonSpaceChar(file) === '[') {
    yield* readJsonArray(file);
    return;
  }
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of rl) {
    line++;
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (text.trim() === '') continue;
    const source = { file, line };
    if (text.length > MAX_RECORD_CHARS) {
      yield { error: tooLarge(source, text.length) };
      continue;
    }
    if (text.includes('\uFFFD')) {
      // the stream decoder turns bytes that are not UTF-8 into U+FFFD: say so rather than train on mojibake
      const col = text.indexOf('\uFFFD') + 1;
      yield {
        error: new BadRecordError(
          source,
          'invalid-utf8',
          null,
          `column ${col}: not valid UTF-8 (or a U+FFFD replacement character); re-encode the file as UTF-8`,
        ),
      };
      continue;
    }
    try {
      yield { value: JSON.parse(text), source };
    } catch (e) {
      yield {
        error: new BadRecordError(source, 'invalid-json', null, `invalid JSON: ${oneLine((e as Error).message)}`),
      };
    }
  }
}

function tooLarge(source: SourceRef, chars: number): BadRecordError {
  return new BadRecordError(
    source,
    'too-large',
    null,
    `record of ${(chars / 1e6).toFixed(1)} million characters is over the ${MAX_RECORD_CHARS / (1024 * 1024)} Mi-character limit (far more than any max_length keeps); split or shorten it`,
  );
}

function firstNonSpaceChar(file: string): string | null {
  // Read a small head only: a .json file may be large.
  const buf = Buffer.alloc(4096);
  const fd = openSync(file, 'r');
  try {
    const n = readSync(fd, buf, 0, buf.length, 0);
    const m = /\S/.exec(
      buf
        .subarray(0, n)
        .toString('utf8')
        .replace(/^\uFEFF/, ''),
    );
    return m ? m[0] : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Stream the items of a top-level JSON array: a scanner tracks strings and nesting depth to cut each item's
 * text, which is then parsed alone, so memory holds one item at a time and each item knows its line.
 */
async function* readJsonArray(file: string): RawRows {
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let item: string[] = [];
  let itemLine = 0;
  let chunkStart = -1; // start of the current item inside the current chunk
  let closed = false;
  const emit = (text: string) => {
    const source = { file, line: itemLine };
    if (text.length > MAX_RECORD_CHARS) return { error: tooLarge(source, text.length) };
    try {
      return { value: JSON.parse(text) as unknown, source };
    } catch (e) {
      return {
        error: new BadRecordError(source, 'invalid-json', null, `invalid JSON: ${oneLine((e as Error).message)}`),
      };
    }
  };
  for await (const chunk of createReadStream(file, { encoding: 'utf8' }) as AsyncIterable<string>) {
    chunkStart = depth >= 1 && itemLine > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 10) line++;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 92) escaped = true;
        else if (c === 34) inString = false;
        continue;
      }
      if (depth === 0) {
        if (c === 91 /* [ */ && !closed) depth = 1;
        else if (c > 32 && c !== 0xfeff)
          throw new UserError(
            `${file}:${line}: expected one JSON array of records (or use .jsonl, one record per line)`,
          );
        continue;
      }
      if (depth === 1 && itemLine === 0) {
        if (c === 32 || c === 9 || c === 10 || c === 13 || c === 44 /* , */) continue;
        if (c === 93 /* ] */) {
          depth = 0;
          closed = true;
          continue;
        }
        itemLine = line;
        chunkStart = i;
      }
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) {
        if (depth === 1) {
          // ']' closing the array right after an item without a trailing comma
          item.push(chunk.slice(chunkStart, i));
          yield emit(item.join(''));
          item = [];
          itemLine = 0;
          depth = 0;
          closed = true;
          continue;
        }
        depth--;
      }
      if (depth === 1 && (c === 44 || c === 125 || c === 93)) {
        // an item just ended (at its closing brace) or a comma ends a scalar item
        const end = c === 44 ? i : i + 1;
        item.push(chunk.slice(chunkStart, end));
        yield emit(item.join(''));
        item = [];
        itemLine = 0;
      }
    }
    if (itemLine > 0 && chunkStart >= 0) item.push(chunk.slice(chunkStart));
  }
  if (itemLine > 0 || (!closed && depth > 0))
    throw new UserError(`${file}:${line}: the JSON array is not closed (truncated file?)`);
}
