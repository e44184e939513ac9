// GGUF v3 constants: value types, ggml tensor types, token types and file types, with the numbers
// llama.cpp's gguf reader expects (ggml/include/gguf.h, ggml.h, llama.h).

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** The on-disk code of each GGUF metadata value type. */
export const GGUF_VALUE_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;

/** The fixed-width number types (bool is stored as a u8). */
export type GgufNumberType = Exclude<GgufScalarType, 'string' | 'bool'>;

/** How a fixed-width number is stored: its byte width and little-endian DataView accessors (reader and writer). */
export interface GgufNumberCodec {
  width: number;
  get(view: DataView, at: number): number | bigint;
  set(view: DataView, at: number, v: number | bigint): void;
}

export const GGUF_NUMBERS: Readonly<Record<GgufNumberType, GgufNumberCodec>> = {
  u8: { width: 1, get: (d, at) => d.getUint8(at), set: (d, at, v) => d.setUint8(at, Number(v)) },
  i8: { width: 1, get: (d, at) => d.getInt8(at), set: (d, at, v) => d.setInt8(at, Number(v)) },
  u16: { width: 2, get: (d, at) => d.getUint16(at, true), set: (d, at, v) => d.setUint16(at, Number(v), true) },
  i16: { width: 2, get: (d, at) => d.getInt16(at, true), set: (d, at, v) => d.setInt16(at, Number(v), true) },
  u32: { width: 4, get: (d, at) => d.getUint32(at, true), set: (d, at, v) => d.setUint32(at, Number(v), true) },
  i32: { width: 4, get: (d, at) => d.getInt32(at, true), set: (d, at, v) => d.setInt32(at, Number(v), true) },
  f32: { width: 4, get: (d, at) => d.getFloat32(at, true), set: (d, at, v) => d.setFloat32(at, Number(v), true) },
  f64: { width: 8, get: (d, at) => d.getFloat64(at, true), set: (d, at, v) => d.setFloat64(at, Number(v), true) },
  u64: {
    width: 8,
    get: (d, at) => d.getBigUint64(at, true),
    set: (d, at, v) => d.setBigUint64(at, BigInt(v), true),
  },
  i64: {
    width: 8,
    get: (d, at) => d.getBigInt64(at, true),
    set: (d, at, v) => d.setBigInt64(at, BigInt(v), true),
  },
};

/** Tensor element types sftkit writes (a subset of ggml_type). */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

/** Elements per block and bytes per block of each tensor type. */
export const GGML_BLOCK: Readonly<Record<GgmlTypeName, { elements: number; bytes: number }>> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q8_0: { elements: 32, bytes: 2 + 32 }, // fp16 scale, then 32 int8 quants
};

/** llama_token_type as stored in tokenizer.ggml.token_type. */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** llama_ftype stored in general.file_type ("mostly" = the 2-D weights; 1-D tensors stay f32). */
export const LLAMA_FILE_TYPE: Readonly<Record<GgmlTypeName, number>> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32 };

/** Bytes a tensor of `shape` (row-major, outermost first) takes in `type`. */
export function ggmlTensorBytes(type: GgmlTypeName, shape: readonly number[]): number {
  const { elements, bytes } = GGML_BLOCK[type];
  const inner = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (inner % elements !== 0)
    throw new Error(`ggml type ${type} needs rows that are a multiple of ${elements}, got ${inner}`);
  const n = shape.reduce((a, b) => a * b, 1);
  return (n / elements) * bytes;
}
