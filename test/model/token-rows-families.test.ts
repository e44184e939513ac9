// Trainable token rows (PEFT trainable_token_indices) on Qwen3 and Gemma 3. Gemma scales the looked-up embedding
// by sqrt(hidden) while its tied LM head reads the same table unscaled, so a row's gradient is the sum of a scaled
// and an unscaled path: it is checked against a finite difference of the loss. Then through SFTTrainer: the rows
// train, the adapter saves them in PEFT's format, and loading or merging it reproduces the trained logits.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { noGrad } from '../../src/engine/index.js';
import { mergeAdapter } from '../../src/export/merge.js';
import type { ModelBatch } from '../../src/model/batch.js';
import { createModel, type ModelArch } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { TokenRowsAdapter } from '../../src/model/token-rows.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { chatRecords, fastArgs, tempDir } from '../train/helpers.js';

const ARCHES = ['qwen3', 'gemma3'] as const satisfies readonly ModelArch[];
const ROWS = [2, 40, 77];

const dirs = new Map<ModelArch, Promise<string>>();
function tinyDir(arch: ModelArch): Promise<string> {
  if (!dirs.has(arch)) {
    const dir = join(tempDir(`rows-${arch}`), arch);
    // Gemma: a window shorter than the probe, so sliding and global layers both carry the rows' gradient.
    const overrides = arch === 'gemma3' ? { sliding_window: 8 } : {};
    dirs.set(
      arch,
      createModel({ preset: 'tiny', arch, out: dir, seed: 4, configOverrides: overrides }).then(() => dir),
    );
  }
  return dirs.get(arch)!;
}

/** 24 tokens; every adapted row occurs as an input and as a target. */
function probe(): ModelBatch {
  const ids = Int32Array.from([
    3, 2, 50, 40, 60, 77, 2, 90, 40, 100, 77, 110, 2, 120, 40, 130, 77, 140, 2, 5, 40, 9, 77, 2,
  ]);
  return { batch: 1, seq: ids.length, inputIds: ids };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const arch of ARCHES) {
  test(`token rows on ${arch}: the rows' gradient equals a finite difference of the loss`, async () => {
    const m = LlamaModel.load(await tinyDir(arch));
    if (arch === 'gemma3')
      assert.ok(m.config.embedScale !== null && m.config.embedScale > 1, 'Gemma scales embeddings');
    assert.ok(m.tied);
    const rows = TokenRowsAdapter.attachTrainable(m, ROWS);
    const b = probe();
    m.lossAndBackward(b, { training: false });
    rows.gather();
    const g = Float32Array.from(rows.embedRows.grad!);
    const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    assert.ok(norm > 1e-3, `gradient norm ${norm}`);
    // d/dε loss(rows + ε·g/|g|) at 0 equals |g| (a wrong scale changes the magnitude, a wrong row the direction).
    const base = Float32Array.from(rows.embedRows.data as Float32Array);
    const lossAt = (eps: number): number => {
      const data = rows.embedRows.data as Float32Array;
      for (let i = 0; i < data.length; i++) data[i] = base[i]! + (eps * g[i]!) / norm;
      rows.scatter();
      return noGrad(() => {
        const l = m.loss(b, { training: false }).value;
        const v = l.toF32()[0]!;
        l.dispose();
        return v;
      });
    };
    const eps = 1e-2;
    const fd = (lossAt(eps) - lossAt(-eps)) / (2 * eps);
    lossAt(0);
    assert.ok(Math.abs(fd - norm) < 0.01 * norm, `${arch}: finite difference ${fd} vs |grad| ${norm}`);
    // Only the rows' own entries: the embedding's gradient of any other row is not theirs.
    const D = m.config.hiddenSize;
    assert.equal(g.length, ROWS.length * D);
  });

  test(`token rows on ${arch} through SFTTrainer: trained, saved as PEFT rows, load and merge reproduce the logits`, async () => {
    const model = await tinyDir(arch);
    const out = tempDir(`rows-train-${arch}`);
    const trainer = new SFTTrainer({
      model,
      args: fastArgs(out, { max_steps: 4, learning_rate: 5e-2 }),
      trainDataset: chatRecords(16).train,
      peftConfig: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], trainable_token_indices: ROWS },
      progress: false,
      log: () => {},
    });
    const r = await trainer.train();
    assert.deepEqual(r.trainedTokenRows, ROWS);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    assert.deepEqual(cfg.trainable_token_indices, ROWS);

    const trained = trainer.model!.logits(probe()).toF32();
    const fresh = LlamaModel.load(model);
    const D = fresh.config.hiddenSize;
    const before = fresh.embedTokens.toF32();
    assert.ok(maxAbsDiff(fresh.logits(probe()).toF32(), trained) > 1e-3, 'training must change the logits');
    loadAdapter(fresh, out);
    assert.ok(maxAbsDiff(fresh.logits(probe()).toF32(), trained) < 1e-5);
    // The adapted rows moved; a row not listed did not.
    const after = fresh.embedTokens.toF32();
    for (const id of ROWS)
      assert.ok(maxAbsDiff(after.subarray(id * D, (id + 1) * D), before.subarray(id * D, (id + 1) * D)) > 1e-4);
    assert.deepEqual(after.subarray(3 * D, 4 * D), before.subarray(3 * D, 4 * D));

    const merged = join(tempDir(`rows-merged-${arch}`), 'm');
    await mergeAdapter(model, out, merged, { dtype: 'f32' });
    assert.ok(maxAbsDiff(LlamaModel.load(merged).logits(probe()).toF32(), trained) < 1e-4);
  });
}
