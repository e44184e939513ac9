// config.json of a Hugging Face Llama-family model -> a typed LlamaConfig, with transformers' defaults.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { readJsonFile } from '../util/json.js';

export interface RopeScaling {
  type: 'linear' | 'llama3';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

export type LlamaArchitecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';

export interface LlamaConfig {
  architecture: LlamaArchitecture;
  modelType: 'llama' | 'mistral' | 'qwen2';
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** q, k, v projection biases (Qwen2: always true; o_proj never has one). */
  attentionBias: boolean;
  mlpBias: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  torchDtype: string | null;
  /**
   * Sliding-window attention span (Mistral `sliding_window`, Qwen2 with `use_sliding_window`), or null.
   * sftkit always uses full causal attention: identical to sliding-window attention for sequences no
   * longer than the window, which covers SFT lengths (Mistral's window is 4096).
   */
  slidingWindow: number | null;
  /** The original JSON, written back unchanged on save. */
  raw: Record<string, unknown>;
}

export const SUPPORTED_ARCHITECTURES: readonly LlamaArchitecture[] = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
];
const MODEL_TYPES: Record<string, LlamaArchitecture> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
};
const TYPE_OF: Record<LlamaArchitecture, LlamaConfig['modelType']> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};
/** transformers' max_position_embeddings defaults per config class. */
const DEFAULT_MAX_POS: Record<LlamaConfig['modelType'], number> = { llama: 2048, mistral: 4096 * 32, qwen2: 32768 };
const SUPPORTED_TEXT = `supported: ${SUPPORTED_ARCHITECTURES.join(', ')} (SmolLM/SmolLM2 and TinyLlama are LlamaForCausalLM)`;

