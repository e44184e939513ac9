import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { lenmlDir, testTokenizer, tokenizerDirWith } from './real-tokenizers.js';
import { readTemplate } from './fake-tokenizer.js';
import { highlightTrained } from '../../src/cli/data.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'data');

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.ts');

let runner: string | null = null;

/** Run `sftkit ARGS` in a child process (the test runner reports through this process's stdout). */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!runner) {
    runner = join(mkdtempSync(join(tmpdir(), 'sftkit-cli-')), 'run.mts');
    writeFileSync(
      runner,
      `import { main } from ${JSON.stringify(pathToFileURL(MAIN).href)};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
    );
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', runner, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// Mistral-style: the small Llama-2 vocabulary with the Mistral template fixture (quick to load in a child process).
const mistralSrc = lenmlDir('llama2');
const model = mistralSrc && tokenizerDirWith(mistralSrc, { chat_template: readTemplate('mistral') });

test(
  'data tokenize: one {"input_ids", "labels"} line per example; labels -100 outside assistant turns',
  { skip: !model && 'no llama2 tokenizer package' },
  async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sftkit-tok-')), 'tok.jsonl');
    const r = await run([
      'data',
      'tokenize',
      '--model',
      model!,
      '--data',
      join(FIX, 'conversations.jsonl'),
      '--assistant-only-loss',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^\{"input_ids": \[\d+(, \d+)*\], "labels": \[-?\d+(, -?\d+)*\]\}$/);
    const tok = await testTokenizer('mistral')!;
    const first = JSON.parse(lines[0]!) as { input_ids: number[]; labels: number[] };
    assert.equal(first.input_ids.length, first.labels.length);
    first.labels.forEach((l, i) => assert.ok(l === -100 || l === first.input_ids[i]));
    assert.equal(
      tok.decode(first.labels.filter((l) => l !== -100)),
      '2+2 = 4.</s> (2+2)*3 = 12.</s> You are welcome.</s>',
    );
    assert.match(r.stdout, /wrote 3 examples/);
  },
);

test(
  'data inspect: trained text in [[...]] brackets when not a TTY, with token counts',
  { skip: !model && 'no llama2 tokenizer package' },
  async () => {
    const r = await run(['data', 'inspect', '--model', model!, '--data', join(FIX, 'conversations.jsonl'), '--n', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /conversations\.jsonl:1 \(conversation\)/);
    assert.match(r.stdout, /tokens: \d+, trained: \d+ \(\d+\.\d%\), truncated: no/);
    assert.ok(
      r.stdout.includes(
        '<s>[INST] You are a maths tutor.\n\nWhat is 2+2? [/INST][[ 2+2 = 4.</s>]][INST] And times 3? [/INST]',
      ),
      r.stdout,
    );
    assert.ok(r.stdout.includes('[[ You are welcome.</s>]]'));
  },
);

test(
  'data stats --json: counts, percentiles, trained ratio, bad records',
  { skip: !model && 'no llama2 tokenizer package' },
  async () => {
    const r = await run([
      'data',
      'stats',
      '--model',
      model!,
      '--data',
      join(FIX, 'bad-records.jsonl'),
      '--on-bad-record',
      'skip',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.load.records, 1);
    assert.equal(s.load.skipped, 7);
    assert.equal(s.lengths.count, 1);
    assert.ok(s.lengths.trainedRatio > 0 && s.lengths.trainedRatio < 1);
    const failing = await run(['data', 'stats', '--model', model!, '--data', join(FIX, 'bad-records.jsonl')]);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /bad-records\.jsonl:2: field 'messages\[0\]\.role': unknown role "robot"/);
  },
);

test('data filter writes kept records and a report; data score prints one JSON line per record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-filter-'));
  const r = await run([
    'data',
    'filter',
    '--data',
    join(FIX, 'quality.jsonl'),
    '--threshold',
    '0.7',
    '--out',
    join(dir, 'kept.jsonl'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kept 4 of 8 records/);
  assert.ok(existsSync(join(dir, 'kept.jsonl.report.json')));
  const report = JSON.parse(readFileSync(join(dir, 'kept.jsonl.report.json'), 'utf8'));
  assert.equal(report.dropped, 4);
  const s = await run(['data', 'score', '--data', join(FIX, 'quality.jsonl')]);
  assert.equal(s.code, 0);
  const rows = s.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 8);
  assert.equal(rows[1].score, 0.2);
  assert.deepEqual(rows[1].reasons, ['response-too-short', 'sycophantic-opener']);
});

test('data: a missing or unknown subcommand is a user error', async () => {
  assert.equal((await run(['data'])).code, 1);
  const r = await run(['data', 'frobnicate']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /expected a subcommand \(inspect, stats, tokenize, score, filter, convert\), got 'frobnicate'/,
  );
});

test('highlightTrained marks runs of trained characters and the truncation point', () => {
  const text = 'abcdef';
  const offsets: [number, number][] = [
    [0, 2],
    [2, 3],
    [3, 5],
    [5, 6],
  ];
  assert.equal(highlightTrained(text, offsets, Uint8Array.from([0, 1, 1, 0]), false), 'ab[[cde]]f');
  assert.equal(
    highlightTrained(text, offsets, Uint8Array.from([0, 1, 1, 0]), false, 2),
    'ab[[c]]✂[truncated here][[de]]f',
  );
});
