// The counter-based RNG behind dropout: the TypeScript twin of native/src/kernels.h (rng_*), bit-identical.
// A mask bit is a pure function of (seed, counter), so any thread split, and the backward pass, reproduce it.
//
// Spec (uint32 arithmetic; seed and counter are integers in [0, 2^53), split into 32-bit halves):
//   mix32(h)        = h ^= h >> 16; h *= 0x7feb352d; h ^= h >> 15; h *= 0x846ca68b; h ^= h >> 16
//   key(seed, cHi)  = mix32(mix32(mix32(seedHi ^ 0x9e3779b9) ^ seedLo) ^ cHi ^ 0x85ebca6b)
//   bits(seed, c)   = mix32(mix32(cLo ^ key(seed, cHi)) + 0x6a09e667)
//   uniform         = (bits >>> 8) / 2^24            (24 random bits in [0, 1))
//   keep iff uniform >= p  (equivalently (bits >>> 8) >= ceil(p · 2^24))
// Dropout then scales kept elements by f32(1 / (1 - p)) (p = 1 keeps nothing).
import { lowbias32 as mix32 } from '../util/random.js';

const TWO_POW_32 = 4294967296;

function key(seed: number, counterHi: number): number {
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / TWO_POW_32) >>> 0;
  let k = mix32((seedHi ^ 0x9e3779b9) >>> 0);
  k = mix32((k ^ seedLo) >>> 0);
  return mix32((k ^ counterHi ^ 0x85ebca6b) >>> 0);
}

/** 32 random bits for (seed, counter). */
export function counterBits(seed: number, counter: number): number {
  const lo = counter >>> 0;
  const hi = Math.floor(counter / TWO_POW_32) >>> 0;
  return mix32((mix32((lo ^ key(seed, hi)) >>> 0) + 0x6a09e667) >>> 0);
}

/** A uniform number in [0, 1) with 24 random bits, from (seed, counter). */
export function uniform(seed: number, counter: number): number {
  return (counterBits(seed, counter) >>> 8) / 16777216;
}

/** Whether element `counter` survives dropout with drop probability p. */
export function keep(seed: number, counter: number, p: number): boolean {
  return uniform(seed, counter) >= p;
}
