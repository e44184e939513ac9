import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SFTTrainer, readRunMetrics } from '../../src/train/trainer.js';
import { loadAdapter } from '../../src/model/peft.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { lossModeFor } from '../../src/data/prepare-chunk.js';
import { LlamaModel } from '../../src/model/llama.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import type { ModelBatch } from '../../src/model/batch.js';
import { UserError } from '../../src/util/errors.js';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../../src/util/paths.js';
import { chatRecords, fastArgs, tempDir, tinyModel } from './helpers.js';
import { interruptHandler } from '../../src/cli/train.js';

const quiet = { progress: false, log: () => {} };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function probeBatch(): ModelBatch {
  const ids = Int32Array.from([3, 50, 60, 70, 80, 90, 100, 110, 2, 5]);
  return { batch: 1, seq: ids.length, inputIds: ids };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('loss decreases on a tiny model (full fine-tuning and LoRA)', async () => {
  const model = await tinyModel();
  const { train } = chatRecords(32);
  const full = await new SFTTrainer({
    model,
    args: fastArgs(tempDir('dec-full'), { full_finetune: true, max_steps: 16 }),
    trainDataset: train,
    ...quiet,
  }).train();
  assert.equal(full.stepLosses.length, 16);
  assert.ok(
    mean(full.stepLosses.slice(-3)) < mean(full.stepLosses.slice(0, 3)) - 0.5,
    `full FT: ${full.stepLosses.map((l) => l.toFixed(3))}`,
  );
  const lora = await new SFTTrainer({
    model,
    args: fastArgs(tempDir('dec-lora'), { max_steps: 16, learning_rate: 1e-2 }),
    trainDataset: train,
    peftConfig: { target_modules: ['all-linear'] },
    ...quiet,
  }).train();
  assert.ok(
    mean(lora.stepLosses.slice(-3)) < mean(lora.stepLosses.slice(0, 3)) - 0.1,
    `LoRA: ${lora.stepLosses.map((l) => l.toFixed(3))}`,
  );
});

test('LoRA run saves a PEFT adapter (with trained token rows) that reproduces the trained logits', async () => {
  const model = await tinyModel();
  const out = tempDir('lora-art');
  const { train, eval: ev } = chatRecords(16);
  const trainer = new SFTTrainer({
    model,
    args: fastArgs(out, { max_steps: 3, eval_strategy: 'steps', eval_steps: 3 }),
    trainDataset: train,
    evalDataset: ev,
    peftConfig: {
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      trainable_token_indices: [2],
    },
    ...quiet,
  });
  const r = await trainer.train();
  assert.deepEqual(r.trainedTokenRows, [2]);
  for (const f of [
    'adapter_config.json',
    'adapter_model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
    'trainer_state.json',
    'README.md',
    'loss.svg',
    'metrics.jsonl',
  ]) {
    assert.ok(existsSync(join(out, f)), f);
  }
  const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.peft_type, 'LORA');
  assert.equal(cfg.r, 4);
  assert.deepEqual(cfg.target_modules, ['down_proj', 'q_proj', 'v_proj']);
  assert.deepEqual(cfg.trainable_token_indices, [2]);
  const trained = trainer.model!.logits(probeBatch()).toF32();
  const fresh = LlamaModel.load(model);
  // The token row really changed: the base model's logits differ from the trained ones.
  assert.ok(maxAbsDiff(fresh.logits(probeBatch()).toF32(), trained) > 1e-4);
  loadAdapter(fresh, out);
  assert.ok(maxAbsDiff(fresh.logits(probeBatch()).toF32(), trained) < 1e-5);
  const state = JSON.parse(readFileSync(join(out, 'trainer_state.json'), 'utf8'));
  assert.equal(state.global_step, 3);
  assert.ok(state.log_history.some((e: { eval_loss?: number }) => typeof e.eval_loss === 'number'));
  assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /final eval loss: \d/);
});

