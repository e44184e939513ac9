// The step-wise generator: sequences that join a running batch at step boundaries (their cache rows stacked
// with the running ones, padding realigned) generate what each does alone; cancelling frees a row at once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BatchGenerator, type SequenceSpec } from '../../src/generate/batch.js';
import { generate } from '../../src/generate/generate.js';
import { KVCache, PAD_SEGMENT, REAL_SEGMENT } from '../../src/generate/kv-cache.js';
import { resolveSampling, rowSeed } from '../../src/generate/sampling.js';
import { LlamaModel } from '../../src/model/llama.js';
import { useBestBackend } from '../model/helpers.js';
import { scramble, tinyModelDir } from './helpers.js';

useBestBackend();
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-batch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let model: LlamaModel;
before(async () => {
  model = scramble(LlamaModel.load(await tinyModelDir(tmp)), 7);
});

const greedy = resolveSampling({ doSample: false });
const spec = (prompt: number[], maxNewTokens: number): SequenceSpec => ({
  prompt,
  maxNewTokens,
  sampling: greedy,
  seed: rowSeed(0, 0),
});
const PROMPTS = [
  [5, 17, 99, 240, 3, 64, 128],
  [7, 8],
  [300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310],
  [42, 43, 44],
];

test('sequences joining a running batch at different steps generate exactly what each generates alone', () => {
  const alone = PROMPTS.map((p, i) => generate(model, [p], { maxNewTokens: 10 + i, doSample: false }));
  const gen = new BatchGenerator(model);
  const first = gen.add([spec(PROMPTS[0]!, 10)]);
  gen.step();
  gen.step();
  // Two join together after two steps (one shorter, one longer than the running row's filled slots).
  const mid = gen.add([spec(PROMPTS[1]!, 11), spec(PROMPTS[2]!, 12)]);
  assert.equal(gen.size, 3);
  gen.step();
  const last = gen.add([spec(PROMPTS[3]!, 13)]);
  const finishedOrder: number[] = [];
  const all = [...first, ...mid, ...last];
  while (gen.size > 0) for (const s of gen.step()) finishedOrder.push(all.indexOf(s));
  all.forEach((s, i) => {
    assert.deepEqual(s.generated, alone[i]!.generations[0]!.tokenIds, `sequence ${i}`);
    assert.equal(s.finish, 'length');
  });
  assert.deepEqual(finishedOrder, [0, 1, 2, 3]);
  // Shared steps: fewer forward passes than tokens.
  assert.ok(gen.stats.decodeSteps < gen.stats.decodeTokens, JSON.stringify(gen.stats));
});

test('cancel frees the row at once and the others go on unchanged', () => {
  const alone = generate(model, [PROMPTS[2]!], { maxNewTokens: 8, doSample: false }).generations[0]!.tokenIds;
  const gen = new BatchGenerator(model);
  const [a, b] = gen.add([spec(PROMPTS[0]!, 50), spec(PROMPTS[2]!, 8)]);
  gen.step();
  gen.cancel(a!);
  assert.equal(gen.size, 1);
  assert.equal(a!.finish, 'cancelled');
  assert.equal(a!.generated.length, 1);
  while (gen.size > 0) gen.step();
  assert.deepEqual(b!.generated, alone);
  // A callback may cancel its own row mid-step.
  const g2 = new BatchGenerator(model);
  let n = 0;
  const [c] = g2.add([{ ...spec(PROMPTS[1]!, 50), onToken: () => ++n === 3 && g2.cancel(c!) }]);
  while (g2.size > 0) g2.step();
  assert.equal(c!.generated.length, 3);
  assert.equal(c!.finish, 'cancelled');
});

test('KVCache.stack right-aligns each part without its common padding, padding before it', () => {
  const a = new KVCache(1, 1, 4, 1, 1);
  a.write(0, Float32Array.of(1, 2, 3), Float32Array.of(1, 2, 3), 3);
  a.advance(3, Int32Array.of(PAD_SEGMENT, REAL_SEGMENT, REAL_SEGMENT));
  const b = new KVCache(1, 2, 1, 1, 1);
  b.write(0, Float32Array.of(8, 9), Float32Array.of(8, 9), 1);
  b.advance(1, Int32Array.of(REAL_SEGMENT, REAL_SEGMENT));
  assert.equal(a.commonPadding(), 1);
  const s = KVCache.stack([a, b], 5);
  assert.equal(s.batch, 3);
  assert.equal(s.length, 2);
  assert.deepEqual([...s.k[0]!.subarray(0, 2)], [2, 3]);
  assert.deepEqual([...s.k[0]!.subarray(5, 7)], [0, 8]);
  assert.deepEqual([...s.k[0]!.subarray(10, 12)], [0, 9]);
  assert.deepEqual(
    [...s.keySegments(2)],
    [REAL_SEGMENT, REAL_SEGMENT, PAD_SEGMENT, REAL_SEGMENT, PAD_SEGMENT, REAL_SEGMENT],
  );
});
