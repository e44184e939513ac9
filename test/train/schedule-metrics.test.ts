import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LrSchedule, lrMultiplier, warmupStepsFor } from '../../src/train/schedule.js';
import { MetricsWriter, readMetrics, formatSummary } from '../../src/train/metrics.js';
import { lossCurveSvg } from '../../src/train/loss-plot.js';
import { ProgressBar } from '../../src/train/progress.js';
import { epochPermutation, deriveSeed } from '../../src/util/random.js';

test('warmup: warmup_steps overrides warmup_ratio, ratio rounds up', () => {
  assert.equal(warmupStepsFor(10, 0, 0.15), 2);
  assert.equal(warmupStepsFor(10, 3, 0.5), 3);
  assert.equal(warmupStepsFor(10, 0, 0), 0);
});

test('schedules match transformers (lr at 0-based optimizer step)', () => {
  // linear, 10 steps, 2 warmup: 0, 0.5, then (10 - s) / 8
  assert.deepEqual(
    [0, 1, 2, 6, 9].map((s) => lrMultiplier('linear', s, 10, 2)),
    [0, 0.5, 1, 0.5, 0.125],
  );
  // cosine, no warmup: half a cosine
  assert.ok(Math.abs(lrMultiplier('cosine', 5, 10, 0) - 0.5) < 1e-12);
  assert.equal(lrMultiplier('cosine', 0, 10, 0), 1);
  assert.ok(Math.abs(lrMultiplier('cosine', 3, 10, 2) - 0.5 * (1 + Math.cos(Math.PI / 8))) < 1e-12);
  assert.deepEqual(
    [0, 1, 2, 9].map((s) => lrMultiplier('constant_with_warmup', s, 10, 2)),
    [0, 0.5, 1, 1],
  );
  assert.deepEqual(
    [0, 9].map((s) => lrMultiplier('constant', s, 10, 2)),
    [1, 1],
  );
  const s = new LrSchedule('linear', 1e-3, 4, 0, 0);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => s.at(i)),
    [1e-3, 7.5e-4, 5e-4, 2.5e-4],
  );
});

test('metrics.jsonl: written per record, truncated on resume past the checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-metrics-'));
  const p = join(dir, 'metrics.jsonl');
  const w = new MetricsWriter(p);
  for (let s = 1; s <= 4; s++)
    w.write({ step: s, epoch: s / 4, loss: 5 - s, lr: 1e-3, tokens: s * 100, tokens_per_s: 50 });
  w.write({ step: 4, epoch: 1, eval_loss: 1.5 });
  assert.equal(readMetrics(p).length, 5);
  new MetricsWriter(p, { truncateAfterStep: 2 });
  assert.deepEqual(
    readMetrics(p).map((r) => r.step),
    [1, 2],
  );
  const svg = lossCurveSvg([
    { step: 1, epoch: 0, loss: 3 },
    { step: 2, epoch: 0, loss: 2 },
    { step: 2, epoch: 0, eval_loss: 2.5 },
  ]);
  assert.match(svg, /^<svg[\s\S]*<polyline[\s\S]*<circle[\s\S]*<\/svg>\n$/);
  assert.match(
    formatSummary({
      seconds: 65,
      steps: 3,
      tokens: 1200,
      tokensPerSecond: 18.4,
      peakRssBytes: 3 * 1024 ** 2,
      finalTrainLoss: 1.23456,
      finalEvalLoss: null,
    }),
    /3 steps in 1m05s: 1,200 tokens, 18 tokens\/s[\s\S]*3\.0 MiB[\s\S]*1\.2346/,
  );
});

test('progress: plain lines when not a TTY, every N steps and at the end', () => {
  const lines: string[] = [];
  const bar = new ProgressBar({
    total: 5,
    plainEvery: 2,
    stream: { write: (s: string) => lines.push(s), isTTY: false },
  });
  for (let s = 1; s <= 5; s++) bar.update({ step: s, loss: 1, lr: 1e-4, tokensPerSecond: 100 });
  bar.finish();
  assert.deepEqual(
    lines.map((l) => l.split(' | ')[0]),
    ['step 2/5', 'step 4/5', 'step 5/5'],
  );
  assert.match(lines[0]!, /loss 1\.0000 \| lr 1\.00e-4 \| 100 tok\/s \| ETA/);
});

test('data order is a pure function of (seed, epoch)', () => {
  assert.deepEqual(epochPermutation(10, 42, 1), epochPermutation(10, 42, 1));
  assert.notDeepEqual(epochPermutation(10, 42, 1), epochPermutation(10, 42, 2));
  assert.notEqual(deriveSeed(1, 2, 3), deriveSeed(1, 3, 2));
});
