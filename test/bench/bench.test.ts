// The benchmark code's own behaviour (not speed): medians, tables, a bench script's options, the JSON-line child
// runs, and `sftkit bench gemm --json`'s contract on a tiny shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchArgs, formatTable, median, medianMs, runJsonLine } from '../../src/bench/measure.js';
import { syntheticConversations } from '../../src/bench/synthetic.js';
import { runCli } from '../helpers/cli.js';

test('median is element floor(n/2) of the sorted values, NaN when empty', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 3);
  assert.ok(Number.isNaN(median([])));
  const xs = [5, 4];
  median(xs);
  assert.deepEqual(xs, [5, 4], 'the input is not sorted in place');
});

test('medianMs runs warm-up plus timed runs', () => {
  let calls = 0;
  const ms = medianMs(() => calls++, 5, 2);
  assert.equal(calls, 7);
  assert.ok(ms >= 0);
});

test('formatTable pads columns (right-aligned where asked) or writes markdown', () => {
  const rows = [
    ['a', 1],
    ['long name', 22.5],
  ];
  assert.equal(
    formatTable(['name', 'value'], rows, { align: ['l', 'r'] }),
    'name       value\na              1\nlong name   22.5\n',
  );
  assert.equal(
    formatTable(['name', 'value'], rows, { markdown: true, align: ['l', 'r'] }),
    '| name | value |\n|---|---:|\n| a | 1 |\n| long name | 22.5 |\n',
  );
});

test('benchArgs reads options up to a lone --, and positionals skip option values', () => {
  const a = benchArgs([
    '--rows',
    '10',
    'x.jsonl',
    '--json',
    '--tokenizer',
    'T',
    'y.jsonl',
    '--',
    'b.ts',
    '--rows',
    '3',
  ]);
  assert.equal(a.number('rows', 5), 10);
  assert.equal(a.number('seq', 512), 512);
  assert.equal(a.string('tokenizer'), 'T');
  assert.equal(a.string('dtype', 'bf16'), 'bf16');
  assert.equal(a.flag('json'), true);
  assert.equal(a.flag('profile'), false);
  assert.deepEqual(a.positionals(['rows', 'tokenizer']), ['x.jsonl', 'y.jsonl']);
  assert.deepEqual(a.rest, ['b.ts', '--rows', '3']);
  assert.throws(() => benchArgs(['--rows', 'many']).number('rows', 1), /--rows expects a number, got 'many'/);
});

test('runJsonLine returns the last JSON line, or null with the stderr of a failed run', () => {
  const ok = runJsonLine(process.execPath, ['-e', 'console.log("note"); console.log(JSON.stringify({ x: 2 }))']);
  assert.deepEqual(ok.result, { x: 2 });
  const bad = runJsonLine(process.execPath, ['-e', 'console.error("it broke"); process.exit(3)']);
  assert.equal(bad.result, null);
  assert.match(bad.error, /exit 3/);
  assert.match(bad.error, /it broke/);
});

test('synthetic conversations are the same rows on every run', () => {
  const a = [...syntheticConversations(3)];
  assert.deepEqual(a, [...syntheticConversations(3)]);
  assert.equal(a.length, 3);
  assert.deepEqual(
    a[0]!.map((m) => m.role),
    ['user', 'assistant'],
  );
  assert.notDeepEqual(a[0], a[1]);
});

test('sftkit bench gemm --json prints the stable result object', () => {
  const r = runCli(['bench', 'gemm', '--m', '8', '--k', '16', '--n', '24', '--dtype', 'f32', '--reps', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out), ['gflops', 'ms', 'm', 'k', 'n', 'dtype', 'trans', 'threads', 'isa']);
  assert.deepEqual([out.m, out.k, out.n, out.dtype, out.trans], [8, 16, 24, 'f32', 'nt']);
  assert.ok(typeof out.gflops === 'number' && out.gflops > 0);
});

test('sftkit bench refuses a bad layout in one line', () => {
  const r = runCli(['bench', 'gemm', '--trans', 'xy']);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.match(r.stderr, /--trans must be nt, nn or tn, got 'xy'/);
});
