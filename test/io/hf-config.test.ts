import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaConfig, parseLlamaConfig } from '../../src/io/hf-config.js';
import { UserError } from '../../src/util/errors.js';
import { sharedDir } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'sftkit-cfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// The fields of SmolLM2-135M-Instruct's config.json that matter here.
const smollm2 = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  vocab_size: 49152,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  rope_scaling: null,
  tie_word_embeddings: true,
  max_position_embeddings: 8192,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: 2,
  hidden_act: 'silu',
  attention_bias: false,
  mlp_bias: false,
  torch_dtype: 'bfloat16',
};

test('parses a SmolLM2 (Llama) config', () => {
  const c = parseLlamaConfig(smollm2, 'config.json');
  assert.equal(c.architecture, 'LlamaForCausalLM');
  assert.equal(c.modelType, 'llama');
  assert.equal(c.headDim, 64);
  assert.equal(c.numKvHeads, 3);
  assert.equal(c.ropeTheta, 100000);
  assert.equal(c.ropeScaling, null);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.attentionBias, false);
  assert.deepEqual(c.eosTokenIds, [2]);
  assert.equal(c.bosTokenId, 1);
  assert.equal(c.padTokenId, 2);
  assert.equal(c.torchDtype, 'bfloat16');
  assert.equal(c.raw, smollm2 as unknown);
});

test('transformers defaults: kv heads, head_dim, rope_theta, eps, tying, max positions', () => {
  const minimal = {
    architectures: ['LlamaForCausalLM'],
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    vocab_size: 100,
  };
  const c = parseLlamaConfig(minimal, 'x');
  assert.equal(c.numKvHeads, 4);
  assert.equal(c.headDim, 16);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.maxPositionEmbeddings, 2048);
  assert.equal(c.bosTokenId, 1);
  assert.deepEqual(c.eosTokenIds, [2]);
  assert.equal(c.padTokenId, null);
  assert.equal(c.torchDtype, null);
  // head_dim override (Qwen3-like / Gemma-like shapes), eos as a list (Llama 3.1)
  const c2 = parseLlamaConfig(
    { ...minimal, head_dim: 32, num_key_value_heads: 1, eos_token_id: [128001, 128008, 128009], attention_bias: true },
    'x',
  );
  assert.equal(c2.headDim, 32);
  assert.deepEqual(c2.eosTokenIds, [128001, 128008, 128009]);
  assert.equal(c2.attentionBias, true);
  // model_type alone is enough
  assert.equal(
    parseLlamaConfig(
      {
        model_type: 'mistral',
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        vocab_size: 10,
      },
      'x',
    ).architecture,
    'MistralForCausalLM',
  );
});

test('rope scaling: llama3, linear, default and null', () => {
  const base = { ...smollm2 };
  const l3 = parseLlamaConfig(
    {
      ...base,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    },
    'x',
  );
  assert.deepEqual(l3.ropeScaling, {
    type: 'llama3',
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assert.deepEqual(parseLlamaConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } }, 'x').ropeScaling, {
    type: 'linear',
    factor: 2,
  });
  assert.equal(parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'default' } }, 'x').ropeScaling, null);
  assert.throws(
    () => parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'cfg.json'),
    (e: Error) =>
      e instanceof UserError &&
      /cfg\.json: rope_scaling type "yarn" is not supported; supported rope_scaling types: none\/"default", "linear", "llama3"/.test(
        e.message,
      ),
  );
  assert.throws(
    () => parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'x'),
    /rope_scaling\.low_freq_factor must be a positive number/,
  );
  // transformers >= 5: rope_parameters carries rope_theta and the scaling
  const v5 = parseLlamaConfig(
    {
      ...base,
      rope_theta: undefined,
      rope_scaling: undefined,
      rope_parameters: { rope_type: 'linear', factor: 4, rope_theta: 500000 },
    },
    'x',
  );
  assert.equal(v5.ropeTheta, 500000);
  assert.deepEqual(v5.ropeScaling, { type: 'linear', factor: 4 });
  const v5default = parseLlamaConfig(
    {
      ...base,
      rope_theta: undefined,
      rope_scaling: undefined,
      rope_parameters: { rope_type: 'default', rope_theta: 1000000 },
    },
    'x',
  );
  assert.equal(v5default.ropeTheta, 1000000);
  assert.equal(v5default.ropeScaling, null);
});

