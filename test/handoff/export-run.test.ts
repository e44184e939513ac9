// export-run / import-run without Python: the config mapping covers every key, the run folder holds what
// it should, the exported micro-batches are exactly the ones `sftkit train` trains on, the accelerate configs
// parse, the GPU plan picks a config that fits, and import-run turns a result into metrics.jsonl + loss.svg.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { CONFIG_FIELDS } from '../../src/train/config-schema.js';
import { defaultSFTConfig, resolveConfig } from '../../src/train/config.js';
import { SFTTrainer, readRunMetrics } from '../../src/train/trainer.js';
import { KEY_MAPPINGS, configKeys, mappingTable, trainingArguments } from '../../src/handoff/config-map.js';
import { fillerBatch, readBatchIndex, readMicroBatch, writeBatchFiles } from '../../src/handoff/batch-files.js';
import { accelerateConfigs, ACCELERATE_CONFIGS, decoderLayerClass } from '../../src/handoff/accelerate-configs.js';
import { parseByteSize, planGpus, type PlanInput } from '../../src/handoff/gpu-plan.js';
import { exportRun } from '../../src/handoff/export-run.js';
import { loadLlamaConfig } from '../../src/io/hf-config.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import type { Batch } from '../../src/data/batches.js';
import { chatRecords, tempDir, tinyModel } from '../train/helpers.js';
import { runCli } from '../helpers/cli.js';

test('every SFTConfig key is mapped to its PyTorch counterpart or listed as not applicable', () => {
  const c = defaultSFTConfig();
  const keys = configKeys(c);
  // The schema is the source of the keys: each field appears, under peft. for LoraConfig fields.
  for (const f of CONFIG_FIELDS) assert.ok(keys.includes(f.group === 'peft' ? `peft.${f.name}` : f.name), f.name);
  for (const k of keys) {
    const m = KEY_MAPPINGS[k];
    assert.ok(m, `no mapping for config key '${k}'`);
    assert.ok(m.note.length > 0, k);
    if (m.kind === 'TrainingArguments' || m.kind === 'LoraConfig' || m.kind === 'BitsAndBytesConfig')
      assert.ok(m.target, `${k}: a ${m.kind} mapping names its field`);
  }
  for (const k of Object.keys(KEY_MAPPINGS)) assert.ok(keys.includes(k), `stale mapping for '${k}'`);
  // Every TrainingArguments target except the per-process accumulation is in what run.json carries.
  const ta = trainingArguments(c, { totalSteps: 7 });
  for (const [k, m] of Object.entries(KEY_MAPPINGS)) {
    if (m.kind !== 'TrainingArguments' || k === 'gradient_accumulation_steps') continue;
    assert.ok(m.target! in ta, `${k} -> TrainingArguments.${m.target} is not written to run.json`);
  }
  assert.equal(ta.max_steps, 7);
  const table = mappingTable(c);
  for (const k of keys) assert.ok(table.includes(`| \`${k}\` |`), `README table lacks ${k}`);
});

test('batch files: micro-batches round-trip, short steps are filled with micro-batches that train nothing', async () => {
  const dir = tempDir('batches');
  const mk = (seed: number, rows: number, seq: number, trained: number): Batch => {
    const n = rows * seq;
    const labels = new Int32Array(n).fill(-100);
    for (let i = 1; i <= trained; i++) labels[i] = seed + i;
    return {
      inputIds: Int32Array.from({ length: n }, (_, i) => seed + i),
      labels,
      positionIds: Int32Array.from({ length: n }, (_, i) => i % seq),
      batch: rows,
      seq,
      numTrainedTokens: trained,
    };
  };
  const steps = [
    { micro: [mk(10, 2, 5, 3), mk(20, 1, 7, 4), mk(30, 2, 3, 2)], epoch: 0.5 },
    { micro: [mk(40, 1, 4, 2)], epoch: 1 },
  ];
  const index = await writeBatchFiles(dir, steps, { perStep: 3, padTokenId: 9, maxShardBytes: 100 });
  assert.equal(index.steps, 2);
  assert.equal(index.micro_batches.length, 6);
  assert.deepEqual(index.step_epochs, [0.5, 1]);
  assert.equal(index.trained_tokens, 11);
  assert.ok(new Set(index.micro_batches.map((e) => e.file)).size > 1, 'several shards');
  const back = readBatchIndex(dir);
  const flat = steps.flatMap((s) => s.micro);
  for (let j = 0; j < 4; j++) {
    const b = readMicroBatch(dir, back, j);
    const want = j < 3 ? flat[j]! : flat[3]!;
    assert.deepEqual([...b.inputIds], [...want.inputIds]);
    assert.deepEqual([...b.labels], [...want.labels]);
    assert.deepEqual([...b.positionIds], [...want.positionIds]);
  }
  for (const j of [4, 5]) {
    assert.equal(back.micro_batches[j]!.filler, true);
    assert.equal(back.micro_batches[j]!.step, 1);
    const f = readMicroBatch(dir, back, j);
    assert.deepEqual([...f.inputIds], [...fillerBatch(9).inputIds]);
    assert.deepEqual([...f.labels], [-100]);
  }
});

