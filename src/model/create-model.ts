// `sftkit create-model`: a complete, loadable Hugging Face model folder with random weights
// (HF initialisation) and a working ChatML tokenizer, deterministic for a seed. Used by tests and demos.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { chatmlTokenizerFiles } from '../tokenizer/chatml-files.js';
import { trainByteLevelBpe, BUILTIN_ENGLISH_TEXT } from '../tokenizer/bpe-trainer.js';
import { atomicDir } from '../io/atomic.js';
import { f32ToBf16Array } from '../io/float-bits.js';
import { hashString, SeededRandom } from '../util/random.js';
import { writeSafetensors, type StWriteTensor } from '../io/safetensors.js';

export type ModelPreset =
  | 'tiny'
  | 'smollm2-135m-shape'
  | 'qwen3-0.6b-shape'
  | 'gemma-3-270m-shape'
  | 'qwen2.5-0.5b-shape'
  | 'llama-3.2-1b-shape';
export const MODEL_PRESETS: readonly ModelPreset[] = [
  'tiny',
  'smollm2-135m-shape',
  'qwen3-0.6b-shape',
  'gemma-3-270m-shape',
  'qwen2.5-0.5b-shape',
  'llama-3.2-1b-shape',
];
export type ModelArch = 'llama' | 'qwen2' | 'qwen3' | 'gemma3';
export const MODEL_ARCHES: readonly ModelArch[] = ['llama', 'qwen2', 'qwen3', 'gemma3'];

export interface CreateModelOptions {
  preset: ModelPreset;
  /** Output folder; must not exist or be empty unless `overwrite`. */
  out: string;
  seed?: number;
  /** Default: the preset's own family (tiny and smollm2-135m-shape: llama). */
  arch?: ModelArch;
  /** 'byte': 256 byte symbols, no merges (259 tokens). 'bpe': merges trained on a built-in English text. */
  tokenizer?: 'byte' | 'bpe';
  /** Replace an existing model folder (one holding config.json). */
  overwrite?: boolean;
  /** Override preset fields (e.g. { num_hidden_layers: 1 }) for tests that need other shapes. */
  configOverrides?: Record<string, unknown>;
}

interface Shape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number | null; // null: the tokenizer's size
  max_position_embeddings: number;
  rope_theta: number;
  rms_norm_eps: number;
  dtype: 'float32' | 'bfloat16';
  /** The family the preset copies (default llama). */
  arch?: ModelArch;
  head_dim?: number;
  /** Extra config.json fields of the real model (rope scaling, sliding window, ...). */
  extra?: Record<string, unknown>;
}

const PRESETS: Record<ModelPreset, Shape> = {
  tiny: {
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: null,
    max_position_embeddings: 512,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    dtype: 'float32',
  },
  'smollm2-135m-shape': {
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rope_theta: 100000,
    rms_norm_eps: 1e-5,
    dtype: 'bfloat16',
  },
  // The exact shapes of the real checkpoints' config.json (random weights, a ChatML byte tokenizer, so the
  // bos/eos/pad ids are the tokenizer's). Checked field by field against published copies of each config.json:
  // Qwen/Qwen3-0.6B (transformers 4.51.0), google/gemma-3-270m (4.55.0.dev0), Qwen/Qwen2.5-0.5B (4.40.1) and
  // meta-llama/Llama-3.2-1B(-Instruct) (4.45.0.dev0).
  'qwen3-0.6b-shape': {
    arch: 'qwen3',
    hidden_size: 1024,
    intermediate_size: 3072,
    num_hidden_layers: 28,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    vocab_size: 151936,
    max_position_embeddings: 40960,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    dtype: 'bfloat16',
  },
  'gemma-3-270m-shape': {
    arch: 'gemma3',
    hidden_size: 640,
    intermediate_size: 2048,
    num_hidden_layers: 18,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    head_dim: 256,
    vocab_size: 262144,
    max_position_embeddings: 32768,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    dtype: 'bfloat16',
    extra: { sliding_window: 512, query_pre_attn_scalar: 256 },
  },
  'qwen2.5-0.5b-shape': {
    arch: 'qwen2',
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    dtype: 'bfloat16',
    // As published: a window that use_sliding_window: false leaves unused.
    extra: { sliding_window: 32768 },
  },
  'llama-3.2-1b-shape': {
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rope_theta: 500000,
    rms_norm_eps: 1e-5,
    dtype: 'bfloat16',
    extra: {
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    },
  },
};

