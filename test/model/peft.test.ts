// LoRA attach/init, PEFT adapter save/load round trip, adapter_config.json format, and validation errors.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';
import { readBatchFile } from '../../src/model/batch.js';
import { LlamaModel } from '../../src/model/llama.js';
import type { LoraConfig } from '../../src/model/lora.js';
import { loadAdapter, parseAdapterConfig, saveAdapter } from '../../src/model/peft.js';
import { SplitMix64 } from '../../src/util/random.js';
import { UserError } from '../../src/util/errors.js';
import { fixture, readAll, useBestBackend } from './helpers.js';

useBestBackend();
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-peft-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const LORA: LoraConfig = {
  r: 4,
  loraAlpha: 8,
  loraDropout: 0,
  targetModules: ['q_proj', 'v_proj', 'down_proj'],
  useRslora: false,
};

function batch(model: LlamaModel) {
  return readBatchFile(fixture('llama', 'batch.json'), model.config.vocabSize);
}

test('attachLora: PEFT init (A uniform within 1/sqrt(in), B zero), deterministic by seed, base frozen', () => {
  const m1 = LlamaModel.load(fixture('llama'));
  const targets = m1.attachLora(LORA, 7);
  assert.deepEqual(
    targets.map((t) => t.name.split('.').slice(2).join('.')),
    [
      '0.self_attn.q_proj',
      '0.self_attn.v_proj',
      '0.mlp.down_proj',
      '1.self_attn.q_proj',
      '1.self_attn.v_proj',
      '1.mlp.down_proj',
    ],
  );
  for (const t of targets) {
    const bound = 1 / Math.sqrt(t.inFeatures);
    const a = t.lora!.a.toF32();
    assert.ok(
      a.every((x) => Math.abs(x) <= bound),
      `${t.name} A within ±${bound}`,
    );
    assert.ok(Math.max(...a.map(Math.abs)) > 0.5 * bound, `${t.name} A spans its range`);
    assert.ok(
      t.lora!.b.toF32().every((x) => x === 0),
      `${t.name} B is zero`,
    );
    assert.equal(t.lora!.scale, 2);
  }
  assert.ok(m1.baseParameters().every((p) => !p.tensor.requiresGrad));
  assert.equal(m1.trainableParameters().length, 12);
  const m2 = LlamaModel.load(fixture('llama'));
  m2.attachLora(LORA, 7);
  const m3 = LlamaModel.load(fixture('llama'));
  m3.attachLora(LORA, 8);
  assert.deepEqual(m2.loraParameters()[0]!.tensor.toF32(), m1.loraParameters()[0]!.tensor.toF32());
  assert.notDeepEqual(m3.loraParameters()[0]!.tensor.toF32(), m1.loraParameters()[0]!.tensor.toF32());
  // B = 0: the adapted model computes exactly the base model
  const base = LlamaModel.load(fixture('llama'));
  assert.deepEqual(m1.logits(batch(m1)).toF32(), base.logits(batch(base)).toF32());
});

test('target_modules: all-linear, regex, layers_to_transform; rsLoRA scale', () => {
  const m = LlamaModel.load(fixture('llama'));
  assert.equal(m.loraTargets({ ...LORA, targetModules: 'all-linear' }).length, 14);
  assert.deepEqual(
    m
      .loraTargets({ ...LORA, targetModules: 'model\\.layers\\.1\\..*_proj' })
      .map((t) => t.name)
      .slice(0, 2),
    ['model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.k_proj'],
  );
  assert.equal(m.loraTargets({ ...LORA, targetModules: ['q_proj'], layersToTransform: [1] }).length, 1);
  assert.throws(() => m.loraTargets({ ...LORA, targetModules: 'nothing' }), UserError);
  assert.throws(() => m.attachLora({ ...LORA, targetModules: ['lm_head'] }, 1), /lm_head.*not supported/);
  const rs = LlamaModel.load(fixture('llama'));
  rs.attachLora({ ...LORA, r: 16, loraAlpha: 8, useRslora: true }, 1);
  assert.equal(rs.linears().find((l) => l.lora)!.lora!.scale, 2);
});

