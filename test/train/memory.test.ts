// The memory estimate `sftkit train` prints (src/train/memory.ts): its parameter count matches the loaded model,
// its components are pinned for one real-size config, its activations match what the engine's buffer pool
// really holds at the peak of a step, and a run that cannot fit is refused before the weights are read.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AdamW, capacityFor, poolFreeLimit, poolStats, resetPoolPeak } from '../../src/engine/index.js';
import { parseLlamaConfig } from '../../src/io/hf-config.js';
import { createModel, modelConfigJson, type ModelArch } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { TokenRowsAdapter } from '../../src/model/token-rows.js';
import { countParameters, estimateRunMemory, RUNTIME_BYTES, type RunMemoryInput } from '../../src/train/memory.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';
import { chatRecords, fastArgs, tempDir } from './helpers.js';

const ARCHES: ModelArch[] = ['llama', 'qwen2', 'qwen3', 'gemma3'];
// Wide enough that every activation buffer is pooled (the pool tracks buffers of 4 KiB and more).
const SHAPE = { hidden_size: 128, intermediate_size: 352, num_attention_heads: 4, num_key_value_heads: 2 };

const dirs = new Map<string, Promise<string>>();
function modelDir(arch: ModelArch, tied = true): Promise<string> {
  const key = `${arch}-${tied}`;
  if (!dirs.has(key)) {
    const dir = join(tempDir(`mem-${key}`), arch);
    const configOverrides = { ...SHAPE, ...(tied ? {} : { tie_word_embeddings: false }) };
    dirs.set(
      key,
      createModel({ preset: 'tiny', arch, out: dir, seed: 1, configOverrides }).then(() => dir),
    );
  }
  return dirs.get(key)!;
}

test('countParameters from config.json equals the loaded model (biases, q/k norms, sandwich norms, untied head)', async () => {
  for (const [arch, tied] of [...ARCHES.map((a) => [a, true] as const), ['llama', false] as const]) {
    const m = LlamaModel.load(await modelDir(arch, tied));
    let n = 0;
    for (const p of m.allParameters()) n += p.tensor.numel;
    assert.equal(countParameters(m.config), n, `${arch} tied=${tied}`);
  }
});

test('estimate components, pinned: qwen3-0.6b-shape, LoRA r=16 on every linear, bf16, 2 x 512 tokens', () => {
  const config = parseLlamaConfig(modelConfigJson('qwen3-0.6b-shape', 'qwen3', 0), 'qwen3-0.6b-shape');
  const e = estimateRunMemory(baseInput(config));
  const M = 2 ** 20;
  // Per layer: q 2048x1024, k and v 1024x1024, o 1024x2048, gate/up 3072x1024, down 1024x3072 = 15 Mi elements.
  const linears = 28 * 15 * M;
  // LoRA A [16, in] + B [out, 16] on each of the 7 linears: 16 * (in + out) summed = 360,448 per layer.
  const lora = 28 * 16 * (3072 + 2048 + 2048 + 3072 + 4096 + 4096 + 4096);
  const norms = 28 * (2 * 1024 + 2 * 128) + 1024;
  const embed = 151936 * 1024; // tied: one table
  assert.equal(e.weights, linears * 2 + lora * 4 + norms * 4 + embed * 2);
  assert.equal(e.gradients, lora * 4);
  assert.equal(e.optimizer, lora * 8);
  // Activations: per layer and token 6D + 4q + 4kv + 3I = 27,648 f32 outputs (all whole pool classes here),
  // plus per layer 2 RMSNorm row scales, the attention LSE rows, the q/k norms' row scales and 7 LoRA products.
  const N = 1024;
  const perLayer = N * 27648 * 4 + 2 * N * 4 + N * 16 * 4 + N * (16 + 8) * 4 + 7 * N * 16 * 4;
  const headChunk = Math.ceil(N / Math.ceil(N / Math.floor(2 ** 26 / 151936))); // 342 rows of logits
  const outside = 2 * N * 1024 * 4 + capacityFor(headChunk * 151936 * 4) + N * 1024 * 4 + N * 3072 * 4;
  assert.equal(e.activations, 28 * perLayer + outside);
  assert.equal(e.runtime, RUNTIME_BYTES);
  assert.equal(e.total, RUNTIME_BYTES + e.weights + e.gradients + e.optimizer + e.activations);
  // QLoRA: the same run with NF4 linears (0.5 byte + 1/64 scale byte + nested scales).
  const q = estimateRunMemory({ ...baseInput(config), method: 'qlora' });
  const perLayerNf4 = [2, 1, 1, 2, 3, 3, 3].reduce(
    (s, k) => s + (k * M) / 2 + (k * M) / 64 + 4 * Math.ceil((k * M) / 64 / 256) + 4,
    0,
  );
  assert.equal(e.weights - q.weights, linears * 2 - 28 * perLayerNf4);
  assert.equal(q.activations, e.activations);
  // Full fine-tuning: f32 weights, gradients and AdamW for every parameter, and the final save (the f32 copy being
  // written beside the pool's retained activation buffers) is the peak when it outgrows the steps' activations.
  const full = estimateRunMemory({ ...baseInput(config), method: 'full', lora: null });
  const params = countParameters(config);
  assert.equal(full.weights, params * 4);
  assert.equal(full.gradients, params * 4);
  assert.equal(full.optimizer, params * 8);
  assert.equal(full.finalSave, Math.min(poolFreeLimit(), full.activations) + params * 4);
  assert.ok(full.finalSave! > full.activations);
  assert.equal(full.total, RUNTIME_BYTES + params * 16 + full.finalSave!);
});

