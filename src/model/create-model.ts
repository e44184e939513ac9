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

export type ModelPreset = 'tiny' | 'smollm2-135m-shape';
export const MODEL_PRESETS: readonly ModelPreset[] = ['tiny', 'smollm2-135m-shape'];

export interface CreateModelOptions {
  preset: ModelPreset;
  /** Output folder; must not exist or be empty unless `overwrite`. */
  out: string;
  seed?: number;
  arch?: 'llama' | 'qwen2';
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
};

/** HF's initializer_range: Linear and Embedding weights ~ N(0, 0.02). */
const INIT_STD = 0.02;

export function modelConfigJson(
  preset: ModelPreset,
  arch: 'llama' | 'qwen2',
  tokenizerVocab: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const p = PRESETS[preset];
  const common = {
    hidden_size: p.hidden_size,
    intermediate_size: p.intermediate_size,
    num_hidden_layers: p.num_hidden_layers,
    num_attention_heads: p.num_attention_heads,
    num_key_value_heads: p.num_key_value_heads,
    head_dim: p.hidden_size / p.num_attention_heads,
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
  const cfg =
    arch === 'qwen2'
      ? {
          architectures: ['Qwen2ForCausalLM'],
          model_type: 'qwen2',
          ...common,
          use_sliding_window: false,
          sliding_window: null,
          max_window_layers: p.num_hidden_layers,
        }
      : {
          architectures: ['LlamaForCausalLM'],
          model_type: 'llama',
          ...common,
          attention_bias: false,
          mlp_bias: false,
          pretraining_tp: 1,
        };
  const merged: Record<string, unknown> = { ...cfg, ...overrides };
  if (overrides.hidden_size !== undefined || overrides.num_attention_heads !== undefined) {
    if (overrides.head_dim === undefined)
      merged.head_dim = (merged.hidden_size as number) / (merged.num_attention_heads as number);
  }
  return merged;
}

/** Random weights in HF layout and initialisation: N(0, 0.02) matrices, ones for norms, q/k/v biases for Qwen2. */
export function* randomWeights(cfg: Record<string, unknown>, seed: number): Generator<StWriteTensor> {
  const H = cfg.hidden_size as number;
  const I = cfg.intermediate_size as number;
  const V = cfg.vocab_size as number;
  const nh = cfg.num_attention_heads as number;
  const nkv = cfg.num_key_value_heads as number;
  const hd = (cfg.head_dim as number | undefined) ?? H / nh;
  const bf16 = cfg.torch_dtype === 'bfloat16';
  const qwen2 = cfg.model_type === 'qwen2';
  const make = (name: string, shape: number[], fill: 'normal' | 'ones' | 'bias'): StWriteTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (fill === 'ones') data.fill(1);
    else new SeededRandom(seed, hashString(name)).fillNormal(data, INIT_STD);
    return bf16 ? { name, dtype: 'BF16', shape, data: f32ToBf16Array(data) } : { name, dtype: 'F32', shape, data };
  };
  yield make('model.embed_tokens.weight', [V, H], 'normal');
  for (let i = 0; i < (cfg.num_hidden_layers as number); i++) {
    const p = `model.layers.${i}`;
    yield make(`${p}.input_layernorm.weight`, [H], 'ones');
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
    yield make(`${p}.post_attention_layernorm.weight`, [H], 'ones');
    yield make(`${p}.mlp.gate_proj.weight`, [I, H], 'normal');
    yield make(`${p}.mlp.up_proj.weight`, [I, H], 'normal');
    yield make(`${p}.mlp.down_proj.weight`, [H, I], 'normal');
  }
  yield make('model.norm.weight', [H], 'ones');
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
  const arch = opts.arch ?? 'llama';
  if (arch !== 'llama' && arch !== 'qwen2')
    throw new UserError(`unknown arch '${String(arch)}' (supported: llama, qwen2)`);
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
