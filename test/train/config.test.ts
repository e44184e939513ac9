import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSFTConfig, editDistance, resolveConfig, suggestName } from '../../src/train/config.js';
import { UserError } from '../../src/util/errors.js';
import { command as trainCommand } from '../../src/cli/train.js';

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-config-'));
  const p = join(dir, 'sft.yaml');
  writeFileSync(p, text);
  return p;
}

test('defaults are TRL SFTConfig / PEFT LoraConfig defaults', () => {
  const c = defaultSFTConfig();
  assert.equal(c.max_length, 1024);
  assert.equal(c.num_train_epochs, 3);
  assert.equal(c.max_steps, -1);
  assert.equal(c.per_device_train_batch_size, 8);
  assert.equal(c.gradient_accumulation_steps, 1);
  assert.equal(c.learning_rate, 2e-5);
  assert.equal(c.lr_scheduler_type, 'linear');
  assert.equal(c.adam_beta2, 0.999);
  assert.equal(c.adam_epsilon, 1e-8);
  assert.equal(c.max_grad_norm, 1.0);
  assert.equal(c.logging_steps, 10);
  assert.equal(c.save_steps, 500);
  assert.equal(c.seed, 42);
  assert.equal(c.packing, false);
  assert.equal(c.completion_only_loss, null);
  assert.equal(c.dataset_text_field, 'text');
  assert.deepEqual(
    [c.peft.r, c.peft.lora_alpha, c.peft.lora_dropout, c.peft.bias, c.peft.use_rslora],
    [8, 16, 0.05, 'none', false],
  );
});

test('YAML file with nested peft block, alias, and flags overriding the file', () => {
  const p = yamlFile(
    'model: m\nmax_seq_length: 512\nlearning_rate: 1e-4\npeft:\n  r: 16\n  target_modules: [q_proj, v_proj]\nlora_alpha: 64\n',
  );
  const c = resolveConfig({
    file: p,
    flags: { learning_rate: '3e-4', lora_dropout: '0', packing: 'true', bf16: 'false' },
  });
  assert.equal(c.max_length, 512);
  assert.equal(c.learning_rate, 3e-4);
  assert.equal(c.peft.r, 16);
  assert.equal(c.peft.lora_alpha, 64);
  assert.equal(c.peft.lora_dropout, 0);
  assert.deepEqual(c.peft.target_modules, ['q_proj', 'v_proj']);
  assert.equal(c.packing, true);
  assert.equal(c.bf16, false);
});

test('an unknown key names the file and line and suggests the closest name', () => {
  const p = yamlFile('model: m\nlearning_rat: 1e-4\n');
  assert.throws(
    () => resolveConfig({ file: p }),
    (e: Error) =>
      e instanceof UserError &&
      e.message.includes(`${p}:2`) &&
      /unknown key 'learning_rat' \(did you mean 'learning_rate'\?\)/.test(e.message),
  );
  const q = yamlFile('peft:\n  lora_alpah: 8\n');
  assert.throws(() => resolveConfig({ file: q }), /peft\.lora_alpah.*did you mean 'lora_alpha'/);
  assert.throws(
    () => resolveConfig({ flags: { gradient_acumulation_steps: '2' } }),
    /--gradient_acumulation_steps'.*did you mean 'gradient_accumulation_steps'/,
  );
});

test('type and range errors name the key and the file', () => {
  assert.throws(
    () => resolveConfig({ file: yamlFile('learning_rate: fast\n') }),
    /sft\.yaml:1: learning_rate must be a number, got 'fast'/,
  );
  assert.throws(
    () => resolveConfig({ file: yamlFile('per_device_train_batch_size: 0\n') }),
    /per_device_train_batch_size must be >= 1/,
  );
  assert.throws(
    () => resolveConfig({ file: yamlFile('lr_scheduler_type: cosin\n') }),
    /one of linear, cosine.*did you mean 'cosine'/,
  );
  assert.throws(() => resolveConfig({ file: yamlFile('max_steps: 2.5\n') }), /max_steps must be an integer/);
  assert.throws(
    () => resolveConfig({ file: yamlFile('model: [\n') }),
    /\.yaml:\d+: invalid YAML: [^\n]+ \(column \d+\)$/,
  );
  assert.throws(() => resolveConfig({ object: { learning_rate: -1 } }), /learning_rate must be > 0/);
});

test('enum values that look like null (none, no) stay values; null clears nullable keys', () => {
  const c = resolveConfig({ file: yamlFile('eval_strategy: "no"\nsave_total_limit: null\npeft:\n  bias: none\n') });
  assert.equal(c.eval_strategy, 'no');
  assert.equal(c.peft.bias, 'none');
  assert.equal(c.save_total_limit, null);
  assert.throws(
    () => resolveConfig({ file: yamlFile('learning_rate: null\n') }),
    /learning_rate must be a number \(it cannot be null\)/,
  );
});

test('edit distance and suggestions', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(suggestName('warmpu_steps', ['warmup_steps', 'save_steps']), 'warmup_steps');
  assert.equal(suggestName('zzzzzz', ['warmup_steps']), null);
});

test('the train command declares a flag for every config key (one schema drives both)', () => {
  for (const k of [
    'learning_rate',
    'max_seq_length',
    'lora_r',
    'lora_target_modules',
    'resume_from_checkpoint',
    'config',
  ])
    assert.ok(k in trainCommand.flags, k);
});

test('peft.modules_to_save is refused with LoRA (not silently ignored), naming what to use instead', () => {
  assert.throws(
    () => resolveConfig({ object: { peft: { modules_to_save: ['lm_head'] } } }),
    (e: Error) =>
      e instanceof UserError &&
      /peft\.modules_to_save \(lm_head\) is not supported/.test(e.message) &&
      /trainable_token_indices/.test(e.message),
  );
  assert.equal(resolveConfig({ object: { peft: { modules_to_save: [] } } }).peft.modules_to_save?.length, 0);
});
