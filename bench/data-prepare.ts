// Tokenising + masking speed of the data pipeline (issue #5 asks >= 50k tokens/s on one core, tiny tokenizer).
// Usage: taskset -c 0 node --import tsx bench/data-prepare.ts [TOKENIZER_DIR] [DATA...]
// Defaults: ../shared/tokenizers/minimind2 on ../shared/data/fastchat (ShareGPT) and gsm8k test (question/answer).
import { join } from 'node:path';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';
import { loadRecords } from '../src/data/load.js';
import { prepareRecords, prepareRecordsBatched } from '../src/data/prepare.js';
import { renderRecord } from '../src/data/render.js';
import { sharedDir } from '../src/util/paths.js';

const shared = sharedDir();
const [tokDir = shared && join(shared, 'tokenizers', 'minimind2'), ...paths] = process.argv.slice(2);
if (!tokDir) throw new Error('pass a tokenizer folder (../shared is absent)');
const inputs = paths.length
  ? paths
  : shared
    ? [join(shared, 'data', 'fastchat', 'dummy_conversation.json'), join(shared, 'data', 'gsm8k', 'test.jsonl')]
    : [];
const tok = await Tokenizer.fromDir(tokDir);
for (const path of inputs) {
  // gsm8k rows are {question, answer}: map them onto the instruction format.
  const { records } = await loadRecords(path, { fieldMap: { question: 'instruction', answer: 'output' } });
  prepareRecords(tok, records.slice(0, 20)); // warm-up (JIT, tokenizer worker)
  let t0 = performance.now();
  for (const r of records) renderRecord(tok, r);
  const render = performance.now() - t0;
  t0 = performance.now();
  const sync = prepareRecords(tok, records, { maxLength: 4096 });
  const syncMs = performance.now() - t0;
  t0 = performance.now();
  await prepareRecordsBatched(tok, records, { maxLength: 4096 });
  const batchMs = performance.now() - t0;
  const n = sync.report.totalTokens;
  const rate = (ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
  console.log(`${path}: ${records.length} records, ${n} tokens (${sync.report.trainedTokens} trained)`);
  console.log(`  render (2 template renders/record): ${render.toFixed(0)} ms`);
  console.log(`  prepare, encode per record: ${syncMs.toFixed(0)} ms = ${rate(syncMs)} tokens/s`);
  console.log(`  prepare, encodeBatch:       ${batchMs.toFixed(0)} ms = ${rate(batchMs)} tokens/s`);
}
tok.close();
