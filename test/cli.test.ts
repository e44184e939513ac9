import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/cli/main.js';

test('sftkit --version prints the package version', async () => {
  const writes: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stdout.write;
  try {
    assert.equal(await main(['--version']), 0);
  } finally {
    process.stdout.write = orig;
  }
  assert.match(writes.join(''), /^\d+\.\d+\.\d+\n$/);
});

test('an unknown command exits non-zero', async () => {
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    assert.equal(await main(['no-such-command']), 2);
  } finally {
    process.stderr.write = orig;
  }
});
