// Dataset readers: Parquet (files from other writers in ../shared, and files written here with hyparquet-writer),
// Arrow IPC (save_to_disk folders written here with apache-arrow), CSV/TSV, dataset folders and splits, and the
// one-line errors for bad files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { vectorFromArray, Table, tableToIPC, List, Struct, Field, Utf8, Int64 } from 'apache-arrow';
import { readRawRecords as readRows } from '../../src/data/readers.js';
import { parquetInfo } from '../../src/data/readers/parquet.js';
import { loadRecords } from '../../src/data/load.js';
import { datasetLayout, splitFiles, splitOfPath } from '../../src/data/splits.js';
import { BadRecordError } from '../../src/data/formats.js';
import { sharedDir } from '../helpers/shared.js';
import { MESSAGES_SCHEMA } from '../helpers/parquet.js';
import { UserError } from '../../src/util/errors.js';

const SHARED = sharedDir();
const DATA = SHARED && join(SHARED, 'data');
const needShared = !DATA && 'needs ../shared (real Hub-format files)';

function tmpDir(): string {
  return mkdtempSync(join(tmpdir(), 'sftkit-readers-'));
}

async function allRows(file: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const r of readRows(file)) {
    assert.ok(!('error' in r), 'error' in r ? r.error.message : '');
    if ('value' in r) out.push(r.value);
  }
  return out;
}

function chat(i: number) {
  return [
    { role: 'user', content: `question ${i} «ü»` },
    { role: 'assistant', content: `answer ${i}\nline two` },
  ];
}

function writeChatParquet(file: string, n: number, opts: { codec?: string; rowGroupSize?: number } = {}): void {
  const compressors = {
    GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)),
    BROTLI: (b: Uint8Array) =>
      new Uint8Array(brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } })),
  };
  parquetWriteFile({
    filename: file,
    schema: [
      { name: 'root', num_children: 2 },
      ...MESSAGES_SCHEMA,
      { name: 'id', type: 'INT64', repetition_type: 'OPTIONAL' },
    ],
    columnData: [
      { name: 'messages', data: Array.from({ length: n }, (_, i) => chat(i)) },
      { name: 'id', data: Array.from({ length: n }, (_, i) => BigInt(i)) },
    ],
    codec: (opts.codec ?? 'SNAPPY') as 'SNAPPY',
    compressors,
    rowGroupSize: opts.rowGroupSize ?? 1000,
  } as Parameters<typeof parquetWriteFile>[0]);
}

for (const codec of ['SNAPPY', 'GZIP', 'BROTLI', 'UNCOMPRESSED']) {
  test(`Parquet written by hyparquet-writer (${codec}, 7 row groups): nested messages, int64 ids, row groups in order`, async () => {
    const f = join(tmpDir(), 'train-00000-of-00001.parquet');
    writeChatParquet(f, 50, { codec, rowGroupSize: 8 });
    assert.deepEqual((await parquetInfo(f)).rowGroups, [8, 8, 8, 8, 8, 8, 2]);
    const rows: { value: unknown; row?: number; group?: number }[] = [];
    for await (const r of readRows(f)) {
      assert.ok('value' in r);
      rows.push({ value: r.value, row: r.source.row, group: r.source.rowGroup });
    }
    assert.equal(rows.length, 50);
    assert.deepEqual(rows[17], { value: { messages: chat(17), id: 17 }, row: 17, group: 2 });
    const { records, report } = await loadRecords(f);
    assert.equal(report.format, 'conversational');
    assert.equal(records.length, 50);
  });
}

test(
  'Parquet from pyarrow (../shared structured-cot, 4 row groups, snappy): every row, group by group',
  { skip: needShared },
  async () => {
    const f = join(DATA!, 'structured-cot', 'data', 'train-00000-of-00001.parquet');
    const info = await parquetInfo(f);
    assert.deepEqual(info.rowGroups, [1000, 1000, 1000, 933]);
    const { records, report } = await loadRecords(f);
    assert.equal(records.length, 3933);
    assert.equal(report.format, 'conversational');
    const r = records[3932]!;
    assert.ok(r.kind === 'conversation');
    assert.deepEqual(
      r.messages.map((m) => m.role),
      ['system', 'user', 'assistant'],
    );
    assert.equal(r.source.rowGroup, 3);
    assert.equal(r.source.row, 3932);
  },
);

