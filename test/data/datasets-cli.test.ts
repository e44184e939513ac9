// Datasets end to end: `sftkit data convert` (JSONL <-> Parquet round trip of the normalised form),
// `sftkit data stats` on a Hub-layout Parquet folder with --split, and the trainer on a Parquet folder with
// dataset_train_split, eval_dataset as a split name, and test_size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { convertDataset } from '../../src/data/convert.js';
import { loadRecords } from '../../src/data/load.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { sharedDir } from '../helpers/shared.js';
import { tinyModel, tempDir, fastArgs } from '../train/helpers.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.ts');
const SHARED = sharedDir();

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const runner = join(mkdtempSync(join(tmpdir(), 'sftkit-cli-')), 'run.mts');
  writeFileSync(
    runner,
    `import { main } from ${JSON.stringify(pathToFileURL(MAIN).href)};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', runner, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const TOOL_ROWS = [
  {
    tools: '[{"name": "add", "description": "Add numbers", "parameters": {"type": "object"}}]',
    conversations: [
      { from: 'human', value: 'Add 2 and 3.' },
      { from: 'function_call', value: '{"name": "add", "arguments": {"a": 2, "b": 3}}' },
      { from: 'observation', value: '{"sum": 5}' },
      { from: 'gpt', value: 'The sum is 5.' },
    ],
  },
  {
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Hi!' }] },
      { role: 'assistant', thinking: 'A greeting.', content: 'Hello.' },
    ],
  },
];

test('data convert: the normalised form round-trips through Parquet (tool calls, tool results, reasoning)', async () => {
  const d = mkdtempSync(join(tmpdir(), 'sftkit-convert-'));
  const src = join(d, 'in.jsonl');
  // Two rows in two source layouts; the second is read alone since a dataset holds one format.
  writeFileSync(src, JSON.stringify(TOOL_ROWS[0]) + '\n');
  const pq = join(d, 'out.parquet');
  const back = join(d, 'back.jsonl');
  const r = run(['data', 'convert', '--data', src, '--out', pq]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote 1 records to .*out\.parquet/);
  assert.match(r.stdout, /format sharegpt \(auto-detected from columns tools, conversations\)/);
  await convertDataset(pq, back);
  const jsonl = join(d, 'direct.jsonl');
  await convertDataset(src, jsonl);
  assert.deepEqual(readFileSync(back, 'utf8'), readFileSync(jsonl, 'utf8'));
  const row = JSON.parse(readFileSync(jsonl, 'utf8')) as { messages: Record<string, unknown>[]; tools: unknown[] };
  assert.deepEqual(row.messages[1], {
    role: 'assistant',
    content: '',
    tool_calls: [{ type: 'function', function: { name: 'add', arguments: { a: 2, b: 3 } } }],
  });
  assert.equal(row.messages[2]!.role, 'tool');
  assert.deepEqual(row.tools, [
    { type: 'function', function: { name: 'add', description: 'Add numbers', parameters: { type: 'object' } } },
  ]);
  const src2 = join(d, 'think.jsonl');
  writeFileSync(src2, JSON.stringify(TOOL_ROWS[1]) + '\n');
  const pq2 = join(d, 'think.parquet');
  await convertDataset(src2, pq2);
  const { records } = await loadRecords(pq2);
  assert.ok(records[0]!.kind === 'conversation');
  assert.deepEqual(records[0]!.messages, [
    { role: 'user', content: 'Hi!' },
    { role: 'assistant', content: 'Hello.', reasoning_content: 'A greeting.' },
  ]);
});

test(
  'data convert of real LLaMA-Factory tool data to Parquet reads back to the same records (../shared)',
  { skip: !SHARED && 'needs ../shared' },
  async () => {
    const d = mkdtempSync(join(tmpdir(), 'sftkit-convert-'));
    for (const name of ['glaive_toolcall_en_demo.json', 'reason_tool_use_demo_50.jsonl']) {
      const src = join(SHARED!, 'data', 'llamafactory-toolcall', name);
      const pq = join(d, `${name}.parquet`);
      await convertDataset(src, pq);
      const a = (await loadRecords(src)).records.map((r) => (r.kind === 'conversation' ? [r.messages, r.tools] : r));
      const b = (await loadRecords(pq)).records.map((r) => (r.kind === 'conversation' ? [r.messages, r.tools] : r));
      assert.deepEqual(b, a);
    }
  },
);

/** A Hub-layout folder: data/train-0000N-of-00002.jsonl + data/validation-00000-of-00001.jsonl, as Parquet. */
async function hubFolder(): Promise<string> {
  const d = mkdtempSync(join(tmpdir(), 'sftkit-hub-'));
  const raw = join(d, 'raw');
  const data = join(d, 'ds', 'data');
  mkdirSync(raw);
  mkdirSync(data, { recursive: true });
  const rows = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: `${tag} question ${i}?` },
          { role: 'assistant', content: `${tag} answer ${i}.` },
        ],
      }),
    ).join('\n') + '\n';
  for (const [name, n, tag] of [
    ['train-00000-of-00002', 12, 'a'],
    ['train-00001-of-00002', 8, 'b'],
    ['validation-00000-of-00001', 5, 'v'],
  ] as const) {
    writeFileSync(join(raw, `${name}.jsonl`), rows(n, tag));
    await convertDataset(join(raw, `${name}.jsonl`), join(data, `${name}.parquet`));
  }
  writeFileSync(join(d, 'ds', 'README.md'), '# a dataset card');
  return join(d, 'ds');
}

test('data stats on a Hub-layout Parquet folder: --split picks the split, the detected format is printed', async () => {
  const ds = await hubFolder();
  const model = await tinyModel();
  const r = run(['data', 'stats', '--model', model, '--data', ds, '--split', 'dev']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /records: 5 \(format conversational \(auto-detected from columns messages, tools\)\)/);
  const bad = run(['data', 'stats', '--model', model, '--data', ds, '--split', 'test']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /has no split 'test' \(it has train, validation\)/);
});

/** The log lines of a one-step training run with eval, on `extra` args. */
async function trainLogs(extra: Record<string, unknown>): Promise<string[]> {
  const logs: string[] = [];
  const t = new SFTTrainer({
    model: await tinyModel(),
    args: fastArgs(tempDir('ds-train'), { max_steps: 1, eval_strategy: 'steps', eval_steps: 1, ...extra }),
    log: (l: string) => logs.push(l),
  });
  await t.train();
  return logs;
}

test('trainer on a Parquet dataset folder: train split, eval_dataset as a split name, test_size', async () => {
  const ds = await hubFolder();
  const logs = await trainLogs({ dataset: ds, eval_dataset: 'validation' });
  assert.ok(
    logs.some((l) => /^train: .*ds \(conversational .*20 records\) -> 20 examples/.test(l)),
    logs.join('\n'),
  );
  assert.ok(
    logs.some((l) => /^eval: .*ds \[validation\] .*5 records\) -> 5 examples/.test(l)),
    logs.join('\n'),
  );
  const logs2 = await trainLogs({ dataset: ds, test_size: 0.25 });
  assert.ok(
    logs2.some((l) => /^eval: 5 examples held out of the training data \(test_size 0.25/.test(l)),
    logs2.join('\n'),
  );
  // No eval_dataset and no test_size: the folder's dataset_test_split is used when it exists.
  const logs3 = await trainLogs({ dataset: ds, dataset_test_split: 'validation' });
  assert.ok(
    logs3.some((l) => /^eval: .*\[validation\]/.test(l)),
    logs3.join('\n'),
  );
});
