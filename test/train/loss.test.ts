import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../../src/model/llama.js';
import type { ModelBatch } from '../../src/model/batch.js';
import { evalLossSum, trainStep, trainedRows } from '../../src/train/loss.js';
import { tinyModel } from './helpers.js';

function batch(): ModelBatch {
  const ids = Int32Array.from({ length: 2 * 12 }, (_, i) => 3 + ((i * 37) % 250));
  const labels = Int32Array.from(ids, (id, i) => (i % 12 >= 7 ? id : -100)); // the last 5 positions of each row trained
  return { batch: 2, seq: 12, inputIds: ids, labels };
}

function grads(m: LlamaModel): Float32Array[] {
  return m.trainableParameters().map((p) => Float32Array.from(p.tensor.grad ?? new Float32Array(p.tensor.numel)));
}

test('loss on trained rows only equals the full-row loss, gradients included', async () => {
  const dir = await tinyModel();
  const make = () => {
    const m = LlamaModel.load(dir);
    m.attachLora({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear', useRslora: false }, 3);
    // Non-zero B so every LoRA matrix gets a gradient.
    for (const l of m.linears()) (l.lora!.b.data as Float32Array).fill(0.01);
    return m;
  };
  const b = batch();
  assert.equal(trainedRows(b).rows.length, 2 * 5); // labels at t = 7..11 are the targets of rows 6..10
  const ref = make();
  const full = ref.lossAndBackward(b, { normalizer: 10 });
  const mine = make();
  const picked = trainStep(mine, b, 10);
  assert.equal(picked.targets, full.targets);
  assert.ok(Math.abs(picked.loss - full.loss) <= 1e-6 * Math.abs(full.loss), `${picked.loss} vs ${full.loss}`);
  const g1 = grads(ref);
  const g2 = grads(mine);
  g1.forEach((g, i) =>
    g.forEach((x, j) =>
      assert.ok(Math.abs(x - g2[i]![j]!) <= 1e-6 + 1e-5 * Math.abs(x), `param ${i}[${j}]: ${x} vs ${g2[i]![j]}`),
    ),
  );
  const ev = evalLossSum(mine, b);
  assert.ok(Math.abs(ev.sum / 10 - full.loss) <= 1e-5 * Math.abs(full.loss));
});