test('full fine-tuning saves a complete HF folder that loads with identical logits', async () => {
  const model = await tinyModel();
  const out = tempDir('full-art');
  const trainer = new SFTTrainer({
    model,
    args: fastArgs(out, { max_steps: 2, full_finetune: true }),
    trainDataset: chatRecords(8).train,
    ...quiet,
  });
  await trainer.train();
  const reloaded = LlamaModel.load(out);
  assert.equal(maxAbsDiff(reloaded.logits(probeBatch()).toF32(), trainer.model!.logits(probeBatch()).toF32()), 0);
  const tok = await Tokenizer.fromDir(out);
  assert.equal(tok.eosToken, '<|im_end|>');
});

test('same seed, same loss curve; resume from a checkpoint continues bit-identically', async () => {
  const model = await tinyModel();
  const { train } = chatRecords(20);
  // Dropout and NEFTune on, so the RNG state must resume too. 5 micro-batches per epoch with accumulation 2:
  // steps of 2, 2 and 1 micro-batches, so the checkpoint at step 3 sits at an epoch boundary mid-run.
  const args = (dir: string, extra: Record<string, unknown> = {}) =>
    fastArgs(dir, {
      max_steps: 6,
      save_strategy: 'steps',
      save_steps: 3,
      gradient_accumulation_steps: 2,
      neftune_noise_alpha: 5,
      lr_scheduler_type: 'cosine',
      warmup_steps: 1,
      ...extra,
    });
  const peft = { lora_dropout: 0.1, target_modules: ['all-linear'] };
  const full = await new SFTTrainer({
    model,
    args: args(tempDir('resume-a')),
    trainDataset: train,
    peftConfig: peft,
    ...quiet,
  }).train();
  assert.equal(full.stepLosses.length, 6);

  const dir = tempDir('resume-b');
  const first = new SFTTrainer({
    model,
    args: args(dir),
    trainDataset: train,
    peftConfig: peft,
    ...quiet,
    onLog: (rec) => rec.step === 3 && first.requestStop(),
  });
  const part1 = await first.train();
  assert.equal(part1.interrupted, true);
  assert.deepEqual(part1.stepLosses, full.stepLosses.slice(0, 3), 'determinism: same seed, same first steps');
  assert.deepEqual(
    listCheckpoints(dir).map((c) => c.step),
    [3],
  );

  const part2 = await new SFTTrainer({
    model,
    args: args(dir, { resume_from_checkpoint: true }),
    trainDataset: train,
    peftConfig: peft,
    ...quiet,
  }).train();
  assert.deepEqual(part2.stepLosses, full.stepLosses.slice(3), 'resumed steps equal the uninterrupted run bit for bit');
  const strip = (rs: ReturnType<typeof readRunMetrics>) => rs.map(({ tokens_per_s: _t, ...r }) => r);
  assert.deepEqual(strip(readRunMetrics(dir)), strip(readRunMetrics(full.outputDir)));
});

test('full fine-tuning: checkpoint-N is a loadable HF folder and resumes bit-identically', async () => {
  const model = await tinyModel();
  const { train } = chatRecords(16);
  const args = (dir: string, extra: Record<string, unknown> = {}) =>
    fastArgs(dir, {
      full_finetune: true,
      max_steps: 4,
      save_strategy: 'steps',
      save_steps: 2,
      weight_decay: 0.1,
      ...extra,
    });
  const full = await new SFTTrainer({
    model,
    args: args(tempDir('full-resume-a')),
    trainDataset: train,
    ...quiet,
  }).train();
  const dir = tempDir('full-resume-b');
  const first = new SFTTrainer({
    model,
    args: args(dir),
    trainDataset: train,
    ...quiet,
    onLog: (rec) => rec.step === 2 && first.requestStop(),
  });
  await first.train();
  const ckpt = LlamaModel.load(join(dir, 'checkpoint-2'));
  assert.equal(maxAbsDiff(ckpt.logits(probeBatch()).toF32(), first.model!.logits(probeBatch()).toF32()), 0);
  const rest = await new SFTTrainer({
    model,
    args: args(dir, { resume_from_checkpoint: join(dir, 'checkpoint-2') }),
    trainDataset: train,
    ...quiet,
  }).train();
  assert.deepEqual(rest.stepLosses, full.stepLosses.slice(2));
});

