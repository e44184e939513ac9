// In-memory weight transforms for inference: fold LoRA into the base weights (merged serving), and store the
// matrices as bf16 after an adapter was applied in f32 (trained token rows need f32 tables while loading).
import { getBackend, Tensor } from '../engine/index.js';
import type { LlamaModel } from '../model/llama.js';
import { UserError } from '../util/errors.js';

function toBf16(t: Tensor): Tensor {
  if (t.dtype === 'bf16') return t;
  const out = new Uint16Array(t.numel);
  getBackend().f32ToBf16(t.data as Float32Array, out);
  return Tensor.from(out, t.shape, 'bf16');
}

/**
 * W ← W + scale·B·A for every linear with LoRA, then drop the adapters (HF merge_and_unload). A bf16 weight
 * is widened, merged in f32 and rounded back once. Returns how many linears were merged.
 */
export function mergeLoraWeights(model: LlamaModel): number {
  const be = getBackend();
  const quantized = model.linears().find((m) => m.lora && m.quantized);
  if (quantized) throw new UserError(`cannot merge a LoRA adapter into the 4-bit base weight of ${quantized.name}; run the adapter unmerged (or merge into the unquantized model)`);
  let merged = 0;
  for (const m of model.linears()) {
    const l = m.lora;
    if (!l || m.quantized) continue; // a 4-bit base keeps its adapter applied on the fly
    const wasBf16 = m.weight.dtype === 'bf16';
    const w = wasBf16 ? m.weight.toF32() : (m.weight.data as Float32Array);
    be.gemm({ transA: false, transB: false, m: m.outFeatures, n: m.inFeatures, k: l.rank, a: l.b.toF32(), b: l.a.toF32(), c: w, accumulate: true, alpha: l.scale, compute: 'f32' });
    if (wasBf16) m.weight = toBf16(Tensor.from(w, m.weight.shape, 'f32'));
    m.lora = null;
    merged++;
  }
  model.lora = null;
  return merged;
}

/** Store every dense matrix the GEMMs read as bf16 and compute in bf16 (norms, LoRA and 4-bit weights unchanged). */
export function castWeightsToBf16(model: LlamaModel): void {
  const tied = model.tied;
  model.embedTokens = toBf16(model.embedTokens);
  model.lmHead = tied ? model.embedTokens : toBf16(model.lmHead);
  for (const m of model.linears()) if (!m.quantized) m.weight = toBf16(m.weight);
  model.compute = 'bf16';
}
