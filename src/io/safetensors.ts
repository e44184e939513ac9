// safetensors read/write (https://github.com/huggingface/safetensors format):
//   [u64 LE header length N][N bytes JSON header, space padded][data section]
// Reading goes through a file descriptor with positional reads, so files of any size (> 2 GiB) work
// without a whole-file Buffer. Writing streams tensor by tensor into a temp file, then renames it.
import { closeSync, existsSync, fstatSync, openSync, rmSync } from 'node:fs';
import { open, rename, rm, unlink } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { asDiskFull, UserError } from '../util/errors.js';
import { fsyncDirSync, refuseFolderTarget, tempSiblingPath, writeFileAtomic } from './atomic.js';
import {
  bf16BitsToF32,
  bf16ToF32Array,
  f16BitsToF32,
  f16ToF32Array,
  f32ToBf16Array,
  f32ToBf16Bits,
} from './float-bits.js';
import { readJsonFile } from '../util/json.js';
import { firstNonFinite, firstNonFiniteBits16, nonFiniteTensorError } from './finite.js';
import { makeDirs } from './make-dirs.js';
import { readFullySync } from './read-fully.js';

if (endianness() !== 'LE') throw new Error('sftkit: safetensors I/O assumes a little-endian host');

export type StDType = 'F32' | 'F16' | 'BF16' | 'I8' | 'U8' | 'I32' | 'I64' | 'F64' | 'BOOL';

/** Bytes per element of each supported dtype. */
export const ST_DTYPE_SIZE: Readonly<Record<StDType, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  U8: 1,
  I32: 4,
  I64: 8,
  F64: 8,
  BOOL: 1,
};

export interface StTensorInfo {
  name: string;
  dtype: StDType;
  shape: number[];
  /** Absolute position of the first byte in the file. */
  byteOffset: number;
  byteLength: number;
  file: string;
}

/** The largest header we accept (the Rust implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;
const READ_CHUNK = 1 << 30;

function isStDType(s: unknown): s is StDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ST_DTYPE_SIZE, s);
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** One .safetensors file, validated on open and read by ranges. */
export interface ReadOptions {
  /** Refuse a tensor holding Inf/NaN (weights about to be used), naming file, tensor and index. */
  finite?: boolean;
}

