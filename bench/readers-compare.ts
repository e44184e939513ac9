// Reader libraries compared on speed and correctness (issue 15): the Parquet and CSV readers sftkit uses (hyparquet
// + hyparquet-compressors through src/data/readers/parquet.ts; csv-parse through src/data/readers/csv.ts) against
// alternatives from npm that are NOT project dependencies. Install those into a scratch folder first:
//
//   mkdir -p /tmp/pqalt && (cd /tmp/pqalt && npm init -y && npm i --ignore-scripts parquet-wasm@0.8.0 \
//     @dsnp/parquetjs@1.8.9 papaparse@5.7.1 apache-arrow@21.2.0)
//   flock /tmp/sftkit-heavy.lock node --import tsx bench/readers-compare.ts [--alt /tmp/pqalt/node_modules]
//     [--rounds 3] [--csv-rows 200000] [FILE.parquet ...]
//
// Parquet files: those given, else every .parquet under ../shared/data. CSV/TSV files are generated (quoted fields
// with delimiters, doubled quotes and newlines, a UTF-8 BOM; a TSV; a file with a ragged row). For each reader and
// file: the median time over --rounds to read every row into plain JS values (lists as arrays, structs as objects,
// int64 as numbers, byte strings as text), then correctness: the rows must equal sftkit's reader's, compared by a
// digest of the first 50,000 normalised rows (and the row count), or the file is marked as not read / read wrong.
import { createHash } from 'node:crypto';
import {
  createReadStream,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readParquetRows } from '../src/data/readers/parquet.js';
import { readCsvRows } from '../src/data/readers/csv.js';
import { SeededRandom } from '../src/util/random.js';
import { benchArgs, median } from '../src/bench/measure.js';
import { sharedDir } from '../test/helpers/shared.js';

const args = benchArgs();
const altDir = args.string('alt', '/tmp/pqalt/node_modules');
const rounds = args.number('rounds', 3);
const csvRows = args.number('csv-rows', 200_000);
const files = args.positionals(['alt', 'rounds', 'csv-rows']);
const CHECK_ROWS = 50_000;

/** An optional module from the scratch folder, or null when it is not installed there. */
async function alt<T>(name: string): Promise<T | null> {
  try {
    const req = createRequire(join(altDir, 'index.js'));
    return (await import(pathToFileURL(req.resolve(name)).href)) as T;
  } catch {
    return null;
  }
}

/** Plain JSON-able values whatever the reader gives: Arrow vectors and rows, parquetjs list wrappers, bigints. */
function norm(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v !== 'object') return v;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (Array.isArray(v)) return v.map(norm);
  const o = v as Record<string, unknown> & { toArray?: () => unknown; toJSON?: () => unknown };
  if (typeof o.toArray === 'function' && typeof (o as { length?: unknown }).length === 'number')
    return Array.from(o as unknown as Iterable<unknown>, norm); // an Arrow vector
  if (typeof o.toJSON === 'function') return norm(o.toJSON()); // an Arrow struct row
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  // parquetjs gives a LIST column as {list: [{element: x}, ...]} (or item / array).
  if (keys.length === 1 && keys[0] === 'list' && Array.isArray(o.list))
    return (o.list as Record<string, unknown>[]).map((e) => {
      const ek = e && typeof e === 'object' ? Object.keys(e) : [];
      return norm(ek.length === 1 ? e[ek[0]!] : e);
    });
  const out: Record<string, unknown> = {};
  for (const k of keys.sort()) out[k] = norm(o[k]);
  return out;
}

type Rows = AsyncGenerator<unknown> | Generator<unknown>;
type Reader = { name: string; rows: (file: string) => Rows };

async function* ours(gen: AsyncGenerator<{ value: unknown } | { error: Error }>): AsyncGenerator<unknown> {
  for await (const r of gen) {
    if ('error' in r) throw r.error;
    yield r.value;
  }
}

