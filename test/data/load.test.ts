import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRecords, readRecords, emptyLoadReport, splitTrainEval, loadDataset } from '../../src/data/load.js';
import { BadRecordError, normalizeRecord } from '../../src/data/formats.js';
import { shuffleInPlace } from '../../src/util/random.js';
import type { SftRecord } from '../../src/data/types.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'data');

function tmp(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-data-'));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

test('conversational JSONL: messages kept, blank lines skipped, line numbers are file lines', async () => {
  const { records, report } = await loadRecords(join(FIX, 'conversations.jsonl'));
  assert.equal(report.format, 'conversational');
  assert.equal(records.length, 3);
  assert.deepEqual(
    records.map((r) => r.source.line),
    [1, 2, 4],
  );
  const r0 = records[0]!;
  assert.equal(r0.kind, 'conversation');
  assert.deepEqual(r0.kind === 'conversation' && r0.messages.map((m) => m.role), [
    'system',
    'user',
    'assistant',
    'user',
    'assistant',
    'user',
    'assistant',
  ]);
});

test('ShareGPT .json array: from/value mapped to roles, each item knows the line it starts on', async () => {
  const { records, report } = await loadRecords(join(FIX, 'sharegpt.json'));
  assert.equal(report.format, 'sharegpt');
  assert.deepEqual(
    records.map((r) => r.source.line),
    [2, 10],
  );
  const r = records[1]!;
  assert.ok(r.kind === 'conversation');
  assert.deepEqual(r.messages, [
    { role: 'user', content: 'Say "hi" [with brackets] {and braces}' },
    { role: 'assistant', content: 'hi' },
  ]);
});

test('a .json array split across stream chunks parses item by item', async () => {
  const items = Array.from({ length: 300 }, (_, i) => ({
    messages: [
      { role: 'user', content: `q${i} ${'x'.repeat(200)} "}]` },
      { role: 'assistant', content: `a${i}` },
    ],
  }));
  const p = tmp('big.json', JSON.stringify(items, null, 1));
  const { records } = await loadRecords(p);
  assert.equal(records.length, 300);
  const last = records[299]!;
  assert.ok(last.kind === 'conversation' && last.messages[1]!.content === 'a299');
});

test('Alpaca instruction/input/output and instruction/response become user/assistant pairs', async () => {
  const { records, report } = await loadRecords(join(FIX, 'alpaca.jsonl'));
  assert.equal(report.format, 'instruction');
  assert.ok(records[0]!.kind === 'conversation');
  assert.deepEqual(records[0]!.kind === 'conversation' && records[0]!.messages, [
    { role: 'user', content: 'Translate to German.\n\nGood morning' },
    { role: 'assistant', content: 'Guten Morgen' },
  ]);
  assert.deepEqual(records[1]!.kind === 'conversation' && records[1]!.messages[1], {
    role: 'assistant',
    content: 'Joyful',
  });
});

test('prompt-completion as strings and as message lists', async () => {
  const { records, report } = await loadRecords(join(FIX, 'prompt-completion.jsonl'));
  assert.equal(report.format, 'prompt-completion');
  assert.ok(records[0]!.kind === 'prompt-completion' && records[0]!.prompt === 'The capital of France is');
  assert.ok(records[1]!.kind === 'prompt-completion' && Array.isArray(records[1]!.completion));
});

test('text with a configurable field; field-map renames keys (gsm8k question/answer)', async () => {
  const t = normalizeRecord({ body: 'abc' }, 'auto', { file: 'f', line: 1 }, { textField: 'body' });
  assert.equal(t.format, 'text');
  const g = normalizeRecord(
    { question: 'q?', answer: 'a.' },
    'auto',
    { file: 'f', line: 1 },
    { fieldMap: { question: 'instruction', answer: 'output' } },
  );
  assert.equal(g.format, 'instruction');
});

/** The error for one bad line of bad-records.jsonl. */
async function errorAtLine(line: number): Promise<BadRecordError> {
  const lines = (await import('node:fs')).readFileSync(join(FIX, 'bad-records.jsonl'), 'utf8').split('\n');
  const p = tmp('one.jsonl', '\n'.repeat(line - 1) + lines[line - 1] + '\n');
  try {
    await loadRecords(p);
  } catch (e) {
    assert.ok(e instanceof BadRecordError, String(e));
    return e;
  }
  assert.fail(`line ${line} loaded without error`);
}

test('malformed records: each error names file:line, the field and the reason', async () => {
  const cases: [number, string, string | null, RegExp][] = [
    [2, 'unknown-role', 'messages[0].role', /unknown role "robot"/],
    [3, 'missing-field', 'messages[0].content', /missing/],
    [4, 'non-string-content', 'messages[0].content', /expected a string, got number/],
    [5, 'empty-assistant-turn', 'messages[1].content', /assistant turn is empty/],
    [6, 'not-ending-with-assistant', 'messages[2].role', /ends with a 'user' turn/],
    [7, 'invalid-json', null, /invalid JSON/],
    [8, 'unknown-format', null, /cannot detect the format/],
  ];
  for (const [line, reason, field, msg] of cases) {
    const e = await errorAtLine(line);
    assert.equal(e.reason, reason, `line ${line}`);
    assert.equal(e.field, field, `line ${line}`);
    assert.equal(e.source.line, line);
    assert.match(e.message, new RegExp(`one\\.jsonl:${line}: `));
    if (field) assert.ok(e.message.includes(`field '${field}'`), e.message);
    assert.match(e.message, msg);
  }
});

test('ShareGPT errors use ShareGPT field names; unknown speakers are errors', () => {
  const src = { file: 'd.json', line: 3 };
  assert.throws(
    () => normalizeRecord({ conversations: [{ from: 'alien', value: 'x' }] }, 'auto', src),
    (e: BadRecordError) => e.reason === 'unknown-role' && e.field === 'conversations[0].from',
  );
  assert.throws(
    () =>
      normalizeRecord(
        {
          conversations: [
            { from: 'human', value: 'x' },
            { from: 'gpt', value: 7 },
          ],
        },
        'auto',
        src,
      ),
    (e: BadRecordError) => e.reason === 'non-string-content' && e.field === 'conversations[1].value',
  );
  assert.throws(
    () => normalizeRecord({ prompt: 'p', completion: ['x'] }, 'auto', src),
    (e: BadRecordError) => e.reason === 'non-string-content',
  );
  assert.throws(
    () => normalizeRecord({ instruction: 'i', output: '' }, 'auto', src),
    (e: BadRecordError) => e.reason === 'empty-assistant-turn' && e.field === 'output',
  );
  assert.throws(
    () => normalizeRecord({ messages: [{ role: 'user', content: 'x' }] }, 'auto', src),
    (e: BadRecordError) => e.reason === 'no-assistant-turn',
  );
});

test("onBadRecord 'skip' counts every skipped record by reason; 'error' stops at the first", async () => {
  const report = emptyLoadReport();
  const got: SftRecord[] = [];
  for await (const r of readRecords(join(FIX, 'bad-records.jsonl'), { onBadRecord: 'skip' }, report)) got.push(r);
  assert.equal(got.length, 1);
  assert.equal(report.records, 1);
  assert.equal(report.skipped, 7);
  assert.deepEqual(report.skippedByReason, {
    'unknown-role': 1,
    // line 8 has no 'messages': once the dataset is conversational, that is a missing field
    'missing-field': 2,
    'non-string-content': 1,
    'empty-assistant-turn': 1,
    'not-ending-with-assistant': 1,
    'invalid-json': 1,
  });
  await assert.rejects(loadRecords(join(FIX, 'bad-records.jsonl')), /bad-records\.jsonl:2: .*unknown role/);
});

test("later records are validated against the dataset's format (the first record's)", async () => {
  await assert.rejects(
    loadRecords(join(FIX, 'text.jsonl')),
    (e: BadRecordError) => e.reason === 'missing-field' && e.field === 'text' && e.source.line === 2,
  );
});

test('a folder loads every .jsonl/.json file in sorted order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-folder-'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'b.jsonl'), '{"text": "b"}\n');
  writeFileSync(join(dir, 'sub', 'a.jsonl'), '{"text": "a"}\n');
  writeFileSync(join(dir, 'notes.txt'), 'ignored');
  const { records, report } = await loadRecords(dir);
  assert.deepEqual(
    records.map((r) => (r.kind === 'text' ? r.text : '')),
    ['b', 'a'],
  );
  assert.equal(report.files.length, 2);
});

test('seeded shuffle and splits are reproducible; eval gets round(n*ratio)', async () => {
  const a = shuffleInPlace([...Array(20).keys()], 7);
  const b = shuffleInPlace([...Array(20).keys()], 7);
  const c = shuffleInPlace([...Array(20).keys()], 8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    [...Array(20).keys()],
  );
  const s = splitTrainEval([...Array(20).keys()], { evalRatio: 0.25, seed: 1 });
  assert.equal(s.eval.length, 5);
  assert.equal(s.train.length, 15);
  assert.deepEqual(
    [...s.train, ...s.eval].sort((x, y) => x - y),
    [...Array(20).keys()],
  );
  assert.throws(() => splitTrainEval([1, 2], { evalRatio: 1 }), /eval ratio/);
  const ds = await loadDataset({ train: join(FIX, 'conversations.jsonl'), eval: join(FIX, 'alpaca.jsonl') });
  assert.equal(ds.train.length, 3);
  assert.equal(ds.eval.length, 2);
});
