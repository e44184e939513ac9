// RoPE frequency tables from a Llama-family config, with Hugging Face semantics (rotate-half layout).
// inv_freq follows transformers' rope initialisers (default, 'linear', 'llama3'): computed in float64 and
// rounded to float32 like the reference; angles are float32 products position·inv_freq as torch computes them.
import type { RopeTable } from '../engine/index.js';
import type { LlamaConfig } from '../io/hf-config.js';

/** inv_freq[i] for i < headDim/2 (float64 values of the float32 frequencies). */
export function ropeInvFreq(config: Pick<LlamaConfig, 'ropeTheta' | 'ropeScaling' | 'headDim'>): Float64Array {
  const dim = config.headDim;
  const half = dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(config.ropeTheta, (2 * i) / dim);
  const rs = config.ropeScaling;
  if (rs?.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = inv[i]! / rs.factor;
  } else if (rs?.type === 'llama3') {
    // transformers _compute_llama3_parameters: keep high frequencies, divide low ones by factor,
    // interpolate smoothly in between (by wavelength relative to the original context).
    const factor = rs.factor;
    const lo = rs.lowFreqFactor ?? 1;
    const hi = rs.highFreqFactor ?? 4;
    const old = rs.originalMaxPositionEmbeddings ?? 8192;
    const lowFreqWavelen = old / lo;
    const highFreqWavelen = old / hi;
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const wavelen = (2 * Math.PI) / f;
      const scaled = wavelen > lowFreqWavelen ? f / factor : f;
      const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
      if (isMedium) {
        const smooth = (old / wavelen - lo) / (hi - lo);
        inv[i] = ((1 - smooth) * scaled) / factor + smooth * scaled;
      } else {
        inv[i] = scaled;
      }
    }
  }
  for (let i = 0; i < half; i++) inv[i] = Math.fround(inv[i]!);
  return inv;
}

/** cos/sin tables [maxPositions, headDim/2] for positions 0..maxPositions-1. */
export function buildRopeTable(
  config: Pick<LlamaConfig, 'ropeTheta' | 'ropeScaling' | 'headDim'>,
  maxPositions: number,
): RopeTable {
  const inv = ropeInvFreq(config);
  const half = inv.length;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * inv[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin, rotaryDim: config.headDim, maxPositions };
}

/** A table that grows (in powers of two) to cover the largest position asked for. */
export class RopeCache {
  private table: RopeTable | null = null;

  constructor(private readonly config: Pick<LlamaConfig, 'ropeTheta' | 'ropeScaling' | 'headDim'>) {}

  /** A table covering positions 0..maxPosition. */
  get(maxPosition: number): RopeTable {
    if (!this.table || this.table.maxPositions <= maxPosition) {
      let n = 256;
      while (n <= maxPosition) n *= 2;
      this.table = buildRopeTable(this.config, n);
    }
    return this.table;
  }
}
