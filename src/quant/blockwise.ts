// bitsandbytes' blockwise quantization, bit for bit: quantize_4bit (NF4/FP4, blocksize 64) with optional double
// quantization of the block scales (quantize_blockwise with the signed 8-bit dynamic map, blocksize 256).
//
// Every step rounds to float32 where the CUDA kernels do: absmax per block of the flattened tensor, its float32
// reciprocal, x·(1/absmax) clamped to [-1, 1], the code index by comparison with the float32 midpoints between
// adjacent codes (ties to the lower code), two indices per byte with the first element in the high nibble.
// Double quantization: offset = mean(absmax); (absmax - offset) quantized blockwise to uint8; dequantized as
// dynamicMap[q]·nestedAbsmax + offset.
import { codeOf, DYNAMIC_MAP_SIGNED, midpoints, type QuantType } from './codebook.js';

const f32 = Math.fround;

/** The nested (second-level) quantization of the 4-bit block scales. */
export interface NestedScales {
  /** float32 absmax of each block of `nestedBlocksize` scales. */
  absmax: Float32Array;
  /** The 8-bit code table (bitsandbytes' signed dynamic map, 256 values). */
  code: Float32Array;
  blocksize: number;
  /** Mean of the first-level absmax values, subtracted before quantizing them. */
  offset: number;
}

/** A 4-bit quantized matrix in bitsandbytes' layout. */
export interface Quantized4Bit {
  type: QuantType;
  /** The original shape, e.g. [out, in]. */
  shape: number[];
  blocksize: number;
  /** ceil(numel / 2) bytes; element 2i in the high nibble of byte i, element 2i+1 in the low nibble. */
  packed: Uint8Array;
  /** One scale per block: float32, or uint8 codes of the nested quantization when `nested` is set. */
  absmax: Float32Array | Uint8Array;
  nested: NestedScales | null;
  /** The 16 code values (bitsandbytes' quant_map). */
  code: Float32Array;
  /** The dtype of the weight before quantization ('float32' | 'bfloat16' | 'float16'), as bitsandbytes records it. */
  dtype: string;
}

export interface Quantize4BitOptions {
  type?: QuantType;
  blocksize?: number;
  doubleQuant?: boolean;
  nestedBlocksize?: number;
  /** Recorded in the quant state; default 'float32'. */
  dtype?: string;
}

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Per-block absmax of x (blocks of `blocksize`, the last one partial). */
function blockAbsmax(x: Float32Array, blocksize: number): Float32Array {
  const blocks = Math.ceil(x.length / blocksize);
  const out = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    const end = Math.min(x.length, (b + 1) * blocksize);
    for (let i = b * blocksize; i < end; i++) {
      const a = Math.abs(x[i]!);
      if (a > m) m = a;
    }
    out[b] = m;
  }
  return out;
}

/** float32 1/absmax; a zero block uses the reference's 1e-38 floor so that 0·(1/absmax) stays 0. */
function reciprocal(absmax: number): number {
  return f32(1 / Math.max(absmax, f32(1e-38)));
}

function clampUnit(v: number): number {
  return v < -1 ? -1 : v > 1 ? 1 : v;
}

/** Index of the NF4 code nearest to x (x in [-1, 1]): the number of midpoints strictly below x. */
function makeNf4Index(): (x: number) => number {
  const t = midpoints(codeOf('nf4'));
  return (x) => {
    let i = x > t[7]! ? 8 : 0;
    if (x > t[i + 3]!) i += 4;
    if (x > t[i + 1]!) i += 2;
    if (x > t[i]!) i += 1;
    return i;
  };
}

/** bitsandbytes' FP4 encoder: sign bit 3, then a threshold tree on |x| (midpoints of the FP4 magnitudes /12). */
function fp4Index(x: number): number {
  const sign = x < 0 ? 8 : 0;
  const a = Math.abs(x);
  if (a > f32(0.29166667)) {
    if (a > f32(0.583333)) return (a > f32(0.8333333) ? 0b0011 : 0b0010) + sign;
    return (a > f32(0.4166667) ? 0b0101 : 0b0100) + sign;
  }
  if (a > f32(0.0859375)) return (a > f32(0.20833333) ? 0b0111 : 0b0110) + sign;
  return (a > f32(0.00260417) ? 0b0001 : 0b0000) + sign;
}

/** Index into a sorted 256-entry code: the number of midpoints strictly below x (binary search). */
function makeIndex256(sortedCode: Float32Array): (x: number) => number {
  const t = midpoints(sortedCode); // 255 thresholds
  return (x) => {
    let i = 0;
    for (let step = 128; step >= 1; step >>= 1) if (i + step - 1 < 255 && x > t[i + step - 1]!) i += step;
    return i;
  };
}

