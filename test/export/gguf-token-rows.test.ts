// A quickstart-shaped adapter (LoRA + trained token rows, made by SFTTrainer) merges and exports to GGUF:
// the merged folder and the GGUF (loaded by llama.cpp when node-llama-cpp is available) compute what sftkit
// computes with the adapter unmerged.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { exportGguf } from '../../src/export/gguf/export.js';
import { readGguf } from '../../src/export/gguf/reader.js';
import { mergeAdapter } from '../../src/export/merge.js';
import { createModel } from '../../src/model/create-model.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { tokenRowsKey } from '../../src/model/token-rows.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { chatRecords, fastArgs } from '../train/helpers.js';
import { loadLlamaCpp, runLlamaCpp, sftkitGreedy, type Llama } from './llama-cpp-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'sftkit-gguf-rows-'));
after(() => rmSync(work, { recursive: true, force: true }));
const { llama, reason } = await loadLlamaCpp();

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('an SFT adapter with trained token rows merges and exports to GGUF', async (t) => {
  const modelDir = join(work, 'tiny');
  await createModel({ preset: 'tiny', out: modelDir, seed: 21, tokenizer: 'bpe' });
  const tokenizer = await Tokenizer.fromDir(modelDir);
  const endOfTurn = tokenizer.tokenToId('<|im_end|>');
  assert.ok(endOfTurn !== null && endOfTurn !== undefined);
  const adapterDir = join(work, 'adapter');
  const { train } = chatRecords(8);
  await new SFTTrainer({
    model: modelDir,
    args: fastArgs(adapterDir, { max_steps: 2, learning_rate: 5e-2 }),
    trainDataset: train,
    peftConfig: { r: 4, lora_alpha: 8, target_modules: ['all-linear'], trainable_token_indices: [endOfTurn!] },
    progress: false,
    log: () => {},
  }).train();
  assert.deepEqual(JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')).trainable_token_indices, [
    endOfTurn,
  ]);

  const base = LlamaModel.load(modelDir);
  const withAdapter = LlamaModel.load(modelDir);
  loadAdapter(withAdapter, adapterDir);
  const D = base.config.hiddenSize;
  const baseRow = base.embedTokens.toF32().subarray(endOfTurn! * D, (endOfTurn! + 1) * D);
  const st = SafetensorsFile.open(join(adapterDir, 'adapter_model.safetensors'));
  const trainedRow = st.readF32(tokenRowsKey('model.embed_tokens'));
  st.close();
  assert.ok(maxAbsDiff(baseRow, trainedRow) > 1e-3, 'training must have moved the end-of-turn row');

  const prompt = tokenizer
    .encode(tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi!' }], { addGenerationPrompt: true }))
    .ids.concat([endOfTurn!]);
  const probe = { batch: 1, seq: prompt.length, inputIds: Int32Array.from(prompt) };
  const expected = withAdapter.logits(probe).toF32();

  // merge: base + adapter, rows replaced
  const mergedDir = join(work, 'merged');
  const m = await mergeAdapter(modelDir, adapterDir, mergedDir, { dtype: 'f32' });
  assert.equal(m.tokenRows, 1);
  const merged = LlamaModel.load(mergedDir);
  assert.ok(maxAbsDiff(merged.logits(probe).toF32(), expected) < 1e-4);

  // GGUF: the embedding row in the file is the trained row
  const ggufPath = join(work, 'adapted-f32.gguf');
  await exportGguf({ modelDir, adapterDir, outFile: ggufPath, outType: 'f32' });
  const g = readGguf(ggufPath);
  const embd = g.tensors.find((x) => x.name === 'token_embd.weight')!;
  const table = new Float32Array(g.bytes.slice(embd.offset, embd.offset + embd.byteLength).buffer);
  assert.deepEqual(table.subarray(endOfTurn! * D, (endOfTurn! + 1) * D), trainedRow);

  if (!llama) {
    t.diagnostic(`llama.cpp check skipped: ${reason ?? 'node-llama-cpp unavailable'}`);
    return;
  }
  const steps = 12;
  const reference = sftkitGreedy(withAdapter, prompt, steps);
  const run = await runLlamaCpp(llama as Llama, ggufPath, prompt, steps, reference.ids, withAdapter);
  t.diagnostic(`llama.cpp vs sftkit (adapter unmerged): max |Δlogit| ${run.maxLogitDiff.toExponential(2)}`);
  // Teacher-forced (llama.cpp's own greedy stops at the end-of-turn token this adapter learned to emit).
  assert.deepEqual(run.teacherForcedTop1, reference.ids);
  assert.ok(run.maxLogitDiff < 2e-4, `logits differ by ${run.maxLogitDiff}`);
});
