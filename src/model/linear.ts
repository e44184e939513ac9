// Linear = a base weight + optional bias + optional LoRA adapter, run as one node of the engine's linear op. The
// base is a dense f32/bf16 tensor (`weight`; trainable under full fine-tuning) or, for QLoRA, a frozen 4-bit
// weight from src/quant (`quantized`, a LinearBase computing x·Wᵀ and dY·W with the fused dequantize-GEMM);
// the LoRA path is the same code for both.
import { dropout, isGradEnabled, linear, Tensor, type FloatDType, type LinearBase } from '../engine/index.js';
import type { LoraAdapter } from './lora.js';

/** A frozen quantized base weight (src/quant: NF4/FP4) used in place of the dense `weight`. */
export interface QuantizedBase extends LinearBase {
  /** Parameters represented (out·in). */
  readonly numel: number;
}

export interface ForwardContext {
  /** GEMM precision: 'bf16' rounds GEMM inputs to bf16 with f32 accumulation. */
  compute: FloatDType;
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
    const base = this.quantized ?? this.weight;
    const l = this.lora;
    if (!l) return linear(x, base, this.bias, { compute: ctx.compute });
    // One fused node for base + adapter.
    const xl = ctx.training && l.dropout > 0 ? dropout(x, l.dropout, ctx.nextSeed()) : x;
    const lora = { a: l.a, b: l.b, scale: l.scale, input: xl === x ? null : xl };
    const out = linear(x, base, this.bias, { compute: ctx.compute, lora });
    freeIfNoGrad(xl === x ? null : xl);
    return out;
  }
}
