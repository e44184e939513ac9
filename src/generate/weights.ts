// In-memory weight transform for inference: store the matrices as bf16 after an adapter was applied in f32
// (trained token rows need f32 tables while loading). Merging LoRA is src/model/fold-lora.ts.
import { getBackend, Tensor } from '../engine/index.js';
import type { LlamaModel } from '../model/llama.js';

function toBf16(t: Tensor): Tensor {
  if (t.dtype === 'bf16') return t;
  const out = new Uint16Array(t.numel);
  getBackend().f32ToBf16(t.data as Float32Array, out);
  return Tensor.from(out, t.shape, 'bf16');
}

/** Store every dense matrix the GEMMs read as bf16 and compute in bf16 (norms, LoRA and 4-bit weights unchanged). */
export function castWeightsToBf16(model: LlamaModel): void {
  const tied = model.tied;
  model.embedTokens = toBf16(model.embedTokens);
  model.lmHead = tied ? model.embedTokens : toBf16(model.lmHead);
  for (const m of model.linears()) if (!m.quantized) m.weight = toBf16(m.weight);
  model.compute = 'bf16';
}