test('Parquet and JSONL of the same gsm8k split give identical rows (../shared)', { skip: needShared }, async () => {
  const pq = await allRows(join(DATA!, 'gsm8k-parquet', 'main', 'test-00000-of-00001.parquet'));
  const jsonl = readFileSync(join(DATA!, 'gsm8k', 'test.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);
  assert.equal(pq.length, 1319);
  assert.deepEqual(pq, jsonl);
});

test(
  'Parquet written by Polars with ZSTD (three shards in a Hub data/ folder; ../shared)',
  { skip: needShared },
  async () => {
    const dir = join(DATA!, 'smollm2-customs-zstd');
    const files = splitFiles(dir, 'train');
    assert.equal(files.length, 3);
    const { records, report } = await loadRecords(dir, { promptField: 'prompt', completionField: 'response' });
    assert.equal(records.length, 48 + 28 + 63);
    assert.equal(report.format, 'prompt-completion');
  },
);

test(
  'verl Parquet: a prompt column of messages with nested structs beside it (../shared)',
  { skip: needShared },
  async () => {
    const rows = (await allRows(join(DATA!, 'verl-gsm8k', 'test.parquet'))) as Record<string, unknown>[];
    assert.equal(rows.length, 1319);
    const r0 = rows[0]!;
    assert.equal((r0.prompt as { role: string }[])[0]!.role, 'user');
    assert.equal((r0.extra_info as { index: number }).index, 0);
    assert.equal(typeof (r0.reward_model as { ground_truth: string }).ground_truth, 'string');
  },
);

test(
  'Parquet edge cases from other writers: null-typed columns, page v2, gzip members, LZ4_RAW, legacy lists (../shared)',
  { skip: needShared },
  async () => {
    const ifb = (await allRows(join(DATA!, 'ifbench-multiturn', 'data', 'test-00000-of-00001.parquet'))) as Record<
      string,
      unknown
    >[];
    assert.equal(ifb.length, 1387);
    assert.equal((ifb[0]!.kwargs as Record<string, unknown>[])[0]!.n, null);
    const pt = join(DATA!, 'parquet-testing');
    assert.deepEqual((await allRows(join(pt, 'datapage_v2.snappy.parquet')))[0], {
      a: 'abc',
      b: 1,
      c: 2,
      d: true,
      e: [1, 2, 3],
    });
    const gz = await allRows(join(pt, 'concatenated_gzip_members.parquet'));
    assert.equal(gz.length, 513);
    assert.deepEqual(gz[512], { long_col: 513 });
    assert.equal((await allRows(join(pt, 'lz4_raw_compressed.parquet'))).length, 4);
    assert.deepEqual(await allRows(join(pt, 'old_list_structure.parquet')), [
      {
        a: [
          [1, 2],
          [3, 4],
        ],
      },
    ]);
    assert.deepEqual(await allRows(join(pt, 'null_list.parquet')), [{ emptylist: [] }]);
    // Conversations that end on a user turn are eval prompts, not training data: a one-line error names the row.
    await assert.rejects(loadRecords(join(DATA!, 'ifbench-multiturn'), { split: 'test' }), (e: Error) =>
      /test-00000-of-00001\.parquet: row group 0, row 0: field 'messages\[2\]\.role': .*ends with a 'user' turn/.test(
        e.message,
      ),
    );
  },
);

test(
  'LLaMA-Factory tool-calling data (../shared): ShareGPT function_call/observation and content parts with reasoning',
  { skip: needShared },
  async () => {
    const dir = join(DATA!, 'llamafactory-toolcall');
    const glaive = await loadRecords(join(dir, 'glaive_toolcall_en_demo.json'));
    assert.equal(glaive.records.length, 300);
    assert.equal(glaive.report.format, 'sharegpt');
    const withCalls = glaive.records.filter((r) => r.kind === 'conversation' && r.messages.some((m) => m.tool_calls));
    assert.equal(withCalls.length, 153);
    const r = withCalls[0]!;
    assert.ok(r.kind === 'conversation');
    const call = r.messages.find((m) => m.tool_calls)!;
    assert.equal(call.role, 'assistant');
    assert.deepEqual(Object.keys((call.tool_calls![0] as { function: object }).function), ['name', 'arguments']);
    assert.equal(typeof (call.tool_calls![0] as { function: { arguments: unknown } }).function.arguments, 'object');
    assert.ok(r.messages.some((m) => m.role === 'tool'));
    assert.ok(r.tools && (r.tools[0] as { type: string }).type === 'function');
    const reason = await loadRecords(join(dir, 'reason_tool_use_demo_50.jsonl'));
    assert.equal(reason.records.length, 50);
    const msgs = reason.records.flatMap((x) => (x.kind === 'conversation' ? x.messages : []));
    assert.equal(msgs.filter((m) => m.role === 'assistant' && m.reasoning_content).length, 112);
    assert.equal(msgs.filter((m) => m.tool_calls).length > 0, true);
    assert.equal(msgs.filter((m) => m.role === 'tool').length, 42);
  },
);

test('Arrow: a save_to_disk DatasetDict folder (dataset_dict.json, state.json, data-*.arrow) with train/test splits', async () => {
  const root = tmpDir();
  const msgType = new List(
    new Field('item', new Struct([new Field('role', new Utf8(), true), new Field('content', new Utf8(), true)]), true),
  );
  const writeSplit = (name: string, n: number, offset: number) => {
    const d = join(root, name);
    mkdirSync(d);
    const table = new Table({
      messages: vectorFromArray(
        Array.from({ length: n }, (_, i) => chat(i + offset)),
        msgType,
      ),
      id: vectorFromArray(
        Array.from({ length: n }, (_, i) => BigInt(i + offset)),
        new Int64(),
      ),
    });
    writeFileSync(join(d, 'data-00000-of-00001.arrow'), tableToIPC(table, 'stream'));
    writeFileSync(join(d, 'dataset_info.json'), JSON.stringify({ features: {} }));
    writeFileSync(
      join(d, 'state.json'),
      JSON.stringify({ _data_files: [{ filename: 'data-00000-of-00001.arrow' }], _split: name }),
    );
  };
  writeSplit('train', 12, 0);
  writeSplit('test', 3, 100);
  writeFileSync(join(root, 'dataset_dict.json'), JSON.stringify({ splits: ['train', 'test'] }));
  assert.equal(datasetLayout(root).kind, 'dataset_dict');
  const train = await loadRecords(root);
  assert.equal(train.records.length, 12);
  const test = await loadRecords(root, { split: 'test' });
  assert.equal(test.records.length, 3);
  const r = test.records[2]!;
  assert.ok(r.kind === 'conversation');
  assert.deepEqual(r.messages, chat(102));
  assert.equal(r.source.row, 2);
  // One split folder on its own is a save_to_disk Dataset.
  assert.equal((await loadRecords(join(root, 'test'))).records.length, 3);
  // The random-access file format reads too.
  const f = join(root, 'file.arrow');
  writeFileSync(f, tableToIPC(new Table({ text: vectorFromArray(['a', 'b'], new Utf8()) }), 'file'));
  assert.deepEqual(await allRows(f), [{ text: 'a' }, { text: 'b' }]);
});

test('CSV: header row, quoted fields with commas, quotes and newlines, BOM; TSV by extension', async () => {
  const d = tmpDir();
  const csv = join(d, 'train.csv');
  writeFileSync(csv, '\uFEFFprompt,completion\n"Say ""hi"", twice","hi,\nhi"\nplain,text\n\n');
  const rows: { value: unknown; line: number }[] = [];
  for await (const r of readRows(csv)) if ('value' in r) rows.push({ value: r.value, line: r.source.line });
  assert.deepEqual(rows, [
    { value: { prompt: 'Say "hi", twice', completion: 'hi,\nhi' }, line: 2 },
    { value: { prompt: 'plain', completion: 'text' }, line: 4 },
  ]);
  const tsv = join(d, 'test.tsv');
  writeFileSync(tsv, 'text\tsource\nhello world\tx\n');
  assert.deepEqual(await allRows(tsv), [{ text: 'hello world', source: 'x' }]);
  // A messages column stored as JSON text (spreadsheets) is parsed.
  const m = join(d, 'chat.csv');
  writeFileSync(m, `messages\n"${JSON.stringify(chat(1)).replace(/"/g, '""')}"\n`);
  const { records, report } = await loadRecords(m);
  assert.equal(report.format, 'conversational');
  assert.ok(records[0]!.kind === 'conversation' && records[0]!.messages[1]!.content === 'answer 1\nline two');
});

test('splits by the Hub file-name conventions; dev/valid mean validation; a folder without split names is train', () => {
  assert.equal(splitOfPath('data/train-00000-of-00003.parquet'), 'train');
  assert.equal(splitOfPath('data/validation-00000-of-00001.parquet'), 'validation');
  assert.equal(splitOfPath('dev.jsonl'), 'validation');
  assert.equal(splitOfPath('my_data_valid.csv'), 'validation');
  assert.equal(splitOfPath('test/part-0.jsonl'), 'test');
  assert.equal(splitOfPath('interval.jsonl'), null);
  assert.equal(splitOfPath('contest.jsonl'), null);
  const d = tmpDir();
  mkdirSync(join(d, 'data'));
  for (const f of ['train-00000-of-00002.jsonl', 'train-00001-of-00002.jsonl', 'dev-00000-of-00001.jsonl'])
    writeFileSync(join(d, 'data', f), '{"text": "x"}\n');
  writeFileSync(join(d, 'README.md'), '# card');
  const layout = datasetLayout(d);
  assert.equal(layout.kind, 'hub');
  assert.equal(layout.splits.get('train')!.length, 2);
  assert.deepEqual(splitFiles(d, 'valid', layout), [join(d, 'data', 'dev-00000-of-00001.jsonl')]);
  assert.throws(() => splitFiles(d, 'test', layout), /has no split 'test' \(it has train, validation\)/);
  const plain = tmpDir();
  writeFileSync(join(plain, 'a.jsonl'), '{"text": "x"}\n');
  writeFileSync(join(plain, 'b.jsonl'), '{"text": "y"}\n');
  assert.deepEqual(splitFiles(plain, 'train').length, 2);
});

/** The message of the UserError `fn` rejects with; it must be one line. */
async function oneLineError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
    return e.message;
  }
  assert.fail('no error');
}

