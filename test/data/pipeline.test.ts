import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareDataset } from '../../src/data/pipeline.js';
import { testTokenizer } from './real-tokenizers.js';
import { FakeTokenizer, fakeChatml } from './fake-tokenizer.js';
import type { BatchEncoder } from '../../src/data/prepare.js';
import type { SftRecord } from '../../src/data/types.js';
import { PrepareWorkers } from '../../src/data/prepare-workers.js';
import { UserError } from '../../src/util/errors.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'data');

test(
  'prepareDataset: split, prepare, and cache on disk keyed by data, tokenizer, template and options',
  { skip: !testTokenizer('mistral') && 'no llama2 tokenizer package' },
  async () => {
    const tok = await testTokenizer('mistral')!;
    const work = mkdtempSync(join(tmpdir(), 'sftkit-cache-'));
    const data = join(work, 'train.jsonl');
    copyFileSync(join(FIX, 'alpaca.jsonl'), data);
    const opts = { train: data, evalRatio: 0.5, seed: 1, tokenizerDir: tok.dir, outputDir: work, maxLength: 64 };
    const first = await prepareDataset(tok, opts);
    assert.equal(first.fromCache, false);
    assert.equal(first.train.length + first.eval.length, 2);
    assert.equal(first.eval.length, 1);
    assert.ok(first.cacheFile && first.cacheFile.startsWith(join(work, 'data-cache')));
    const second = await prepareDataset(tok, opts);
    assert.equal(second.fromCache, true);
    assert.deepEqual(
      second.train.map((e) => [Array.from(e.inputIds), Array.from(e.assistantMask), e.source, e.numTrained]),
      first.train.map((e) => [Array.from(e.inputIds), Array.from(e.assistantMask), e.source, e.numTrained]),
    );
    assert.deepEqual(second.prepare, first.prepare);
    assert.equal((await prepareDataset(tok, { ...opts, maxLength: 32 })).fromCache, false);
    appendFileSync(data, '{"instruction": "One more?", "output": "Yes, one more."}\n');
    const changed = await prepareDataset(tok, opts);
    assert.equal(changed.fromCache, false);
    assert.equal(changed.train.length + changed.eval.length, 3);
    assert.equal(readdirSync(join(work, 'data-cache')).length, 3);
    assert.equal((await prepareDataset(tok, { ...opts, cache: false })).fromCache, false);
  },
);

/** fakeChatml with encodeBatch (so prepareDataset pipelines chunks); 'BADMASK' texts encode <|im_end|> as characters. */
function batchingChatml(): FakeTokenizer & BatchEncoder {
  const tok = fakeChatml() as FakeTokenizer & BatchEncoder;
  const plain = new FakeTokenizer({ bos: null, eos: null, pad: null, template: null });
  tok.encodeBatch = async (texts, opts) =>
    texts.map((t) => (t.includes('BADMASK') ? plain.encode(t, opts) : tok.encode(t, opts)));
  return tok;
}

function conversations(n: number, edit: (i: number, r: SftRecord & { kind: 'conversation' }) => void = () => {}) {
  return Array.from({ length: n }, (_, i) => {
    const r: SftRecord & { kind: 'conversation' } = {
      kind: 'conversation',
      messages: [
        { role: 'user', content: `question ${i}` },
        { role: 'assistant', content: `answer ${i}` },
      ],
      source: { file: 'rows.jsonl', line: i + 1 },
    };
    edit(i, r);
    return r;
  });
}