export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly tensors: Map<string, StTensorInfo>;
  private fd: number | null;

  private constructor(path: string, fd: number, metadata: Record<string, string>, tensors: Map<string, StTensorInfo>) {
    this.path = path;
    this.fd = fd;
    this.metadata = metadata;
    this.tensors = tensors;
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new UserError(
        `${path}: cannot open safetensors file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        { cause: e },
      );
    }
    try {
      if (!fstatSync(fd).isFile())
        throw new UserError(`${path}: is not a file (a folder?); expected a .safetensors file`);
      const { metadata, tensors } = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, metadata, tensors);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private info(name: string): StTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new UserError(`${this.path}: no tensor named '${name}'`);
    return t;
  }

  /** Raw little-endian bytes of one tensor (a fresh, 8-byte aligned buffer). */
  readBytes(name: string): Uint8Array {
    return this.readInfo(this.info(name));
  }

  /** @internal read by an already resolved info record. */
  readInfo(t: StTensorInfo): Uint8Array {
    if (this.fd === null) throw new Error(`${this.path}: file is closed`);
    const out = new Uint8Array(t.byteLength);
    if (readFullySync(this.fd, out, t.byteOffset) < out.length)
      throw new UserError(`${this.path}: tensor '${t.name}': unexpected end of file`);
    return out;
  }

  /** A float tensor as f32; with `finite`, Inf/NaN is refused in one line naming file, tensor and index. */
  readF32(name: string, opts: ReadOptions = {}): Float32Array {
    const out = convertBytes(TO_F32, 'f32', this.readBytes(name), this.info(name), this.path);
    if (opts.finite) {
      const i = firstNonFinite(out);
      if (i >= 0) throw nonFiniteTensorError(this.path, name, i, out[i]!);
    }
    return out;
  }

  /** A float tensor as bf16 bits; `finite` as readF32. */
  readBF16(name: string, opts: ReadOptions = {}): Uint16Array {
    const out = convertBytes(TO_BF16, 'bf16', this.readBytes(name), this.info(name), this.path);
    if (opts.finite) {
      const i = firstNonFiniteBits16(out);
      if (i >= 0) throw nonFiniteTensorError(this.path, name, i, bf16BitsToF32(out[i]!));
    }
    return out;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function readExact(fd: number, path: string, length: number, position: number, what: string): Uint8Array {
  const buf = new Uint8Array(length);
  if (readFullySync(fd, buf, position) < length) throw new UserError(`${path}: truncated file while reading ${what}`);
  return buf;
}

function parseHeader(
  path: string,
  fd: number,
): { metadata: Record<string, string>; tensors: Map<string, StTensorInfo> } {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8)
    throw new UserError(`${path}: not a safetensors file (${fileSize} bytes; the 8-byte header length is missing)`);
  const lenBytes = readExact(fd, path, 8, 0, 'the header length');
  const headerLen64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    throw new UserError(
      `${path}: header length ${headerLen64} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`,
    );
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > fileSize) {
    throw new UserError(
      `${path}: header length ${headerLen} runs past the end of the file (${fileSize} bytes): truncated or corrupt`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(readExact(fd, path, headerLen, 8, 'the header')),
    );
  } catch (e) {
    throw new UserError(`${path}: the header is not valid UTF-8 JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new UserError(
      `${path}: the header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}`,
    );
  }
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, StTensorInfo>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        throw new UserError(`${path}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string')
          throw new UserError(`${path}: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `${path}: tensor '${name}'`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new UserError(`${where}: entry must be an object {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isStDType(dtype))
      throw new UserError(
        `${where}: unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(ST_DTYPE_SIZE).join(', ')})`,
      );
    if (!Array.isArray(shape) || !shape.every(isNonNegInt))
      throw new UserError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0]! > offsets[1]!) {
      throw new UserError(
        `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataSize)
      throw new UserError(
        `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes): truncated or corrupt file`,
      );
    const expected = numelOf(shape) * ST_DTYPE_SIZE[dtype];
    if (expected !== end - begin) {
      throw new UserError(
        `${where}: shape [${shape.join(', ')}] x ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    tensors.set(name, {
      name,
      dtype,
      shape: [...shape],
      byteOffset: dataStart + begin,
      byteLength: end - begin,
      file: path,
    });
    spans.push({ name, begin, end });
  }
  // The tensors must tile the data section exactly: no overlaps, no holes, nothing after the end.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const s of spans) {
    if (s.begin < cursor)
      throw new UserError(
        `${path}: tensor '${s.name}' (bytes ${s.begin}..${s.end}) overlaps tensor '${prev}' (ends at ${cursor})`,
      );
    if (s.begin > cursor)
      throw new UserError(
        `${path}: tensor '${s.name}' starts at byte ${s.begin} but the previous tensor${prev ? ` '${prev}'` : ''} ends at ${cursor}: the data section has a hole`,
      );
    cursor = s.end;
    prev = s.name;
  }
  if (cursor !== dataSize)
    throw new UserError(
      `${path}: the tensors cover ${cursor} bytes but the data section holds ${dataSize}: truncated, padded or corrupt file`,
    );
  return { metadata, tensors };
}

type Convert<T> = (bytes: Uint8Array, n: number) => T;
const f32View: Convert<Float32Array> = (b, n) => new Float32Array(b.buffer, b.byteOffset, n);
const u16View: Convert<Uint16Array> = (b, n) => new Uint16Array(b.buffer, b.byteOffset, n);

/** How each stored dtype becomes f32 values. */
const TO_F32: Partial<Record<StDType, Convert<Float32Array>>> = {
  F32: f32View,
  BF16: (b, n) => bf16ToF32Array(u16View(b, n)),
  F16: (b, n) => f16ToF32Array(u16View(b, n)),
  F64: (b, n) => Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n)),
};

/** How each stored dtype becomes bf16 bits. */
const TO_BF16: Partial<Record<StDType, Convert<Uint16Array>>> = {
  BF16: u16View,
  F32: (b, n) => f32ToBf16Array(f32View(b, n)),
  F16: (b, n) => {
    const src = u16View(b, n);
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = f32ToBf16Bits(f16BitsToF32(src[i]!));
    return out;
  },
};

/** A tensor's bytes converted through `table`; a one-line error naming the tensor when its dtype has no entry. */
function convertBytes<T>(
  table: Partial<Record<StDType, Convert<T>>>,
  target: string,
  bytes: Uint8Array,
  t: StTensorInfo,
  path: string,
): T {
  const convert = table[t.dtype];
  if (!convert) {
    const from = Object.keys(table);
    throw new UserError(
      `${path}: tensor '${t.name}' has dtype ${t.dtype}; only ${from.slice(0, -1).join(', ')} and ${from.at(-1)} convert to ${target}`,
    );
  }
  return convert(bytes, t.byteLength / ST_DTYPE_SIZE[t.dtype]);
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** A model folder: `model.safetensors`, or shards listed by `model.safetensors.index.json`. */
export class SafetensorsModel {
  readonly dir: string;
  readonly tensors: Map<string, StTensorInfo>;
  /** `__metadata__` of the first file (shards normally repeat it). */
  readonly metadata: Record<string, string>;
  private readonly files: Map<string, SafetensorsFile>;

  private constructor(dir: string, files: Map<string, SafetensorsFile>, tensors: Map<string, StTensorInfo>) {
    this.dir = dir;
    this.files = files;
    this.tensors = tensors;
    this.metadata = files.values().next().value?.metadata ?? {};
  }

  static open(dir: string): SafetensorsModel {
    const indexPath = join(dir, INDEX_FILE);
    const files = new Map<string, SafetensorsFile>();
    const tensors = new Map<string, StTensorInfo>();
    try {
      if (existsSync(indexPath)) {
        const weightMap = readWeightMap(indexPath);
        for (const [name, fileName] of Object.entries(weightMap)) {
          let f = files.get(fileName);
          if (!f) {
            const p = join(dir, fileName);
            if (!existsSync(p))
              throw new UserError(`${indexPath}: shard '${fileName}' (holding '${name}') does not exist`);
            f = SafetensorsFile.open(p);
            files.set(fileName, f);
          }
          const info = f.tensors.get(name);
          if (!info)
            throw new UserError(`${indexPath}: tensor '${name}' is mapped to '${fileName}', which does not contain it`);
          tensors.set(name, info);
        }
        // Tensors present in a shard but missing from the map would be silently ignored by HF; flag them.
        for (const [fileName, f] of files) {
          for (const name of f.tensors.keys()) {
            if (!tensors.has(name))
              throw new UserError(`${join(dir, fileName)}: tensor '${name}' is not listed in ${INDEX_FILE}`);
          }
        }
      } else {
        const p = join(dir, SINGLE_FILE);
        if (!existsSync(p))
          throw new UserError(
            `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} found (is this a Hugging Face model folder with safetensors weights?)`,
          );
        const f = SafetensorsFile.open(p);
        files.set(SINGLE_FILE, f);
        for (const [name, info] of f.tensors) tensors.set(name, info);
      }
    } catch (e) {
      for (const f of files.values()) f.close();
      throw e;
    }
    return new SafetensorsModel(dir, files, tensors);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private locate(name: string): [SafetensorsFile, StTensorInfo] {
    const info = this.tensors.get(name);
    if (!info) throw new UserError(`${this.dir}: the model has no tensor named '${name}'`);
    return [this.files.get(basename(info.file))!, info];
  }

  readBytes(name: string): Uint8Array {
    const [f, info] = this.locate(name);
    return f.readInfo(info);
  }

  readF32(name: string, opts: ReadOptions = {}): Float32Array {
    const [f] = this.locate(name);
    return f.readF32(name, opts);
  }

  readBF16(name: string, opts: ReadOptions = {}): Uint16Array {
    const [f] = this.locate(name);
    return f.readBF16(name, opts);
  }

  close(): void {
    for (const f of this.files.values()) f.close();
  }
}

function readWeightMap(indexPath: string): Record<string, string> {
  const json = readJsonFile(indexPath, 'shard index');
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new UserError(`${indexPath}: missing "weight_map" object`);
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
      throw new UserError(
        `${indexPath}: weight_map['${name}'] must be a file name in the same folder, got ${JSON.stringify(file)}`,
      );
    }
  }
  return map as Record<string, string>;
}

// ---------------------------------------------------------------------------------------------- writing

export interface StWriteTensor {
  name: string;
  dtype: StDType;
  shape: number[];
  /** Little-endian bytes of exactly numel(shape) x dtype size. */
  data: ArrayBufferView;
}

function viewBytes(t: StWriteTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function checkWriteTensor(t: StWriteTensor, path: string, seen: Set<string>): void {
  const where = `${path}: tensor '${t.name}'`;
  if (typeof t.name !== 'string' || t.name.length === 0 || t.name === '__metadata__')
    throw new UserError(`${path}: invalid tensor name ${JSON.stringify(t.name)}`);
  if (seen.has(t.name)) throw new UserError(`${where}: written twice`);
  seen.add(t.name);
  if (!isStDType(t.dtype)) throw new UserError(`${where}: unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!t.shape.every(isNonNegInt)) throw new UserError(`${where}: invalid shape ${JSON.stringify(t.shape)}`);
  const expected = numelOf(t.shape) * ST_DTYPE_SIZE[t.dtype];
  if (t.data.byteLength !== expected) {
    throw new UserError(
      `${where}: shape [${t.shape.join(', ')}] x ${t.dtype} needs ${expected} bytes, data has ${t.data.byteLength}`,
    );
  }
}