test('Qwen2 always has q/k/v bias; Mistral keeps its sliding window', () => {
  const q = parseLlamaConfig(
    {
      ...smollm2,
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      attention_bias: undefined,
      use_sliding_window: false,
      sliding_window: 4096,
    },
    'x',
  );
  assert.equal(q.modelType, 'qwen2');
  assert.equal(q.attentionBias, true);
  assert.equal(q.slidingWindow, null);
  const m = parseLlamaConfig(
    { ...smollm2, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096 },
    'x',
  );
  assert.equal(m.slidingWindow, 4096);
  assert.equal(m.attentionBias, false);
});

test('unsupported architectures and fields say what is supported', () => {
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, architectures: ['GPT2LMHeadModel'] }, 'm/config.json'),
    (e: Error) =>
      e instanceof UserError &&
      /m\/config\.json: unsupported architecture \["GPT2LMHeadModel"\]; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/.test(
        e.message,
      ),
  );
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, hidden_act: 'gelu' }, 'x'),
    /hidden_act "gelu" is not supported \(supported: "silu"\)/,
  );
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, hidden_size: undefined }, 'x'),
    /missing required field "hidden_size"/,
  );
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, num_key_value_heads: 2 }, 'x'),
    /num_attention_heads \(9\) must be a multiple of num_key_value_heads \(2\)/,
  );
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, vocab_size: 1.5 }, 'x'),
    /"vocab_size" must be a positive integer/,
  );
  assert.throws(() => parseLlamaConfig({ ...smollm2, eos_token_id: 'x' }, 'x'), /"eos_token_id" must be a token id/);
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, quantization_config: { quant_method: 'gptq' } }, 'x'),
    /pre-quantized checkpoints/,
  );
  assert.throws(() => parseLlamaConfig([1], 'x'), /expected a JSON object/);
});

test('loadLlamaConfig reads a folder and reports missing or broken files', () => {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(smollm2));
  assert.equal(loadLlamaConfig(dir).hiddenSize, 576);
  const empty = mkdtempSync(join(dir, 'e-'));
  assert.throws(
    () => loadLlamaConfig(empty),
    (e: Error) =>
      e instanceof UserError && e.message.includes(join(empty, 'config.json')) && /cannot read/.test(e.message),
  );
  writeFileSync(join(empty, 'config.json'), '{"hidden_size": 64,');
  assert.throws(() => loadLlamaConfig(empty), /config\.json(:\d+:\d+)?: invalid JSON/);
});

test('stories260K config (real model)', { skip: !sharedDir() && 'needs ../shared' }, () => {
  const c = loadLlamaConfig(join(sharedDir()!, 'models', 'stories260K'));
  assert.equal(c.hiddenSize, 64);
  assert.equal(c.numLayers, 5);
  assert.equal(c.numHeads, 8);
  assert.equal(c.numKvHeads, 4);
  assert.equal(c.headDim, 8);
  assert.equal(c.vocabSize, 512);
  assert.equal(c.tieWordEmbeddings, true);
});

// google/gemma-3-270m's config.json (text part), as published.
const gemma3 = {
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  hidden_size: 640,
  intermediate_size: 2048,
  num_hidden_layers: 18,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 256,
  vocab_size: 262144,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  rope_local_base_freq: 10000.0,
  rope_scaling: null,
  query_pre_attn_scalar: 256,
  sliding_window: 512,
  _sliding_window_pattern: 6,
  layer_types: Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention')),
  hidden_activation: 'gelu_pytorch_tanh',
  attn_logit_softcapping: null,
  final_logit_softcapping: null,
  use_bidirectional_attention: false,
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
  torch_dtype: 'bfloat16',
};

