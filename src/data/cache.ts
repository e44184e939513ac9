// On-disk cache of prepared examples, keyed by everything that changes them: data bytes, tokenizer files,
// chat template and options. A second run with the same inputs reads one binary file instead of tokenising.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fstatSync, openSync, statSync } from 'node:fs';
import { AtomicFileWriter } from '../io/atomic.js';
import { readFullySync } from '../io/read-fully.js';
import { endianness, homedir } from 'node:os';
import { join } from 'node:path';
import type { PreparedExample } from './types.js';
import { countColumns, ExampleSlab, sourceColumns, type SlabArrays, type SlabSources } from './example-slab.js';

/** Bump when the preparation logic changes what it produces for the same inputs. */
export const DATA_PIPELINE_VERSION = 2;

const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'chat_template.jinja',
];

/** `<root>/data-cache`, root = the output dir or ~/.cache/sftkit. */
export function dataCacheDir(outputDir?: string | null): string {
  return join(outputDir ?? join(homedir(), '.cache', 'sftkit'), 'data-cache');
}

export async function hashFile(path: string, hash = createHash('sha256')): Promise<ReturnType<typeof createHash>> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

/** The cache key: sha256 over data files (path order), tokenizer files, template and options JSON. */
export async function cacheKey(parts: {
  dataFiles: string[];
  tokenizerDir?: string | null;
  template: string | null;
  options: unknown;
}): Promise<string> {
  const h = createHash('sha256');
  h.update(`sftkit-data-v${DATA_PIPELINE_VERSION}\0`);
  for (const f of parts.dataFiles) {
    h.update(`file\0${statSync(f).size}\0`);
    await hashFile(f, h);
  }
  if (parts.tokenizerDir) {
    for (const name of TOKENIZER_FILES) {
      const p = join(parts.tokenizerDir, name);
      if (existsSync(p)) {
        h.update(`tok\0${name}\0`);
        await hashFile(p, h);
      }
    }
  }
  h.update(`template\0${parts.template ?? ''}\0`);
  h.update(`options\0${stableStringify(parts.options)}`);
  return h.digest('hex').slice(0, 32);
}

