// Sampling semantics (HF generate): each filter on a hand-made distribution, the repetition penalty, seeded
// reproducibility, top-k = 1 equal to greedy, and draw frequencies that follow the filtered distribution.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generate } from '../../src/generate/generate.js';
import {
  applyRepetitionPenalty,
  argmax,
  filteredDistribution,
  resolveSampling,
  Sampler,
} from '../../src/generate/sampling.js';
import { LlamaModel } from '../../src/model/llama.js';
import { UserError } from '../../src/util/errors.js';
import { useBestBackend } from '../model/helpers.js';
import { scramble, tinyModelDir } from './helpers.js';

useBestBackend();

// probabilities 0.5, 0.2, 0.15, 0.1, 0.05 in a shuffled order: ids 3, 0, 4, 1, 2 by descending probability
const PROBS = [0.2, 0.1, 0.05, 0.5, 0.15];
const LOGITS = Float32Array.from(PROBS, (p) => Math.log(p) + 3);
const kept = (opts: Parameters<typeof resolveSampling>[0]) =>
  filteredDistribution(LOGITS, resolveSampling({ doSample: true, topK: 0, ...opts }));

test('top-p keeps the smallest set of most likely tokens whose probability reaches p, at least one', () => {
  assert.deepEqual(kept({ topP: 0.45 }).ids, [3]);
  assert.deepEqual(kept({ topP: 0.6 }).ids, [3, 0]);
  assert.deepEqual(kept({ topP: 0.75 }).ids, [3, 0, 4]);
  assert.deepEqual(kept({ topP: 0.9 }).ids, [3, 0, 4, 1]);
  assert.deepEqual(kept({ topP: 1 }).ids, [3, 0, 4, 1, 2]);
  assert.deepEqual(kept({ topP: 1e-6 }).ids, [3]);
  const d = kept({ topP: 0.75 });
  d.probs.forEach((p, i) => assert.ok(Math.abs(p - [0.5, 0.2, 0.15][i]! / 0.85) < 1e-6, `renormalised prob ${i}`));
});

test('min-p drops tokens below min_p x the top probability; top-k keeps ties at the k-th value; temperature scales', () => {
  assert.deepEqual(kept({ minP: 0.25 }).ids, [3, 0, 4]); // threshold 0.125
  assert.deepEqual(kept({ minP: 0.5 }).ids, [3]); // threshold 0.25
  assert.deepEqual(kept({ minP: 0.05 }).ids, [3, 0, 4, 1, 2]);
  assert.deepEqual(kept({ topK: 2 }).ids, [3, 0]);
  const ties = Float32Array.of(1, 2, 2, 0);
  assert.deepEqual(filteredDistribution(ties, resolveSampling({ doSample: true, topK: 1 })).ids, [1, 2]);
  assert.deepEqual(filteredDistribution(ties, resolveSampling({ doSample: true, topK: 3 })).ids, [1, 2, 0]);
  // top-k then top-p: p is measured on the distribution renormalised over the top k
  assert.deepEqual(kept({ topK: 3, topP: 0.8 }).ids, [3, 0, 4].slice(0, 2)); // 0.5/0.85=0.588 < 0.8 <= 0.824
  const hot = kept({ temperature: 2 });
  const z = PROBS.map((p) => Math.sqrt(p)).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(hot.probs[0]! - Math.sqrt(0.5) / z) < 1e-6);
});

test('repetition penalty (HF): positive logits of seen tokens divided, negative multiplied, each token once', () => {
  const l = Float32Array.of(2, -2, 1, 0.5, -1);
  applyRepetitionPenalty(l, [0, 1, 1, 3, 0], 2);
  assert.deepEqual([...l], [1, -4, 1, 0.25, -1]);
  // It applies in greedy mode too: the penalised token loses the argmax.
  const g = new Sampler(resolveSampling({ doSample: false, repetitionPenalty: 3 }), 0);
  assert.equal(g.next(Float32Array.of(3, 2, 0), [0]), 1);
  assert.equal(argmax(Float32Array.of(1, 5, 5)), 1);
});

test('draws follow the filtered distribution and a seed reproduces them', () => {
  const s = resolveSampling({ doSample: true, topK: 0, topP: 0.9 });
  const draw = (seed: number) => {
    const sampler = new Sampler(s, seed);
    return Array.from({ length: 20000 }, () => sampler.next(Float32Array.from(LOGITS), []));
  };
  const a = draw(1);
  assert.deepEqual(a.slice(0, 200), draw(1).slice(0, 200));
  assert.notDeepEqual(a.slice(0, 200), draw(2).slice(0, 200));
  const freq = (id: number) => a.filter((x) => x === id).length / a.length;
  assert.equal(freq(2), 0, 'the 0.05 token is outside top-p 0.9');
  for (const [id, p] of [
    [3, 0.5],
    [0, 0.2],
    [4, 0.15],
    [1, 0.1],
  ] as const)
    assert.ok(Math.abs(freq(id) - p / 0.95) < 0.015, `token ${id}: ${freq(id)}`);
});

test('invalid settings are user errors naming the setting', () => {
  assert.throws(
    () => resolveSampling({ topP: 0 }),
    (e) => e instanceof UserError && /top_p/.test(e.message),
  );
  assert.throws(() => resolveSampling({ temperature: -1 }), /temperature/);
  assert.throws(() => resolveSampling({ topK: 1.5 }), /top_k/);
  assert.throws(() => resolveSampling({ minP: 2 }), /min_p/);
  assert.throws(() => resolveSampling({ repetitionPenalty: 0 }), /repetition_penalty/);
  assert.equal(resolveSampling({ temperature: 0 }).greedy, true);
  // HF's do_sample defaults to false: sampling only when asked for.
  assert.equal(resolveSampling({}).greedy, true);
  assert.equal(resolveSampling({ temperature: 0.7 }).greedy, true);
  assert.equal(resolveSampling({ doSample: true }).greedy, false);
});

const tmp = mkdtempSync(join(tmpdir(), 'sftkit-sampling-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let model: LlamaModel;
before(async () => {
  model = scramble(LlamaModel.load(await tinyModelDir(tmp)), 9);
});

test('model sampling: a fixed seed reproduces the text, another seed changes it, top-k = 1 equals greedy', () => {
  const prompt = [10, 20, 30, 40];
  const run = (o: Parameters<typeof generate>[2]) => generate(model, [prompt], o).generations[0]!.tokenIds;
  const a = run({ maxNewTokens: 24, doSample: true, temperature: 1.2, topK: 0, seed: 123 });
  assert.deepEqual(run({ maxNewTokens: 24, doSample: true, temperature: 1.2, topK: 0, seed: 123 }), a);
  assert.notDeepEqual(run({ maxNewTokens: 24, doSample: true, temperature: 1.2, topK: 0, seed: 124 }), a);
  const greedy = run({ maxNewTokens: 24, doSample: false });
  assert.notDeepEqual(a, greedy);
  assert.deepEqual(run({ maxNewTokens: 24, doSample: true, temperature: 1.5, topK: 1, seed: 9 }), greedy);
  assert.deepEqual(run({ maxNewTokens: 24, doSample: true, temperature: 0.7, minP: 1, seed: 9 }), greedy);
});