test('gradient accumulation 4 x 1 equals batch 4 (loss normalised over all trained tokens)', async () => {
  const model = await tinyModel();
  const four = chatRecords(4).train;
  const peft = { lora_dropout: 0, target_modules: ['all-linear'] };
  const run = async (bs: number, ga: number) => {
    const t = new SFTTrainer({
      model,
      args: fastArgs(tempDir(`ga-${bs}`), {
        per_device_train_batch_size: bs,
        gradient_accumulation_steps: ga,
        num_train_epochs: 3,
      }),
      trainDataset: four,
      peftConfig: peft,
      ...quiet,
    });
    const r = await t.train();
    return { losses: r.stepLosses, logits: t.model!.logits(probeBatch()).toF32() };
  };
  const batched = await run(4, 1);
  const accumulated = await run(1, 4);
  assert.equal(batched.losses.length, 3);
  assert.equal(accumulated.losses.length, 3);
  batched.losses.forEach((l, i) =>
    assert.ok(
      Math.abs(l - accumulated.losses[i]!) <= 1e-5 * Math.abs(l),
      `step ${i + 1}: ${l} vs ${accumulated.losses[i]}`,
    ),
  );
  assert.ok(maxAbsDiff(batched.logits, accumulated.logits) < 1e-4);
});

test('a NaN loss stops the run naming the step and the last checkpoint', async () => {
  const model = await tinyModel();
  const trainer = new SFTTrainer({
    model,
    args: fastArgs(tempDir('nan'), { max_steps: 3 }),
    trainDataset: chatRecords(8).train,
    ...quiet,
  });
  await trainer.prepare();
  (trainer.model!.norm.data as Float32Array)[0] = Number.NaN;
  await assert.rejects(
    trainer.train(),
    (e: Error) =>
      e instanceof UserError && /step 1: loss is NaN/.test(e.message) && /No checkpoint was saved yet/.test(e.message),
  );
});

test('Ctrl-C (SIGINT) saves a checkpoint and stops', async () => {
  const model = await tinyModel();
  const dir = tempDir('sigint');
  // What `sftkit train` installs for SIGINT (called directly: emitting the signal would reach the test runner too).
  let onInterrupt = () => {};
  const messages: string[] = [];
  const trainer = new SFTTrainer({
    model,
    args: fastArgs(dir, { max_steps: 5 }),
    trainDataset: chatRecords(8).train,
    ...quiet,
    onLog: (rec) => rec.step === 2 && onInterrupt(),
  });
  onInterrupt = interruptHandler(trainer, (l) => messages.push(l));
  const r = await trainer.train();
  assert.match(messages.join('\n'), /saving a checkpoint after this step/);
  assert.equal(r.interrupted, true);
  assert.equal(r.steps, 2);
  assert.deepEqual(
    listCheckpoints(dir).map((c) => c.step),
    [2],
  );
  for (const f of [
    'trainable.safetensors',
    'optimizer.safetensors',
    'scheduler.json',
    'rng_state.json',
    'trainer_state.json',
    'adapter_model.safetensors',
  ])
    assert.ok(existsSync(join(dir, 'checkpoint-2', f)), f);
});

test('a config that cannot fit in memory is refused with suggestions', async () => {
  const model = await tinyModel();
  const trainer = new SFTTrainer({
    model,
    args: fastArgs(tempDir('mem'), { max_steps: 1, full_finetune: true }),
    trainDataset: chatRecords(4).train,
    memoryLimitBytes: 1024 * 1024,
    ...quiet,
  });
  await assert.rejects(
    trainer.train(),
    (e: Error) =>
      e instanceof UserError &&
      /not enough memory: this config needs about .* but 1\.0 MiB is available/.test(e.message) &&
      /LoRA/.test(e.message) &&
      /gradient_checkpointing/.test(e.message),
  );
});

test('TRL loss semantics: assistant-only, completion-only (auto for prompt-completion), else every token', () => {
  const c = (a: boolean, co: boolean | null) => ({ assistant_only_loss: a, completion_only_loss: co });
  assert.equal(lossModeFor(c(true, null), 'conversation'), 'assistant-only');
  assert.equal(lossModeFor(c(false, null), 'conversation'), 'all');
  assert.equal(lossModeFor(c(false, null), 'prompt-completion'), 'completion-only');
  assert.equal(lossModeFor(c(false, false), 'prompt-completion'), 'all');
  assert.equal(lossModeFor(c(false, null), 'text'), 'all');
  assert.throws(() => lossModeFor(c(true, null), 'text'), /assistant_only_loss needs conversational data/);
});