test('prepareDataset: pipelined chunks give the same examples, counts and first error as one chunk at a time', async () => {
  const records = conversations(1300, (i, r) => {
    if (i % 97 === 0)
      r.messages.push({ role: 'user', content: 'more' }, { role: 'assistant', content: 'x'.repeat(i + 1) });
  });
  const opts = {
    train: records,
    shuffle: false,
    maxLength: 200,
    lossKeys: { assistant_only_loss: true, completion_only_loss: null },
  };
  const serial = await prepareDataset(fakeChatml(), opts);
  const piped = await prepareDataset(batchingChatml(), opts);
  assert.ok(serial.prepare!.truncated > 0);
  assert.deepEqual(piped.prepare, serial.prepare);
  assert.deepEqual(
    piped.train.map((e) => [Array.from(e.inputIds), Array.from(e.assistantMask), e.source.line, e.numTrained]),
    serial.train.map((e) => [Array.from(e.inputIds), Array.from(e.assistantMask), e.source.line, e.numTrained]),
  );
  // A masking failure in the first chunk wins over a rendering failure in the second (rendered while the first
  // was being encoded), as it does when chunks are prepared one after another.
  const broken = (mask: boolean) =>
    conversations(1300, (i, r) => {
      if (mask && i === 100) r.messages[1]!.content = 'BADMASK';
      if (i === 700) r.messages.pop();
    });
  await assert.rejects(
    prepareDataset(batchingChatml(), { ...opts, train: broken(true) }),
    /rows\.jsonl:101: the end-of-turn marker <\|im_end\|>/,
  );
  await assert.rejects(
    prepareDataset(batchingChatml(), { ...opts, train: broken(false) }),
    /rows\.jsonl:701: no assistant turn to train on/,
  );
});

test(
  'prepareDataset: worker threads give the same examples, counts and first error as this thread',
  { skip: !testTokenizer('chatml') && 'no qwen3 tokenizer package' },
  async () => {
    const tok = await testTokenizer('chatml')!;
    const records = conversations(800, (i, r) => {
      if (i % 97 === 0)
        r.messages.push({ role: 'user', content: 'more' }, { role: 'assistant', content: 'y '.repeat(i + 1) });
    });
    const opts = {
      train: records,
      shuffle: false,
      maxLength: 120,
      lossKeys: { assistant_only_loss: true, completion_only_loss: null },
    };
    const here = await prepareDataset(tok, { ...opts, workers: 0 });
    const there = await prepareDataset(tok, { ...opts, workers: 2 });
    assert.ok(here.prepare!.truncated > 0);
    assert.deepEqual(there.prepare, here.prepare);
    assert.equal(there.train.length, here.train.length);
    there.train.forEach((e, i) => {
      assert.deepEqual(e.inputIds, here.train[i]!.inputIds);
      assert.deepEqual(e.assistantMask, here.train[i]!.assistantMask);
      assert.deepEqual(e.source, here.train[i]!.source, "the example carries its record's source");
      assert.equal(e.numTrained, here.train[i]!.numTrained);
    });
    // Chunk 1 fails on one worker, chunk 2 on the other: chunk 1's failure is the one reported, as a UserError.
    const broken = conversations(800, (i, r) => {
      if (i === 100 || i === 700) r.messages.pop();
    });
    const err = await prepareDataset(tok, { ...opts, train: broken, workers: 2 }).catch((e: unknown) => e);
    assert.ok(err instanceof UserError);
    assert.match(err.message, /rows\.jsonl:101: no assistant turn/);
    // The pool itself starts (a silent fallback to this thread would make the comparison above vacuous).
    const pool = await PrepareWorkers.start(tok, 2);
    assert.ok(pool);
    const r = await pool.run(records.slice(0, 50), { lossKeys: opts.lossKeys, maxLength: 120 });
    await pool.close();
    assert.deepEqual(
      r.examples.map((e) => Array.from(e.inputIds)),
      here.train.slice(0, 50).map((e) => Array.from(e.inputIds)),
    );
  },
);

test('eval_dataset that is neither a path nor a split of the train data: one line naming both', async () => {
  const work = mkdtempSync(join(tmpdir(), 'sftkit-evalname-'));
  const data = join(work, 'train.jsonl');
  copyFileSync(join(FIX, 'alpaca.jsonl'), data);
  await assert.rejects(
    prepareDataset(fakeChatml(), { train: data, eval: 'validation' }),
    (e: unknown) =>
      e instanceof UserError &&
      e.message ===
        `eval_dataset 'validation': no such file or folder, and not a split of ${data} (it has only a train split; or carve one with test_size)`,
  );
});
