// export-run end to end with the real Hugging Face libraries: the exported run is trained by transformers'
// Trainer + PEFT under `accelerate launch` (2 processes, DDP over gloo) and by 1 process with gradient
// accumulation; both must reproduce `sftkit train`'s per-step losses, and the adapter they write must load in
// sftkit with the logits of the Python run's final model. The accelerate configs are checked by accelerate's
// own parser and launcher argument handling.
//
// Needs ../shared (stories260K, make_tiny.py), Debian's python3-torch and SFTKIT_TEST_HF_PYTHONPATH: a
// PYTHONPATH holding transformers 4.48 (commit 9feae5fb), peft 0.20.0, accelerate 1.2.1, huggingface_hub
// 0.27.1 and ../shared/hf-shims (see src/handoff/python/train.py and the run folder's README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, type SFTConfig } from '../../src/train/config.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { exportRun } from '../../src/handoff/export-run.js';
import { importRun, readStepLosses } from '../../src/handoff/import-run.js';
import { ACCELERATE_CONFIGS } from '../../src/handoff/accelerate-configs.js';
import { createModel } from '../../src/model/create-model.js';
import { packageRoot } from '../../src/util/paths.js';
import { sharedDir } from '../helpers/shared.js';
import { tempDir } from '../train/helpers.js';
import { runCli } from '../helpers/cli.js';

const PYTHON = '/usr/bin/python3';
const shared = sharedDir();
const hfPath = process.env.SFTKIT_TEST_HF_PYTHONPATH;
const skip = !hfPath
  ? 'SFTKIT_TEST_HF_PYTHONPATH is not set (a PYTHONPATH with transformers, peft, accelerate, huggingface_hub and ../shared/hf-shims)'
  : !shared
    ? '../shared is not available'
    : !existsSync(PYTHON)
      ? `${PYTHON} (Debian python3-torch) is not installed`
      : false;
if (skip) console.log(`# skipped: export-run with the real Hugging Face libraries: ${skip}`);

