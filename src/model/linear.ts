// Linear = a base weight (f32 or bf16 storage; frozen unless full fine-tuning) + optional bias + optional LoRA.
// The storage type of the base weight is the engine's business (linear() reads f32 or bf16), so NF4 later is a
// storage type plus a kernel, not a change here.
import { dropout, isGradEnabled, linear, linearLora, Tensor, type LoraPath } from '../engine/index.js';
import type { LoraAdapter } from './lora.js';

/** A frozen quantized base weight (src/quant: NF4/FP4) computing x·Wᵀ + bias in place of linear(x, weight). */
export interface QuantizedBase {
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** Parameters represented (out·in). */
  readonly numel: number;
  /** x·Wᵀ + bias (+ the LoRA path, fused in one node; its GEMMs at loraCompute). */
  forward(x: Tensor, bias: Tensor | null, lora: LoraPath | null, loraCompute: 'f32' | 'bf16'): Tensor;
}

export interface ForwardContext {
  /** GEMM precision: 'bf16' rounds GEMM inputs to bf16 with f32 accumulation. */
  compute: 'f32' | 'bf16';
  /** Training forward: LoRA dropout is active. */
  training: boolean;
  /** Draws a fresh dropout seed (only called when training with dropout > 0). */
  nextSeed: () => number;
}

/**
 * Frees intermediates at once in inference forwards (noGrad) so the buffer pool reuses them; while
 * recording, the tape owns them and backward()/clearTape() dispose them.
 */
export function freeIfNoGrad(...ts: (Tensor | null | undefined)[]): void {
  if (isGradEnabled()) return;
  for (const t of ts) t?.dispose();
}

export class Linear {
  lora: LoraAdapter | null = null;
  /** Set when the base weight is stored quantized; `weight` is then an empty stand-in. */
  quantized: QuantizedBase | null = null;

  constructor(
    /** The HF module path, e.g. 'model.layers.0.self_attn.q_proj' (weights are `${name}.weight` / `.bias`). */
    readonly name: string,
    /** [out, in] */
    public weight: Tensor,
    public bias: Tensor | null,
  ) {}

  get inFeatures(): number {
    return this.quantized?.inFeatures ?? this.weight.shape[1]!;
  }

  get outFeatures(): number {
    return this.quantized?.outFeatures ?? this.weight.shape[0]!;
  }

  /** x [N, in] -> [N, out] */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const l = this.lora;
    if (l) {
      // One fused node for base + adapter (see linearLora; src/quant's op for a 4-bit base).
      const xl = ctx.training && l.dropout > 0 ? dropout(x, l.dropout, ctx.nextSeed()) : x;
      const path = { a: l.a, b: l.b, scale: l.scale, input: xl === x ? null : xl };
      const out = this.quantized
        ? this.quantized.forward(x, this.bias, path, ctx.compute)
        : linearLora(x, this.weight, this.bias, path, { compute: ctx.compute });
      freeIfNoGrad(xl === x ? null : xl);
      return out;
    }
    return this.quantized
      ? this.quantized.forward(x, this.bias, null, ctx.compute)
      : linear(x, this.weight, this.bias, { compute: ctx.compute });
  }
}