async function parquetReaders(): Promise<Reader[]> {
  const readers: Reader[] = [{ name: 'hyparquet 1.33.0 (sftkit)', rows: (f) => ours(readParquetRows(f)) }];
  type PW = { readParquet(b: Uint8Array, o?: { rowGroups?: number[] }): { intoIPCStream(): Uint8Array } };
  type PWMeta = { ParquetFile?: unknown; readParquet: PW['readParquet'] };
  const pw = await alt<PWMeta & { default?: PWMeta }>('parquet-wasm');
  const arrow = await alt<{ tableFromIPC(b: Uint8Array): Iterable<unknown> & { numRows: number } }>('apache-arrow');
  if (pw && arrow)
    readers.push({
      name: 'parquet-wasm 0.8.0 (+ apache-arrow)',
      rows: function* (f) {
        // The whole file is read into wasm memory; converted to Arrow JS and rows in one piece.
        const table = arrow.tableFromIPC((pw.readParquet ?? pw.default!.readParquet)(readFileSync(f)).intoIPCStream());
        for (const row of table) yield row;
      },
    });
  type PQ = {
    ParquetReader: {
      openFile(f: string): Promise<{ getCursor(): { next(): Promise<unknown> }; close(): Promise<void> }>;
    };
  };
  const pq = await alt<PQ & { default?: PQ }>('@dsnp/parquetjs');
  if (pq)
    readers.push({
      name: '@dsnp/parquetjs 1.8.9',
      rows: async function* (f) {
        const reader = await (pq.ParquetReader ?? pq.default!.ParquetReader).openFile(f);
        try {
          const cursor = reader.getCursor();
          for (let r = await cursor.next(); r; r = await cursor.next()) yield r;
        } finally {
          await reader.close();
        }
      },
    });
  return readers;
}

async function csvReaders(): Promise<Reader[]> {
  const readers: Reader[] = [{ name: 'csv-parse 7.0.3 (sftkit)', rows: (f) => ours(readCsvRows(f)) }];
  type Papa = {
    NODE_STREAM_INPUT: unknown;
    parse(
      input: unknown,
      o: object,
    ): NodeJS.ReadWriteStream & AsyncIterable<unknown> & { on(e: string, f: (x: unknown) => void): void };
  };
  const papa = await alt<Papa & { default?: Papa }>('papaparse');
  if (papa) {
    const P = papa.default ?? papa;
    readers.push({
      name: 'papaparse 5.7.1',
      rows: async function* (f) {
        // Papa's documented stream mode, fed text: fed Buffers (as its README pipes a plain file stream) it decodes
        // each chunk on its own and breaks characters split between chunks. A ragged row is not an error here: it
        // comes back with the extra fields under __parsed_extra.
        const out = createReadStream(f, { encoding: 'utf8' }).pipe(
          P.parse(P.NODE_STREAM_INPUT, {
            header: true,
            skipEmptyLines: true,
            delimiter: f.endsWith('.tsv') ? '\t' : ',',
          }) as unknown as NodeJS.WritableStream,
        ) as unknown as AsyncIterable<unknown>;
        for await (const row of out) yield row;
      },
    });
  }
  return readers;
}

/** Rows of `file` by `reader`: time to read them all (median of rounds) and a digest of the first CHECK_ROWS. */
async function measure(
  reader: Reader,
  file: string,
): Promise<{ ms: number; rows: number; digest: string; sample: string[] } | Error> {
  const times: number[] = [];
  let rows = 0;
  let digest = '';
  const sample: string[] = [];
  try {
    for (let r = 0; r <= rounds; r++) {
      // Round 0 warms up (JIT, module loading, page cache) and is not timed.
      const t0 = performance.now();
      rows = 0;
      for await (const row of reader.rows(file)) {
        norm(row);
        rows++;
      }
      if (r > 0) times.push(performance.now() - t0);
    }
    const h = createHash('sha256');
    let n = 0;
    for await (const row of reader.rows(file)) {
      const json = JSON.stringify(norm(row));
      sample.push(json);
      h.update(json + '\n');
      if (++n >= CHECK_ROWS) break;
    }
    digest = h.digest('hex').slice(0, 12);
  } catch (e) {
    return e as Error;
  }
  return { ms: median(times), rows, digest, sample };
}

