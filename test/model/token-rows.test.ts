// Trained token rows (PEFT trainable_token_indices) in the model layer: save/load in PEFT's key names and
// config field, unmerged forward == loaded forward == merged forward, tied and untied heads.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mergeAdapter } from '../../src/export/merge.js';
import { createModel } from '../../src/model/create-model.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import type { ModelBatch } from '../../src/model/batch.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter, saveAdapter } from '../../src/model/peft.js';
import { SplitMix64 } from '../../src/util/random.js';
import { TokenRowsAdapter, tokenRowsKey } from '../../src/model/token-rows.js';
import { UserError } from '../../src/util/errors.js';

const ROW_IDS = [2, 5];
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-token-rows-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const modelDirs = new Map<boolean, Promise<string>>();
function tinyDir(tied: boolean): Promise<string> {
  if (!modelDirs.has(tied)) {
    const dir = join(tmp, tied ? 'tied' : 'untied');
    modelDirs.set(
      tied,
      createModel({
        preset: 'tiny',
        out: dir,
        seed: 5,
        ...(tied ? {} : { configOverrides: { tie_word_embeddings: false } }),
      }).then(() => dir),
    );
  }
  return modelDirs.get(tied)!;
}

function probe(): ModelBatch {
  const ids = Int32Array.from([3, 50, 2, 70, 5, 90, 100, 2, 5]);
  return { batch: 1, seq: ids.length, inputIds: ids };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function randomize(data: Float32Array, rng: SplitMix64, std: number): void {
  for (let i = 0; i < data.length; i++) data[i] = (rng.nextU32() / 2 ** 32 - 0.5) * 2 * std;
}

/** A quickstart-shaped adapter: LoRA on every linear (non-zero B) plus trained rows for ROW_IDS. */
async function writeAdapter(modelDir: string, adapterDir: string): Promise<Float32Array> {
  const m = LlamaModel.load(modelDir);
  m.attachLora({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear', useRslora: false }, 3);
  const rng = new SplitMix64(9);
  for (const l of m.linears()) randomize(l.lora!.b.data as Float32Array, rng, 0.05);
  const rows = TokenRowsAdapter.attachTrainable(m, ROW_IDS);
  for (const p of rows.parameters()) randomize(p.tensor.data as Float32Array, rng, 1);
  rows.scatter();
  await saveAdapter(m, adapterDir, { baseModelNameOrPath: modelDir });
  return m.logits(probe()).toF32();
}

for (const tied of [true, false]) {
  test(`token rows (${tied ? 'tied' : 'untied'} head): PEFT format, load and merge reproduce the adapted logits`, async () => {
    const modelDir = await tinyDir(tied);
    const adapterDir = join(tmp, `adapter-${tied}`);
    const expected = await writeAdapter(modelDir, adapterDir);
    const base = LlamaModel.load(modelDir).logits(probe()).toF32();
    assert.ok(maxAbsDiff(base, expected) > 1e-3, 'the adapter must change the logits');

    const cfg = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.deepEqual(cfg.trainable_token_indices, tied ? ROW_IDS : { embed_tokens: ROW_IDS, lm_head: ROW_IDS });
    const st = SafetensorsFile.open(join(adapterDir, 'adapter_model.safetensors'));
    const embedKey = 'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta';
    assert.equal(tokenRowsKey('model.embed_tokens'), embedKey);
    assert.deepEqual(st.tensors.get(embedKey)?.shape, [ROW_IDS.length, 64]);
    assert.equal(st.tensors.has('base_model.model.lm_head.token_adapter.trainable_tokens_delta'), !tied);
    const savedRows = st.readF32(embedKey);
    st.close();

    const loaded = LlamaModel.load(modelDir);
    loadAdapter(loaded, adapterDir);
    assert.deepEqual(loaded.tokenRows?.ids, ROW_IDS);
    assert.ok(maxAbsDiff(loaded.logits(probe()).toF32(), expected) < 1e-5);

    const outDir = join(tmp, `merged-${tied}`);
    const r = await mergeAdapter(modelDir, adapterDir, outDir, { dtype: 'f32' });
    assert.equal(r.tokenRows, tied ? 2 : 4);
    const merged = LlamaModel.load(outDir);
    assert.equal(merged.tied, tied);
    assert.ok(maxAbsDiff(merged.logits(probe()).toF32(), expected) < 1e-4);
    // The rows were replaced (PEFT's index_copy), every other row kept.
    const D = 64;
    const mergedEmbed = merged.embedTokens.toF32();
    const baseEmbed = LlamaModel.load(modelDir).embedTokens.toF32();
    ROW_IDS.forEach((id, i) =>
      assert.deepEqual(mergedEmbed.subarray(id * D, (id + 1) * D), savedRows.subarray(i * D, (i + 1) * D)),
    );
    assert.deepEqual(mergedEmbed.subarray(3 * D, 4 * D), baseEmbed.subarray(3 * D, 4 * D));
  });
}

test('token rows on a bf16 model are written rounded to bf16 (as PEFT casts the delta to the weight dtype)', async () => {
  const modelDir = await tinyDir(true);
  const adapterDir = join(tmp, 'adapter-bf16');
  await writeAdapter(modelDir, adapterDir);
  const m = LlamaModel.load(modelDir, { dtype: 'bf16' });
  loadAdapter(m, adapterDir);
  assert.equal(m.embedTokens.dtype, 'bf16');
  const st = SafetensorsFile.open(join(adapterDir, 'adapter_model.safetensors'));
  const rows = st.readF32(tokenRowsKey('model.embed_tokens'));
  st.close();
  const got = m.embedTokens.toF32().subarray(5 * 64, 6 * 64);
  for (let d = 0; d < 64; d++) assert.ok(Math.abs(got[d]! - rows[64 + d]!) <= Math.abs(rows[64 + d]!) * 2 ** -8);
});

test('adapters with inconsistent token rows are refused with the field named', async () => {
  const modelDir = await tinyDir(true);
  const adapterDir = join(tmp, 'adapter-bad');
  await writeAdapter(modelDir, adapterDir);
  const cfgPath = join(adapterDir, 'adapter_config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  const attempt = (field: unknown, re: RegExp) => {
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, trainable_token_indices: field }));
    assert.throws(
      () => loadAdapter(LlamaModel.load(modelDir), adapterDir),
      (e: Error) => e instanceof UserError && re.test(e.message),
    );
  };
  attempt([2, 5, 7], /trainable_tokens_delta has shape \[2, 64\], expected \[3, 64\]/);
  attempt([2, 99999], /token id 99999, outside this model's vocabulary/);
  attempt(
    { embed_tokens: [2, 5], lm_head: [2, 6] },
    /different rows for embed_tokens and lm_head, but this model ties them/,
  );
  attempt({ norm: [2] }, /trainable_token_indices.norm: only embed_tokens and lm_head/);
  attempt(null, /unexpected tensor base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta/);
});
