// f32 tensor values -> the bytes of a ggml tensor type (f32, f16, bf16, q8_0), little-endian.
import { f32ToBf16Bits, f32ToF16Bits } from '../../io/float-bits.js';
import type { GgmlTypeName } from './format.js';

const QK8_0 = 32;

/** Encode `values` (row-major, rows of `rowLength`) as `type`. */
export function encodeTensor(values: Float32Array, type: GgmlTypeName, rowLength: number): Uint8Array {
  switch (type) {
    case 'F32': {
      const out = new Float32Array(values); // copy: the caller's buffer may be a view into a larger one
      return new Uint8Array(out.buffer);
    }
    case 'F16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
      return new Uint8Array(out.buffer);
    }
    case 'BF16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]!);
      return new Uint8Array(out.buffer);
    }
    case 'Q8_0':
      if (rowLength % QK8_0 !== 0) throw new Error(`q8_0 needs rows that are a multiple of ${QK8_0}, got ${rowLength}`);
      return quantizeQ8_0(values);
  }
}

/**
 * llama.cpp's Q8_0: blocks of 32 values, each an fp16 scale d = max|x|/127 followed by 32 int8
 * q = round(x/d) (round half away from zero), all arithmetic in float32 as in quantize_row_q8_0_ref.
 */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % QK8_0 !== 0) throw new Error(`q8_0 needs a multiple of ${QK8_0} values, got ${values.length}`);
  const nBlocks = values.length / QK8_0;
  const out = new Uint8Array(nBlocks * (2 + QK8_0));
  const view = new DataView(out.buffer);
  const fround = Math.fround;
  for (let b = 0; b < nBlocks; b++) {
    const base = b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(values[base + j]!));
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = b * (2 + QK8_0);
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let j = 0; j < QK8_0; j++) {
      const x = fround(values[base + j]! * id);
      const q = Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
      view.setInt8(o + 2 + j, q);
    }
  }
  return out;
}

/** Decode q8_0 bytes back to f32 (for tests and inspection). */
export function dequantizeQ8_0(bytes: Uint8Array, f16ToF32: (bits: number) => number): Float32Array {
  const nBlocks = bytes.length / (2 + QK8_0);
  const out = new Float32Array(nBlocks * QK8_0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * (2 + QK8_0);
    const d = f16ToF32(view.getUint16(o, true));
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = d * view.getInt8(o + 2 + j);
  }
  return out;
}