/** The pinned run: LoRA r=16 on every linear, bf16, 2 x 512 tokens. */
function baseInput(config: RunMemoryInput['config']): RunMemoryInput {
  return {
    config,
    method: 'lora',
    bf16: true,
    lora: { r: 16, targetModules: 'all-linear', dropout: 0 },
    tokenRows: 0,
    batch: 2,
    seq: 512,
    gradientCheckpointing: false,
  };
}

/** Bytes the pool holds at the peak of a (second) training step beyond what it held before. */
async function measuredStep(arch: ModelArch, r: RunMemoryInput): Promise<number> {
  const m = LlamaModel.load(await modelDir(arch), {
    dtype: 'bf16',
    quantize: r.method === 'qlora' ? { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } : null,
  });
  if (r.method === 'full') m.enableFullFineTuning();
  else
    m.attachLora(
      { r: 8, loraAlpha: 16, loraDropout: r.lora!.dropout, targetModules: 'all-linear', useRslora: false },
      1,
    );
  m.gradientCheckpointing = r.gradientCheckpointing;
  const rows = r.tokenRows > 0 ? TokenRowsAdapter.attachTrainable(m, [2, 5, 9].slice(0, r.tokenRows)) : null;
  const tables = new Set(rows?.tables() ?? []);
  const params = [
    ...m
      .trainableParameters()
      .map((p) => p.tensor)
      .filter((t) => !tables.has(t)),
    ...(rows?.parameters().map((p) => p.tensor) ?? []),
  ];
  const opt = new AdamW(params, { lr: 1e-3 });
  const ids = Int32Array.from({ length: r.batch * r.seq }, (_, i) => ((i * 7) % 200) + 3);
  const step = () => {
    m.lossAndBackward({ batch: r.batch, seq: r.seq, inputIds: ids });
    rows?.gather();
    opt.step();
    opt.zeroGrad();
    rows?.scatter();
  };
  step(); // gradients and optimizer state exist from here on
  const before = poolStats().liveBytes;
  resetPoolPeak();
  step();
  return poolStats().peakLiveBytes - before;
}

test("activations (+ token rows' table gradients) match the pool's peak of a real step within 10%", async () => {
  const cases: [ModelArch, Partial<RunMemoryInput>][] = [
    ['llama', { method: 'lora' }],
    ['qwen2', { method: 'qlora' }],
    ['qwen3', { method: 'full' }],
    ['gemma3', { method: 'lora' }],
    ['gemma3', { method: 'full', gradientCheckpointing: true }],
    ['qwen3', { method: 'lora', gradientCheckpointing: true }],
    ['gemma3', { method: 'lora', tokenRows: 3 }],
  ];
  for (const [arch, over] of cases) {
    const m = LlamaModel.load(await modelDir(arch));
    const r: RunMemoryInput = {
      config: m.config,
      method: 'lora',
      bf16: true,
      lora: { r: 8, targetModules: 'all-linear', dropout: 0.1 },
      tokenRows: 0,
      batch: 2,
      seq: 64,
      gradientCheckpointing: false,
      ...over,
    };
    const e = estimateRunMemory(r);
    const tableGrads = r.tokenRows > 0 ? m.config.vocabSize * m.config.hiddenSize * 4 : 0;
    const measured = await measuredStep(arch, r);
    const ratio = (e.activations + tableGrads) / measured;
    assert.ok(
      Math.abs(ratio - 1) < 0.1,
      `${arch} ${JSON.stringify(over)}: estimate ${e.activations + tableGrads} vs pool peak ${measured}`,
    );
  }
});

test('a run that cannot fit is refused before the weights are read', async () => {
  const dir = join(tempDir('mem-noweights'), 'm');
  await createModel({ preset: 'tiny', out: dir, seed: 2 });
  rmSync(join(dir, 'model.safetensors')); // loading would fail: the refusal must come first
  const logs: string[] = [];
  const trainer = new SFTTrainer({
    model: dir,
    args: fastArgs(tempDir('mem-refused'), { max_steps: 1, full_finetune: true }),
    trainDataset: chatRecords(4).train,
    memoryLimitBytes: 1024 * 1024,
    progress: false,
    log: (l: string) => logs.push(l),
  });
  await assert.rejects(trainer.train(), (e: Error) => e instanceof UserError && /^not enough memory/.test(e.message));
  assert.ok(
    logs.some((l) => /^memory estimate: .* \(runtime .*, weights .*, activations .*\)$/.test(l)),
    logs.join('\n'),
  );
  assert.equal(trainer.model, null);
});
