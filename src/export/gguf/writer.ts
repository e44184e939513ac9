// A streaming GGUF v3 writer: header, typed metadata, tensor infos, aligned tensor data.
// Tensor bytes are produced one tensor at a time while writing (never all at once), into a temporary
// sibling file that is renamed over the target only when everything was written.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDirSync, refuseFolderTarget, tempSiblingPath } from '../../io/atomic.js';
import { asDiskFull } from '../../util/errors.js';
import {
  GGML_TYPE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_NUMBERS,
  GGUF_VALUE_TYPE,
  GGUF_VERSION,
  ggmlTensorBytes,
  type GgmlTypeName,
  type GgufNumberType,
  type GgufScalarType,
} from './format.js';
import { makeDirs } from '../../io/make-dirs.js';

export type GgufArrayItems =
  | readonly string[]
  | readonly number[]
  | readonly boolean[]
  | readonly bigint[]
  | Float32Array
  | Int32Array
  | Uint32Array;

export type GgufValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufScalarType; value: GgufArrayItems };

/** Shorthands for building typed metadata values. */
export const gv = {
  u8: (value: number): GgufValue => ({ type: 'u8', value }),
  i8: (value: number): GgufValue => ({ type: 'i8', value }),
  u16: (value: number): GgufValue => ({ type: 'u16', value }),
  i16: (value: number): GgufValue => ({ type: 'i16', value }),
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  u64: (value: number | bigint): GgufValue => ({ type: 'u64', value }),
  i64: (value: number | bigint): GgufValue => ({ type: 'i64', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  f64: (value: number): GgufValue => ({ type: 'f64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  arr: (itemType: GgufScalarType, value: GgufArrayItems): GgufValue => ({ type: 'array', itemType, value }),
};

export interface GgufTensor {
  /** llama.cpp tensor name, e.g. 'blk.0.attn_q.weight'. */
  name: string;
  /** Row-major shape, outermost first (PyTorch order); written reversed, as ggml's ne[]. */
  shape: readonly number[];
  type: GgmlTypeName;
  /** Called once, when this tensor's turn to be written comes; must return exactly the tensor's bytes. */
  data: () => Uint8Array;
}

export interface GgufWriteOptions {
  alignment?: number;
}

/** Growable little-endian byte buffer for the header part. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  /** One fixed-width number, little-endian. */
  num(type: GgufNumberType, v: number | bigint) {
    const codec = GGUF_NUMBERS[type];
    this.reserve(codec.width);
    codec.set(this.view, this.length, v);
    this.length += codec.width;
  }
  bytes(b: Uint8Array) {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.num('u64', b.length);
    this.bytes(b);
  }
  pad(alignment: number) {
    const n = padding(this.length, alignment);
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function padding(offset: number, alignment: number): number {
  return (alignment - (offset % alignment)) % alignment;
}

function writeScalar(sink: ByteSink, type: GgufScalarType, v: unknown, key: string): void {
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw new Error(`gguf metadata '${key}': expected a string, got ${typeof v}`);
      return sink.str(v);
    case 'bool':
      return sink.num('u8', v ? 1 : 0);
    case 'u64':
    case 'i64':
      if (typeof v !== 'number' && typeof v !== 'bigint')
        throw new Error(`gguf metadata '${key}': expected an integer`);
      return sink.num(type, v);
    default: {
      if (typeof v !== 'number') throw new Error(`gguf metadata '${key}': expected a number, got ${String(v)}`);
      const isFloat = type === 'f32' || type === 'f64';
      if (!isFloat && !Number.isInteger(v))
        throw new Error(`gguf metadata '${key}': ${type} needs an integer, got ${v}`);
      sink.num(type, v);
    }
  }
}

function writeValue(sink: ByteSink, key: string, value: GgufValue): void {
  sink.num('u32', GGUF_VALUE_TYPE[value.type]);
  if (value.type !== 'array') return writeScalar(sink, value.type, value.value, key);
  sink.num('u32', GGUF_VALUE_TYPE[value.itemType]);
  sink.num('u64', value.value.length);
  for (let i = 0; i < value.value.length; i++) writeScalar(sink, value.itemType, value.value[i], key);
}

/** Header + metadata + tensor infos, padded to the alignment; and where each tensor's data goes. */
export function encodeGgufHeader(
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly Pick<GgufTensor, 'name' | 'shape' | 'type'>[],
  alignment: number,
): { header: Uint8Array; offsets: number[]; sizes: number[] } {
  const sink = new ByteSink();
  sink.num('u32', GGUF_MAGIC);
  sink.num('u32', GGUF_VERSION);
  sink.num('u64', tensors.length);
  sink.num('u64', metadata.size);
  for (const [key, value] of metadata) {
    sink.str(key);
    writeValue(sink, key, value);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`gguf: duplicate tensor name '${t.name}'`);
    seen.add(t.name);
    const size = ggmlTensorBytes(t.type, t.shape);
    sink.str(t.name);
    sink.num('u32', t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) sink.num('u64', t.shape[d]!);
    sink.num('u32', GGML_TYPE[t.type]);
    sink.num('u64', offset);
    offsets.push(offset);
    sizes.push(size);
    offset += size + padding(size, alignment);
  }
  sink.pad(alignment);
  return { header: sink.result(), offsets, sizes };
}

/**
 * Write a GGUF v3 file atomically. Metadata keys are written in insertion order; `general.alignment`
 * is added when a non-default alignment is used. Returns the file size in bytes.
 */
export function writeGguf(
  path: string,
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensor[],
  opts: GgufWriteOptions = {},
): number {
  const alignment = opts.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0)
    throw new Error(`gguf: alignment must be a positive multiple of 8, got ${alignment}`);
  const meta = new Map(metadata);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) meta.set('general.alignment', gv.u32(alignment));
  const { header, offsets, sizes } = encodeGgufHeader(meta, tensors, alignment);

  refuseFolderTarget(path);
  makeDirs(dirname(path));
  const tmp = tempSiblingPath(path);
  const fd = openSync(tmp, 'w');
  let position = 0;
  const put = (bytes: Uint8Array) => {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
    position += bytes.length;
  };
  try {
    put(header);
    const dataStart = position;
    const zeros = new Uint8Array(alignment);
    tensors.forEach((t, i) => {
      if (position - dataStart !== offsets[i]) throw new Error(`gguf: internal offset mismatch at '${t.name}'`);
      const bytes = t.data();
      if (bytes.byteLength !== sizes[i])
        throw new Error(
          `gguf: tensor '${t.name}' produced ${bytes.byteLength} bytes, expected ${sizes[i]} (${t.type} ${JSON.stringify(t.shape)})`,
        );
      put(bytes);
      put(zeros.subarray(0, padding(bytes.byteLength, alignment)));
    });
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    fsyncDirSync(dirname(path));
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw asDiskFull(e, path, header.length + sizes.reduce((s, n) => s + n + padding(n, alignment), 0));
  }
  return position;
}
