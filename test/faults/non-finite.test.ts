// Numerical faults (issue #17 item 4): weights holding Inf/NaN are refused where they are loaded, naming the
// tensor; training stops at the first non-finite loss, gradient or update, naming the step and the source lines
// of the batch, and the last good checkpoint stays finite and resumable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import type { SFTConfigInput } from '../../src/train/config.js';
import { checkpointProblem, listCheckpoints } from '../../src/train/checkpoint.js';
import { formatRefs, type SftRecord } from '../../src/data/types.js';
import { UserError } from '../../src/util/errors.js';
import { Tensor } from '../../src/engine/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, tinyModel } from '../train/helpers.js';

const quiet = { progress: false, log: () => {} };

/** A copy of safetensors file `src` at `dst` with `tensor[index] = value`. */
async function poisoned(src: string, dst: string, tensor: string, index: number, value: number): Promise<void> {
  const st = SafetensorsFile.open(src);
  const tensors = [...st.tensors.values()].map((t) => {
    const data = st.readF32(t.name);
    if (t.name === tensor) data[index] = value;
    return { name: t.name, dtype: 'F32' as const, shape: [...t.shape], data };
  });
  st.close();
  await writeSafetensors(dst, tensors);
}

/** A copy of the tiny model whose `tensor[index]` holds `value`. */
async function poisonedModel(tensor: string, index: number, value: number): Promise<string> {
  const dir = join(tempDir('nonfinite-model'), 'model');
  cpSync(await tinyModel(), dir, { recursive: true });
  await poisoned(join(await tinyModel(), 'model.safetensors'), join(dir, 'model.safetensors'), tensor, index, value);
  return dir;
}

/** 24 short text records; the ones at the 1-based `marked` lines contain 'Z' (the other lines never do). */
function textRecords(marked: number[]): SftRecord[] {
  return Array.from({ length: 24 }, (_, i) => ({
    kind: 'text' as const,
    text: marked.includes(i + 1) ? `row ${i + 1} holds a Z here` : `row ${i + 1} is plain text`,
    source: { file: 'data.jsonl', line: i + 1 },
  }));
}

test('formatRefs groups places by file, one line', () => {
  assert.equal(
    formatRefs([
      { file: 'a.jsonl', line: 3 },
      { file: 'b.parquet', line: 5, row: 4, rowGroup: 0 },
      { file: 'a.jsonl', line: 17 },
    ]),
    'a.jsonl lines 3, 17; b.parquet row 4',
  );
  const many = Array.from({ length: 30 }, (_, i) => ({ file: 'x.csv', line: i + 2 }));
  assert.match(formatRefs(many, 4), /^x\.csv lines 2, 3, 4, 5; and 26 more$/);
});

test('a model with a NaN or Inf weight is refused at load, naming file and tensor', async () => {
  for (const [tensor, value, shown] of [
    ['model.layers.1.mlp.up_proj.weight', Number.NaN, 'NaN'],
    ['model.norm.weight', Number.NEGATIVE_INFINITY, '-Infinity'],
  ] as const) {
    const dir = await poisonedModel(tensor, 5, value);
    for (const dtype of ['f32', 'bf16'] as const) {
      assert.throws(
        () => LlamaModel.load(dir, { dtype }),
        (e: unknown) =>
          e instanceof UserError &&
          e.message ===
            `${join(dir, 'model.safetensors')}: tensor ${tensor} holds a non-finite value (${shown}) at index 5; refusing to use these weights`,
      );
    }
  }
});

test('CLI: generate, train and quantize refuse non-finite weights in one line with exit code 1', async () => {
  const bad = await poisonedModel('model.layers.0.self_attn.k_proj.weight', 0, Number.POSITIVE_INFINITY);
  const out = tempDir('nonfinite-cli');
  const data = join(out, 'data.jsonl');
  (await import('node:fs')).writeFileSync(data, '{"text": "hello there"}\n{"text": "more text"}\n');
  for (const args of [
    ['generate', '--model', bad, '--prompt', 'hi', '--max-new-tokens', '2'],
    ['train', '--model', bad, '--dataset', data, '--output_dir', join(out, 'run'), '--max_steps', '1'],
    ['quantize', '--model', bad, '--out', join(out, 'q')],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /model\.safetensors: tensor model\.layers\.0\.self_attn\.k_proj\.weight holds a non-finite value \(Infinity\)/,
    );
  }
  assert.ok(!existsSync(join(out, 'q')), 'quantize wrote nothing');
  assert.ok(!existsSync(join(out, 'run', 'adapter_model.safetensors')), 'train saved nothing');
});

