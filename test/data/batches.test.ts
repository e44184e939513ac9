import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  batches,
  collate,
  packBestFitDecreasing,
  packingEfficiency,
  planBatches,
  type Batch,
} from '../../src/data/batches.js';
import { IGNORE_INDEX } from '../../src/engine/backend.js';
import type { PreparedExample } from '../../src/data/types.js';

/** An example of `n` tokens with ids base+0.. and the mask given (default: first half untrained). */
function ex(n: number, base: number, mask?: number[]): PreparedExample {
  const m = Uint8Array.from(mask ?? Array.from({ length: n }, (_, i) => (i >= n / 2 ? 1 : 0)));
  return {
    inputIds: Int32Array.from({ length: n }, (_, i) => base + i),
    assistantMask: m,
    source: { file: 'f', line: base },
    numTrained: m.reduce((a, b) => a + b, 0),
    truncated: false,
  };
}

function rows(b: Batch): { ids: number[]; labels: number[]; pos: number[] }[] {
  return Array.from({ length: b.batch }, (_, r) => ({
    ids: Array.from(b.inputIds.subarray(r * b.seq, (r + 1) * b.seq)),
    labels: Array.from(b.labels.subarray(r * b.seq, (r + 1) * b.seq)),
    pos: Array.from(b.positionIds.subarray(r * b.seq, (r + 1) * b.seq)),
  }));
}

test('best-fit-decreasing: known packing, capacity respected, no example split or lost', () => {
  const lengths = [6, 5, 4, 3, 2, 2, 1];
  const packed = packBestFitDecreasing(lengths, 8);
  // 6 -> new row A; 5 -> new row B; 4 -> new row C; 3 -> B (free 3, exact fit); 2 -> A (free 2); 2 -> C (free 4 -> 2); 1 -> C.
  assert.deepEqual(packed, [
    [0, 4],
    [1, 3],
    [2, 5, 6],
  ]);
  const lens = [37, 5, 90, 12, 64, 3, 3, 50, 29, 77, 1, 18];
  const p2 = packBestFitDecreasing(lens, 100);
  assert.deepEqual(
    p2.flat().sort((a, b) => a - b),
    lens.map((_, i) => i),
  );
  for (const r of p2) assert.ok(r.reduce((s, i) => s + lens[i]!, 0) <= 100);
  assert.ok(Math.abs(packingEfficiency(p2, lens, 100) - lens.reduce((a, b) => a + b) / (p2.length * 100)) < 1e-12);
  assert.throws(() => packBestFitDecreasing([101], 100), /more than max_length 100/);
});

test('packed rows: position ids restart at 0 per example, the first label of each example is -100, padding is -100', () => {
  const exs = [ex(4, 100, [0, 1, 1, 1]), ex(3, 200, [1, 1, 1]), ex(2, 300, [1, 1])];
  const b = collate(exs, [[0, 1], [2]], 8, 0);
  const [r0, r1] = rows(b);
  assert.deepEqual(r0!.ids, [100, 101, 102, 103, 200, 201, 202, 0]);
  assert.deepEqual(r0!.pos, [0, 1, 2, 3, 0, 1, 2, 0]);
  assert.deepEqual(r0!.labels, [-100, 101, 102, 103, -100, 201, 202, -100]);
  assert.deepEqual(r1!.ids, [300, 301, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(r1!.labels, [-100, 301, -100, -100, -100, -100, -100, -100]);
  assert.equal(b.numTrainedTokens, 3 + 2 + 1);
});

test('padding is masked by position even when the pad id is the trained end-of-turn id', () => {
  const EOS = 7;
  const e = { ...ex(3, 0), inputIds: Int32Array.from([5, 6, EOS]), assistantMask: Uint8Array.from([0, 1, 1]) };
  const short = { ...ex(2, 0), inputIds: Int32Array.from([5, EOS]), assistantMask: Uint8Array.from([0, 1]) };
  const b = collate([e, short], [[0], [1]], 3, EOS);
  assert.deepEqual(Array.from(b.inputIds), [5, 6, EOS, 5, EOS, EOS]);
  assert.deepEqual(Array.from(b.labels), [-100, 6, EOS, -100, EOS, IGNORE_INDEX]);
});

test('batches(): packing covers every trained token once; efficiency reported; seeded and epoch-dependent order', () => {
  const exs = Array.from({ length: 40 }, (_, i) => ex(3 + ((i * 7) % 29), 1000 * (i + 1)));
  const opts = { batchSize: 4, maxLength: 32, packing: true, seed: 3 };
  const all = [...batches(exs, opts)];
  const trained = all.reduce((s, b) => s + b.numTrainedTokens, 0);
  // Each example's first token is never trained, and packing must not lose any other trained token.
  const expected = exs.reduce(
    (s, e) =>
      s +
      Array.from(e.assistantMask)
        .slice(1)
        .reduce((a, b) => a + b, 0),
    0,
  );
  assert.equal(trained, expected);
  const plan = planBatches(exs, opts);
  assert.ok(plan.efficiency > 0.8 && plan.efficiency <= 1, String(plan.efficiency));
  for (const b of all) {
    assert.ok(b.seq <= 32 && b.batch <= 4);
    assert.equal(b.inputIds.length, b.batch * b.seq);
  }
  const again = [...batches(exs, opts)];
  assert.deepEqual(
    again.map((b) => Array.from(b.inputIds)),
    all.map((b) => Array.from(b.inputIds)),
  );
  const epoch1 = [...batches(exs, { ...opts, epoch: 1 })];
  assert.notDeepEqual(
    epoch1.map((b) => Array.from(b.inputIds)),
    all.map((b) => Array.from(b.inputIds)),
  );
});

test('without packing: one example per row, right padding, batches grouped by length', () => {
  const exs = Array.from({ length: 64 }, (_, i) => ex(2 + ((i * 13) % 31), 1000 * (i + 1)));
  const all = [...batches(exs, { batchSize: 8, maxLength: 64, packing: false, seed: 1, padTokenId: 9 })];
  assert.equal(
    all.reduce((s, b) => s + b.batch, 0),
    64,
  );
  let padded = 0;
  let cells = 0;
  for (const b of all) {
    for (const r of rows(b)) {
      const n = r.ids.findIndex((x, i) => i > 0 && x === 9);
      const len = n < 0 ? b.seq : n;
      assert.deepEqual(
        r.pos.slice(0, len),
        Array.from({ length: len }, (_, i) => i),
      );
      assert.ok(r.labels.slice(len).every((x) => x === IGNORE_INDEX));
      padded += b.seq - len;
    }
    cells += b.batch * b.seq;
  }
  // Length grouping keeps padding well under what random batches would need (~45% here).
  assert.ok(padded / cells < 0.15, `padding fraction ${padded / cells}`);
  assert.throws(() => [...batches([ex(70, 0)], { batchSize: 1, maxLength: 64 })], /70 tokens > max_length 64/);
});
