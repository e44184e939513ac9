// Bad command lines and paths of the wrong kind: one line, exit code 1, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommandArgs, type Command } from '../../src/cli/command.js';
import { writeFileAtomic, writeFileAtomicSync, AtomicFileWriter } from '../../src/io/atomic.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { readConfigFile } from '../../src/train/config.js';
import { BadRecordError } from '../../src/data/formats.js';
import { UserError } from '../../src/util/errors.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, tinyModel } from '../train/helpers.js';

const cmd: Command = {
  name: 'demo',
  summary: '',
  usage: '',
  flags: {
    learning_rate: { type: 'string', help: '' },
    verbose: { type: 'boolean', help: '' },
    full_finetune: { type: 'string', help: '', bare: 'true' },
  },
  run: async () => 0,
};

test('a negative number after a string option is its value, a bare boolean flag is true; other parse errors are one line', () => {
  assert.equal(parseCommandArgs(cmd, ['--learning_rate', '-1']).values.learning_rate, '-1');
  assert.equal(parseCommandArgs(cmd, ['--learning_rate', '-.5e-3']).values.learning_rate, '-.5e-3');
  // a bare boolean config flag means true, whatever follows it; with a value it keeps the value
  assert.equal(parseCommandArgs(cmd, ['--full_finetune']).values.full_finetune, 'true');
  assert.equal(parseCommandArgs(cmd, ['--full_finetune', '--verbose']).values.full_finetune, 'true');
  assert.equal(parseCommandArgs(cmd, ['--full_finetune', 'false']).values.full_finetune, 'false');
  assert.throws(
    () => parseCommandArgs(cmd, ['--learning_rate', '-x']),
    (e: unknown) => e instanceof UserError && !e.message.includes('\n') && /^sftkit demo: /.test(e.message),
  );
});

test('a folder where a file is to be written is refused before anything is written', async () => {
  const dir = tempDir('folder-target');
  const target = join(dir, 'out.json');
  mkdirSync(target);
  const refused = (e: unknown) =>
    e instanceof UserError && e.message === `${target}: is a folder; expected the path of a file to write`;
  assert.throws(() => writeFileAtomicSync(target, 'x'), refused);
  await assert.rejects(writeFileAtomic(target, 'x'), refused);
  await assert.rejects(AtomicFileWriter.open(target), refused);
  await assert.rejects(
    writeSafetensors(target, [{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) }]),
    refused,
  );
  assert.deepEqual(readdirSync(dir), ['out.json'], 'no temporaries left');
  assert.deepEqual(readdirSync(target), []);
});

test('a config path that is a folder, and record errors over values holding newlines, are one line', () => {
  const dir = tempDir('config-folder');
  assert.throws(
    () => readConfigFile(dir),
    (e: unknown) => e instanceof UserError && e.message === `${dir}: is a folder, not a config file (YAML)`,
  );
  const e = new BadRecordError({ file: 'a.csv', line: 2 }, 'unknown-format', 'x\ny', 'keys [a\nb]');
  assert.equal(e.message, "a.csv:2: field 'x\\ny': keys [a\\nb] [unknown-format]");
});

test('CLI: export gguf to a folder, and train from a model path that is a file, fail in one line', async () => {
  const model = await tinyModel();
  const dir = tempDir('bad-cli');
  const out = join(dir, 'model.gguf');
  mkdirSync(out);
  const g = runCli(['export', 'gguf', '--model', model, '--out', out]);
  assert.equal(g.code, 1, g.stderr);
  assert.equal(g.stderr, `${out}: is a folder; expected the path of a file to write\n`);
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, '{"text": "hello"}\n');
  const t = runCli(['train', '--model', join(model, 'config.json'), '--dataset', data, '--output_dir', join(dir, 'o')]);
  assert.equal(t.code, 1, t.stderr);
  assert.match(t.stderr, /^model: .*config\.json is a file; expected a Hugging Face model folder/m);
  assert.equal(t.stderr.trim().split('\n').length, 1, t.stderr);
  assert.ok(!existsSync(join(dir, 'o', 'adapter_model.safetensors')));
});