function stableStringify(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

const MAGIC = 'SFTKDAT2';
/** Token ids and counts are stored little-endian; on such hosts they are copied as bytes. */
const LITTLE_ENDIAN = endianness() === 'LE';

interface CachedSplitHeader {
  files: string[];
  examples: number;
  tokens: number;
}

/*
 * Layout: MAGIC, u32 header length, header JSON ({version, splits: {name: CachedSplitHeader}, summary}), zero padding
 * to a multiple of 4; then per split, in header order, the columns of an ExampleSlab (example-slab.ts), Int32 first:
 * source file index, line, row, row group (n each), offsets (n + 1), trained-token counts (n), ids (tokens); then
 * bytes: truncated flags (n), masks (tokens), zero padding to a multiple of 4. Everything is little-endian.
 */

/** The Int32 columns of a split before its ids, in file order. */
const int32Columns = (s: SlabSources, c: Pick<SlabArrays, 'offsets' | 'numTrained'>) => [
  s.file,
  s.line,
  s.row,
  s.rowGroup,
  c.offsets,
  c.numTrained,
];

/** Bytes of zero padding after `n` bytes up to a multiple of 4. */
const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** The bytes of an Int32Array, little-endian. */
function int32Bytes(a: Int32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.alloc(a.byteLength);
  for (let i = 0; i < a.length; i++) b.writeInt32LE(a[i]!, 4 * i);
  return b;
}

/**
 * Write splits of examples plus a JSON-able summary to `<dir>/<key>.bin`, streamed (memory holds a MiB of it, not
 * a second copy of the tokenized data) to a temporary file that is renamed into place when complete.
 */
export async function writeCache(
  dir: string,
  key: string,
  splits: Record<string, readonly PreparedExample[]>,
  summary: unknown,
): Promise<string> {
  const columns = Object.values(splits).map((exs) => ({
    sources: sourceColumns(exs.map((e) => e.source)),
    counts: countColumns(exs),
  }));
  const heads: Record<string, CachedSplitHeader> = {};
  Object.entries(splits).forEach(([name, exs], s) => {
    const { sources, counts } = columns[s]!;
    heads[name] = { files: sources.files, examples: exs.length, tokens: counts.offsets[exs.length]! };
  });
  const header = Buffer.from(JSON.stringify({ version: DATA_PIPELINE_VERSION, splits: heads, summary }), 'utf8');
  const start = Buffer.alloc(12);
  start.write(MAGIC, 0, 'latin1');
  start.writeUInt32LE(header.length, 8);
  const path = join(dir, `${key}.bin`);
  const out = await AtomicFileWriter.open(path);
  try {
    await out.write(start);
    await out.write(header);
    await out.write(new Uint8Array(pad4(12 + header.length)));
    let s = 0;
    for (const exs of Object.values(splits)) {
      const { sources, counts } = columns[s++]!;
      for (const a of int32Columns(sources, counts)) await out.write(int32Bytes(a));
      for (const e of exs) await out.write(int32Bytes(e.inputIds));
      await out.write(counts.truncated);
      for (const e of exs) await out.write(e.assistantMask);
      await out.write(new Uint8Array(pad4(exs.length + counts.offsets[exs.length]!)));
    }
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return path;
}

/** Fill `into` from `fd` at `pos`; false when the file ends first. */
const readExactly = (fd: number, into: Uint8Array, pos: number) => readFullySync(fd, into, pos) === into.length;

/** The slab columns of one split, read from `fd` at `at`; null when the file is short or inconsistent. */
function readSplit(fd: number, at: number, h: CachedSplitHeader): { slab: ExampleSlab; end: number } | null {
  const n = h.examples;
  const int32 = (len: number) => new Int32Array(len);
  const sources: SlabSources = { files: h.files, file: int32(n), line: int32(n), row: int32(n), rowGroup: int32(n) };
  const arrays: SlabArrays = {
    offsets: int32(n + 1),
    numTrained: int32(n),
    ids: int32(h.tokens),
    truncated: new Uint8Array(n),
    mask: new Uint8Array(h.tokens),
  };
  for (const a of [...int32Columns(sources, arrays), arrays.ids, arrays.truncated, arrays.mask]) {
    if (!readExactly(fd, new Uint8Array(a.buffer), at)) return null;
    if (!LITTLE_ENDIAN && a instanceof Int32Array) {
      const v = new DataView(a.buffer);
      for (let i = 0; i < a.length; i++) a[i] = v.getInt32(4 * i, true);
    }
    at += a.byteLength;
  }
  const { offsets } = arrays;
  if (offsets[0] !== 0 || offsets[n] !== h.tokens) return null;
  for (let i = 0; i < n; i++)
    if (offsets[i + 1]! < offsets[i]! || !(sources.file[i]! >= 0 && sources.file[i]! < h.files.length)) return null;
  return { slab: new ExampleSlab(arrays, sources), end: at + pad4(n + h.tokens) };
}

/**
 * Read a cache file written by writeCache, or null when absent, of another version, or damaged (then it is
 * rebuilt). Each split is read as one slab: its examples are views into a few buffers.
 */
export function readCache(
  dir: string,
  key: string,
): { splits: Record<string, PreparedExample[]>; summary: unknown } | null {
  const path = join(dir, `${key}.bin`);
  if (!existsSync(path)) return null;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Buffer.alloc(12);
    if (!readExactly(fd, start, 0) || start.toString('latin1', 0, 8) !== MAGIC) return null;
    const headerLen = start.readUInt32LE(8);
    if (12 + headerLen > size) return null;
    const headerBytes = Buffer.alloc(headerLen);
    if (!readExactly(fd, headerBytes, 12)) return null;
    const header = JSON.parse(headerBytes.toString('utf8')) as {
      version: number;
      splits: Record<string, CachedSplitHeader>;
      summary: unknown;
    };
    if (header.version !== DATA_PIPELINE_VERSION) return null;
    let at = 12 + headerLen + pad4(12 + headerLen);
    const splits: Record<string, PreparedExample[]> = {};
    for (const [name, h] of Object.entries(header.splits)) {
      // sizes come from the header: check them against the file before allocating
      if (!(Number.isSafeInteger(h.examples) && Number.isSafeInteger(h.tokens) && h.examples >= 0 && h.tokens >= 0))
        return null;
      if (at + h.examples * 25 + 4 + h.tokens * 5 > size) return null;
      const split = readSplit(fd, at, h);
      if (!split) return null;
      splits[name] = split.slab.examples();
      at = split.end;
    }
    if (at !== size) return null;
    return { splits, summary: header.summary };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