test('save_total_limit keeps the newest checkpoints', async () => {
  const model = await tinyModel();
  const dir = tempDir('limit');
  await new SFTTrainer({
    model,
    args: fastArgs(dir, { max_steps: 7, save_strategy: 'steps', save_steps: 2, save_total_limit: 2 }),
    trainDataset: chatRecords(8).train,
    ...quiet,
  }).train();
  assert.deepEqual(
    listCheckpoints(dir).map((c) => c.step),
    [4, 6],
  );
});

test('sftkit train --config FILE with flag overrides', async () => {
  const model = await tinyModel();
  const dir = tempDir('cli');
  const data = join(dir, 'data.jsonl');
  writeFileSync(
    data,
    chatRecords(8)
      .train.map((r) => JSON.stringify({ messages: (r as { messages: unknown }).messages }))
      .join('\n') + '\n',
  );
  const yaml = join(dir, 'sft.yaml');
  writeFileSync(
    yaml,
    `model: ${model}\ndataset: ${data}\noutput_dir: ${join(dir, 'out')}\nmax_steps: 50\nper_device_train_batch_size: 4\nassistant_only_loss: true\npeft:\n  r: 4\n`,
  );
  // A child process: mocking this process's stdout would swallow the test runner's own reports.
  const sftkit = (...argv: string[]) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(${JSON.stringify(argv)}); })`,
      ],
      { cwd: packageRoot(), encoding: 'utf8' },
    );
  const ok = sftkit('train', '--config', yaml, '--max_steps', '2', '--lora_alpha', '8');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /saved to /);
  const typo = sftkit('train', '--config', yaml, '--lora_alpah', '8');
  assert.equal(typo.status, 1);
  assert.match(typo.stderr, /lora_alpah/);
  const cfg = JSON.parse(readFileSync(join(dir, 'out', 'adapter_config.json'), 'utf8'));
  assert.equal(cfg.lora_alpha, 8);
  assert.equal(JSON.parse(readFileSync(join(dir, 'out', 'trainer_state.json'), 'utf8')).global_step, 2);
});

test('NEFTune noise changes the loss; with the same seed it is the same noise', async () => {
  const model = await tinyModel();
  const { train } = chatRecords(16);
  const run = async (name: string, alpha: number | null) =>
    (
      await new SFTTrainer({
        model,
        args: fastArgs(tempDir(name), { max_steps: 3, neftune_noise_alpha: alpha }),
        trainDataset: train,
        ...quiet,
      }).train()
    ).stepLosses;
  const plain = await run('neft-off', null);
  const noisy = await run('neft-on', 50);
  const again = await run('neft-again', 50);
  assert.notEqual(noisy[0], plain[0], 'the first step already sees the noise');
  for (let i = 0; i < plain.length; i++)
    assert.ok(Math.abs(noisy[i]! - plain[i]!) > 1e-6, `step ${i + 1}: ${noisy[i]} vs ${plain[i]}`);
  assert.deepEqual(again, noisy);
});

test('deprecated option spellings still work and warn once each', async () => {
  const model = await tinyModel();
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const { train } = chatRecords(8);
    const data = join(tempDir('alias-data'), 'train.jsonl');
    writeFileSync(
      data,
      train.map((r) => JSON.stringify({ messages: r.kind === 'conversation' ? r.messages : [] })).join('\n'),
    );
    for (let i = 0; i < 2; i++) {
      const r = await new SFTTrainer({
        model,
        args: { ...fastArgs(tempDir(`alias-${i}`), { max_steps: 1 }), dataset: data, peft: { r: 4 } },
        quiet: true,
      }).train();
      assert.equal(r.steps, 1);
    }
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(warnings.filter((w) => /args\.dataset is deprecated/.test(w)).length, 1, warnings.join('\n'));
  assert.equal(warnings.filter((w) => /args\.peft is deprecated/.test(w)).length, 1, warnings.join('\n'));
  assert.equal(warnings.filter((w) => /`quiet` is deprecated/.test(w)).length, 1, warnings.join('\n'));
});