/** The header bytes (length prefix + JSON padded with spaces to a multiple of 8, as the Rust writer does). */
function encodeHeader(
  entries: { name: string; dtype: StDType; shape: number[]; begin: number; end: number }[],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new UserError(`safetensors metadata '${k}' must be a string`);
    header.__metadata__ = metadata;
  }
  for (const e of entries) header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/**
 * Write a .safetensors file: tensors are written one by one into a temp file that is renamed over
 * `path` at the end. An array is written in one pass; any other iterable (e.g. a generator that
 * materialises one tensor at a time) is spooled to a temp data file first, since the header, which
 * comes first, needs every shape.
 */
export async function writeSafetensors(
  path: string,
  tensors: StWriteTensor[] | Iterable<StWriteTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  refuseFolderTarget(path);
  const tmp = tempSiblingPath(path);
  const seen = new Set<string>();
  let needed: number | null = null;
  let neededIsTotal = false;
  try {
    makeDirs(dirname(path));
    if (Array.isArray(tensors)) {
      let offset = 0;
      const entries = tensors.map((t) => {
        checkWriteTensor(t, path, seen);
        const e = { name: t.name, dtype: t.dtype, shape: [...t.shape], begin: offset, end: offset + t.data.byteLength };
        offset = e.end;
        return e;
      });
      const header = encodeHeader(entries, metadata);
      needed = header.length + offset;
      neededIsTotal = true;
      const fh = await open(tmp, 'w');
      try {
        await writeAll(fh, header);
        for (const t of tensors) await writeAll(fh, viewBytes(t));
        await fh.sync();
      } finally {
        await fh.close();
      }
    } else {
      const spool = tempSiblingPath(path, 'data');
      try {
        const entries: { name: string; dtype: StDType; shape: number[]; begin: number; end: number }[] = [];
        const data = await open(spool, 'w+');
        try {
          let offset = 0;
          for (const t of tensors) {
            checkWriteTensor(t, path, seen);
            entries.push({
              name: t.name,
              dtype: t.dtype,
              shape: [...t.shape],
              begin: offset,
              end: offset + t.data.byteLength,
            });
            offset += t.data.byteLength;
            needed = 2 * offset; // the spool and the file both hold the data until the spool is removed
            await writeAll(data, viewBytes(t));
          }
          const header = encodeHeader(entries, metadata);
          needed = header.length + 2 * offset;
          neededIsTotal = true;
          const fh = await open(tmp, 'w');
          try {
            await writeAll(fh, header);
            const chunk = new Uint8Array(Math.min(64 << 20, Math.max(offset, 1)));
            for (let pos = 0; pos < offset;) {
              const { bytesRead } = await data.read(chunk, 0, Math.min(chunk.length, offset - pos), pos);
              if (bytesRead <= 0) throw new Error(`${spool}: short read while copying`);
              await writeAll(fh, chunk.subarray(0, bytesRead));
              pos += bytesRead;
            }
            await fh.sync();
          } finally {
            await fh.close();
          }
        } finally {
          await data.close();
        }
      } finally {
        await rm(spool, { force: true });
      }
    }
    await rename(tmp, path);
    fsyncDirSync(dirname(path));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw asDiskFull(e, path, needed, !neededIsTotal);
  }
}

