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
  assert.throws(() => loadLlamaConfig(empty), /config\.json: not valid JSON/);
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
