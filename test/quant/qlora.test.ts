// QLoRA end to end on a tiny random model: quantize on load, LoRA gradients through the 4-bit base equal those
// through the dequantized f32 base (bf16 tolerance), a few optimizer steps lower the loss, and the bitsandbytes
// folder layout written by `sftkit quantize` loads back as the same 4-bit weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, getBackend, noGrad, setBackend, Tensor } from '../../src/engine/index.js';
import { createModel } from '../../src/model/create-model.js';
import { SafetensorsModel } from '../../src/io/safetensors.js';
import { LlamaModel } from '../../src/model/llama.js';
import type { LoraConfig } from '../../src/model/lora.js';
import { countParameters } from '../../src/model/params.js';
import { quantizedBaseStats } from '../../src/quant/report.js';
import { quantizeFolder } from '../../src/quant/save.js';
import { QuantizedLinearWeight } from '../../src/quant/weight.js';
import { useBestBackend } from '../model/helpers.js';
import { runCli } from '../helpers/cli.js';

useBestBackend();

const dir = mkdtempSync(join(tmpdir(), 'sftkit-qlora-'));
const modelDir = join(dir, 'tiny');
const LORA: LoraConfig = { r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear', useRslora: false };
const BATCH = (() => {
  const ids = new Int32Array(2 * 24);
  for (let i = 0; i < ids.length; i++) ids[i] = 3 + ((i * 37 + (i >> 3) * 11) % 200);
  return { batch: 2, seq: 24, inputIds: ids };
})();

test.before(async () => {
  await createModel({ preset: 'tiny', out: modelDir, seed: 7 });
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** LoRA with nonzero B (so A gets gradients too), identical in every model built from the same seed. */
function attach(model: LlamaModel, loraDropout = 0): void {
  model.attachLora({ ...LORA, loraDropout }, 3);
  let s = 99;
  for (const m of model.linears()) {
    const b = m.lora!.b.data as Float32Array;
    for (let i = 0; i < b.length; i++) b[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.02;
  }
}

function grads(model: LlamaModel): Map<string, Float32Array> {
  model.zeroGrad();
  model.lossAndBackward(BATCH);
  return new Map(model.loraParameters().map((p) => [p.name, p.tensor.grad!.slice()]));
}

test('quantize on load: every projection 4-bit, <= 0.56 bytes/param, parameter count unchanged', () => {
  const dense = LlamaModel.load(modelDir);
  const q = LlamaModel.load(modelDir, { quantize: { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } });
  assert.ok(q.linears().every((m) => m.quantized instanceof QuantizedLinearWeight && m.weight.numel === 0));
  const stats = quantizedBaseStats(q.linears().map((m) => m.quantized));
  assert.equal(stats.linears, 14);
  assert.ok(stats.bytesPerParam <= 0.56, `${stats.bytesPerParam} bytes/param`);
  assert.equal(countParameters(q).all, countParameters(dense).all);
  // The 4-bit model computes nearly the dense model's loss (NF4 error is small next to the logits).
  const l0 = noGrad(() => dense.loss(BATCH).value.toF32()[0]!);
  const l1 = noGrad(() => q.loss(BATCH).value.toF32()[0]!);
  assert.ok(Math.abs(l0 - l1) < 0.05 * l0, `loss ${l1} vs dense ${l0}`);
});

for (const loraDropout of [0, 0.1])
  test(`LoRA gradients through the NF4 base equal those through the dequantized f32 base (bf16 tolerance, dropout ${loraDropout})`, () => {
    const q = LlamaModel.load(modelDir, { quantize: { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } });
    const ref = LlamaModel.load(modelDir);
    for (const [mq, mr] of q.linears().map((m, i) => [m, ref.linears()[i]!] as const)) {
      mr.weight = Tensor.from(
        (mq.quantized as QuantizedLinearWeight).dequantize(),
        [mq.outFeatures, mq.inFeatures],
        'f32',
      );
    }
    attach(q, loraDropout);
    attach(ref, loraDropout);
    const gq = grads(q);
    const gr = grads(ref);
    assert.equal(gq.size, 28);
    for (const [name, a] of gq) {
      const b = gr.get(name)!;
      let num = 0;
      let den = 0;
      for (let i = 0; i < a.length; i++) {
        num += (a[i]! - b[i]!) ** 2;
        den += b[i]! ** 2;
      }
      assert.ok(den > 0, `${name}: zero reference gradient`);
      // bf16 rounding of x and W (2⁻⁹ relative each) through a few layers: a percent or two at most.
      assert.ok(Math.sqrt(num / den) < 0.03, `${name}: relative gradient error ${Math.sqrt(num / den)}`);
    }
  });

test('QLoRA training lowers the loss (only LoRA trains; the 4-bit base is untouched)', () => {
  const model = LlamaModel.load(modelDir, { quantize: { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } });
  model.attachLora(LORA, 1);
  const packedBefore = (model.linears()[0]!.quantized as QuantizedLinearWeight).q.packed.slice();
  const params = model.trainableParameters().map((p) => p.tensor);
  assert.equal(params.length, 28);
  const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0 });
  const losses: number[] = [];
  for (let step = 0; step < 8; step++) {
    model.zeroGrad();
    losses.push(model.lossAndBackward(BATCH).loss);
    opt.step();
  }
  assert.ok(losses[7]! < losses[0]! - 0.1, `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  assert.deepEqual((model.linears()[0]!.quantized as QuantizedLinearWeight).q.packed, packedBefore);
});

test('QLoRA runs the engine LoRA op: its rank-wide products go to gemmNarrow as with a dense base', () => {
  const counts = new Map<string, number>();
  const model = (quantize: boolean) => {
    const m = LlamaModel.load(modelDir, quantize ? { quantize: { quantType: 'nf4', doubleQuant: true } } : {});
    attach(m);
    return m;
  };
  const be = getBackend();
  for (const [name, m] of [
    ['dense', model(false)],
    ['nf4', model(true)],
  ] as const) {
    let narrow = 0;
    setBackend({
      ...be,
      gemmNarrow: (...args) => {
        narrow++;
        be.gemmNarrow!(...args);
      },
    });
    try {
      m.lossAndBackward(BATCH);
    } finally {
      setBackend(be);
    }
    counts.set(name, narrow);
  }
  // dB, dH and dA of each of the 14 adapters at least
  assert.ok(counts.get('dense')! >= 3 * 14, `dense: ${counts.get('dense')}`);
  assert.equal(counts.get('nf4'), counts.get('dense'));
});

test('sftkit quantize layout: bitsandbytes keys, dtypes and quant state; loads back as the same 4-bit weights', async () => {
  const out = join(dir, 'tiny-nf4');
  const r = await quantizeFolder(modelDir, out, { quantType: 'nf4', doubleQuant: true });
  assert.equal(r.linears, 14);
  assert.ok(r.files.includes('tokenizer.json'));
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.quantization_config.quant_method, 'bitsandbytes');
  assert.equal(cfg.quantization_config.load_in_4bit, true);
  assert.equal(cfg.quantization_config.bnb_4bit_quant_type, 'nf4');
  assert.equal(cfg.quantization_config.bnb_4bit_use_double_quant, true);
  assert.equal(cfg.quantization_config.bnb_4bit_compute_dtype, 'bfloat16');
  assert.equal(cfg.quantization_config.bnb_4bit_quant_storage, 'uint8');
  const st = SafetensorsModel.open(out);
  try {
    const m = 'model.layers.0.self_attn.q_proj';
    const t = (s: string) => st.tensors.get(`${m}.weight${s}`)!;
    assert.deepEqual([t('').dtype, t('').shape], ['U8', [(64 * 64) / 2, 1]]);
    assert.deepEqual([t('.absmax').dtype, t('.absmax').shape], ['U8', [64]]);
    assert.deepEqual([t('.nested_absmax').dtype, t('.nested_absmax').shape], ['F32', [1]]);
    assert.deepEqual([t('.nested_quant_map').dtype, t('.nested_quant_map').shape], ['F32', [256]]);
    assert.deepEqual([t('.quant_map').dtype, t('.quant_map').shape], ['F32', [16]]);
    const state = new TextDecoder().decode(st.readBytes(`${m}.weight.quant_state.bitsandbytes__nf4`));
    assert.match(
      state,
      /^\{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": \[64, 64\], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": [0-9.e-]+\}$/,
    );
    assert.equal(st.tensors.get('model.embed_tokens.weight')!.dtype, 'F32');
    assert.ok(!st.has('model.layers.0.input_layernorm.weight.absmax'));
  } finally {
    st.close();
  }
  const loaded = LlamaModel.load(out);
  const onLoad = LlamaModel.load(modelDir, { quantize: { quantType: 'nf4', doubleQuant: true } });
  for (const [a, b] of loaded
    .linears()
    .map(
      (m, i) =>
        [m.quantized as QuantizedLinearWeight, onLoad.linears()[i]!.quantized as QuantizedLinearWeight] as const,
    )) {
    assert.deepEqual(a.q.packed, b.q.packed);
    assert.deepEqual(a.q.absmax, b.q.absmax);
    assert.deepEqual(a.q.nested!.absmax, b.q.nested!.absmax);
    assert.equal(a.q.nested!.offset, b.q.nested!.offset);
    assert.equal(a.compute, 'bf16');
  }
  assert.deepEqual(loaded.logits(BATCH).toF32(), onLoad.logits(BATCH).toF32());
  await assert.rejects(quantizeFolder(out, join(dir, 'again')), /already has a quantization_config/);
});

test('sftkit quantize (the binary): writes the folder, and names a bad --quant-type', () => {
  const out = join(dir, 'cli-fp4');
  const r = runCli(['quantize', '--model', modelDir, '--out', out, '--quant-type', 'fp4', '--no-double-quant']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^quantized 14 linears \(92,160 params\) to fp4: [\d.]+ MB, 0\.5\d+ bytes\/param/);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(
    [cfg.quantization_config.bnb_4bit_quant_type, cfg.quantization_config.bnb_4bit_use_double_quant],
    ['fp4', false],
  );
  const m = LlamaModel.load(out);
  const q = m.linears()[0]!.quantized as QuantizedLinearWeight;
  assert.equal(q.q.type, 'fp4');
  assert.ok(q.q.absmax instanceof Float32Array && q.q.nested === null);
  const bad = runCli(['quantize', '--model', modelDir, '--out', join(dir, 'bad'), '--quant-type', 'int4']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--quant-type must be nf4 or fp4, got 'int4'/);
});
