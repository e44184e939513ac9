// Linear = a base weight (f32 or bf16 storage; frozen unless full fine-tuning) + optional bias + optional LoRA.
// The storage type of the base weight is the engine's business (linear() reads f32 or bf16), so NF4 later is a
// storage type plus a kernel, not a change here.
import { add, dropout, isGradEnabled, linear, mulScalar, Tensor } from '../engine/index.js';
import type { LoraAdapter } from './lora.js';

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

  constructor(
    /** The HF module path, e.g. 'model.layers.0.self_attn.q_proj' (weights are `${name}.weight` / `.bias`). */
    readonly name: string,
    /** [out, in] */
    public weight: Tensor,
    public bias: Tensor | null,
  ) {}

  get inFeatures(): number {
    return this.weight.shape[1]!;
  }

  get outFeatures(): number {
    return this.weight.shape[0]!;
  }

  /** x [N, in] -> [N, out] */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const y = linear(x, this.weight, this.bias, { compute: ctx.compute });
    const l = this.lora;
    if (!l) return y;
    const xd = ctx.training && l.dropout > 0 ? dropout(x, l.dropout, ctx.nextSeed()) : x;
    const h = linear(xd, l.a, null, { compute: ctx.compute }); // [N, r]
    const d = linear(h, l.b, null, { compute: ctx.compute }); // [N, out]
    const scaled = l.scale === 1 ? d : mulScalar(d, l.scale);
    const out = add(y, scaled);
    freeIfNoGrad(xd === x ? null : xd, h, d, scaled === d ? null : scaled, y);
    return out;
  }
}
