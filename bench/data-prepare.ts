// Data preparation speed of the one data path (src/data/pipeline.ts: read, validate, render, mask, encodeBatch),
// as the trainer runs it, on real and synthetic data; preparation must be linear in the dataset size.
// Usage: flock /tmp/sftkit-heavy.lock node --import tsx bench/data-prepare.ts [--rows N] [--tokenizer DIR] [--json]
//        [DATA...]
// --json ends with one JSON line of rows/s, tokens/s and cached-rerun ms per input (for bench/ab.ts).
// Defaults: ../shared/tokenizers/minimind2 on ../shared/data/gsm8k/train.jsonl (7,473 question/answer rows) and a
// synthetic conversation set of --rows rows (default 200,000), written to a temp folder. For each: rows/s and
// tokens/s of a cold prepare (as a first training run: everything, cache written), then a rerun that reads the cache.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../src/bench/measure.js';
import { syntheticConversations } from '../src/bench/synthetic.js';
import { prepareDataset } from '../src/data/pipeline.js';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';
import { sharedDir } from '../test/helpers/shared.js';

const args = benchArgs();
const rows = args.number('rows', 200_000);
const shared = sharedDir();
const tokDir = args.string('tokenizer') ?? (shared && join(shared, 'tokenizers', 'minimind2'));
if (!tokDir) throw new Error('pass --tokenizer DIR (../shared is absent)');
const work = mkdtempSync(join(tmpdir(), 'sftkit-bench-data-'));

function syntheticConversationsFile(n: number): string {
  const path = join(work, `synthetic-${n}.jsonl`);
  const lines: string[] = [];
  for (const messages of syntheticConversations(n)) lines.push(JSON.stringify({ messages }));
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const inputs: { name: string; key: string; path: string }[] = args
  .positionals(['rows', 'tokenizer'])
  .map((p, i) => ({ name: p, key: `data${i}`, path: p }));
if (inputs.length === 0) {
  if (shared) inputs.push({ name: 'gsm8k train', key: 'gsm8k', path: join(shared, 'data', 'gsm8k', 'train.jsonl') });
  inputs.push({
    name: `synthetic ${rows.toLocaleString('en-US')} rows`,
    key: 'synthetic',
    path: syntheticConversationsFile(rows),
  });
}
const results: Record<string, number> = {};

const tok = await Tokenizer.fromDir(tokDir);
const options = {
  shuffle: false,
  // gsm8k rows are {question, answer}: map them onto the instruction format.
  fieldMap: { question: 'instruction', answer: 'output' },
  lossKeys: { assistant_only_loss: false, completion_only_loss: null },
  maxLength: 4096,
};
// Warm-up (JIT, tokenizer threads).
await prepareDataset(tok, { ...options, train: syntheticConversationsFile(200), cache: false });
const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
for (const input of inputs) {
  // Cold: what a first training run does (read, validate, render, mask, encode, write the cache); warm: a rerun.
  const cacheRoot = join(work, `cache-${inputs.indexOf(input)}`);
  const run = () => prepareDataset(tok, { ...options, train: input.path, tokenizerDir: tokDir, outputDir: cacheRoot });
  let t0 = performance.now();
  const cold = await run();
  const coldMs = performance.now() - t0;
  const n = cold.prepare?.totalTokens ?? 0;
  t0 = performance.now();
  const warm = await run();
  const warmMs = performance.now() - t0;
  if (!warm.fromCache) throw new Error('the second run did not read the cache');
  console.log(
    `${input.name}: ${cold.load.records.toLocaleString('en-US')} rows, ${n.toLocaleString('en-US')} tokens: ` +
      `prepare ${coldMs.toFixed(0)} ms = ${perSecond(cold.load.records, coldMs)} rows/s, ${perSecond(n, coldMs)} tokens/s; ` +
      `from the cache ${warmMs.toFixed(0)} ms`,
  );
  results[`${input.key}RowsPerS`] = Math.round((cold.load.records / coldMs) * 1000);
  results[`${input.key}TokensPerS`] = Math.round((n / coldMs) * 1000);
  results[`${input.key}CachedMs`] = Math.round(warmMs);
}
if (args.flag('json')) console.log(JSON.stringify(results));
tok.close();
rmSync(work, { recursive: true, force: true });
