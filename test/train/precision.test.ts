// bf16's default follows the CPU (true where it multiplies bf16 natively), a setting wins over it, and a run's
// first line says which precision and instruction set it uses and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/engine/index.js';
import { bf16Support, NATIVE_BF16_ISAS } from '../../src/engine/precision.js';
import { defaultSFTConfig, resolveConfig } from '../../src/train/config.js';
import { precisionReport } from '../../src/train/setup.js';

test('bf16 defaults to true exactly where the active instruction set multiplies bf16 natively', () => {
  const isa = getBackend().isa();
  assert.deepEqual(bf16Support(), { native: NATIVE_BF16_ISAS.includes(isa), isa });
  assert.equal(defaultSFTConfig().bf16, NATIVE_BF16_ISAS.includes(isa));
  assert.equal(resolveConfig({}).bf16, NATIVE_BF16_ISAS.includes(isa));
  // A setting wins either way.
  assert.equal(resolveConfig({ flags: { bf16: 'false' } }).bf16, false);
  assert.equal(resolveConfig({ object: { bf16: true } }).bf16, true);
});

test('the precision line names the precision, the instruction set and the reason', () => {
  const native = { native: true, isa: 'avx512bf16' },
    emulated = { native: false, isa: 'avx2' };
  assert.match(
    precisionReport(true, native),
    /^precision: bf16 .*default where the CPU multiplies bf16 natively: instruction set avx512bf16/,
  );
  assert.match(
    precisionReport(false, native),
    /^precision: f32 \(bf16: false; instruction set avx512bf16 multiplies bf16 natively/,
  );
  assert.match(
    precisionReport(true, emulated),
    /^precision: bf16 .*bf16: true; instruction set avx2 has no native bf16 products/,
  );
  assert.match(precisionReport(false, emulated), /^precision: f32 \(the default on instruction set avx2/);
});
