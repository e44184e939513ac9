import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findUntrainedRows, specialLabelTokens } from '../../src/train/untrained-rows.js';
import { tokenRowsKey } from '../../src/model/token-rows.js';
import { estimateTrainingMemory } from '../../src/train/memory.js';
import { Rng } from '../../src/util/random.js';
import { quickstartDataFiles } from '../../src/quickstart/corpus/write-quickstart-data.js';
import { generatePretrainCorpus } from '../../src/quickstart/corpus/pretrain-corpus.js';
import { packageRoot } from '../../src/util/paths.js';
import { parseLlamaConfig } from '../../src/io/hf-config.js';
import { modelConfigJson } from '../../src/model/create-model.js';

function table(V: number, D: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const t = new Float32Array(V * D);
  for (let i = 0; i < t.length; i++) t[i] = r.next() * 2 - 1;
  return t;
}

test('untrained rows: near-duplicates of never-used rows and tiny norms are found, trained rows are not', () => {
  const V = 64;
  const D = 16;
  const t = table(V, D, 3);
  // Rows 40..50 drifted together (never-used tokens): a shared direction plus a little noise.
  const shared = table(1, D, 9);
  const r = new Rng(5);
  for (let v = 40; v <= 50; v++) for (let d = 0; d < D; d++) t[v * D + d] = shared[d]! + 0.02 * (r.next() - 0.5);
  for (let d = 0; d < D; d++) t[7 * D + d]! *= 1e-3; // a zero-initialised row
  const name = (id: number) => `<t${id}>`;
  const found = findUntrainedRows(t, V, D, [3, 7, 45], name);
  assert.deepEqual(
    found.map((f) => f.id),
    [7, 45],
  );
  assert.match(found[1]!.reason, /near-duplicate .* of 10 other rows/);
  assert.match(found[0]!.reason, /norm .* below/);
  assert.deepEqual(specialLabelTokens([5, 2, 9, 2, 0], new Set([0, 1, 2])), [0, 2]);
  assert.equal(
    tokenRowsKey('model.embed_tokens'),
    'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta',
  );
});

test('memory estimate: full FT adds weights/grads/optimizer for every parameter; checkpointing cuts activations', () => {
  const cfg = parseLlamaConfig(modelConfigJson('smollm2-135m-shape', 'llama', 0), 'test');
  const all = 134_515_008;
  const lora = estimateTrainingMemory(cfg, {
    allParams: all,
    trainableParams: 4_884_480,
    weightBytesPerParam: 2,
    tokensPerMicroBatch: 1024,
    gradientCheckpointing: false,
  });
  const full = estimateTrainingMemory(cfg, {
    allParams: all,
    trainableParams: all,
    weightBytesPerParam: 4,
    tokensPerMicroBatch: 1024,
    gradientCheckpointing: false,
  });
  assert.ok(
    full.total - lora.total > all * 10,
    'full FT adds f32 weights, gradients and AdamW state for every parameter',
  );
  assert.equal(full.optimizer, all * 8);
  const ckpt = estimateTrainingMemory(cfg, {
    allParams: all,
    trainableParams: 4_884_480,
    weightBytesPerParam: 2,
    tokensPerMicroBatch: 1024,
    gradientCheckpointing: true,
  });
  assert.ok(ckpt.activations < lora.activations / 2, 'gradient checkpointing keeps one layer of activations');
});

test('the committed quickstart data is what the generator writes; the corpus is deterministic', () => {
  const dir = join(packageRoot(), 'examples', 'quickstart');
  for (const [name, text] of Object.entries(quickstartDataFiles()))
    assert.equal(
      readFileSync(join(dir, name), 'utf8'),
      text,
      `${name} is stale: run npx tsx src/quickstart/corpus/write-quickstart-data.ts`,
    );
  const a = generatePretrainCorpus({ targetBytes: 20_000 });
  assert.deepEqual(a, generatePretrainCorpus({ targetBytes: 20_000 }));
  assert.ok(a.join('\n').length >= 20_000);
  assert.ok(!a.some((d) => d.includes('<|im_')), 'the pretraining corpus has no chat markup');
});
