// Seeded randomness for the trainer. Everything random in a run (data order, dropout seeds, NEFTune noise)
// is a pure function of (seed, counter), so a checkpoint only needs the counters to resume exactly.

/** 32-bit mix (murmur3 finaliser). */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed derived from a base seed and a path of integers (e.g. [epoch] or [step, microBatch]). */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of path) h = mix32((h ^ (p >>> 0)) + Math.imul(Math.floor(p / 4294967296) >>> 0, 0x27d4eb2f));
  return h;
}

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
  /** Fisher-Yates in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

/** The permutation of [0, n) used for epoch `epoch` (same for the same seed on every machine). */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  new Rng(deriveSeed(seed, 0x5eed, epoch)).shuffle(order);
  return Int32Array.from(order);
}