test('accelerate configs are YAML accelerate reads: quoted enums, decoder layer class, process counts', () => {
  const cfgs = accelerateConfigs({ gpus: 4, architecture: 'Qwen2ForCausalLM', bf16: false, maxGradNorm: 1 });
  assert.deepEqual(Object.keys(cfgs).sort(), [...ACCELERATE_CONFIGS].sort());
  const parsed = Object.fromEntries(Object.entries(cfgs).map(([k, v]) => [k, YAML.parse(v, { version: '1.1' })]));
  assert.equal(parsed['1gpu'].distributed_type, 'NO');
  assert.equal(parsed.ddp.mixed_precision, 'no', "'no' must stay a string under YAML 1.1");
  assert.equal(parsed.ddp.num_processes, 4);
  assert.equal(parsed.fsdp.fsdp_config.fsdp_transformer_layer_cls_to_wrap, 'Qwen2DecoderLayer');
  assert.equal(parsed.fsdp.fsdp_config.fsdp_sharding_strategy, 'FULL_SHARD');
  assert.equal(parsed.zero2.deepspeed_config.zero_stage, 2);
  assert.equal(parsed.zero3.deepspeed_config.zero_stage, 3);
  assert.equal(parsed.multinode.num_machines, 2);
  assert.equal(parsed.multinode.num_processes, 8);
  assert.equal(decoderLayerClass('LlamaForCausalLM'), 'LlamaDecoderLayer');
});

test('GPU plan: DDP when a replica fits, sharding when it does not, nothing when nothing fits', () => {
  assert.equal(parseByteSize('80GiB', '--gpu-memory'), 80 * 1024 ** 3);
  assert.equal(parseByteSize('24GB', '--gpu-memory'), 24e9);
  assert.throws(() => parseByteSize('lots', '--gpu-memory'), /--gpu-memory/);
  // An 8B-shaped model.
  const config = {
    ...loadLlamaConfigLike(),
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
  };
  const full: PlanInput = {
    config,
    allParams: 8.03e9,
    trainableParams: 8.03e9,
    layerParams: 218e6,
    tokensPerMicroBatch: 2048,
    gradientCheckpointing: true,
    bf16: true,
    load4bit: false,
    fullFinetune: true,
  };
  const lora: PlanInput = { ...full, trainableParams: 42e6, fullFinetune: false };
  const gib = 1024 ** 3;
  assert.equal(planGpus(lora, 8, 80 * gib).choice, 'ddp');
  // Full fine-tuning: bf16 weights + f32 master copy, gradients and AdamW states do not fit one 80 GiB GPU;
  // sharding the states (ZeRO-2) is enough on 8 x 80 GiB, on 8 x 40 GiB the weights must be sharded too.
  const fft = planGpus(full, 8, 80 * gib);
  assert.ok(!fft.strategies.find((s) => s.config === 'ddp')!.fits);
  assert.equal(fft.choice, 'zero2');
  assert.equal(planGpus(full, 8, 40 * gib).choice, 'fsdp');
  assert.equal(planGpus(full, 1, 80 * gib).choice, null);
  assert.equal(planGpus({ ...lora, load4bit: true }, 1, 24 * gib).choice, '1gpu');
  assert.equal(planGpus(lora, 1, 8 * gib).choice, null);
});

function loadLlamaConfigLike() {
  return {
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    rmsNormEps: 1e-5,
    ropeTheta: 5e5,
    ropeScaling: null,
    tieWordEmbeddings: false,
    attentionBias: false,
    mlpBias: false,
    maxPositionEmbeddings: 8192,
    bosTokenId: 1,
    eosTokenIds: [2],
    padTokenId: null,
    torchDtype: 'bfloat16',
    slidingWindow: null,
    raw: {},
  } as unknown as ReturnType<typeof loadLlamaConfig>;
}

async function chatFile(dir: string, n: number): Promise<string> {
  const p = join(dir, 'chat.jsonl');
  writeFileSync(
    p,
    chatRecords(n)
      .train.map((r) => JSON.stringify({ messages: (r as { messages: unknown }).messages }))
      .join('\n') + '\n',
  );
  return p;
}