test('save -> load reproduces identical logits and a PEFT-shaped adapter_config.json', async () => {
  const m = LlamaModel.load(fixture('llama'));
  m.attachLora({ ...LORA, targetModules: 'all-linear', loraDropout: 0.05 }, 3);
  const rng = new SplitMix64(99);
  for (const p of m.loraParameters()) rng.fillUniform(p.tensor.data as Float32Array, 0.1); // nonzero B
  const dir = join(tmp, 'roundtrip');
  await saveAdapter(m, dir, { baseModelNameOrPath: 'tiny/llama' });

  const text = readFileSync(join(dir, 'adapter_config.json'), 'utf8');
  const cfg = JSON.parse(text);
  assert.deepEqual(Object.keys(cfg), [...Object.keys(cfg)].sort(), 'keys sorted');
  assert.deepEqual(cfg, {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: 'tiny/llama',
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: 8,
    lora_dropout: 0.05,
    modules_to_save: null,
    peft_type: 'LORA',
    r: 4,
    rank_pattern: {},
    revision: null,
    target_modules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  });
  const st = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
  assert.deepEqual(st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [4, 16]);
  assert.deepEqual(st.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')!.shape, [16, 4]);
  assert.equal(st.tensors.size, 28);
  st.close();

  const loaded = LlamaModel.load(fixture('llama'));
  const c = loadAdapter(loaded, dir);
  assert.equal(c.loraDropout, 0.05);
  assert.deepEqual(loaded.logits(batch(loaded)).toF32(), m.logits(batch(m)).toF32());
  assert.equal(loaded.trainableParameters().length, 28);
});

test('LoRA dropout is active in training forwards only', () => {
  const m = LlamaModel.load(fixture('llama'));
  loadAdapter(m, fixture('llama', 'adapter'));
  for (const l of m.linears()) (l.lora as { dropout: number }).dropout = 0.5;
  const b = batch(m);
  const evalLoss = m.lossAndBackward(b, { training: false }).loss;
  const ref = readAll(fixture('llama', 'expected_lora.safetensors')).get('loss')![0]!;
  assert.ok(Math.abs(evalLoss - ref) / ref < 1e-6);
  const trainLoss = m.lossAndBackward(b).loss;
  assert.ok(Math.abs(trainLoss - ref) / ref > 1e-4, `dropout changes the training loss (${trainLoss} vs ${ref})`);
});

function adapterCopy(name: string, edit: (dir: string) => void | Promise<void>): Promise<string> | string {
  const dir = join(tmp, name);
  cpSync(fixture('llama', 'adapter'), dir, { recursive: true });
  const r = edit(dir);
  return r instanceof Promise ? r.then(() => dir) : dir;
}

test('adapter validation names the problem before anything runs', async () => {
  const m = () => LlamaModel.load(fixture('llama'));
  // an adapter for another model: shapes differ
  assert.throws(() => loadAdapter(m(), fixture('headdim', 'adapter')), /has shape \[4, 12\], expected \[4, 16\]/);
  // a missing tensor and an unexpected one
  const dirMissing = await adapterCopy('missing', async (dir) => {
    const path = join(dir, 'adapter_model.safetensors');
    const f = SafetensorsFile.open(path);
    const tensors = [...f.tensors.values()]
      .filter((i) => i.name !== 'base_model.model.model.layers.1.mlp.up_proj.lora_B.weight')
      .map((i) => ({ name: i.name, dtype: 'F32' as const, shape: i.shape, data: f.readF32(i.name) }));
    f.close();
    tensors.push({
      name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight',
      dtype: 'F32',
      shape: [4],
      data: new Float32Array(4),
    });
    await writeSafetensors(path, tensors);
  });
  assert.throws(
    () => loadAdapter(m(), dirMissing),
    (e: Error) =>
      e instanceof UserError &&
      /missing tensor base_model.model.model.layers.1.mlp.up_proj.lora_B.weight/.test(e.message) &&
      /unexpected tensor .*lora_C/.test(e.message),
  );
  const edited = (name: string, patch: Record<string, unknown>) =>
    adapterCopy(name, (dir) => {
      const p = join(dir, 'adapter_config.json');
      writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), ...patch }));
    }) as string;
  assert.throws(() => loadAdapter(m(), edited('dora', { use_dora: true })), /use_dora/);
  assert.throws(() => loadAdapter(m(), edited('bias', { bias: 'all' })), /bias/);
  assert.throws(() => loadAdapter(m(), edited('ia3', { peft_type: 'IA3' })), /peft_type/);
  assert.throws(() => loadAdapter(m(), edited('r', { r: 8 })), /expected \[8, 16\]/);
  assert.throws(() => loadAdapter(m(), join(tmp, 'nowhere')), /no adapter_config.json/);
  assert.throws(() => parseAdapterConfig({ r: 4, target_modules: 5 }, 'x.json'), /x.json: target_modules/);
});