const nf4Index = makeNf4Index();

/** Blockwise 8-bit quantization with a sorted 256-entry code (bitsandbytes quantize_blockwise). */
export function quantizeBlockwise8(
  x: Float32Array,
  code: Float32Array,
  blocksize: number,
): { codes: Uint8Array; absmax: Float32Array } {
  const absmax = blockAbsmax(x, blocksize);
  const index = makeIndex256(code);
  const codes = new Uint8Array(x.length);
  for (let b = 0; b < absmax.length; b++) {
    const inv = reciprocal(absmax[b]!);
    const end = Math.min(x.length, (b + 1) * blocksize);
    for (let i = b * blocksize; i < end; i++) codes[i] = index(clampUnit(f32(x[i]! * inv)));
  }
  return { codes, absmax };
}

/** bitsandbytes quantize_4bit (+ compress_statistics): weights of any shape, flattened row-major. */
export function quantize4Bit(w: Float32Array, shape: readonly number[], opts: Quantize4BitOptions = {}): Quantized4Bit {
  const type = opts.type ?? 'nf4';
  const blocksize = opts.blocksize ?? 64;
  const n = numelOf(shape);
  if (w.length !== n) throw new Error(`quantize4Bit: ${w.length} values for shape [${shape.join(', ')}]`);
  if (!Number.isInteger(blocksize) || blocksize < 2 || blocksize % 2)
    throw new Error(`quantize4Bit: blocksize must be an even integer, got ${blocksize}`);
  const absmax = blockAbsmax(w, blocksize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const index = type === 'nf4' ? nf4Index : fp4Index;
  for (let b = 0; b < absmax.length; b++) {
    const inv = reciprocal(absmax[b]!);
    const end = Math.min(n, (b + 1) * blocksize);
    // Blocks start at even elements (blocksize is even), so pairs never straddle two blocks.
    for (let i = b * blocksize; i < end; i += 2) {
      const hi = index(clampUnit(f32(w[i]! * inv)));
      const lo = i + 1 < end ? index(clampUnit(f32(w[i + 1]! * inv))) : 0;
      packed[i >> 1] = (hi << 4) | lo;
    }
  }
  const base = { type, shape: [...shape], blocksize, packed, code: codeOf(type), dtype: opts.dtype ?? 'float32' };
  if (!(opts.doubleQuant ?? true)) return { ...base, absmax, nested: null };
  const nestedBlocksize = opts.nestedBlocksize ?? 256;
  let sum = 0;
  for (const a of absmax) sum += a;
  const offset = f32(sum / absmax.length);
  const centred = new Float32Array(absmax.length);
  for (let i = 0; i < absmax.length; i++) centred[i] = f32(absmax[i]! - offset);
  const { codes, absmax: absmax2 } = quantizeBlockwise8(centred, DYNAMIC_MAP_SIGNED, nestedBlocksize);
  return {
    ...base,
    absmax: codes,
    nested: { absmax: absmax2, code: DYNAMIC_MAP_SIGNED, blocksize: nestedBlocksize, offset },
  };
}

/** The float32 scale of every 4-bit block (undoing the nested quantization the way bitsandbytes does). */
export function blockScales(q: Pick<Quantized4Bit, 'absmax' | 'nested'>): Float32Array {
  if (!q.nested) {
    if (!(q.absmax instanceof Float32Array)) throw new Error('blockScales: uint8 absmax needs nested scales');
    return q.absmax;
  }
  const { absmax: a2, code, blocksize, offset } = q.nested;
  const out = new Float32Array(q.absmax.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(code[q.absmax[i]!]! * a2[Math.floor(i / blocksize)]!) + offset);
  return out;
}

/** The float32 matrix bitsandbytes' dequantize_4bit returns (before any cast to the original dtype). */
export function dequantize4Bit(q: Quantized4Bit): Float32Array {
  const n = numelOf(q.shape);
  const scales = blockScales(q);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = q.packed[i >> 1]!;
    const idx = i & 1 ? byte & 15 : byte >> 4;
    out[i] = f32(q.code[idx]! * scales[Math.floor(i / q.blocksize)]!);
  }
  return out;
}

/** Bytes of one quantized matrix: codes, scales, nested scales and offset (the code tables are shared constants). */
export function quantizedBytes(q: Quantized4Bit): number {
  let bytes = q.packed.byteLength + q.absmax.byteLength;
  if (q.nested) bytes += q.nested.absmax.byteLength + 4;
  return bytes;
}