test('Gemma 3 text: flags, per-layer windows, local RoPE base, attention scale, defaults', () => {
  const c = parseLlamaConfig(gemma3, 'x');
  assert.equal(c.modelType, 'gemma3_text');
  assert.deepEqual([c.qkNorm, c.normOffset, c.sandwichNorms, c.hiddenAct], [true, 1, true, 'gelu_pytorch_tanh']);
  assert.equal(c.embedScale, Math.sqrt(640));
  assert.equal(c.attentionScale, 1 / 16);
  assert.equal(c.ropeLocalTheta, 10000);
  assert.equal(c.layerWindows.filter((w) => w === 512).length, 15);
  assert.equal(c.layerWindows[5], null);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.finalLogitSoftcap, null);
  // No layer_types: every sliding_window_pattern-th layer is global; query_pre_attn_scalar scales q·k.
  const p = parseLlamaConfig(
    { ...gemma3, layer_types: undefined, sliding_window_pattern: 3, query_pre_attn_scalar: 144 },
    'x',
  );
  assert.deepEqual(p.layerWindows.slice(0, 6), [512, 512, null, 512, 512, null]);
  assert.equal(p.attentionScale, 1 / 12);
  // transformers 5: rope_parameters keyed by layer type.
  const v5 = parseLlamaConfig(
    {
      ...gemma3,
      rope_theta: undefined,
      rope_local_base_freq: undefined,
      rope_parameters: {
        full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1000000 },
        sliding_attention: { rope_type: 'default', rope_theta: 10000 },
      },
    },
    'x',
  );
  assert.deepEqual([v5.ropeTheta, v5.ropeLocalTheta, v5.ropeScaling?.type], [1000000, 10000, 'linear']);
  assert.equal(parseLlamaConfig({ ...gemma3, final_logit_softcapping: 30 }, 'x').finalLogitSoftcap, 30);
});

test('Qwen3: q/k norms, explicit head_dim, no biases by default, full attention without use_sliding_window', () => {
  const q = parseLlamaConfig(
    {
      ...smollm2,
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      head_dim: 128,
      hidden_size: 1024,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      use_sliding_window: false,
      sliding_window: null,
    },
    'x',
  );
  assert.deepEqual([q.qkNorm, q.normOffset, q.sandwichNorms, q.attentionBias, q.headDim], [true, 0, false, false, 128]);
  assert.equal(q.attentionScale, 1 / Math.sqrt(128));
  assert.ok(q.layerWindows.every((w) => w === null));
  assert.equal(q.embedScale, null);
});

test('Gemma 3 and Qwen3 fields sftkit cannot honour are refused with what is supported', () => {
  assert.throws(
    () => parseLlamaConfig({ ...gemma3, use_bidirectional_attention: true }, 'g/config.json'),
    /g\/config\.json: use_bidirectional_attention=true is not supported/,
  );
  assert.throws(
    () => parseLlamaConfig({ ...gemma3, hidden_activation: 'gelu' }, 'x'),
    /hidden_activation "gelu" is not supported \(supported: "gelu_pytorch_tanh"\)/,
  );
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, final_logit_softcapping: 30 }, 'x'),
    /final_logit_softcapping is only supported for Gemma 3/,
  );
  assert.throws(
    () => parseLlamaConfig({ ...gemma3, layer_types: ['sliding_attention'] }, 'x'),
    /"layer_types" must list 18 entries/,
  );
  assert.throws(() => parseLlamaConfig({ ...gemma3, sliding_window: null }, 'x'), /no "sliding_window" is set/);
  assert.throws(
    () => parseLlamaConfig({ ...smollm2, architectures: ['Gemma2ForCausalLM'] }, 'x'),
    /unsupported architecture \["Gemma2ForCausalLM"\]; supported: .*Qwen3ForCausalLM, Gemma3ForCausalLM/,
  );
});
