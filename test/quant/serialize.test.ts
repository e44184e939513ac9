// The serialized bitsandbytes layout: a Linear4bit written by Python (test/fixtures/quant/bnb-linear.safetensors,
// made once by make-bnb-linear.py with ../shared/reference/nf4_ref.py and json.dumps) reads back exactly, and what
// sftkit writes for the same weight is byte-identical, quant-state JSON included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { dequantize4Bit, quantize4Bit } from '../../src/quant/blockwise.js';
import { DYNAMIC_MAP_SIGNED, NF4_CODE } from '../../src/quant/codebook.js';
import { pythonFloat, quantizedTensors, quantStateJson, readQuantized } from '../../src/quant/serialize.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'quant', 'bnb-linear.safetensors');
const MODULE = 'model.layers.0.mlp.down_proj';

test('pythonFloat writes floats as Python json.dumps does', () => {
  const cases: [number, string][] = [
    [1e-5, '1e-05'],
    [0.013301849737763405, '0.013301849737763405'],
    [1.2345678901234568e17, '1.2345678901234568e+17'],
    [1, '1.0'],
    [5e-324, '5e-324'],
    [0.0001, '0.0001'],
    [100, '100.0'],
    [-0.5, '-0.5'],
    [0, '0.0'],
    [1e16, '1e+16'],
    [123.25, '123.25'],
  ];
  for (const [x, want] of cases) assert.equal(pythonFloat(x), want, String(x));
});

test('a Linear4bit saved by Python reads back, dequantizes to its values, and re-serializes byte for byte', () => {
  const f = SafetensorsFile.open(FIXTURE);
  try {
    const q = readQuantized(f, MODULE, [48, 80], FIXTURE);
    assert.equal(q.type, 'nf4');
    assert.equal(q.blocksize, 64);
    assert.equal(q.dtype, 'bfloat16');
    assert.equal(q.code, NF4_CODE, 'the stored quant_map is the shared NF4 table');
    assert.equal(q.nested!.code, DYNAMIC_MAP_SIGNED, 'the stored nested map is the shared dynamic map');
    assert.deepEqual(dequantize4Bit(q), f.readF32('reference.dequantized'));
    // Our quantizer on the same input writes exactly what Python wrote.
    const ours = quantize4Bit(f.readF32('reference.input'), [48, 80], { dtype: 'bfloat16' });
    for (const t of quantizedTensors(MODULE, ours)) {
      const info = f.tensors.get(t.name);
      assert.ok(info, `Python's file has ${t.name}`);
      assert.equal(info.dtype, t.dtype, t.name);
      assert.deepEqual(info.shape, t.shape, t.name);
      assert.deepEqual(
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        f.readBytes(t.name),
        t.name,
      );
    }
    assert.equal(
      quantStateJson(ours),
      new TextDecoder().decode(f.readBytes(`${MODULE}.weight.quant_state.bitsandbytes__nf4`)),
    );
    assert.throws(() => readQuantized(f, MODULE, [80, 48], FIXTURE), /shape \[48,80\] does not match \[80, 48\]/);
  } finally {
    f.close();
  }
});
