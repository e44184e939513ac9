// On-disk cache of prepared examples, keyed by everything that changes them: data bytes, tokenizer files,
// chat template and options. A second run with the same inputs reads one binary file instead of tokenising.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/atomic.js';
import { endianness, homedir } from 'node:os';
import { join } from 'node:path';
import type { PreparedExample, SourceRef } from './types.js';

/** Bump when the preparation logic changes what it produces for the same inputs. */
export const DATA_PIPELINE_VERSION = 1;

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

const MAGIC = 'SFTKDAT1';
/** Token ids are stored little-endian; on such hosts they are copied as bytes. */
const LITTLE_ENDIAN = endianness() === 'LE';

interface CachedSplitMeta {
  files: string[];
  items: [fileIndex: number, line: number, length: number, numTrained: number, truncated: 0 | 1][];
}

/** Write splits of examples plus a JSON-able summary to `<dir>/<key>.bin` (temp file + rename). */
export function writeCache(
  dir: string,
  key: string,
  splits: Record<string, PreparedExample[]>,
  summary: unknown,
): string {
  mkdirSync(dir, { recursive: true });
  const meta: Record<string, CachedSplitMeta> = {};
  let bodyBytes = 0;
  for (const [name, exs] of Object.entries(splits)) {
    const files: string[] = [];
    const fileIndex = new Map<string, number>();
    meta[name] = {
      files,
      items: exs.map((e) => {
        let fi = fileIndex.get(e.source.file);
        if (fi === undefined) {
          fi = files.length;
          files.push(e.source.file);
          fileIndex.set(e.source.file, fi);
        }
        bodyBytes += e.inputIds.length * 5;
        return [fi, e.source.line, e.inputIds.length, e.numTrained, e.truncated ? 1 : 0];
      }),
    };
  }
  const header = Buffer.from(JSON.stringify({ version: DATA_PIPELINE_VERSION, splits: meta, summary }), 'utf8');
  const buf = Buffer.alloc(8 + 4 + header.length + bodyBytes);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(header.length, 8);
  header.copy(buf, 12);
  let at = 12 + header.length;
  for (const exs of Object.values(splits)) {
    for (const e of exs) {
      if (LITTLE_ENDIAN) {
        buf.set(new Uint8Array(e.inputIds.buffer, e.inputIds.byteOffset, e.inputIds.byteLength), at);
        at += e.inputIds.byteLength;
      } else for (let i = 0; i < e.inputIds.length; i++, at += 4) buf.writeInt32LE(e.inputIds[i]!, at);
      buf.set(e.assistantMask, at);
      at += e.assistantMask.length;
    }
  }
  const path = join(dir, `${key}.bin`);
  writeFileAtomicSync(path, buf);
  return path;
}

/** Read a cache file written by writeCache, or null when absent or unreadable (then it is rebuilt). */
export function readCache(
  dir: string,
  key: string,
): { splits: Record<string, PreparedExample[]>; summary: unknown } | null {
  const path = join(dir, `${key}.bin`);
  if (!existsSync(path)) return null;
  try {
    const buf = readFileSync(path);
    if (buf.toString('latin1', 0, 8) !== MAGIC) return null;
    const headerLen = buf.readUInt32LE(8);
    const header = JSON.parse(buf.toString('utf8', 12, 12 + headerLen)) as {
      version: number;
      splits: Record<string, CachedSplitMeta>;
      summary: unknown;
    };
    if (header.version !== DATA_PIPELINE_VERSION) return null;
    let at = 12 + headerLen;
    const splits: Record<string, PreparedExample[]> = {};
    for (const [name, m] of Object.entries(header.splits)) {
      splits[name] = m.items.map(([fi, line, len, numTrained, truncated]) => {
        const inputIds = new Int32Array(len);
        if (LITTLE_ENDIAN) {
          new Uint8Array(inputIds.buffer).set(buf.subarray(at, at + 4 * len));
          at += 4 * len;
        } else for (let i = 0; i < len; i++, at += 4) inputIds[i] = buf.readInt32LE(at);
        const assistantMask = Uint8Array.from(buf.subarray(at, at + len));
        at += len;
        const source: SourceRef = { file: m.files[fi]!, line };
        return { inputIds, assistantMask, source, numTrained, truncated: truncated === 1 };
      });
    }
    if (at !== buf.length) return null;
    return { splits, summary: header.summary };
  } catch {
    return null;
  }
}
