// Small pieces of the model: batch parsing and derived inputs, RoPE tables, PRNG, parameter report.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBatchJson, positionsOf, segmentIdsOf, shiftedTargets } from '../../src/model/batch.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { formatTrainableParameters, trainableParametersReport } from '../../src/model/params.js';
import { SplitMix64 } from '../../src/util/random.js';
import { buildRopeTable, ropeInvFreq } from '../../src/model/rope.js';
import { UserError } from '../../src/util/errors.js';
import { fixture, useBestBackend } from './helpers.js';

useBestBackend();

test('batch: HF shift, default positions, packed segments from position_ids', () => {
  const b = parseBatchJson(
    {
      input_ids: [
        [5, 6, 7, 8],
        [1, 2, 3, 4],
      ],
      labels: [
        [-100, 6, 7, 8],
        [1, 2, -100, 4],
      ],
      position_ids: [
        [0, 1, 0, 1],
        [0, 1, 2, 1],
      ],
    },
    'b.json',
    10,
  );
  assert.deepEqual([...shiftedTargets(b)], [6, 7, 8, -100, 2, -100, 4, -100]);
  assert.deepEqual([...segmentIdsOf(b)!], [0, 0, 1, 1, 0, 0, 0, 1]);
  assert.deepEqual([...positionsOf({ ...b, positionIds: null })], [0, 1, 2, 3, 0, 1, 2, 3]);
  assert.equal(segmentIdsOf({ ...b, positionIds: null }), null);
  assert.deepEqual([...shiftedTargets({ ...b, labels: null })], [6, 7, 8, -100, 2, 3, 4, -100]);
});

test('batch: errors name the field and position', () => {
  assert.throws(
    () => parseBatchJson({ input_ids: [[1, 2], [3]] }, 'b.json', 10),
    /b.json: "input_ids"\[1\] must have 2 entries/,
  );
  assert.throws(
    () => parseBatchJson({ input_ids: [[1, 12]] }, 'b.json', 10),
    /input_ids\[0\]\[1\] = 12 is outside the vocabulary/,
  );
  assert.throws(() => parseBatchJson({ input_ids: [[1, 2]], labels: [[1]] }, 'b.json', 10), UserError);
  assert.throws(() => parseBatchJson({ input_ids: [[1, 2]], mask: [[1, 1]] }, 'b.json', 10), /unknown field "mask"/);
  assert.throws(() => parseBatchJson({ input_ids: [[1, 2.5]] }, 'b.json', 10), /must be an integer/);
});

test('rope: default, linear and llama3 frequencies; table rows are cos/sin of position·inv_freq', () => {
  const base = { ropeTheta: 10000, ropeScaling: null, headDim: 8 };
  const inv = ropeInvFreq(base);
  assert.deepEqual([...inv], [1, 0.1, 0.01, 0.001].map(Math.fround));
  assert.deepEqual(
    [...ropeInvFreq({ ...base, ropeScaling: { type: 'linear', factor: 4 } })],
    [1, 0.1, 0.01, 0.001].map((x) => Math.fround(x / 4)),
  );
  // llama3 with original context 64: wavelengths 6.3 (kept), 62.8 (smoothed), 628 and 6283 (divided by 8)
  const l3 = ropeInvFreq({
    ...base,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
  });
  assert.equal(l3[0], Math.fround(1));
  assert.ok(l3[1]! < 0.1 && l3[1]! > 0.1 / 8, `smoothed ${l3[1]}`);
  assert.deepEqual([l3[2], l3[3]], [Math.fround(0.01 / 8), Math.fround(0.001 / 8)]);
  const t = buildRopeTable(base, 8);
  assert.equal(t.maxPositions, 8);
  assert.equal(t.rotaryDim, 8);
  assert.equal(t.cos[5 * 4 + 1], Math.fround(Math.cos(Math.fround(5 * Math.fround(0.1)))));
  assert.equal(t.sin[3 * 4 + 0], Math.fround(Math.sin(3)));
});

test('splitmix64 is deterministic and matches the published first output for seed 0', () => {
  assert.equal(new SplitMix64(0).nextU64(), 0xe220a8397b1dcdafn);
  const a = new SplitMix64(42);
  const b = new SplitMix64(42);
  for (let i = 0; i < 5; i++) assert.equal(a.nextDouble(), b.nextDouble());
  const x = new Float32Array(1000);
  new SplitMix64(1).fillUniform(x, 0.25);
  assert.ok(x.every((v) => v >= -0.25 && v < 0.25));
  assert.ok(Math.abs(x.reduce((s, v) => s + v, 0) / x.length) < 0.02);
});

test('trainable-parameter report matches PEFT print_trainable_parameters', () => {
  assert.equal(
    formatTrainableParameters({ trainable: 4884480, all: 139399488 }),
    'trainable params: 4,884,480 || all params: 139,399,488 || trainable%: 3.5039',
  );
  const m = LlamaModel.load(fixture('llama'));
  loadAdapter(m, fixture('llama', 'adapter'));
  // base 5,200 (embed 640 + head 640 + norm 16 + 2 layers × 1,952); LoRA r=4 on 7 modules × 2 layers = 1,856
  assert.equal(trainableParametersReport(m), 'trainable params: 1,856 || all params: 7,056 || trainable%: 26.3039');
  const q = LlamaModel.load(fixture('qwen2'));
  q.enableFullFineTuning();
  const line = trainableParametersReport(q);
  const [trainable, all] = [...line.matchAll(/params: ([\d,]+)/g)].map((x) => Number(x[1]!.replace(/,/g, '')));
  assert.equal(trainable, all);
  // tied head counted once: embed 640 + norm 16 + per layer (32 norms + q 256+16, k 64+4, v 64+4, o 256, mlp 1152)
  assert.equal(all, 640 + 16 + 2 * (32 + 272 + 68 + 68 + 256 + 1152));
});
