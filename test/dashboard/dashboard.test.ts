// `sftkit dashboard` in a real browser: Debian's chromium (the system binary, no browser download) driven by
// playwright-core, headless, against the dashboard on loopback. A finished tiny run shows one chart point per
// logged step; a run being written gains points while the page is open; the inspector highlights exactly the
// tokens `sftkit data tokenize` trains; the playground answers with base and fine-tuned. Screenshots land in
// .cache/screenshots/. Skips when chromium is absent.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { SFTTrainer } from '../../src/train/trainer.js';
import { MetricsWriter } from '../../src/train/metrics.js';
import { generateChatData } from '../../src/quickstart/corpus/chat-data.js';
import { packageRoot } from '../../src/util/paths.js';
import { runCli } from '../helpers/cli.js';
import { startCli, waitFor, type RunningServer } from '../serve/helpers.js';
import { fastArgs, tempDir, tinyModel } from '../train/helpers.js';

const CHROMIUM = process.env.SFTKIT_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set SFTKIT_CHROMIUM)`;
const shots = join(packageRoot(), '.cache', 'screenshots');

const tmp = tempDir('dashboard');
const run = join(tmp, 'tuned-run');
const live = join(tmp, 'live-run');
const data = join(tmp, 'chat.jsonl');
let server: RunningServer;
let browser: Browser;
let page: Page;

before(async () => {
  if (skip) return;
  const model = await tinyModel();
  const d = generateChatData({ trainCount: 24, evalCount: 4, seed: 11 });
  writeFileSync(data, d.train.map((c) => JSON.stringify({ messages: c.messages })).join('\n') + '\n');
  writeFileSync(join(tmp, 'eval.jsonl'), d.eval.map((c) => JSON.stringify({ messages: c.messages })).join('\n') + '\n');
  await new SFTTrainer({
    args: {
      ...fastArgs(run),
      model,
      dataset: data,
      eval_dataset: join(tmp, 'eval.jsonl'),
      eval_strategy: 'steps',
      eval_steps: 10,
      max_steps: 60,
      learning_rate: 1e-2,
    },
  }).train();
  mkdirSync(live);
  server = await startCli(['dashboard', run, live, '--port', '0']);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
  mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Non-null points of one run's series in a chart (series 1 + 2i for loss with its eval series, else 1 + i). */
const points = (metric: string, series: number) =>
  page.evaluate(
    ([m, s]) => {
      const plot = (window as unknown as { sftkitDashboard: { plots: Record<string, { data: unknown[][] }> } })
        .sftkitDashboard.plots[m as string];
      return plot ? plot.data[s as number]!.filter((v) => v !== null).length : -1;
    },
    [metric, series] as const,
  );

test(
  'charts: one point per logged step of a finished run; a run being written gains points live',
  { skip },
  async () => {
    const logged = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    const withLoss = logged.filter((r) => r.loss !== undefined).length;
    const withEval = logged.filter((r) => r.eval_loss !== undefined).length;
    assert.equal(withLoss, 60);
    assert.ok(withEval >= 2);
    await page.goto(server.url);
    await waitFor(async () => (await points('loss', 1)) === withLoss, 15_000, 'the loss chart');
    assert.equal(await points('loss', 2), withEval); // eval loss of the finished run
    assert.equal(await points('lr', 1), logged.filter((r) => r.lr !== undefined).length);
    assert.equal(await points('tokens_per_s', 1), logged.filter((r) => r.tokens_per_s !== undefined).length);
    assert.equal(await points('grad_norm', 1), logged.filter((r) => r.grad_norm !== undefined).length);
    assert.equal(await points('loss', 3), 0); // the live run has logged nothing yet
    // The live run writes its metrics (with the trainer's own writer) while the page is open.
    const w = new MetricsWriter(join(live, 'metrics.jsonl'));
    for (let step = 1; step <= 5; step++) {
      w.write({ step, epoch: step / 10, loss: 3 - step * 0.3, lr: 1e-3, grad_norm: 1, tokens_per_s: 500 });
      await waitFor(async () => (await points('loss', 3)) === step, 10_000, `live point ${step}`);
    }
    assert.match((await page.textContent('#run-summary')) ?? '', /live-run: 5 logged steps/);
    await page.locator('#training').screenshot({ path: join(shots, 'dashboard-training.png') });
  },
);

test('inspector highlights exactly the tokens that training trains', { skip }, async () => {
  const out = join(tmp, 'tokens.jsonl');
  const model = await tinyModel();
  const r = runCli([
    'data',
    'tokenize',
    '--model',
    model,
    '--data',
    data,
    '--assistant-only-loss',
    '--max-length',
    '128',
    '--out',
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[] });
  for (const i of [0, 3]) {
    await page.fill('#example-index', String(i));
    await page.dispatchEvent('#example-index', 'change');
    await waitFor(
      async () => (await page.getAttribute('#example', 'data-index')) === String(i),
      10_000,
      `example ${i}`,
    );
    const spans = await page.$$eval('#example .tok', (els) =>
      els.map((e) => ({
        id: Number((e as HTMLElement).dataset.id),
        trained: e.classList.contains('trained'),
        cut: e.classList.contains('cut'),
      })),
    );
    const want = rows[i]!;
    const kept = spans.filter((s) => !s.cut);
    assert.deepEqual(
      kept.map((s) => s.id),
      want.input_ids,
      `example ${i}: the page shows every token training sees`,
    );
    assert.deepEqual(
      kept.map((s) => s.trained),
      want.labels.map((l) => l !== -100),
      `example ${i}: trained tokens`,
    );
    // Tokens past max_length follow, marked cut and untrained.
    assert.deepEqual(spans.slice(0, kept.length), kept);
    assert.ok(spans.slice(kept.length).every((s) => s.cut && !s.trained));
    if (i === 3) assert.ok(spans.length > kept.length, 'example 3 is truncated (the test data is chosen so)');
    assert.ok(spans.some((s) => s.trained) && spans.some((s) => !s.trained));
  }
  await waitFor(async () => ((await page.textContent('#stats')) ?? '').includes('examples'), 15_000, 'data stats');
  await waitFor(async () => ((await page.textContent('#scores')) ?? '').includes('score'), 15_000, 'quality scores');
  assert.match((await page.textContent('#stats')) ?? '', /records24/);
  await page.locator('#dataset').screenshot({ path: join(shots, 'dashboard-dataset.png') });
});

test(
  'playground answers the same prompt with the base model and the fine-tuned run side by side',
  { skip },
  async () => {
    await page.fill('#prompt', 'Please count from 1 to 6.');
    await page.fill('#max-tokens', '16');
    await page.fill('#temperature', '0.8'); // the tiny random model's greedy answer is whitespace
    await page.click('#send');
    await waitFor(async () => (await page.$$('.answer[data-done="true"]')).length === 2, 30_000, 'both answers');
    const answers = await page.$$eval('.answer', (els) =>
      els.map((e) => ({
        model: (e as HTMLElement).dataset.model,
        text: e.querySelector('.text')!.textContent ?? '',
        error: e.querySelector('.error') !== null,
        meta: e.querySelector('.muted')?.textContent ?? '',
      })),
    );
    assert.deepEqual(
      answers.map((a) => a.model),
      ['tiny', 'tuned-run'],
    );
    for (const a of answers) {
      assert.equal(a.error, false, a.text);
      assert.ok(a.text.length > 0, `${a.model} answered nothing`);
    }
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  },
);
