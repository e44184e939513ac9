import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  scorePair,
  scoreRecord,
  encodingIssues,
  pythonWordCount,
  SEED_QUALITY_CONFIG,
} from '../../src/data/quality.js';
import { findDuplicates, minHashSignature, estimatedJaccard } from '../../src/data/dedup.js';
import { scoreDataset, filterDataset } from '../../src/data/filter.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'data');

test("the default scorer is the seed's score_sft_example: weights and threshold pinned", () => {
  assert.deepEqual(
    { ...SEED_QUALITY_CONFIG },
    {
      minResponseWords: 5,
      shortPenalty: 0.5,
      verboseRatio: 50,
      verbosePenalty: 0.2,
      sycophanticOpeners: ['Sure!', 'Certainly!', 'Of course!', 'Great question!'],
      sycophancyPenalty: 0.3,
      hallucinationMarkers: ['[CITATION NEEDED]'],
      hedgePhrases: ['I believe'],
      hedgeWindow: 50,
      hallucinationPenalty: 0.1,
      threshold: 0.7,
    },
  );
});

test("scores equal the seed's Python function on pinned cases (values computed with CPython)", () => {
  const w = (n: number) => Array(n).fill('w').join(' ');
  // [instruction, response, score from the seed's score_sft_example]
  const cases: [string, string, number][] = [
    ['What is 2+2?', 'Sure! It is four, as you know.', 0.7],
    ['Hi', 'Sure!', 0.2],
    ['', 'one two three four five', 0.8],
    ['Explain', 'Certainly! I believe [CITATION NEEDED] x y z', 0.6],
    ['a b', 'I believe this is the answer to it', 0.9],
    ['q', w(50), 1.0],
    ['q', w(51), 0.8],
    ['q', 'Sure! ' + w(60) + ' I believe', 0.5],
    ['x\x1cy', 'a\x1cb c d e', 1.0], // Python's split() treats \x1c as whitespace
    ['Q', 'Of course! ok', 0.2],
    ['Why?', 'one two three four', 0.5],
    ['Why?', 'Great question! The sky is blue because of Rayleigh scattering.', 0.7],
    ['Q', 'x'.repeat(41) + ' I believe so, yes indeed', 1.0],
    ['Q', 'x'.repeat(40) + ' I believe so, yes indeed', 0.9],
    ['Q', '\u{1F600}'.repeat(40) + ' I believe so, yes indeed', 0.9], // response[:50] counts code points
    ['Q', 'sure! lower case opener is fine here', 1.0],
    ['', '', 0.5],
    ['Q', 'Sure!Certainly! [CITATION NEEDED]', 0.1],
  ];
  for (const [i, r, want] of cases) assert.equal(scorePair(i, r).score, want, JSON.stringify([i, r]));
  // filter_sft_dataset keeps score >= 0.7: 1.0 - 0.3 is exactly 0.7 in binary floating point, and is kept.
  assert.ok(scorePair('What is 2+2?', 'Sure! It is four, as you know.').score >= SEED_QUALITY_CONFIG.threshold);
  assert.equal(pythonWordCount(' a\u00a0b\u3000c  '), 3);
});

test('conversations: each assistant turn is scored against the user turn before it; the record takes the worst', () => {
  const rec = {
    kind: 'conversation' as const,
    source: { file: 'f', line: 1 },
    messages: [
      { role: 'user', content: 'Tell me about the Moon.' },
      { role: 'assistant', content: "The Moon is Earth's only natural satellite." },
      { role: 'user', content: 'Thanks' },
      { role: 'assistant', content: 'Sure! Anytime.' },
    ],
  };
  const r = scoreRecord(rec);
  assert.equal(r.score, scorePair('Thanks', 'Sure! Anytime.').score);
  assert.deepEqual(r.reasons.sort(), ['response-too-short', 'sycophantic-opener']);
  // Alpaca rows are scored on their own instruction field (without input), exactly like the seed.
  const raw = { instruction: 'Q', input: 'a b c d e f g h', output: 'one two three four five six' };
  const asConv = {
    kind: 'conversation' as const,
    source: rec.source,
    messages: [
      { role: 'user', content: 'Q\n\na b c d e f g h' },
      { role: 'assistant', content: raw.output },
    ],
  };
  assert.equal(scoreRecord(asConv, raw).score, scorePair('Q', raw.output).score);
});

test('encoding problems: replacement characters, mojibake, control characters, lone surrogates', () => {
  assert.deepEqual(encodingIssues('fine café – “quotes”'), []);
  assert.deepEqual(encodingIssues('bad \ufffd here'), ['replacement-character']);
  assert.deepEqual(encodingIssues('CafÃ© and itâ€™s'), ['mojibake']);
  assert.deepEqual(encodingIssues('bell\u0007'), ['control-character']);
  assert.deepEqual(encodingIssues('half \ud83d pair'), ['lone-surrogate']);
});

test('duplicates: exact after normalisation, near by MinHash, distinct texts untouched', () => {
  const base =
    'the quick brown fox jumps over the lazy dog while the cat sleeps on the warm windowsill all afternoon long and the children play in the garden until the sun goes down behind the hills near the old farm';
  const texts = [
    base,
    '  The QUICK brown fox jumps over the lazy dog while the cat sleeps on the warm windowsill all afternoon long and the children play in the garden until the sun goes down behind the hills near the old farm ',
    base.replace('old farm', 'old barn'),
    'an entirely different sentence about databases and indexes and query plans',
  ];
  const d = findDuplicates(texts);
  assert.equal(d[0], null);
  assert.deepEqual(d[1], { of: 0, kind: 'exact', similarity: 1 });
  assert.equal(d[2]?.kind, 'near');
  assert.equal(d[2]?.of, 0);
  assert.equal(d[3], null);
  const a = minHashSignature(base, 128);
  assert.ok(estimatedJaccard(a, minHashSignature(texts[3]!, 128)) < 0.2);
});

test('score + filter on a fixture: kept records written verbatim, every drop reported with reasons', async () => {
  const scored = await scoreDataset(join(FIX, 'quality.jsonl'));
  assert.deepEqual(
    scored.scores.map((s) => s.score),
    [1, 0.2, 0.7, 1, 0.9, 1, 1, 1],
  );
  const out = join(mkdtempSync(join(tmpdir(), 'sftkit-filter-')), 'kept.jsonl');
  const report = await filterDataset(scored, out, { threshold: 0.7 });
  const kept = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(report.total, 8);
  assert.equal(report.kept, 4);
  assert.deepEqual(
    kept.map((k) => k.response.slice(0, 12)),
    ['Water boils ', 'Certainly! P', 'I believe it', 'Strawberries'],
  );
  assert.deepEqual(report.droppedBy, { 'low-score': 1, 'exact-duplicate': 1, encoding: 1, 'near-duplicate': 1 });
  assert.deepEqual(
    report.drops.map((d) => d.line),
    [2, 4, 6, 8],
  );
  assert.match(report.drops[1]!.reasons[0]!, /exact-duplicate of .*quality\.jsonl:1/);
  const strict = await filterDataset(scored, out, {
    threshold: 0.95,
    dropDuplicates: false,
    dropEncodingIssues: false,
  });
  assert.equal(strict.kept, 5);
});