async function writeAll(fh: import('node:fs/promises').FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, READ_CHUNK));
    done += bytesWritten;
  }
}

/** Default shard size: Hugging Face's save_pretrained default (5 GB). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Write model weights into `dir` the way save_pretrained does: one `model.safetensors` when it fits
 * in maxShardBytes, else `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json`.
 * A stale layout of the other kind in `dir` is removed so readers never see two.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: StWriteTensor[],
  opts: { maxShardBytes?: number; metadata?: Record<string, string> } = {},
): Promise<void> {
  const maxShard = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  const metadata = opts.metadata ?? { format: 'pt' };
  makeDirs(dir);
  const shards: StWriteTensor[][] = [];
  let current: StWriteTensor[] = [];
  let currentBytes = 0;
  let total = 0;
  for (const t of tensors) {
    const n = t.data.byteLength;
    if (current.length > 0 && currentBytes + n > maxShard) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += n;
    total += n;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  const oldShards = listIndexedShards(dir);
  if (shards.length === 1) {
    await writeSafetensors(join(dir, SINGLE_FILE), shards[0]!, metadata);
    await rm(join(dir, INDEX_FILE), { force: true });
    for (const f of oldShards) if (f !== SINGLE_FILE) await rm(join(dir, f), { force: true });
    return;
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const written = new Set<string>();
  for (let i = 0; i < shards.length; i++) {
    const fileName = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    await writeSafetensors(join(dir, fileName), shards[i]!, metadata);
    written.add(fileName);
    for (const t of shards[i]!) weightMap[t.name] = fileName;
  }
  await writeFileAtomic(
    join(dir, INDEX_FILE),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n',
  );
  if (existsSync(join(dir, SINGLE_FILE))) await unlink(join(dir, SINGLE_FILE));
  for (const f of oldShards) if (!written.has(f)) await rm(join(dir, f), { force: true });
}

function listIndexedShards(dir: string): string[] {
  const p = join(dir, INDEX_FILE);
  if (!existsSync(p)) return [];
  try {
    return [...new Set(Object.values(readWeightMap(p)))];
  } catch {
    return [];
  }
}
