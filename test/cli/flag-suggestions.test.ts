import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandArgs, type Command } from '../../src/cli/command.js';
import { command as trainCommand } from '../../src/cli/train.js';
import { UserError } from '../../src/util/errors.js';

const demo: Command = {
  name: 'demo',
  summary: 'demo',
  usage: 'sftkit demo',
  flags: {
    model: { type: 'string', help: 'm' },
    adapter: { type: 'string', help: 'a' },
    out: { type: 'string', help: 'o' },
  },
  async run() {},
};

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected an error');
}

test('an unknown flag gets the closest known flag suggested', () => {
  assert.match(
    messageOf(() => parseCommandArgs(demo, ['--adaptor', 'x'])),
    /unknown option '--adaptor' \(did you mean --adapter\?\)/,
  );
  assert.match(
    messageOf(() => parseCommandArgs(demo, ['--modle=x'])),
    /did you mean --model\?/,
  );
  const far = messageOf(() => parseCommandArgs(demo, ['--temperature', '1']));
  assert.match(far, /unknown option '--temperature'/);
  assert.doesNotMatch(far, /did you mean/);
});

test('sftkit train suggests config schema names for mistyped flags', () => {
  assert.match(
    messageOf(() => parseCommandArgs(trainCommand, ['--learnin_rate', '1e-4'])),
    /did you mean --learning_rate\?/,
  );
  assert.match(
    messageOf(() => parseCommandArgs(trainCommand, ['--gradient_checkpoint', 'true'])),
    /did you mean --gradient_checkpointing\?/,
  );
  assert.match(
    messageOf(() => parseCommandArgs(trainCommand, ['--per_device_train_batchsize', '2'])),
    /did you mean --per_device_train_batch_size\?/,
  );
});
