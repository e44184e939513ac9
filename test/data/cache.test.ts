import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCache, writeCache } from '../../src/data/cache.js';
import { ExampleSlab } from '../../src/data/example-slab.js';
import type { PreparedExample } from '../../src/data/types.js';

/** Examples of odd lengths (so mask bytes leave the file unaligned), JSONL and Parquet sources, some truncated. */
function examples(n: number, seed: number): PreparedExample[] {
  return Array.from({ length: n }, (_, i) => {
    const len = 1 + ((i * 7 + seed) % 13);
    const inputIds = Int32Array.from({ length: len }, (_, k) => (i * 1000 + k * 37 + seed) % 70000);
    const assistantMask = Uint8Array.from({ length: len }, (_, k) => ((k + i) % 3 === 0 ? 1 : 0));
    const source =
      i % 2 ? { file: 'a.jsonl', line: i + 1 } : { file: 'data/train.parquet', line: i + 1, row: i, rowGroup: i >> 2 };
    return { inputIds, assistantMask, source, numTrained: i, truncated: i % 5 === 0 };
  });
}

/** Every field, read through the interface (slab examples have getters, not own properties). */
const plain = (e: PreparedExample) => ({
  inputIds: Array.from(e.inputIds),
  assistantMask: Array.from(e.assistantMask),
  source: e.source,
  numTrained: e.numTrained,
  truncated: e.truncated,
});

test('the data cache: every field of every split round-trips, examples view one buffer per split', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-cache-'));
  const splits = { train: examples(41, 1), eval: examples(6, 2), empty: [] };
  const summary = { load: { records: 47 }, note: 'ünïcode' };
  const path = await writeCache(dir, 'k1', splits, summary);
  assert.deepEqual(readdirSync(dir), ['k1.bin']); // no temporary left
  const back = readCache(dir, 'k1');
  assert.ok(back);
  assert.deepEqual(back.summary, summary);
  for (const name of Object.keys(splits) as (keyof typeof splits)[])
    assert.deepEqual(back.splits[name]!.map(plain), splits[name].map(plain), name);
  const train = back.splits.train!;
  assert.ok(train.every((e) => e.inputIds.buffer === train[0]!.inputIds.buffer));
  assert.ok(train.every((e) => e.assistantMask.buffer === train[0]!.assistantMask.buffer));
  assert.equal(statSync(path).size % 4, 0);
});

test('the data cache: a truncated, extended or foreign file reads as absent (rebuilt), never as data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-cache-'));
  const path = await writeCache(dir, 'k', { train: examples(20, 3) }, {});
  const whole = readFileSync(path);
  assert.ok(readCache(dir, 'k'));
  assert.equal(readCache(dir, 'missing'), null);
  for (const size of [0, 5, 11, 40, whole.length - 1]) {
    writeFileSync(path, whole);
    truncateSync(path, size);
    assert.equal(readCache(dir, 'k'), null, `cut at ${size}`);
  }
  writeFileSync(path, Buffer.concat([whole, Buffer.from([0, 0, 0, 0])]));
  assert.equal(readCache(dir, 'k'), null, 'extra bytes');
  const wrongMagic = Buffer.from(whole);
  wrongMagic.write('SFTKDAT1', 0, 'latin1');
  writeFileSync(path, wrongMagic);
  assert.equal(readCache(dir, 'k'), null, 'older format');
  // an example whose tokens run past the next one's (offsets follow 4 source columns of 20 Int32 each)
  const bad = Buffer.from(whole);
  const headerLen = bad.readUInt32LE(8);
  const columnsAt = 12 + headerLen + ((4 - ((12 + headerLen) % 4)) % 4);
  bad.writeInt32LE(1 << 30, columnsAt + 4 * 20 * 4 + 3 * 4);
  writeFileSync(path, bad);
  assert.equal(readCache(dir, 'k'), null, 'length past the end');
});

test('ExampleSlab: packed examples keep every field and view one id and one mask buffer', () => {
  const exs = examples(9, 4);
  const slab = ExampleSlab.pack(exs);
  const back = slab.examples();
  assert.equal(slab.length, 9);
  assert.deepEqual(back.map(plain), exs.map(plain));
  assert.equal(slab.sources.files.length, 2);
  for (const e of back) {
    assert.equal(e.inputIds.buffer, slab.arrays.ids.buffer);
    assert.equal(e.assistantMask.buffer, slab.arrays.mask.buffer);
  }
  assert.equal(ExampleSlab.pack([]).examples().length, 0);
});