/** The family a preset copies. */
export function presetArch(preset: ModelPreset): ModelArch {
  return PRESETS[preset].arch ?? 'llama';
}

/** HF's initializer_range: Linear and Embedding weights ~ N(0, 0.02). */
const INIT_STD = 0.02;

export function modelConfigJson(
  preset: ModelPreset,
  arch: ModelArch,
  tokenizerVocab: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const p = PRESETS[preset];
  const common: Record<string, unknown> = {
    hidden_size: p.hidden_size,
    intermediate_size: p.intermediate_size,
    num_hidden_layers: p.num_hidden_layers,
    num_attention_heads: p.num_attention_heads,
    num_key_value_heads: p.num_key_value_heads,
    head_dim: p.head_dim ?? p.hidden_size / p.num_attention_heads,
    vocab_size: p.vocab_size ?? tokenizerVocab,
    max_position_embeddings: p.max_position_embeddings,
    rms_norm_eps: p.rms_norm_eps,
    rope_theta: p.rope_theta,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_dropout: 0.0,
    initializer_range: INIT_STD,
    tie_word_embeddings: true,
    bos_token_id: null,
    eos_token_id: 2,
    pad_token_id: 0,
    torch_dtype: p.dtype,
    use_cache: true,
  };
  const qwenWindow = { use_sliding_window: false, sliding_window: null, max_window_layers: p.num_hidden_layers };
  let cfg: Record<string, unknown>;
  if (arch === 'qwen2') cfg = { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', ...common, ...qwenWindow };
  else if (arch === 'qwen3')
    cfg = { architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', ...common, attention_bias: false, ...qwenWindow };
  else if (arch === 'gemma3') {
    const { hidden_act: _act, ...rest } = common;
    const head = rest.head_dim as number;
    cfg = {
      architectures: ['Gemma3ForCausalLM'],
      model_type: 'gemma3_text',
      ...rest,
      hidden_activation: 'gelu_pytorch_tanh',
      query_pre_attn_scalar: head,
      rope_local_base_freq: 10000,
      sliding_window: 8,
      _sliding_window_pattern: 6,
      attention_bias: false,
      attn_logit_softcapping: null,
      final_logit_softcapping: null,
      use_bidirectional_attention: false,
    };
  } else
    cfg = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      ...common,
      attention_bias: false,
      mlp_bias: false,
      pretraining_tp: 1,
    };
  const merged: Record<string, unknown> = { ...cfg, ...(p.extra ?? {}), ...overrides };
  if (overrides.hidden_size !== undefined || overrides.num_attention_heads !== undefined) {
    if (overrides.head_dim === undefined)
      merged.head_dim = (merged.hidden_size as number) / (merged.num_attention_heads as number);
  }
  if (arch === 'gemma3') {
    // Every 6th layer global, as Gemma 3 and llama.cpp's gemma3 graph fix it; q·k scaled by head_dim^-0.5.
    const n = merged.num_hidden_layers as number;
    merged.layer_types = Array.from({ length: n }, (_, i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention'));
    if (overrides.query_pre_attn_scalar === undefined) merged.query_pre_attn_scalar = merged.head_dim;
  }
  return merged;
}

/** Random weights in HF layout and initialisation: N(0, initializer_range) matrices, ones for norms, q/k/v biases for Qwen2. */
export function* randomWeights(cfg: Record<string, unknown>, seed: number): Generator<StWriteTensor> {
  const H = cfg.hidden_size as number;
  const I = cfg.intermediate_size as number;
  const V = cfg.vocab_size as number;
  const nh = cfg.num_attention_heads as number;
  const nkv = cfg.num_key_value_heads as number;
  const hd = (cfg.head_dim as number | undefined) ?? H / nh;
  const bf16 = cfg.torch_dtype === 'bfloat16';
  const qwen2 = cfg.model_type === 'qwen2';
  // HF initialises matrices with N(0, initializer_range).
  const std = typeof cfg.initializer_range === 'number' ? cfg.initializer_range : INIT_STD;
  const gemma = cfg.model_type === 'gemma3_text';
  const qkNorm = gemma || cfg.model_type === 'qwen3';
  // Gemma 3 stores norm weights as offsets from 1 (HF initialises them to zeros).
  const norm = gemma ? 'zeros' : 'ones';
  const make = (name: string, shape: number[], fill: 'normal' | 'ones' | 'zeros' | 'bias'): StWriteTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (fill === 'ones') data.fill(1);
    else if (fill === 'zeros') data.fill(0);
    else new SeededRandom(seed, hashString(name)).fillNormal(data, std);
    return bf16 ? { name, dtype: 'BF16', shape, data: f32ToBf16Array(data) } : { name, dtype: 'F32', shape, data };
  };
  yield make('model.embed_tokens.weight', [V, H], 'normal');
  for (let i = 0; i < (cfg.num_hidden_layers as number); i++) {
    const p = `model.layers.${i}`;
    yield make(`${p}.input_layernorm.weight`, [H], norm);
    for (const [proj, rows] of [
      ['q_proj', nh * hd],
      ['k_proj', nkv * hd],
      ['v_proj', nkv * hd],
    ] as const) {
      yield make(`${p}.self_attn.${proj}.weight`, [rows, H], 'normal');
      // HF zero-initialises biases; small random ones make tests exercise the bias path.
      if (qwen2) yield make(`${p}.self_attn.${proj}.bias`, [rows], 'bias');
    }
    yield make(`${p}.self_attn.o_proj.weight`, [H, nh * hd], 'normal');
    if (qkNorm) {
      yield make(`${p}.self_attn.q_norm.weight`, [hd], norm);
      yield make(`${p}.self_attn.k_norm.weight`, [hd], norm);
    }
    yield make(`${p}.post_attention_layernorm.weight`, [H], norm);
    if (gemma) yield make(`${p}.pre_feedforward_layernorm.weight`, [H], norm);
    yield make(`${p}.mlp.gate_proj.weight`, [I, H], 'normal');
    yield make(`${p}.mlp.up_proj.weight`, [I, H], 'normal');
    yield make(`${p}.mlp.down_proj.weight`, [H, I], 'normal');
    if (gemma) yield make(`${p}.post_feedforward_layernorm.weight`, [H], norm);
  }
  yield make('model.norm.weight', [H], norm);
  if (cfg.tie_word_embeddings === false) yield make('lm_head.weight', [V, H], 'normal');
}

function checkOutDir(out: string, overwrite: boolean): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`${out}: exists and is not a folder`);
  const entries = readdirSync(out);
  if (entries.length === 0) return;
  if (overwrite && entries.includes('config.json')) return;
  throw new UserError(
    `${out}: folder exists and is not empty${entries.includes('config.json') ? ' (pass --force to replace this model folder)' : ''}`,
  );
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** Write a complete HF model folder (config, generation config, weights, tokenizer files). */
export async function createModel(opts: CreateModelOptions): Promise<void> {
  if (!MODEL_PRESETS.includes(opts.preset))
    throw new UserError(`unknown preset '${String(opts.preset)}' (presets: ${MODEL_PRESETS.join(', ')})`);
  const arch = opts.arch ?? presetArch(opts.preset);
  if (!MODEL_ARCHES.includes(arch))
    throw new UserError(`unknown arch '${String(arch)}' (supported: ${MODEL_ARCHES.join(', ')})`);
  const tokKind = opts.tokenizer ?? 'byte';
  if (tokKind !== 'byte' && tokKind !== 'bpe')
    throw new UserError(`unknown tokenizer '${String(tokKind)}' (supported: byte, bpe)`);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new UserError(`seed must be an integer, got ${seed}`);
  checkOutDir(opts.out, opts.overwrite ?? false);

  const files = chatmlTokenizerFiles(tokKind === 'bpe' ? trainByteLevelBpe(BUILTIN_ENGLISH_TEXT, 1024) : []);
  const tokenizerVocab = Object.keys((files['tokenizer.json'] as { model: { vocab: object } }).model.vocab).length;
  const cfg = modelConfigJson(opts.preset, arch, tokenizerVocab, opts.configOverrides);
  if ((cfg.vocab_size as number) < tokenizerVocab)
    throw new UserError(
      `vocab_size ${String(cfg.vocab_size)} is smaller than the tokenizer (${tokenizerVocab} tokens)`,
    );
  const generationConfig = { eos_token_id: 2, pad_token_id: 0 };

  await atomicDir(opts.out, async (dir) => {
    await writeFile(join(dir, 'config.json'), json(cfg));
    await writeFile(join(dir, 'generation_config.json'), json(generationConfig));
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), json(content));
    // Tensors are generated one at a time; the writer spools them, so peak memory stays ~one tensor.
    await writeSafetensors(join(dir, 'model.safetensors'), randomWeights(cfg, seed), { format: 'pt' });
  });
}
