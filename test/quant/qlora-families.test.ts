// QLoRA on the newer families (Qwen3: q/k norms; Gemma 3: scaled embeddings, sandwich norms, GeGLU, sliding
// windows), through SFTTrainer as for Llama (qlora-trainer.test.ts): every projection is NF4, the loss falls, and
// the saved PEFT adapter reproduces the trained logits on a freshly quantized base.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createModel, type ModelArch } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { tempDir } from '../train/helpers.js';
import { NF4, trainQloraChecked } from './qlora-helpers.js';

for (const arch of ['qwen3', 'gemma3'] as const satisfies readonly ModelArch[]) {
  test(`QLoRA on a tiny ${arch}: NF4 base, the loss falls, the adapter reproduces the trained logits`, async () => {
    const model = join(tempDir(`qlora-${arch}-model`), arch);
    // Gemma: a window shorter than the rows, so sliding layers really slide under the 4-bit base.
    await createModel({
      preset: 'tiny',
      arch,
      out: model,
      seed: 3,
      ...(arch === 'gemma3' ? { configOverrides: { sliding_window: 16 } } : {}),
    });
    const out = tempDir(`qlora-${arch}`);
    const m = (await trainQloraChecked(model, out, arch)).model!;
    assert.equal(m.config.modelType, arch === 'gemma3' ? 'gemma3_text' : 'qwen3');
    // 40 tokens: longer than Gemma's window of 16.
    const ids = Int32Array.from({ length: 40 }, (_, i) => 3 + ((i * 37) % 250));
    const batch = { batch: 1, seq: ids.length, inputIds: ids };
    const trained = m.logits(batch).toF32();
    const base = LlamaModel.load(model, { quantize: NF4 });
    const baseLogits = base.logits(batch).toF32();
    loadAdapter(base, out);
    assert.deepEqual(base.logits(batch).toF32(), trained);
    let moved = 0;
    for (let i = 0; i < trained.length; i++) moved = Math.max(moved, Math.abs(trained[i]! - baseLogits[i]!));
    assert.ok(moved > 1e-2, `the adapter must change the logits (max |Δ| ${moved})`);
  });
}