test('an adapter with a non-finite LoRA matrix is refused by name', async () => {
  const model = await tinyModel();
  const run = tempDir('nonfinite-adapter');
  const trainer = new SFTTrainer({
    model,
    args: { output_dir: run, max_steps: 1, save_strategy: 'no', max_length: 64 },
    trainDataset: textRecords([]),
    ...quiet,
  });
  await trainer.train();
  const key = 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight';
  await poisoned(join(run, 'adapter_model.safetensors'), join(run, 'adapter_model.safetensors'), key, 3, Number.NaN);
  assert.throws(
    () => loadAdapter(LlamaModel.load(model), run),
    (e: unknown) =>
      e instanceof UserError && e.message.includes(`tensor ${key} holds a non-finite value (NaN) at index 3`),
  );
});

test('data that produce a NaN loss: stops at that step naming its source lines; the last checkpoint resumes', async () => {
  const model = await tinyModel();
  const out = tempDir('nonfinite-data');
  const marked = [17, 20];
  const args: SFTConfigInput = {
    output_dir: out,
    max_steps: 12,
    per_device_train_batch_size: 2,
    max_length: 64,
    save_strategy: 'steps',
    save_steps: 1,
    logging_steps: 1,
    learning_rate: 1e-3,
  };
  const trainer = new SFTTrainer({ model, args, trainDataset: textRecords(marked), ...quiet });
  await trainer.prepare();
  // A NaN in the embedding row of 'Z' (poked after loading, which refuses such weights): only the batches
  // holding a marked line can produce a non-finite loss.
  const z = trainer.tokenizer!.encode('Z', { addSpecialTokens: false }).ids[0]!;
  // The tiny model ties its head to the embedding: untie it, so that the NaN row is only read as an input.
  const m = trainer.model!;
  const D = m.config.hiddenSize;
  const embed = Float32Array.from(m.embedTokens.data as Float32Array).fill(Number.NaN, z * D, (z + 1) * D);
  m.embedTokens = Tensor.from(embed, m.embedTokens.shape, 'f32');
  const steps = [...trainer.plannedSteps()];
  const bad = steps.findIndex((s) => s.micro.some((b) => b.sources!.some((r) => marked.includes(r.line))));
  assert.ok(bad > 0, 'the shuffle puts a marked line after step 1 (else pick another seed)');
  const badLines = steps[bad]!.micro.flatMap((b) => b.sources!.map((r) => r.line));
  let message = '';
  await assert.rejects(trainer.train(), (e: unknown) => {
    message = (e as Error).message;
    return e instanceof UserError;
  });
  assert.ok(!message.includes('\n'), message);
  assert.match(message, new RegExp(`^step ${bad + 1}: loss is NaN; stopped before updating the weights\\. `));
  assert.ok(
    message.includes(`Batch: data.jsonl line${badLines.length > 1 ? 's' : ''} ${badLines.join(', ')}. `),
    message,
  );
  const last = join(out, `checkpoint-${bad}`);
  assert.ok(message.includes(`Last good checkpoint: ${last}`), message);
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    Array.from({ length: bad }, (_, i) => i + 1),
  );
  assert.equal(checkpointProblem(last, { checkFinite: true }), null);
  // Resume from it with data that no longer holds the bad rows: the run finishes.
  const resumed = new SFTTrainer({
    model,
    args: { ...args, resume_from_checkpoint: last },
    trainDataset: textRecords([]),
    ...quiet,
  });
  const r = await resumed.train();
  assert.equal(r.steps, 12);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
});

test('a learning rate that overflows the update stops at that step, before any checkpoint holds it', async () => {
  const model = await tinyModel();
  for (const [lr, full] of [
    [1e38, false],
    [1e39, true],
  ] as const) {
    const out = tempDir('nonfinite-lr');
    const trainer = new SFTTrainer({
      model,
      args: {
        output_dir: out,
        max_steps: 4,
        per_device_train_batch_size: 2,
        max_length: 64,
        save_strategy: 'steps',
        save_steps: 1,
        learning_rate: lr,
        full_finetune: full,
      },
      trainDataset: textRecords([]),
      ...quiet,
    });
    await assert.rejects(
      trainer.train(),
      (e: unknown) =>
        e instanceof UserError &&
        /^step 1: the update made \S+ non-finite at index \d+ \(learning_rate 1e\+3[89] is too high\?\)\. Batch: data\.jsonl lines [\d, ]+\. No checkpoint was saved yet/.test(
          e.message,
        ),
    );
    assert.deepEqual(listCheckpoints(out), []);
  }
});
