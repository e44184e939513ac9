// A small deterministic PRNG (splitmix64) for parameter initialisation and dropout seeds: the same seed
// gives the same adapter on every machine, independent of Math.random.
const MASK64 = (1n << 64n) - 1n;

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