export function parseLlamaConfig(json: unknown, source: string): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UserError(`${source}: expected a JSON object`);
  const raw = json as Record<string, unknown>;

  const archs = raw.architectures;
  let architecture: LlamaArchitecture | undefined;
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || !archs.every((a) => typeof a === 'string')) {
      throw new UserError(
        `${source}: "architectures" must be a non-empty list of strings, got ${JSON.stringify(archs)}`,
      );
    }
    architecture = (archs as string[]).find((a): a is LlamaArchitecture =>
      (SUPPORTED_ARCHITECTURES as string[]).includes(a),
    );
    if (!architecture)
      throw new UserError(`${source}: unsupported architecture ${JSON.stringify(archs)}; ${SUPPORTED_TEXT}`);
  } else {
    const mt = raw.model_type;
    architecture = typeof mt === 'string' ? MODEL_TYPES[mt] : undefined;
    if (!architecture)
      throw new UserError(
        `${source}: no "architectures" and unsupported model_type ${JSON.stringify(mt)}; ${SUPPORTED_TEXT}`,
      );
  }
  const modelType = TYPE_OF[architecture];
  const qc = raw.quantization_config as Record<string, unknown> | null | undefined;
  if (qc !== undefined && qc !== null && !(qc.quant_method === 'bitsandbytes' && qc.load_in_4bit === true)) {
    throw new UserError(
      `${source}: pre-quantized checkpoints with quant_method ${JSON.stringify(qc.quant_method ?? null)} are not supported; only bitsandbytes 4-bit (load_in_4bit) ones are (or load the full-precision model: sftkit quantizes itself for QLoRA)`,
    );
  }

  const int = (key: string, fallback?: number | null): number => {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined || fallback === null)
        throw new UserError(`${source}: missing required field "${key}"`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw new UserError(`${source}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new UserError(`${source}: "${key}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean')
      throw new UserError(`${source}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const tokenId = (key: string, fallback: number | null): number | null => {
    const v = raw[key];
    if (v === undefined) return fallback;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new UserError(`${source}: "${key}" must be a token id (integer >= 0) or null, got ${JSON.stringify(v)}`);
    return v;
  };

  const act = raw.hidden_act ?? raw.hidden_activation;
  if (act !== undefined && act !== null && act !== 'silu')
    throw new UserError(`${source}: hidden_act ${JSON.stringify(act)} is not supported (supported: "silu")`);

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new UserError(
      `${source}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  let headDim: number;
  if (raw.head_dim === undefined || raw.head_dim === null) {
    if (hiddenSize % numHeads !== 0)
      throw new UserError(
        `${source}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no head_dim is given`,
      );
    headDim = hiddenSize / numHeads;
  } else {
    headDim = int('head_dim');
  }
  if (headDim % 2 !== 0) throw new UserError(`${source}: head_dim ${headDim} must be even for rotary embeddings`);

  const eosRaw = raw.eos_token_id === undefined ? (modelType === 'qwen2' ? null : 2) : raw.eos_token_id;
  let eosTokenIds: number[];
  if (eosRaw === null) eosTokenIds = [];
  else if (typeof eosRaw === 'number' && Number.isSafeInteger(eosRaw) && eosRaw >= 0) eosTokenIds = [eosRaw];
  else if (Array.isArray(eosRaw) && eosRaw.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
    eosTokenIds = [...(eosRaw as number[])];
  else
    throw new UserError(
      `${source}: "eos_token_id" must be a token id, a list of token ids, or null, got ${JSON.stringify(eosRaw)}`,
    );

  const dtype = raw.torch_dtype ?? raw.dtype;
  // transformers >= 5 writes rope settings as one `rope_parameters` object (rope_theta + rope_type + scaling fields).
  const ropeParams = raw.rope_parameters;
  if (ropeParams !== undefined && ropeParams !== null && (typeof ropeParams !== 'object' || Array.isArray(ropeParams)))
    throw new UserError(`${source}: "rope_parameters" must be an object`);
  const rp = (ropeParams ?? null) as Record<string, unknown> | null;
  const ropeTheta =
    rp && rp.rope_theta !== undefined
      ? positiveNumber(rp.rope_theta, source, 'rope_parameters.rope_theta')
      : num('rope_theta', 10000);
  const slidingWindow = parseSlidingWindow(raw, modelType, source);
  const intermediateSize = int('intermediate_size');
  const numLayers = int('num_hidden_layers');
  const vocabSize = int('vocab_size');
  checkModelSize(source, { hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize });

  return {
    architecture,
    modelType,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling: parseRopeScaling(raw.rope_scaling ?? rp, source),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    attentionBias: modelType === 'qwen2' ? true : bool('attention_bias', false),
    mlpBias: modelType === 'llama' ? bool('mlp_bias', false) : false,
    maxPositionEmbeddings: int('max_position_embeddings', DEFAULT_MAX_POS[modelType]),
    bosTokenId: tokenId('bos_token_id', modelType === 'qwen2' ? null : 1),
    eosTokenIds,
    padTokenId: tokenId('pad_token_id', null),
    torchDtype: typeof dtype === 'string' ? dtype : null,
    slidingWindow,
    raw,
  };
}

/** The most parameters a config may describe: 10^11 (400 GB in f32), far past what sftkit can train on a CPU. */
export const MAX_MODEL_PARAMETERS = 1e11;

/**
 * Refuse a config whose sizes are absurd before anything is allocated: the parameter count it implies (embeddings,
 * attention and MLP of every layer) must stay under MAX_MODEL_PARAMETERS.
 */
function checkModelSize(
  source: string,
  c: {
    hiddenSize: number;
    intermediateSize: number;
    numLayers: number;
    numHeads: number;
    numKvHeads: number;
    headDim: number;
    vocabSize: number;
  },
): void {
  const D = c.hiddenSize;
  const perLayer = D * c.headDim * (2 * c.numHeads + 2 * c.numKvHeads) + 3 * D * c.intermediateSize + 2 * D;
  const params = 2 * c.vocabSize * D + c.numLayers * perLayer;
  if (!(params <= MAX_MODEL_PARAMETERS))
    throw new UserError(
      `${source}: the config describes about ${params.toExponential(1)} parameters (hidden_size ${D}, intermediate_size ${c.intermediateSize}, num_hidden_layers ${c.numLayers}, vocab_size ${c.vocabSize}); sftkit refuses more than ${MAX_MODEL_PARAMETERS.toExponential(0)}`,
    );
}

function positiveNumber(v: unknown, source: string, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new UserError(`${source}: "${key}" must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function parseSlidingWindow(
  raw: Record<string, unknown>,
  modelType: LlamaConfig['modelType'],
  source: string,
): number | null {
  const w = raw.sliding_window;
  if (modelType === 'llama' || w === undefined || w === null) return null;
  if (modelType === 'qwen2' && raw.use_sliding_window !== true) return null;
  if (typeof w !== 'number' || !Number.isSafeInteger(w) || w <= 0)
    throw new UserError(`${source}: "sliding_window" must be a positive integer or null, got ${JSON.stringify(w)}`);
  return w;
}

function parseRopeScaling(rs: unknown, source: string): RopeScaling | null {
  if (rs === undefined || rs === null) return null;
  if (typeof rs !== 'object' || Array.isArray(rs))
    throw new UserError(`${source}: "rope_scaling" must be an object or null`);
  const r = rs as Record<string, unknown>;
  const kind = r.rope_type ?? r.type;
  const supported = 'supported rope_scaling types: none/"default", "linear", "llama3"';
  if (kind === undefined || kind === null || kind === 'default') return null;
  const num = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new UserError(
        `${source}: rope_scaling.${key} must be a positive number for rope type "${String(kind)}", got ${JSON.stringify(v)}`,
      );
    return v;
  };
  if (kind === 'linear') return { type: 'linear', factor: num('factor') };
  if (kind === 'llama3') {
    const low = num('low_freq_factor');
    const high = num('high_freq_factor');
    if (high <= low)
      throw new UserError(`${source}: rope_scaling.high_freq_factor (${high}) must exceed low_freq_factor (${low})`);
    return {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: low,
      highFreqFactor: high,
      originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    };
  }
  throw new UserError(`${source}: rope_scaling type ${JSON.stringify(kind)} is not supported; ${supported}`);
}

export function loadLlamaConfig(dir: string): LlamaConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path))
    throw new UserError(`${path}: cannot read the model config (ENOENT); is ${dir} a Hugging Face model folder?`);
  return parseLlamaConfig(readJsonFile(path, 'model config'), path);
}
