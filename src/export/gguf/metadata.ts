// The general.* and <arch>.* hyperparameter metadata llama.cpp reads for the llama, qwen2, qwen3 and gemma3
// architectures (as llama.cpp's convert_hf_to_gguf.py writes them).
import type { LlamaConfig } from '../../io/hf-config.js';
import { UserError } from '../../util/errors.js';
import { LLAMA_FILE_TYPE, type GgmlTypeName } from './format.js';
import type { GgufArch } from './tensor-map.js';
import { gv, type GgufValue } from './writer.js';

export function ggufArchOf(config: LlamaConfig, source: string): GgufArch {
  switch (config.architecture) {
    case 'LlamaForCausalLM':
    case 'MistralForCausalLM':
      return 'llama';
    case 'Qwen2ForCausalLM':
      return 'qwen2';
    case 'Qwen3ForCausalLM':
      return 'qwen3';
    case 'Gemma3ForCausalLM':
      return 'gemma3';
    default:
      throw new UserError(
        `${source}: architecture '${String(config.architecture)}' cannot be exported to GGUF (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM)`,
      );
  }
}

/** Check what llama.cpp's graphs for `arch` can represent; a UserError rather than a file that loads wrong. */
export function checkExportable(config: LlamaConfig, arch: GgufArch, source: string): void {
  if (config.mlpBias) throw new UserError(`${source}: mlp_bias=true is not supported by the GGUF export`);
  if (arch === 'qwen2' && config.headDim * config.numHeads !== config.hiddenSize) {
    throw new UserError(
      `${source}: llama.cpp's qwen2 needs head_dim × num_attention_heads = hidden_size (${config.headDim} × ${config.numHeads} ≠ ${config.hiddenSize})`,
    );
  }
  if (arch === 'qwen2' && config.ropeScaling)
    throw new UserError(`${source}: rope_scaling on a Qwen2 model is not supported by the GGUF export`);
  if (config.headDim % 2 !== 0) throw new UserError(`${source}: head_dim must be even for RoPE, got ${config.headDim}`);
  if (arch === 'qwen3' && config.ropeScaling)
    throw new UserError(`${source}: rope_scaling on a Qwen3 model is not supported by the GGUF export`);
  if (arch === 'gemma3') checkGemma3(config, source);
}

/** What llama.cpp's gemma3 graph fixes: every 6th layer global, local RoPE base 10000, q·k scaled by head_dim^-0.5. */
function checkGemma3(config: LlamaConfig, source: string): void {
  const why = (what: string) =>
    new UserError(`${source}: ${what} cannot be represented in llama.cpp's gemma3 architecture (GGUF export)`);
  const windows = config.layerWindows;
  const window = config.slidingWindow;
  if (windows.some((w, i) => (w !== null) !== ((i + 1) % 6 !== 0)))
    throw why('a layer_types pattern other than five sliding-window layers then one global layer');
  if (config.ropeLocalTheta !== 10000)
    throw why(`rope_local_base_freq ${config.ropeLocalTheta} (llama.cpp uses 10000)`);
  if (Math.abs(config.attentionScale * Math.sqrt(config.headDim) - 1) > 1e-12)
    throw why('query_pre_attn_scalar different from head_dim');
  if (config.finalLogitSoftcap !== null) throw why('final_logit_softcapping');
  const attnCap = config.raw.attn_logit_softcapping;
  if (attnCap !== undefined && attnCap !== null)
    throw why("attn_logit_softcapping (llama.cpp's converter requires it unset)");
  if (config.ropeScaling && config.ropeScaling.type !== 'linear') throw why(`rope_scaling ${config.ropeScaling.type}`);
  if (window === null && windows.some((w) => w !== null)) throw why('sliding layers without a sliding_window');
}

export interface ModelMetadataInput {
  config: LlamaConfig;
  arch: GgufArch;
  name: string;
  fileType: GgmlTypeName;
}

export function modelMetadata({ config, arch, name, fileType }: ModelMetadataInput): [string, GgufValue][] {
  const kv: [string, GgufValue][] = [
    ['general.architecture', gv.str(arch)],
    ['general.type', gv.str('model')],
    ['general.name', gv.str(name)],
    ['general.file_type', gv.u32(LLAMA_FILE_TYPE[fileType])],
    ['general.quantization_version', gv.u32(2)],
    [`${arch}.block_count`, gv.u32(config.numLayers)],
    [`${arch}.context_length`, gv.u32(config.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, gv.u32(config.hiddenSize)],
    [`${arch}.feed_forward_length`, gv.u32(config.intermediateSize)],
    [`${arch}.attention.head_count`, gv.u32(config.numHeads)],
    [`${arch}.attention.head_count_kv`, gv.u32(config.numKvHeads)],
    [`${arch}.rope.freq_base`, gv.f32(config.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(config.rmsNormEps)],
  ];
  if (config.headDim * config.numHeads !== config.hiddenSize || arch === 'qwen3' || arch === 'gemma3') {
    kv.push(
      [`${arch}.attention.key_length`, gv.u32(config.headDim)],
      [`${arch}.attention.value_length`, gv.u32(config.headDim)],
    );
  }
  if (arch === 'gemma3' && config.slidingWindow !== null)
    kv.push([`${arch}.attention.sliding_window`, gv.u32(config.slidingWindow)]);
  if (arch === 'llama') {
    kv.push([`${arch}.vocab_size`, gv.u32(config.vocabSize)]);
    kv.push([`${arch}.rope.dimension_count`, gv.u32(config.headDim)]);
  }
  const rs = config.ropeScaling;
  if (rs?.type === 'linear') {
    kv.push([`${arch}.rope.scaling.type`, gv.str('linear')], [`${arch}.rope.scaling.factor`, gv.f32(rs.factor)]);
  }
  // llama3 rope scaling travels as the rope_freqs tensor (see llama3RopeFactors), not as metadata.
  return kv;
}

/**
 * Llama-3 RoPE scaling as llama.cpp applies it: a per-frequency divisor (the `rope_freqs.weight` tensor),
 * 1 for high frequencies, `factor` for low ones, interpolated by wavelength in between (transformers'
 * _compute_llama3_parameters, expressed as inv_freq / divisor).
 */
export function llama3RopeFactors(config: LlamaConfig): Float32Array | null {
  const rs = config.ropeScaling;
  if (rs?.type !== 'llama3') return null;
  const dim = config.headDim;
  const factor = rs.factor;
  const lo = rs.lowFreqFactor ?? 1;
  const hi = rs.highFreqFactor ?? 4;
  const old = rs.originalMaxPositionEmbeddings ?? 8192;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / Math.pow(config.ropeTheta, (2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < old / hi) out[i] = 1;
    else if (wavelen > old / lo) out[i] = factor;
    else {
      const smooth = (old / wavelen - lo) / (hi - lo);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}
