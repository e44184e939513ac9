// The model against golden dumps of the PyTorch reference (test/fixtures/model, made by generate.py; see its
// README): logits, loss and every gradient, for each architecture variant (Llama, Qwen2, Qwen3, Gemma 3 with rows
// longer than its sliding window, packed Gemma 3 with soft-capped logits), with a PEFT adapter and with full
// fine-tuning.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { readBatchFile } from '../../src/model/batch.js';
import { compareDumps, computeDump, type DumpError } from '../../src/model/dump.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { fixture, readAll, useBestBackend } from './helpers.js';

const backend = useBestBackend();
const VARIANTS = ['llama', 'qwen2', 'llama3rope', 'headdim', 'packed', 'qwen3', 'gemma3', 'gemma3-packed'];

function run(variant: string, mode: 'lora' | 'full', dtype: 'f32' | 'bf16' = 'f32'): Map<string, Float32Array> {
  const model = LlamaModel.load(fixture(variant), { dtype });
  if (mode === 'lora') loadAdapter(model, fixture(variant, 'adapter'));
  else model.enableFullFineTuning();
  const batch = readBatchFile(fixture(variant, 'batch.json'), model.config.vocabSize);
  return new Map(computeDump(model, batch).map((t) => [t.name, t.data]));
}

function assertAllOk(rows: DumpError[], what: string): void {
  const bad = rows.filter((r) => !r.ok).map((r) => `${r.name}: ${r.relError.toExponential(2)} > ${r.tolerance}`);
  assert.deepEqual(bad, [], `${what} (${backend} backend)`);
}

for (const variant of VARIANTS) {
  test(`${variant} + PEFT adapter matches the PyTorch reference (fp32 logits, loss, LoRA grads)`, () => {
    const ref = readAll(fixture(variant, 'expected_lora.safetensors'));
    const rows = compareDumps(ref, run(variant, 'lora'));
    assert.ok(rows.filter((r) => r.name.startsWith('grad.')).length >= 4 * 7, 'every adapted module has A and B grads');
    assertAllOk(rows, variant);
  });
  if (existsSync(fixture(variant, 'expected_full.safetensors'))) {
    test(`${variant} full fine-tuning matches the PyTorch reference (grads of every weight by HF name)`, () => {
      const ref = readAll(fixture(variant, 'expected_full.safetensors'));
      assertAllOk(compareDumps(ref, run(variant, 'full')), `${variant} --full`);
    });
  }
}

for (const variant of ['llama', 'qwen2', 'qwen3', 'gemma3']) {
  test(`${variant} bf16 weights and GEMMs: loss within 1e-2 of the fp32 reference`, () => {
    const ref = readAll(fixture(variant, 'expected_lora.safetensors')).get('loss')![0]!;
    const ours = run(variant, 'lora', 'bf16').get('loss')![0]!;
    assert.ok(Math.abs(ours - ref) / Math.abs(ref) <= 1e-2, `bf16 loss ${ours} vs fp32 reference ${ref}`);
    assert.notEqual(ours, ref, 'bf16 rounding must show (the bf16 path ran)');
  });
}
