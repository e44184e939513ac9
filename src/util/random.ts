// Every seeded generator and 32-bit hash the library uses, each written once. The integer streams are exact on
// every machine and Node version, so a seed alone reproduces a run. Which one serves what, and why it differs:
// - Rng (mulberry32, one uint32 of state): data shuffles and splits, epoch order, the trainer's per-micro-step
//   dropout and NEFTune noise, synthetic corpora, test data. Small and fast; its state is one number.
//   seededRandom/shuffleInPlace are the data layer's seed-in API on top of it, and mix32/deriveSeed derive
//   independent per-(epoch, step, micro-batch) seeds so resuming needs only counters.
// - SplitMix64 (64-bit state, bigint): LoRA/adapter initialisation, the model's dropout seeds, token sampling.
//   Slower, but it is the published 64-bit splitmix64 stream (pinned in test/model/units.test.ts) with 53-bit
//   doubles, and seeds up to 2^64 stay distinct.
// - SeededRandom (xoshiro128**, Box-Muller normals): weight initialisation of new models (`create-model`), with
//   one independent stream per tensor name through hashString.
// The dropout mask generator is not here: it is counter-based and must match native/src/kernels.h bit for bit
// (src/engine/counter-rng.ts, built on lowbias32 below).

// ---- mulberry32 --------------------------------------------------------------------------------------------

/** mulberry32: small, fast, good enough for shuffles and noise; state is one uint32. */
export class Rng {
  constructor(public state: number) {
    this.state >>>= 0;
  }
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Fisher-Yates in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

/** The data layer's generator for a user seed: mulberry32 started at (seed ^ golden ratio), as a function. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(dataState(seed));
  return () => rng.next();
}

/** Fisher-Yates shuffle in place with the data layer's seeded generator; returns the same array. */
export function shuffleInPlace<T>(items: T[], seed: number): T[] {
  return new Rng(dataState(seed)).shuffle(items);
}

function dataState(seed: number): number {
  return (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
}

/** The xorshift-multiply 32-bit finaliser both mixers below are instances of (multipliers m1, m2; middle shift s). */
function xorshiftMultiply(h: number, m1: number, s: number, m2: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, m1);
  h ^= h >>> s;
  h = Math.imul(h, m2);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit mix (lowbias32: the dropout counter RNG, which mirrors native/src/kernels.h, and MinHash use it). */
export function lowbias32(h: number): number {
  return xorshiftMultiply(h, 0x7feb352d, 15, 0x846ca68b);
}

/** 32-bit mix (murmur3 finaliser). */
export function mix32(h: number): number {
  return xorshiftMultiply(h, 0x85ebca6b, 13, 0xc2b2ae35);
}

/** A 32-bit seed derived from a base seed and a path of integers (e.g. [epoch] or [step, microBatch]). */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of path) h = mix32((h ^ (p >>> 0)) + Math.imul(Math.floor(p / 4294967296) >>> 0, 0x27d4eb2f));
  return h;
}

/** The permutation of [0, n) used for epoch `epoch` (same for the same seed on every machine). */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  new Rng(deriveSeed(seed, 0x5eed, epoch)).shuffle(order);
  return Int32Array.from(order);
}

// ---- SplitMix64 ------------------------------------------------------------------------------------------

const MASK64 = (1n << 64n) - 1n;

/** splitmix64: the same seed gives the same adapter on every machine, independent of Math.random. */
export class SplitMix64 {
  private state: bigint;

  constructor(seed: number | bigint) {
    this.state = BigInt.asUintN(64, BigInt(seed));
  }

  /** The next 64 random bits. */
  nextU64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    return Number(this.nextU64() >> 32n);
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextDouble(): number {
    return Number(this.nextU64() >> 11n) / 9007199254740992;
  }

  /** Fill `out` with uniform values in [-bound, bound). */
  fillUniform(out: Float32Array, bound: number): void {
    for (let i = 0; i < out.length; i++) out[i] = (this.nextDouble() * 2 - 1) * bound;
  }
}

// ---- xoshiro128** ----------------------------------------------------------------------------------------

/** splitmix32, only to expand a 32-bit seed into xoshiro's four words. */
function splitmix32(state: number): () => number {
  let a = state | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** 32-bit FNV-1a of a string: independent init streams from tensor names, and MinHash shingles (data/dedup.ts). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** xoshiro128** (seeded through splitmix32) with normal samples by Box-Muller. */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  /** `stream` separates independent sequences under one seed (e.g. one per tensor name). */
  constructor(seed: number, stream = 0) {
    const sm = splitmix32((Math.floor(seed) ^ Math.imul(stream | 0, 0x85ebca6b)) | 0);
    this.s0 = sm();
    this.s1 = sm();
    this.s2 = sm();
    this.s3 = sm();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal sample. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = (this.nextU32() + 1) / 4294967297; // (0, 1]: log() stays finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Fill `out` with normal(0, std) samples. */
  fillNormal(out: Float32Array, std: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