function csvFiles(dir: string): string[] {
  const rnd = new SeededRandom(11);
  const words = ['alpha', 'beta, gamma', 'say "hi"', 'line\nbreak', 'tab\tbed', 'naïve', '日本語', 'plain'];
  const field = (n: number) => {
    let s = '';
    for (let k = 0; k < n; k++) s += (k ? ' ' : '') + words[Math.floor(rnd.next() * words.length)]!;
    return s;
  };
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  const csv = join(dir, 'quoted-bom.csv');
  let fd = openSync(csv, 'w');
  writeSync(fd, '\uFEFFprompt,completion\n');
  for (let i = 0; i < csvRows; i++) writeSync(fd, `${q(field(6))},${q(field(12))}\n`);
  const tsv = join(dir, 'plain.tsv');
  fd = openSync(tsv, 'w');
  writeSync(fd, 'prompt\tcompletion\n');
  for (let i = 0; i < csvRows / 4; i++) writeSync(fd, `q${i} ${field(3).replace(/[\t\n"]/g, '')}\ta${i}\n`);
  const ragged = join(dir, 'ragged.csv');
  fd = openSync(ragged, 'w');
  writeSync(fd, 'prompt,completion\na,b\nc,d\ne,f,g\nh,i\n');
  return [csv, tsv, ragged];
}

function parquetFiles(): string[] {
  if (files.length) return files;
  const shared = sharedDir();
  if (!shared) throw new Error('pass Parquet files (../shared is absent)');
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.parquet')) out.push(join(d, e.name));
  };
  walk(join(shared, 'data'));
  return out.sort();
}

async function table(kind: string, readers: Reader[], files: string[]): Promise<void> {
  console.log(`\n### ${kind}: ${readers.map((r) => r.name).join(' vs ')} (median of ${rounds} rounds)\n`);
  console.log(`| file | size | rows | ${readers.map((r) => r.name).join(' | ')} |`);
  console.log(`|---|---:|---:|${readers.map(() => '---|').join('')}`);
  const notes: string[] = [];
  const shared = sharedDir();
  for (const file of files) {
    const name =
      shared && file.startsWith(shared) ? file.slice(shared.length + 1).replace(/^data\//, '') : basename(file);
    const results = [];
    for (const r of readers) results.push(await measure(r, file));
    const ref = results[0]!;
    const cells = results.map((res, i) => {
      if (res instanceof Error) return `not read: ${res.message.split('\n')[0]!.slice(0, 90)}`;
      const speed = `${res.ms.toFixed(0)} ms`;
      if (i === 0) return speed;
      if (ref instanceof Error) return `${speed}: read ${res.rows} rows without an error`;
      const same = res.rows === ref.rows && res.digest === ref.digest;
      const ratio = `${(ref.ms / res.ms).toFixed(2)}x`;
      if (same) return `${speed} (${ratio})`;
      const k = res.sample.findIndex((row, j) => row !== ref.sample[j]);
      if (k >= 0)
        notes.push(
          `${name}, ${readers[i]!.name}: row ${k} is ${res.sample[k]!.slice(0, 160)}; sftkit reads ${ref.sample[k]?.slice(0, 160)}`,
        );
      return `${speed}, **rows differ** (${res.rows} rows)`;
    });
    const rows = ref instanceof Error ? '?' : ref.rows.toLocaleString('en-US');
    const size = `${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`;
    console.log(`| ${name} | ${size} | ${rows} | ${cells.join(' | ')} |`);
  }
  for (const n of notes) console.log(`\n- ${n}`);
}

await table('Parquet', await parquetReaders(), parquetFiles());
const work = mkdtempSync(join(tmpdir(), 'sftkit-csv-compare-'));
try {
  await table('CSV/TSV', await csvReaders(), csvFiles(work));
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log("\n(x) = sftkit reader time / this reader time: above 1 means faster than sftkit's reader.");
