import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backward, lmHeadCrossEntropy, noGrad } from '../../src/engine/index.js';
import { LlamaModel } from '../../src/model/llama.js';
import { shiftedTargets, trainedRows, type ModelBatch } from '../../src/model/batch.js';
import { tinyModel } from '../train/helpers.js';

/** The reference: the LM head and cross-entropy over every row (ignored targets included), then backward. */
function fullRowLossAndBackward(m: LlamaModel, b: ModelBatch, normalizer: number): { loss: number; targets: number } {
  const h = m.hidden(b, m.forwardContext(true));
  const targets = shiftedTargets(b);
  const value = lmHeadCrossEntropy(h, m.lmHead, targets, { normalizer, compute: m.compute });
  const loss = value.toF32()[0]!;
  backward(value);
  return { loss, targets: targets.filter((t) => t !== -100).length };
}

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
  const full = fullRowLossAndBackward(ref, b, 10);
  const mine = make();
  const picked = mine.lossAndBackward(b, { normalizer: 10 });
  assert.equal(picked.targets, full.targets);
  assert.ok(Math.abs(picked.loss - full.loss) <= 1e-6 * Math.abs(full.loss), `${picked.loss} vs ${full.loss}`);
  const g1 = grads(ref);
  const g2 = grads(mine);
  g1.forEach((g, i) =>
    g.forEach((x, j) =>
      assert.ok(Math.abs(x - g2[i]![j]!) <= 1e-6 + 1e-5 * Math.abs(x), `param ${i}[${j}]: ${x} vs ${g2[i]![j]}`),
    ),
  );
  const ev = noGrad(() => mine.loss(b, { normalizer: 1 }));
  assert.ok(Math.abs(ev.value.toF32()[0]! / 10 - full.loss) <= 1e-5 * Math.abs(full.loss));
});
