// Gradient checkpointing per decoder block: the same loss and gradients as keeping every activation (LoRA
// with dropout, full fine-tuning), and a lower peak of pooled memory on a model with several layers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { noGrad, poolStats, resetPoolPeak } from '../../src/engine/index.js';
import { createModel } from '../../src/model/create-model.js';
import type { ModelBatch } from '../../src/model/batch.js';
import { LlamaModel } from '../../src/model/llama.js';

const tmp = mkdtempSync(join(tmpdir(), 'sftkit-gc-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dir: Promise<string> | null = null;
function modelDir(): Promise<string> {
  dir ??= createModel({ preset: 'tiny', out: join(tmp, 'm'), seed: 3, configOverrides: { num_hidden_layers: 4 } }).then(
    () => join(tmp, 'm'),
  );
  return dir;
}

function batch(seq: number): ModelBatch {
  const ids = Int32Array.from({ length: 2 * seq }, (_, i) => 3 + ((i * 37) % 200));
  return { batch: 2, seq, inputIds: ids };
}

type Mode = 'lora' | 'full';

async function run(
  mode: Mode,
  checkpointing: boolean,
  seq = 16,
): Promise<{ loss: number; grads: Map<string, Float32Array>; peak: number }> {
  const m = LlamaModel.load(await modelDir());
  if (mode === 'lora')
    m.attachLora({ r: 4, loraAlpha: 8, loraDropout: 0.2, targetModules: 'all-linear', useRslora: false }, 5);
  else m.enableFullFineTuning();
  if (mode === 'lora')
    for (const p of m.loraParameters()) if (p.name.includes('lora_B')) (p.tensor.data as Float32Array).fill(0.01);
  m.gradientCheckpointing = checkpointing;
  const before = poolStats().liveBytes;
  resetPoolPeak();
  const { loss } = m.lossAndBackward(batch(seq));
  const peak = poolStats().peakLiveBytes - before;
  const grads = new Map(m.trainableParameters().map((p) => [p.name, Float32Array.from(p.tensor.grad!)]));
  return { loss, grads, peak };
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let m = 0;
  for (const [k, g] of a) {
    const h = b.get(k)!;
    for (let i = 0; i < g.length; i++) m = Math.max(m, Math.abs(g[i]! - h[i]!));
  }
  return m;
}

for (const mode of ['lora', 'full'] as const) {
  test(`gradient checkpointing gives the same loss and gradients (${mode === 'lora' ? 'LoRA, dropout 0.2' : 'full fine-tuning'})`, async (t) => {
    const plain = await run(mode, false);
    const ckpt = await run(mode, true);
    assert.equal(ckpt.loss, plain.loss);
    const d = maxDiff(plain.grads, ckpt.grads);
    t.diagnostic(`max |Δgrad| ${d}`);
    assert.ok(d <= 1e-6, `max |Δgrad| ${d}`);
    assert.ok([...plain.grads.values()].some((g) => g.some((v) => v !== 0)));
  });
}

test('LoRA dropout is active in the checkpointed forward (the test above compares masked gradients)', async () => {
  const m = LlamaModel.load(await modelDir());
  m.attachLora({ r: 4, loraAlpha: 8, loraDropout: 0.2, targetModules: 'all-linear', useRslora: false }, 5);
  for (const p of m.loraParameters()) if (p.name.includes('lora_B')) (p.tensor.data as Float32Array).fill(0.01);
  m.gradientCheckpointing = true;
  const trainLoss = m.lossAndBackward(batch(16)).loss;
  const evalLoss = noGrad(() => m.loss(batch(16)).value.toF32()[0]!);
  assert.notEqual(trainLoss, evalLoss);
});

test('gradient checkpointing lowers the peak of pooled memory', async (t) => {
  const plain = await run('lora', false, 96);
  const ckpt = await run('lora', true, 96);
  t.diagnostic(`peak pooled bytes, 4 layers, batch 2x96: ${plain.peak} without, ${ckpt.peak} with checkpointing`);
  assert.ok(
    ckpt.peak < plain.peak * 0.8,
    `peak pooled bytes: ${ckpt.peak} with checkpointing vs ${plain.peak} without`,
  );
});
