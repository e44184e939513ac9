// QLoRA on the newer families (Qwen3: q/k norms; Gemma 3: scaled embeddings, sandwich norms, GeGLU, sliding
// windows), through SFTTrainer as for Llama (qlora-trainer.test.ts): every projection is NF4, the loss falls, and
// the saved PEFT adapter reproduces the trained logits on a freshly quantized base.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createModel, type ModelArch } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { QuantizedLinearWeight } from '../../src/quant/weight.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { chatRecords, fastArgs, tempDir } from '../train/helpers.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const NF4 = { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } as const;
const QLORA = {
  load_in_4bit: true,
  bnb_4bit_quant_type: 'nf4',
  bnb_4bit_use_double_quant: true,
  bnb_4bit_compute_dtype: 'bf16',
};

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
    const logs: string[] = [];
    const trainer = new SFTTrainer({
      model,
      args: fastArgs(out, { max_steps: 12, learning_rate: 1e-2, ...QLORA }),
      trainDataset: chatRecords(32).train,
      peftConfig: { r: 4, lora_alpha: 8, target_modules: ['all-linear'] },
      progress: false,
      log: (l: string) => logs.push(l),
    });
    const r = await trainer.train();
    assert.ok(
      logs.some((l) => /^4-bit base: 14 linears, .* \(0\.\d+ bytes\/param\)$/.test(l)),
      logs.join('\n'),
    );
    const m = trainer.model!;
    assert.equal(m.config.modelType, arch === 'gemma3' ? 'gemma3_text' : 'qwen3');
    assert.ok(m.linears().every((l) => l.quantized instanceof QuantizedLinearWeight && l.lora !== null));
    assert.ok(
      mean(r.stepLosses.slice(-3)) < mean(r.stepLosses.slice(0, 3)) - 0.1,
      `QLoRA ${arch}: ${r.stepLosses.map((l) => l.toFixed(3))}`,
    );
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