function python(args: string[], cwd: string, extraEnv: Record<string, string> = {}) {
  const r = spawnSync(PYTHON, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: hfPath!, ...extraEnv },
    timeout: 600_000,
  });
  if (r.status !== 0)
    assert.fail(`python ${args.join(' ')} failed (${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  return r.stdout + r.stderr;
}

/** sftkit train, then the exported run under 2-process DDP and under 1 process with accumulation. */
async function roundTrip(tag: string, config: SFTConfig, modelType: string) {
  const work = tempDir(`hf-${tag}`);
  const run = join(work, 'run');
  await exportRun({ config, out: run, gpus: 2, log: () => {} });
  const sftkit = await new SFTTrainer({ args: { ...config, output_dir: join(work, 'sftkit') }, quiet: true }).train();

  // torch 1.13's torchrun cannot parse its default --redirects 0 / --tee 0 on Python 3.11: non-zero values.
  const ddpOut = join(work, 'ddp2');
  const ddpLog = python(
    [
      '-m',
      'accelerate.commands.launch',
      '--multi_gpu',
      '--num_processes',
      '2',
      '--tee',
      '1',
      'train.py',
      '--output_dir',
      ddpOut,
    ],
    run,
    { PET_REDIRECTS: '1' },
  );
  assert.match(ddpLog, /process 1 of 2: \d+ micro-batches, 1 per optimizer step/);
  const oneOut = join(work, 'accum');
  const oneLog = python(['train.py', '--output_dir', oneOut], run);
  assert.match(oneLog, /process 0 of 1: \d+ micro-batches, 2 per optimizer step/);

  const columns = { ddp2: readStepLosses(ddpOut), accum: readStepLosses(oneOut) };
  const lines = [`${tag}: step  sftkit     accelerate-2proc  1proc+accum2`];
  sftkit.stepLosses.forEach((l, i) =>
    lines.push(
      `${tag}: ${String(i + 1).padStart(4)}  ${l.toFixed(6)}  ${columns.ddp2[i]!.loss.toFixed(6)}  ${columns.accum[i]!.loss.toFixed(6)}`,
    ),
  );
  console.log(lines.join('\n'));
  for (const [name, col] of Object.entries(columns)) {
    assert.equal(col.length, sftkit.stepLosses.length, name);
    const rel = (i: number) => Math.abs(col[i]!.loss - sftkit.stepLosses[i]!) / Math.abs(sftkit.stepLosses[i]!);
    assert.ok(rel(0) < 1e-4, `${tag} ${name}: step 1 differs by ${rel(0)}`);
    for (let i = 0; i < col.length; i++) assert.ok(rel(i) < 2e-3, `${tag} ${name}: step ${i + 1} differs by ${rel(i)}`);
  }
  for (const out of [ddpOut, oneOut]) {
    const r = await importRun(run, { output: out, log: () => {} });
    assert.ok(
      r.logitsMaxAbsDiff !== null && r.logitsMaxAbsDiff < 1e-4,
      `${tag}: logits differ by ${r.logitsMaxAbsDiff}`,
    );
    console.log(
      `${tag}: ${out.endsWith('ddp2') ? 'accelerate-2proc' : '1proc+accum2'} logits max abs diff ${r.logitsMaxAbsDiff}`,
    );
    assert.ok(existsSync(join(out, 'metrics.jsonl')) && existsSync(join(out, 'loss.svg')));
  }
  const gen = runCli([
    'generate',
    '--model',
    join(run, 'base_model'),
    '--adapter',
    ddpOut,
    '--prompt',
    'Once upon a time',
    '--max-new-tokens',
    '8',
  ]);
  assert.equal(gen.code, 0, gen.stderr);

  // accelerate's own parser and launcher accept every config; a bad one is refused.
  const cfgDir = join(run, 'accelerate');
  writeFileSync(
    join(work, 'bad.yaml'),
    readFileSync(join(cfgDir, 'fsdp.yaml'), 'utf8').replace('FULL_SHARD', 'HALF_SHARD'),
  );
  writeFileSync(join(work, 'bad2.yaml'), readFileSync(join(cfgDir, 'ddp.yaml'), 'utf8') + 'num_gpus_total: 2\n');
  const files = [
    ...ACCELERATE_CONFIGS.map((n) => join(cfgDir, `${n}.yaml`)),
    join(work, 'bad.yaml'),
    join(work, 'bad2.yaml'),
  ];
  const report = JSON.parse(
    python([join(packageRoot(), 'test', 'handoff', 'validate_accelerate_configs.py'), modelType, ...files], work),
  );
  for (const n of ACCELERATE_CONFIGS)
    assert.equal(report[`${n}.yaml`].ok, true, `${n}.yaml: ${report[`${n}.yaml`].error}`);
  assert.equal(report['bad.yaml'].ok, false);
  assert.equal(report['bad2.yaml'].ok, false);
  console.log(
    `${tag}: accelerate configs: ${JSON.stringify(Object.fromEntries(Object.entries(report).map(([k, v]) => [k, (v as { ok: boolean }).ok])))}`,
  );
}

const common = {
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 2,
  max_steps: 20,
  logging_steps: 1,
  save_strategy: 'no' as const,
  train_untrained_tokens: false,
  // f32 on both sides: these runs check parity to 1e-4, and bf16 (the default where the CPU multiplies bf16
  // natively) rounds differently in torch autocast than in sftkit's GEMMs; gloo on torch 1.13 has no bf16 all-reduce.
  bf16: false,
};

function storiesData(): string {
  const data = join(tempDir('hf-data'), 'stories.jsonl');
  const names = ['Lily', 'Tom', 'Sue', 'Ben', 'Max', 'Mia'];
  const things = ['a red ball', 'a big dog', 'a small cat', 'a blue kite'];
  const rows = Array.from({ length: 24 }, (_, i) => ({
    prompt: `Once upon a time, ${names[i % 6]} went to the park.`,
    completion: ` ${names[(i * 5) % 6]} found ${things[i % 4]} and was very happy.`,
  }));
  writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return data;
}

test(
  'stories260K LoRA: accelerate 2-process DDP and 1 process + accumulation reproduce sftkit train',
  { skip },
  async () => {
    const data = storiesData();
    const config = resolveConfig({
      object: {
        ...common,
        model: join(shared!, 'models', 'stories260K'),
        dataset: data,
        max_length: 64,
        learning_rate: 5e-3,
        warmup_steps: 2,
        weight_decay: 0.01,
        seed: 7,
        peft: { r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['all-linear'] },
      },
    });
    await roundTrip('stories260K', config, 'llama');
  },
);

test('tiny Qwen2 LoRA (q/k/v biases, assistant-only loss): the same', { skip }, async () => {
  const work = tempDir('hf-qwen2');
  const modelDir = join(work, 'qwen2');
  python([join(shared!, 'reference', 'make_tiny.py'), modelDir, 'qwen2', '3'], work, { PYTHONPATH: '' });
  // make_tiny.py writes weights and config only: borrow the byte-level ChatML tokenizer of a tiny sftkit model.
  const tok = join(work, 'tok');
  await createModel({ preset: 'tiny', out: tok, seed: 1 });
  for (const f of readdirSync(tok))
    if (f.startsWith('tokenizer') || f === 'special_tokens_map.json') copyFileSync(join(tok, f), join(modelDir, f));
  const qa = [
    ['What is 2+3?', '2+3 is 5.'],
    ['Name a color.', 'Blue is a color.'],
    ['Say hi.', 'Hi there!'],
    ['Count to three.', 'One, two, three.'],
  ];
  const data = join(work, 'chat.jsonl');
  writeFileSync(
    data,
    Array.from({ length: 20 }, (_, i) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: qa[i % 4]![0] },
          { role: 'assistant', content: qa[(i * 3) % 4]![1] },
        ],
      }),
    ).join('\n') + '\n',
  );
  const config = resolveConfig({
    object: {
      ...common,
      model: modelDir,
      dataset: data,
      assistant_only_loss: true,
      max_length: 96,
      learning_rate: 3e-3,
      lr_scheduler_type: 'cosine',
      warmup_ratio: 0.1,
      seed: 11,
      peft: { r: 8, lora_alpha: 16, lora_dropout: 0, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
    },
  });
  await roundTrip('qwen2', config, 'qwen2');
});

test(
  'stories260K full fine-tuning: 1 process + accumulation reproduces sftkit train; the model imports',
  { skip },
  async () => {
    const work = tempDir('hf-full');
    const config = resolveConfig({
      object: {
        ...common,
        max_steps: 8,
        model: join(shared!, 'models', 'stories260K'),
        dataset: storiesData(),
        output_dir: join(work, 'sftkit'),
        max_length: 64,
        learning_rate: 1e-3,
        weight_decay: 0.01,
        full_finetune: true,
        seed: 3,
      },
    });
    const run = join(work, 'run');
    await exportRun({ config, out: run, log: () => {} });
    assert.ok(!existsSync(join(run, 'initial_adapter')));
    const sftkit = await new SFTTrainer({ args: config, quiet: true }).train();
    const out = join(work, 'out');
    python(['train.py', '--output_dir', out], run);
    const losses = readStepLosses(out);
    assert.equal(losses.length, 8);
    losses.forEach((s, i) => {
      const rel = Math.abs(s.loss - sftkit.stepLosses[i]!) / sftkit.stepLosses[i]!;
      assert.ok(rel < (i === 0 ? 1e-4 : 2e-3), `step ${i + 1}: ${s.loss} vs ${sftkit.stepLosses[i]}`);
    });
    const r = await importRun(run, { output: out, log: () => {} });
    assert.ok(r.logitsMaxAbsDiff !== null && r.logitsMaxAbsDiff < 1e-4, `logits differ by ${r.logitsMaxAbsDiff}`);
    console.log(
      `full fine-tuning: 8 steps within ${Math.max(...losses.map((s, i) => Math.abs(s.loss - sftkit.stepLosses[i]!) / sftkit.stepLosses[i]!)).toExponential(1)}, logits ${r.logitsMaxAbsDiff}`,
    );
  },
);

test(
  'stories260K packed LoRA: train.py separates packed examples as sftkit does (block-diagonal mask)',
  { skip },
  async () => {
    const work = tempDir('hf-packed');
    const config = resolveConfig({
      object: {
        ...common,
        max_steps: 6,
        model: join(shared!, 'models', 'stories260K'),
        dataset: storiesData(),
        output_dir: join(work, 'sftkit'),
        packing: true,
        max_length: 128,
        learning_rate: 5e-3,
        seed: 7,
        peft: { r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['all-linear'] },
      },
    });
    const run = join(work, 'run');
    const exported = await exportRun({ config, out: run, log: () => {} });
    assert.ok(Math.max(...exported.index.micro_batches.map((e) => e.seq)) > 64, 'rows hold several examples');
    const sftkit = await new SFTTrainer({ args: config, quiet: true }).train();
    const rel = (out: string) =>
      readStepLosses(out).map((s, i) => Math.abs(s.loss - sftkit.stepLosses[i]!) / sftkit.stepLosses[i]!);
    python(['train.py', '--output_dir', join(work, 'masked')], run);
    const masked = rel(join(work, 'masked'));
    assert.ok(masked[0]! < 1e-4 && Math.max(...masked) < 2e-3, `packed with mask: ${masked}`);
    python(['train.py', '--no_packed_mask', '--output_dir', join(work, 'unmasked')], run);
    assert.ok(Math.max(...rel(join(work, 'unmasked'))) > 1e-2, 'without the mask transformers 4.48 lets examples mix');
    const r = await importRun(run, { output: join(work, 'masked'), log: () => {} });
    assert.ok(r.logitsMaxAbsDiff !== null && r.logitsMaxAbsDiff < 1e-4, `logits differ by ${r.logitsMaxAbsDiff}`);
    console.log(
      `packed: ${masked.length} steps within ${Math.max(...masked).toExponential(1)} with the mask; logits ${r.logitsMaxAbsDiff}`,
    );
  },
);
