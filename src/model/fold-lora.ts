// Folding LoRA into the base weights (PEFT's merge_and_unload): W ← W + scale·B·A for every adapted linear.
import { getBackend, Tensor } from '../engine/index.js';
import { UserError } from '../util/errors.js';
import type { LlamaModel } from './llama.js';

/**
 * Merge every LoRA adapter into its base weight and drop the adapters; returns how many linears were merged.
 * A bf16 weight is widened, merged in f32 and rounded back once; a 4-bit base cannot take a merge.
 */
export function foldLora(model: LlamaModel): number {
  const be = getBackend();
  const quantized = model.linears().find((m) => m.lora && m.quantized);
  if (quantized) {
    throw new UserError(
      `cannot merge a LoRA adapter into the 4-bit base weight of ${quantized.name}; merge into the full-precision base model instead (or run the adapter unmerged)`,
    );
  }
  let merged = 0;
  for (const m of model.linears()) {
    const l = m.lora;
    if (!l) continue;
    const wasBf16 = m.weight.dtype === 'bf16';
    const w = wasBf16 ? m.weight.toF32() : (m.weight.data as Float32Array);
    // W [out,in] += scale · B [out,r] · A [r,in]
    be.gemm({
      transA: false,
      transB: false,
      m: m.outFeatures,
      n: m.inFeatures,
      k: l.rank,
      a: l.b.toF32(),
      b: l.a.toF32(),
      c: w,
      accumulate: true,
      alpha: l.scale,
      compute: 'f32',
    });
    if (wasBf16) {
      const bits = new Uint16Array(w.length);
      be.f32ToBf16(w, bits);
      m.weight = Tensor.from(bits, m.weight.shape, 'bf16');
    }
    m.lora = null;
    merged++;
  }
  model.lora = null;
  return merged;
}
