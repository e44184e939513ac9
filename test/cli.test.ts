import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.js';

test('sftkit --version prints the package version', () => {
  const r = runCli(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('sftkit --help lists every command', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  for (const name of ['create-model', 'dump', 'merge']) assert.match(r.stdout, new RegExp(`\\n  ${name} `));
});

test('an unknown command exits 2 and says so on stderr', () => {
  const r = runCli(['no-such-command']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'no-such-command'/);
});

test('a user error prints one line without a stack trace, and the stack with --debug', () => {
  const args = ['dump', '--model', '/nonexistent-dir', '--batch', '/nonexistent.json', '--out', '/tmp/x.safetensors'];
  const r = runCli(args);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const d = runCli([...args, '--debug']);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /\n\s+at /);
});
