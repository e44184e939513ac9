// A small GGUF reader (metadata + tensor infos + raw tensor bytes) used to inspect and verify exports.
import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../../util/errors.js';
import {
  GGML_TYPE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_NUMBERS,
  GGUF_VALUE_TYPE,
  ggmlTensorBytes,
  type GgmlTypeName,
  type GgufNumberType,
} from './format.js';

export type GgufReadValue = number | bigint | boolean | string | GgufReadValue[];

export interface GgufReadTensor {
  name: string;
  /** Row-major shape, outermost first (the reverse of ggml's ne[]). */
  shape: number[];
  type: GgmlTypeName;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFileContents {
  version: number;
  metadata: Map<string, GgufReadValue>;
  /** The GGUF value type name of each metadata key ('array:string' for arrays). */
  metadataTypes: Map<string, string>;
  tensors: GgufReadTensor[];
  bytes: Uint8Array;
}

const TYPE_NAMES = Object.fromEntries(Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;
const GGML_NAMES = Object.fromEntries(Object.entries(GGML_TYPE).map(([k, v]) => [v, k])) as Record<
  number,
  GgmlTypeName
>;

/** The largest file readGguf reads whole. */
const MAX_READ_BYTES = 2 ** 31 - 1;

/**
 * Parse a whole GGUF file (meant for small files: tests, inspection). Every count, length and offset is checked
 * against the file's size before it is used: a damaged file is a one-line UserError naming the byte.
 */
export function readGguf(path: string): GgufFileContents {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new UserError(`${path}: not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (size > MAX_READ_BYTES) throw new UserError(`${path}: ${size} bytes is too large for the GGUF inspector`);
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const bad = (what: string): never => {
    throw new UserError(`${path}: byte ${p}: ${what} (truncated or corrupt GGUF file)`);
  };
  const need = (n: number, what: string) => {
    if (p + n > bytes.length) bad(`${what} runs past the end of the file (${bytes.length} bytes)`);
  };
  const u32 = (what = 'a u32') => {
    need(4, what);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = (what = 'a u64') => {
    need(8, what);
    const v = view.getBigUint64(p, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${what} ${v} is out of range`);
    p += 8;
    return Number(v);
  };
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const str = () => {
    const n = u64('a string length');
    need(n, `a ${n}-byte string`);
    let s = '';
    try {
      s = utf8.decode(bytes.subarray(p, p + n));
    } catch {
      bad('a string is not valid UTF-8');
    }
    p += n;
    return s;
  };
  const scalar = (type: number): GgufReadValue => {
    const name = TYPE_NAMES[type];
    switch (name) {
      case 'string':
        return str();
      case 'bool':
        need(1, 'a bool value');
        return view.getUint8(p++) !== 0;
      case 'array': {
        const itemType = u32('an array item type');
        const n = u64('an array length');
        if (n > bytes.length - p) bad(`an array of ${n} items is longer than the rest of the file`);
        const out: GgufReadValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = scalar(itemType);
        return out;
      }
    }
    const codec = name !== undefined && name in GGUF_NUMBERS ? GGUF_NUMBERS[name as GgufNumberType] : undefined;
    if (!codec) return bad(`unknown gguf value type ${type}`);
    need(codec.width, `a ${name} value`);
    const v = codec.get(view, p);
    p += codec.width;
    return v;
  };
  if (bytes.length < 4 || u32('the magic') !== GGUF_MAGIC) throw new UserError(`${path}: not a GGUF file (bad magic)`);
  const version = u32('the version');
  const nTensors = u64('the tensor count');
  const nKv = u64('the metadata count');
  if (nTensors > bytes.length || nKv > bytes.length)
    bad(`${nTensors} tensors / ${nKv} metadata keys cannot fit in the file`);
  const metadata = new Map<string, GgufReadValue>();
  const metadataTypes = new Map<string, string>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (TYPE_NAMES[type] === 'array') {
      need(4, 'an array item type');
      metadataTypes.set(key, 'array:' + TYPE_NAMES[view.getUint32(p, true)]);
    } else metadataTypes.set(key, TYPE_NAMES[type] ?? String(type));
    metadata.set(key, scalar(type));
  }
  const infos: { name: string; shape: number[]; type: GgmlTypeName; rel: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDims = u32('a dimension count');
    if (nDims > 4) bad(`tensor '${name}' has ${nDims} dimensions (GGUF allows at most 4)`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(u64('a dimension'));
    const typeCode = u32('a tensor type');
    const type = GGML_NAMES[typeCode];
    if (!type) bad(`tensor '${name}' has a ggml type (${typeCode}) this reader does not know`);
    infos.push({ name, shape: ne.reverse(), type: type!, rel: u64('a tensor offset') });
  }
  const alignment = Number(metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT);
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || alignment > 1 << 20)
    bad(`general.alignment ${String(metadata.get('general.alignment'))} is not a usable alignment`);
  const dataStart = p + ((alignment - (p % alignment)) % alignment);
  const tensors = infos.map((t) => {
    let byteLength = 0;
    try {
      byteLength = ggmlTensorBytes(t.type, t.shape);
    } catch (e) {
      throw new UserError(`${path}: tensor '${t.name}': ${(e as Error).message}`);
    }
    const offset = dataStart + t.rel;
    if (!Number.isSafeInteger(byteLength) || offset + byteLength > bytes.length)
      throw new UserError(
        `${path}: tensor '${t.name}' (${t.type} [${t.shape.join(', ')}], ${byteLength} bytes at ${offset}) runs past the end of the file (${bytes.length} bytes)`,
      );
    return { name: t.name, shape: t.shape, type: t.type, offset, byteLength };
  });
  return { version, metadata, metadataTypes, tensors, bytes };
}
