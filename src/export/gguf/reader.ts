// A small GGUF reader (metadata + tensor infos + raw tensor bytes) used to inspect and verify exports.
import { readFileSync } from 'node:fs';
import {
  GGML_TYPE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPE,
  ggmlTensorBytes,
  type GgmlTypeName,
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

/** Parse a whole GGUF file (meant for small files: tests, inspection). */
export function readGguf(path: string): GgufFileContents {
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const u32 = () => {
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = () => {
    const v = view.getBigUint64(p, true);
    p += 8;
    return Number(v);
  };
  const str = () => {
    const n = u64();
    const s = Buffer.from(bytes.subarray(p, p + n)).toString('utf8');
    p += n;
    return s;
  };
  const scalar = (type: number): GgufReadValue => {
    switch (TYPE_NAMES[type]) {
      case 'u8':
        return view.getUint8(p++);
      case 'i8':
        return view.getInt8(p++);
      case 'u16': {
        const v = view.getUint16(p, true);
        p += 2;
        return v;
      }
      case 'i16': {
        const v = view.getInt16(p, true);
        p += 2;
        return v;
      }
      case 'u32':
        return u32();
      case 'i32': {
        const v = view.getInt32(p, true);
        p += 4;
        return v;
      }
      case 'f32': {
        const v = view.getFloat32(p, true);
        p += 4;
        return v;
      }
      case 'f64': {
        const v = view.getFloat64(p, true);
        p += 8;
        return v;
      }
      case 'bool':
        return view.getUint8(p++) !== 0;
      case 'u64': {
        const v = view.getBigUint64(p, true);
        p += 8;
        return v;
      }
      case 'i64': {
        const v = view.getBigInt64(p, true);
        p += 8;
        return v;
      }
      case 'string':
        return str();
      case 'array': {
        const itemType = u32();
        const n = u64();
        const out: GgufReadValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = scalar(itemType);
        return out;
      }
      default:
        throw new Error(`${path}: unknown gguf value type ${type} at byte ${p}`);
    }
  };
  if (u32() !== GGUF_MAGIC) throw new Error(`${path}: not a GGUF file (bad magic)`);
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const metadata = new Map<string, GgufReadValue>();
  const metadataTypes = new Map<string, string>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (TYPE_NAMES[type] === 'array') metadataTypes.set(key, 'array:' + TYPE_NAMES[view.getUint32(p, true)]);
    else metadataTypes.set(key, TYPE_NAMES[type] ?? String(type));
    metadata.set(key, scalar(type));
  }
  const infos: { name: string; shape: number[]; type: GgmlTypeName; rel: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDims = u32();
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(u64());
    const typeCode = u32();
    const type = GGML_NAMES[typeCode];
    if (!type) throw new Error(`${path}: tensor '${name}' has a ggml type (${typeCode}) this reader does not know`);
    infos.push({ name, shape: ne.reverse(), type, rel: u64() });
  }
  const alignment = Number(metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT);
  const dataStart = p + ((alignment - (p % alignment)) % alignment);
  const tensors = infos.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.type,
    offset: dataStart + t.rel,
    byteLength: ggmlTensorBytes(t.type, t.shape),
  }));
  return { version, metadata, metadataTypes, tensors, bytes };
}
