// The one finiteness check for weights: model and adapter loading, checkpoints (written and resumed), exports.

import { UserError } from '../util/errors.js';

/** Index of the first Inf/NaN of a float array, or -1 when every value is finite. */
export function firstNonFinite(a: Float32Array | Float64Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/** Index of the first Inf/NaN of bf16 (or, with `f16`, IEEE half) bit patterns, or -1. */
export function firstNonFiniteBits16(bits: Uint16Array, f16 = false): number {
  const exp = f16 ? 0x7c00 : 0x7f80;
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & exp) === exp) return i;
  return -1;
}

/** How a non-finite value is named in messages: NaN, Infinity or -Infinity. */
export function describeNonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** The one-line refusal of weights holding Inf/NaN: file, tensor, value and index. */
export function nonFiniteTensorError(file: string, tensor: string, index: number, value: number): UserError {
  return new UserError(
    `${file}: tensor ${tensor} holds a non-finite value (${describeNonFinite(value)}) at index ${index}; refusing to use these weights`,
  );
}
