// Hugging Face Llama-family tensor names -> llama.cpp's GGUF names, and the q/k row order llama.cpp
// expects for the `llama` architecture.
import { UserError } from '../../util/errors.js';

/**
 * GGUF architecture name llama.cpp knows: Llama, Mistral and SmolLM run as `llama`, Qwen2 as `qwen2`, Qwen3 as
 * `qwen3`, Gemma 3 text as `gemma3`.
 */
export type GgufArch = 'llama' | 'qwen2' | 'qwen3' | 'gemma3';

const LAYER_PARTS: Record<string, string> = {
  input_layernorm: 'attn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  post_attention_layernorm: 'ffn_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
  'self_attn.q_norm': 'attn_q_norm',
  'self_attn.k_norm': 'attn_k_norm',
};

/** Gemma 3's four norms per block, as llama.cpp's converter maps them. */
const GEMMA3_PARTS: Record<string, string> = {
  post_attention_layernorm: 'post_attention_norm',
  pre_feedforward_layernorm: 'ffn_norm',
  post_feedforward_layernorm: 'post_ffw_norm',
};

const TOP_LEVEL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

const LAYER_RE = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/;

/** HF tensors that carry no weights llama.cpp needs (recomputed buffers). */
export function isIgnoredHfTensor(name: string): boolean {
  return name.endsWith('.rotary_emb.inv_freq');
}

/** The GGUF name of an HF tensor; a UserError for anything sftkit cannot place. */
export function ggufTensorName(hfName: string, source: string, arch: GgufArch = 'llama'): string {
  const top = TOP_LEVEL[hfName];
  if (top) return top;
  const m = LAYER_RE.exec(hfName);
  const part = m ? ((arch === 'gemma3' ? GEMMA3_PARTS[m[2]!] : undefined) ?? LAYER_PARTS[m[2]!]) : undefined;
  if (!m || !part)
    throw new UserError(
      `${source}: tensor '${hfName}' has no GGUF equivalent sftkit knows (supported: embed_tokens, norm, lm_head and the Llama/Qwen2/Qwen3/Gemma 3 block projections and norms)`,
    );
  return `blk.${m[1]}.${part}.${m[3]}`;
}

/**
 * What llama.cpp's converter adds to a tensor's values: Gemma 3 stores its norm weights as offsets from 1
 * (the scale is 1 + w), llama.cpp's graph multiplies by the scale itself, so every `*norm.weight` gets +1.
 */
export function ggufValueShift(hfName: string, arch: GgufArch): number {
  return arch === 'gemma3' && hfName.endsWith('norm.weight') ? 1 : 0;
}

/**
 * Reorder the rows of a q or k projection (weight [heads·headDim, in] or bias [heads·headDim]) from Hugging
 * Face's rotate-half RoPE layout (pairs i, i+headDim/2) to llama.cpp's interleaved layout (pairs 2i, 2i+1):
 * new row 2j+s of a head = old row s·headDim/2 + j.
 */
export function permuteRopeRows(values: Float32Array, numHeads: number, rowLength: number): Float32Array {
  const rows = values.length / rowLength;
  if (!Number.isInteger(rows) || rows % numHeads !== 0 || (rows / numHeads) % 2 !== 0) {
    throw new Error(`permuteRopeRows: ${rows} rows do not split into ${numHeads} heads of even size`);
  }
  const headDim = rows / numHeads;
  const half = headDim / 2;
  const out = new Float32Array(values.length);
  for (let h = 0; h < numHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * headDim + s * half + j) * rowLength;
        const to = (h * headDim + 2 * j + s) * rowLength;
        out.set(values.subarray(from, from + rowLength), to);
      }
    }
  }
  return out;
}