test('bad files: one-line errors naming the file, row group / row / line and column', async () => {
  const d = tmpDir();
  // Truncated Parquet (the footer is gone).
  const good = join(d, 'good.parquet');
  writeChatParquet(good, 20, { rowGroupSize: 5 });
  const bytes = readFileSync(good);
  const cut = join(d, 'cut.parquet');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  assert.match(
    await oneLineError(loadRecords(cut)),
    /cut\.parquet: not a readable Parquet file \(no PAR1 footer: truncated or not Parquet\)/,
  );
  // A corrupt column chunk: the row group and column are named.
  const info = await parquetInfo(good);
  assert.equal(info.rowGroups.length, 4);
  const corrupt = join(d, 'corrupt.parquet');
  const c = Buffer.from(bytes);
  c.fill(0xff, 4, 40);
  writeFileSync(corrupt, c);
  assert.match(
    await oneLineError(loadRecords(corrupt)),
    /corrupt\.parquet: row group 0 \(rows 0-4\), column '(messages|id)': cannot read/,
  );
  // A column of the wrong type: messages as strings that are not JSON lists.
  const wrong = join(d, 'wrong.parquet');
  parquetWriteFile({
    filename: wrong,
    columnData: [{ name: 'messages', data: ['a', 'b', 'c'], type: 'STRING' }],
    rowGroupSize: 2,
  });
  const e = await oneLineError(loadRecords(wrong));
  assert.match(e, /wrong\.parquet: row group 0, row 0: field 'messages': expected a list of messages, got string/);
  // A ragged CSV row.
  const ragged = join(d, 'ragged.csv');
  writeFileSync(ragged, 'prompt,completion\na,b\n"multi\nline",c\nd,e,f\n');
  assert.equal(
    await oneLineError(loadRecords(ragged)),
    `${ragged}:5: ragged row: 3 fields where the header has 2 columns`,
  );
  // A folder with no recognisable split, asked for one.
  const plain = tmpDir();
  writeFileSync(join(plain, 'a.jsonl'), '{"text": "x"}\n');
  assert.match(
    await oneLineError(loadRecords(plain, { split: 'test' })),
    /has no recognisable split, so split 'test' cannot be picked/,
  );
  // A folder with no data files at all.
  const empty = tmpDir();
  writeFileSync(join(empty, 'notes.txt'), 'x');
  assert.match(await oneLineError(loadRecords(empty)), /holds no data files/);
  assert.ok(existsSync(good));
  assert.ok(BadRecordError);
});
