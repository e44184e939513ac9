// Merge: the merged model computes what base + adapter computes, written as a complete HF folder.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mergeAdapter } from '../../src/export/merge.js';
import { SafetensorsModel } from '../../src/io/safetensors.js';
import { readBatchFile } from '../../src/model/batch.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { fixture, maxAbsDiff, useBestBackend } from './helpers.js';

useBestBackend();
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-merge-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function adaptedLogits(variant: string, dir = fixture(variant)): Float32Array {
  const m = LlamaModel.load(dir);
  loadAdapter(m, fixture(variant, 'adapter'));
  return m.logits(readBatchFile(fixture(variant, 'batch.json'), m.config.vocabSize)).toF32();
}

function plainLogits(variant: string, dir: string, dtype: 'f32' | 'bf16' = 'f32'): Float32Array {
  const m = LlamaModel.load(dir, { dtype });
  return m.logits(readBatchFile(fixture(variant, 'batch.json'), m.config.vocabSize)).toF32();
}

function relMax(a: Float32Array, ref: Float32Array): number {
  return maxAbsDiff(a, ref) / Math.max(...ref.map(Math.abs));
}

const TIED = new Set(['qwen2', 'qwen3', 'gemma3']);
for (const variant of ['llama', 'qwen2', 'headdim', 'qwen3', 'gemma3']) {
  test(`${variant}: merged logits equal base + adapter logits (fp32, 1e-5)`, async () => {
    const out = join(tmp, variant);
    const r = await mergeAdapter(fixture(variant), fixture(variant, 'adapter'), out, { dtype: 'f32' });
    assert.equal(r.merged, 7 * LlamaModel.load(fixture(variant)).config.numLayers);
    const want = adaptedLogits(variant);
    const got = plainLogits(variant, out);
    assert.ok(relMax(got, want) <= 1e-5, `max rel error ${relMax(got, want)}`);
    // and the adapter really changed the model
    assert.ok(relMax(plainLogits(variant, fixture(variant)), want) > 1e-3);
    const st = SafetensorsModel.open(out);
    assert.equal(st.has('lm_head.weight'), !TIED.has(variant), 'a tied head is not written');
    if (variant === 'gemma3') {
      // Gemma's norm weights are written back as stored (offsets from 1), not as the scale the model computes with.
      const src = SafetensorsModel.open(fixture(variant));
      const name = 'model.layers.0.post_feedforward_layernorm.weight';
      assert.deepEqual(st.readF32(name), src.readF32(name));
      src.close();
    }
    st.close();
  });
}

test('merge writes a complete folder: config kept, tokenizer files copied, bf16 on request, shards above the limit', async () => {
  const base = join(tmp, 'base-with-tokenizer');
  cpSync(fixture('llama'), base, { recursive: true });
  rmSync(join(base, 'adapter'), { recursive: true });
  writeFileSync(join(base, 'tokenizer.json'), '{"fake": true}');
  writeFileSync(join(base, 'generation_config.json'), '{"eos_token_id": 2}');
  const out = join(tmp, 'bf16');
  await mergeAdapter(base, fixture('llama', 'adapter'), out, { dtype: 'bf16', maxShardBytes: 4000 });
  assert.equal(readFileSync(join(out, 'tokenizer.json'), 'utf8'), '{"fake": true}');
  assert.ok(existsSync(join(out, 'generation_config.json')));
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  const orig = JSON.parse(readFileSync(fixture('llama', 'config.json'), 'utf8'));
  assert.deepEqual(cfg, { ...orig, torch_dtype: 'bfloat16' });
  assert.ok(existsSync(join(out, 'model.safetensors.index.json')), 'sharded');
  const st = SafetensorsModel.open(out);
  assert.equal(st.tensors.get('model.layers.0.self_attn.q_proj.weight')!.dtype, 'BF16');
  st.close();
  const want = adaptedLogits('llama');
  const got = plainLogits('llama', out, 'bf16');
  assert.ok(relMax(got, want) <= 5e-2, `bf16 merged logits within bf16 precision (${relMax(got, want)})`);
  await assert.rejects(mergeAdapter(base, fixture('llama', 'adapter'), out), /already holds safetensors/);
});