test('export-run writes the run folder with the exact micro-batches and initial adapter sftkit train uses; import-run reads a result back', async () => {
  const model = await tinyModel();
  const work = tempDir('export-run');
  const dataset = await chatFile(work, 11);
  const args = {
    model,
    dataset,
    output_dir: join(work, 'sftkit-out'),
    max_length: 128,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 2,
    num_train_epochs: 2,
    learning_rate: 3e-3,
    logging_steps: 1,
    save_strategy: 'no' as const,
    assistant_only_loss: true,
    seed: 5,
    peft: { r: 4, target_modules: ['q_proj', 'v_proj'] },
  };
  const config = resolveConfig({ object: args });
  const out = join(work, 'run');
  const r = await exportRun({ config, out, gpus: 2, gpuMemory: 8 * 1024 ** 3, log: () => {} });
  for (const f of ['train.py', 'run.json', 'README.md', 'requirements.txt', 'launch.sh', 'data/index.json'])
    assert.ok(existsSync(join(out, f)), f);
  for (const n of ACCELERATE_CONFIGS) assert.ok(existsSync(join(out, 'accelerate', `${n}.yaml`)), n);
  assert.ok(existsSync(join(out, 'base_model', 'config.json')));
  assert.ok(statSync(join(out, 'launch.sh')).mode & 0o100, 'launch.sh is executable');
  assert.match(readFileSync(join(out, 'requirements.txt'), 'utf8'), /^peft==0\.20\.0$/m);
  const readme = readFileSync(join(out, 'README.md'), 'utf8');
  assert.match(readme, /must divide 2/);
  assert.match(readme, /\| `peft\.lora_dropout` \|/);
  assert.equal(r.plan?.choice, 'ddp');

  // 11 examples / 2 rows = 6 micro-batches per epoch, 3 steps per epoch (the last with 2), 2 epochs.
  const index = readBatchIndex(join(out, 'data'));
  assert.equal(index.steps, 6);
  assert.equal(index.micro_batches.length, 12);

  // The same run in sftkit: the trained tokens of each step match the exported micro-batches, and the micro-
  // batches are the trainer's own plan (first label of every row masked, as Trainer counts unshifted labels).
  const trainer = new SFTTrainer({ args: config, quiet: true });
  await trainer.prepare();
  const planned = [...trainer.plannedSteps()].flatMap((s) => s.micro);
  const real = index.micro_batches.map((e, j) => ({ e, j })).filter(({ e }) => !e.filler);
  assert.equal(real.length, planned.length);
  real.forEach(({ j }, k) => {
    const b = readMicroBatch(join(out, 'data'), index, j);
    assert.deepEqual([...b.inputIds], [...planned[k]!.inputIds]);
    assert.deepEqual([...b.labels], [...planned[k]!.labels]);
    for (let row = 0; row < b.batch; row++) assert.equal(b.labels[row * b.seq], -100);
  });
  await trainer.train();
  const metrics = readRunMetrics(config.output_dir);
  let cum = 0;
  for (let s = 0; s < index.steps; s++) {
    cum += index.micro_batches.filter((e) => e.step === s).reduce((a, e) => a + e.trained_tokens, 0);
    assert.equal(metrics[s]!.trained_tokens, cum, `step ${s + 1}`);
  }

  // The initial adapter is what attachLora(seed) gives: B = 0, A from the seed (same as a fresh trainer).
  const fresh = new SFTTrainer({ args: config, quiet: true });
  await fresh.prepare();
  const loaded = LlamaModel.load(model);
  loadAdapter(loaded, join(out, 'initial_adapter'));
  const a0 = fresh.model!.linears().find((m) => m.lora)!;
  const a1 = loaded.linears().find((m) => m.name === a0.name)!;
  assert.deepEqual([...a1.lora!.a.toF32()], [...a0.lora!.a.toF32()]);

  // import-run on a stand-in result: the initial adapter as "trained", losses per step, logits from sftkit.
  const output = join(out, 'output');
  mkdirSync(output);
  for (const f of readdirSync(join(out, 'initial_adapter')))
    copyFileSync(join(out, 'initial_adapter', f), join(output, f));
  writeFileSync(
    join(output, 'losses.jsonl'),
    [1, 2, 3, 4, 5, 6]
      .map((s) => JSON.stringify({ step: s, loss: 3 - s / 10, grad_norm: 1, learning_rate: 1e-3 }))
      .join('\n') + '\n',
  );
  const ids = Int32Array.from([3, 50, 60, 70, 80]);
  const pos = Int32Array.from([0, 1, 2, 3, 4]);
  const logits = loaded.logits({ batch: 1, seq: 5, inputIds: ids, positionIds: pos }).toF32();
  await writeSafetensors(join(output, 'check_logits.safetensors'), [
    { name: 'input_ids', dtype: 'I32', shape: [1, 5], data: ids },
    { name: 'position_ids', dtype: 'I32', shape: [1, 5], data: pos },
    { name: 'logits', dtype: 'F32', shape: [5, logits.length / 5], data: logits },
  ]);
  const res = runCli(['import-run', out]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /max abs diff 0\.00e\+0/);
  const imported = readRunMetrics(output);
  assert.equal(imported.length, 6);
  assert.equal(imported[2]!.loss, 3 - 3 / 10);
  assert.equal(imported[5]!.trained_tokens, cum);
  assert.equal(imported[5]!.epoch, 2);
  assert.ok(readFileSync(join(output, 'loss.svg'), 'utf8').startsWith('<svg'));
  assert.ok(existsSync(join(output, 'tokenizer.json')), 'tokenizer files join the adapter');

  // Refusals: a non-empty --out; W that does not divide G is refused by train.py (see README).
  await assert.rejects(exportRun({ config, out, log: () => {} }), /not empty/);
});
