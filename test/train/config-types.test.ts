// SFTConfig is derived from the schema table (src/train/config-schema.ts): these compile only while the derived
// types are what the table says (tsc runs over the tests in `npm test`), and the runtime defaults match them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSFTConfig, type LoraConfig, type SFTConfig } from '../../src/train/config.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const checks: true[] = [
  true as Equal<SFTConfig['model'], string | null>,
  true as Equal<SFTConfig['max_length'], number>,
  true as Equal<SFTConfig['packing'], boolean>,
  true as Equal<SFTConfig['completion_only_loss'], boolean | null>,
  true as Equal<SFTConfig['lr_scheduler_type'], 'linear' | 'cosine' | 'constant' | 'constant_with_warmup'>,
  true as Equal<SFTConfig['eval_strategy'], 'no' | 'steps' | 'epoch'>,
  true as Equal<SFTConfig['resume_from_checkpoint'], boolean | string | null>,
  true as Equal<SFTConfig['neftune_noise_alpha'], number | null>,
  true as Equal<LoraConfig['target_modules'], string[] | null>,
  true as Equal<LoraConfig['trainable_token_indices'], number[] | null>,
  true as Equal<LoraConfig['bias'], 'none'>,
  true as Equal<SFTConfig['peft'], LoraConfig>,
];

test('SFTConfig is derived from the schema: every declared key has a default of the declared type', () => {
  assert.equal(checks.length, 12);
  const c: SFTConfig = defaultSFTConfig();
  assert.equal(c.lr_scheduler_type, 'linear');
  assert.equal(c.peft.r, 8);
  assert.equal(c.model, null);
  // A key the schema does not declare is a type error:
  // @ts-expect-error not an option
  assert.equal(c.not_an_option, undefined);
});
