// config.json of a Hugging Face Llama-family model -> a typed LlamaConfig, with transformers' defaults.
// Qwen3 (q/k norms) and Gemma 3 text (scaled embeddings, (1 + w) norms, sandwich norms, GeGLU, sliding-window
// layers with their own RoPE base) are the same decoder with the family flags below.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { accessProblem, UserError } from '../util/errors.js';
import { readJsonFile } from '../util/json.js';

export interface RopeScaling {
  type: 'linear' | 'llama3';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

export type LlamaArchitecture =
  'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM' | 'Gemma3ForCausalLM';

/** The MLP activation: SwiGLU (silu) or Gemma's GeGLU with tanh-approximated GELU. */
export type HiddenAct = 'silu' | 'gelu_pytorch_tanh';

export interface LlamaConfig {
  architecture: LlamaArchitecture;
  modelType: 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma3_text';
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
   * Sliding-window attention span (Mistral `sliding_window`, Qwen2/3 with `use_sliding_window`, Gemma 3's
   * sliding layers), or null; which layers use it: layerWindows.
   */
  slidingWindow: number | null;
  /**
   * Per layer: the sliding-window span (a query at position i sees keys j with i - j < window), or null for
   * full causal attention. Gemma 3 from `layer_types` / `sliding_window_pattern`; Mistral and Qwen2/3 (with
   * `use_sliding_window`) as transformers derives them.
   */
  layerWindows: (number | null)[];
  /** Qwen3 / Gemma 3: RMSNorm over head_dim of every query and key head (`q_norm`, `k_norm`), before RoPE. */
  qkNorm: boolean;
  /** Gemma 3: norms scale by (1 + weight); the stored weight is the offset. */
  normOffset: 0 | 1;
  /** Gemma 3: post-attention, pre-feedforward and post-feedforward norms (four norms per block). */
  sandwichNorms: boolean;
  /** Gemma 3: embeddings are multiplied by sqrt(hidden_size) (the model rounds it to the weight dtype); else null. */
  embedScale: number | null;
  hiddenAct: HiddenAct;
  /** Attention softmax scale (1/sqrt(head_dim); Gemma 3: query_pre_attn_scalar ** -0.5). */
  attentionScale: number;
  /** Gemma 3: RoPE base of the sliding-window layers (no rope_scaling there); null: every layer uses ropeTheta. */
  ropeLocalTheta: number | null;
  /** Gemma: logits = tanh(logits / cap) · cap when set. */
  finalLogitSoftcap: number | null;
  /** The original JSON, written back unchanged on save. */
  raw: Record<string, unknown>;
}

export const SUPPORTED_ARCHITECTURES: readonly LlamaArchitecture[] = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'Qwen3ForCausalLM',
  'Gemma3ForCausalLM',
];
const MODEL_TYPES: Record<string, LlamaArchitecture> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  gemma3_text: 'Gemma3ForCausalLM',
};
const TYPE_OF: Record<LlamaArchitecture, LlamaConfig['modelType']> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Gemma3ForCausalLM: 'gemma3_text',
};
/** transformers' max_position_embeddings defaults per config class. */
const DEFAULT_MAX_POS: Record<LlamaConfig['modelType'], number> = {
  llama: 2048,
  mistral: 4096 * 32,
  qwen2: 32768,
  qwen3: 32768,
  gemma3_text: 131072,
};
const SUPPORTED_TEXT = `supported: ${SUPPORTED_ARCHITECTURES.join(', ')} (SmolLM/SmolLM2 and TinyLlama are LlamaForCausalLM; Gemma 3 text models are Gemma3ForCausalLM, model_type gemma3_text)`;

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

  /** raw[key], or the fallback when it is absent or null; a one-line error naming the key when `ok` refuses it. */
  const field = <T>(key: string, fallback: T, ok: (v: unknown) => v is T, expected: string): T => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (!ok(v)) throw new UserError(`${source}: "${key}" must be ${expected}, got ${JSON.stringify(v)}`);
    return v;
  };
  const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
  const int = (key: string, fallback?: number | null): number => {
    if ((raw[key] === undefined || raw[key] === null) && (fallback === undefined || fallback === null))
      throw new UserError(`${source}: missing required field "${key}"`);
    return field(key, fallback ?? 0, isPositiveInt, 'a positive integer');
  };
  const num = (key: string, fallback: number): number =>
    field(key, fallback, (v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0, 'a positive number');
  const bool = (key: string, fallback: boolean): boolean =>
    field(key, fallback, (v): v is boolean => typeof v === 'boolean', 'true or false');
  const tokenId = (key: string, fallback: number | null): number | null => {
    const v = raw[key];
    if (v === undefined) return fallback;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new UserError(`${source}: "${key}" must be a token id (integer >= 0) or null, got ${JSON.stringify(v)}`);
    return v;
  };

  const gemma = modelType === 'gemma3_text';
  const qwenLike = modelType === 'qwen2' || modelType === 'qwen3';
  // Gemma3TextConfig reads hidden_activation (default gelu_pytorch_tanh); the others hidden_act (default silu).
  const actKey = gemma ? 'hidden_activation' : 'hidden_act';
  const act = raw[actKey] ?? (gemma ? 'gelu_pytorch_tanh' : 'silu');
  const wantAct: HiddenAct = gemma ? 'gelu_pytorch_tanh' : 'silu';
  if (act !== wantAct)
    throw new UserError(`${source}: ${actKey} ${JSON.stringify(act)} is not supported (supported: "${wantAct}")`);
  if (gemma && raw.use_bidirectional_attention === true)
    throw new UserError(
      `${source}: use_bidirectional_attention=true is not supported (sftkit trains causal decoders; supported: false)`,
    );

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new UserError(
      `${source}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  let headDim: number;
  const defaultHeadDim = modelType === 'qwen3' ? 128 : gemma ? 256 : null;
  if ((raw.head_dim === undefined || raw.head_dim === null) && defaultHeadDim !== null) {
    headDim = defaultHeadDim;
  } else if (raw.head_dim === undefined || raw.head_dim === null) {
    if (hiddenSize % numHeads !== 0)
      throw new UserError(
        `${source}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no head_dim is given`,
      );
    headDim = hiddenSize / numHeads;
  } else {
    headDim = int('head_dim');
  }
  if (headDim % 2 !== 0) throw new UserError(`${source}: head_dim ${headDim} must be even for rotary embeddings`);

  const eosRaw = raw.eos_token_id === undefined ? (qwenLike ? null : gemma ? 1 : 2) : raw.eos_token_id;
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
  // Gemma 3 under transformers >= 5: rope_parameters keyed by layer type.
  const byType = rp && typeof rp.full_attention === 'object' && rp.full_attention !== null;
  const rpGlobal = (byType ? rp.full_attention : rp) as Record<string, unknown> | null;
  const rpLocal = (byType ? (rp.sliding_attention ?? null) : null) as Record<string, unknown> | null;
  const ropeTheta =
    rpGlobal && rpGlobal.rope_theta !== undefined
      ? positiveNumber(rpGlobal.rope_theta, source, 'rope_parameters.rope_theta')
      : num('rope_theta', gemma ? 1000000 : 10000);
  const slidingWindow = parseSlidingWindow(raw, modelType, source);
  const intermediateSize = int('intermediate_size');
  const numLayers = int('num_hidden_layers');
  const vocabSize = int('vocab_size');
  checkModelSize(source, { hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize });
  const layerWindows = parseLayerWindows(raw, modelType, numLayers, slidingWindow, source);
  let ropeLocalTheta: number | null = null;
  if (gemma) {
    ropeLocalTheta =
      rpLocal && rpLocal.rope_theta !== undefined
        ? positiveNumber(rpLocal.rope_theta, source, 'rope_parameters.sliding_attention.rope_theta')
        : num('rope_local_base_freq', 10000);
    if (rpLocal && parseRopeScaling(rpLocal, source) !== null)
      throw new UserError(`${source}: rope scaling on sliding-window layers is not supported`);
  }
  const queryPreAttnScalar = gemma ? num('query_pre_attn_scalar', 256) : null;
  const softcap = raw.final_logit_softcapping;
  if (softcap !== undefined && softcap !== null && !gemma)
    throw new UserError(`${source}: final_logit_softcapping is only supported for Gemma 3 (Gemma3ForCausalLM)`);
  const finalLogitSoftcap = gemma
    ? softcap === undefined || softcap === null
      ? null
      : num('final_logit_softcapping', 1)
    : null;
  const tensorDtype = typeof dtype === 'string' ? dtype : null;

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
    ropeScaling: parseRopeScaling(raw.rope_scaling ?? rpGlobal, source),
    tieWordEmbeddings: bool('tie_word_embeddings', gemma),
    attentionBias: modelType === 'qwen2' ? true : bool('attention_bias', false),
    mlpBias: modelType === 'llama' ? bool('mlp_bias', false) : false,
    maxPositionEmbeddings: int('max_position_embeddings', DEFAULT_MAX_POS[modelType]),
    bosTokenId: tokenId('bos_token_id', qwenLike ? null : gemma ? 2 : 1),
    eosTokenIds,
    padTokenId: tokenId('pad_token_id', gemma ? 0 : null),
    torchDtype: tensorDtype,
    slidingWindow,
    layerWindows,
    qkNorm: modelType === 'qwen3' || gemma,
    normOffset: gemma ? 1 : 0,
    sandwichNorms: gemma,
    embedScale: gemma ? Math.sqrt(hiddenSize) : null,
    hiddenAct: wantAct,
    attentionScale: queryPreAttnScalar !== null ? Math.pow(queryPreAttnScalar, -0.5) : 1 / Math.sqrt(headDim),
    ropeLocalTheta,
    finalLogitSoftcap,
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
  c: Pick<
    LlamaConfig,
    'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize'
  >,
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
  const w = raw.sliding_window === undefined && modelType === 'gemma3_text' ? 4096 : raw.sliding_window;
  if (modelType === 'llama' || w === undefined || w === null) return null;
  if ((modelType === 'qwen2' || modelType === 'qwen3') && raw.use_sliding_window !== true) return null;
  if (typeof w !== 'number' || !Number.isSafeInteger(w) || w <= 0)
    throw new UserError(`${source}: "sliding_window" must be a positive integer or null, got ${JSON.stringify(w)}`);
  return w;
}

const LAYER_TYPES = ['full_attention', 'sliding_attention'];

/** Per-layer windows as transformers derives layer_types (see LlamaConfig.layerWindows). */
function parseLayerWindows(
  raw: Record<string, unknown>,
  modelType: LlamaConfig['modelType'],
  numLayers: number,
  window: number | null,
  source: string,
): (number | null)[] {
  let types: string[];
  const lt = raw.layer_types;
  if (lt !== undefined && lt !== null) {
    if (!Array.isArray(lt) || lt.length !== numLayers || !lt.every((t) => LAYER_TYPES.includes(t as string)))
      throw new UserError(
        `${source}: "layer_types" must list ${numLayers} entries, each one of ${LAYER_TYPES.map((t) => JSON.stringify(t)).join(', ')}, got ${JSON.stringify(lt)}`,
      );
    types = lt as string[];
  } else if (modelType === 'gemma3_text') {
    // Every pattern-th layer (1-based) is global.
    const pat = raw.sliding_window_pattern ?? raw._sliding_window_pattern ?? 6;
    if (typeof pat !== 'number' || !Number.isSafeInteger(pat) || pat <= 0)
      throw new UserError(`${source}: "sliding_window_pattern" must be a positive integer, got ${JSON.stringify(pat)}`);
    types = Array.from({ length: numLayers }, (_, i) => ((i + 1) % pat ? 'sliding_attention' : 'full_attention'));
  } else if (modelType === 'qwen2' || modelType === 'qwen3') {
    const mwl = typeof raw.max_window_layers === 'number' ? raw.max_window_layers : 28;
    types = Array.from({ length: numLayers }, (_, i) =>
      window !== null && i >= mwl ? 'sliding_attention' : 'full_attention',
    );
  } else {
    types = Array<string>(numLayers).fill(
      modelType === 'mistral' && window !== null ? 'sliding_attention' : 'full_attention',
    );
  }
  if (types.includes('sliding_attention') && window === null)
    throw new UserError(`${source}: "layer_types" has sliding_attention layers but no "sliding_window" is set`);
  return types.map((t) => (t === 'sliding_attention' ? window : null));
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
    throw new UserError(
      `${path}: cannot read the model config: ${accessProblem(path) ?? `no such file (ENOENT); is ${dir} a Hugging Face model folder?`}`,
    );
  return parseLlamaConfig(readJsonFile(path, 'model config'), path);
}
