import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareDataset } from '../../src/data/pipeline.js';
import { testTokenizer } from './real-tokenizers.js';

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
