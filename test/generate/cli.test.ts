// `sftkit generate`, `chat` and `eval` end to end on a tiny model, each in its own process (stdout is the
// command's output; chat reads piped stdin).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LlamaModel } from '../../src/model/llama.js';
import { saveAdapter } from '../../src/model/peft.js';
import { packageRoot } from '../../src/util/paths.js';
import { randomLora, tinyModelDir } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'sftkit-gencli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dir = '';
let adapter = '';
before(async () => {
  dir = await tinyModelDir(tmp);
  const m = LlamaModel.load(dir);
  randomLora(m);
  adapter = join(tmp, 'adapter');
  await saveAdapter(m, adapter);
});

const MAIN = join(packageRoot(), 'src', 'cli', 'main.ts');
function sftkit(args: string[], input?: string): { code: number; out: string; err: string } {
  const script = `import(${JSON.stringify(MAIN)}).then((m) => m.main(process.argv.slice(1))).then((c) => process.exit(c))`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script, '--', ...args], {
    input: input ?? '',
    encoding: 'utf8',
    cwd: packageRoot(),
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('sftkit generate --json: text, prompt and generated ids, finish reason, tokens/s; seeded sampling repeats', () => {
  const args = [
    'generate',
    '--model',
    dir,
    '--adapter',
    adapter,
    '--prompt',
    'Hello there',
    '--chat',
    '--max-new-tokens',
    '6',
    '--temperature',
    '0.9',
    '--seed',
    '4',
    '--json',
  ];
  const r = sftkit(args);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(Object.keys(j).sort(), ['finish_reason', 'prompt_token_ids', 'text', 'token_ids', 'tokens_per_s']);
  assert.ok(j.prompt_token_ids.length > 3 && j.token_ids.length >= 1 && j.token_ids.length <= 6);
  assert.ok(['eos', 'length', 'stop_string'].includes(j.finish_reason));
  assert.equal(typeof j.text, 'string');
  assert.ok(j.tokens_per_s > 0);
  assert.deepEqual(JSON.parse(sftkit(args).out).token_ids, j.token_ids);
  // streaming mode prints the text itself (plus a newline) and a stats line on stderr
  const s = sftkit(['generate', '--model', dir, '--prompt', 'Hi', '--max-new-tokens', '4', '--dtype', 'bf16']);
  assert.equal(s.code, 0, s.err);
  assert.match(s.err, /4 tokens in .* decode .* tok\/s; finish: length/);
  const bad = sftkit(['generate', '--model', dir, '--prompt', 'x', '--top-p', '1.5']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /top_p must be in \(0, 1\]/);
  assert.match(sftkit(['generate', '--model', dir]).err, /give either --prompt TEXT or --messages FILE.json/);
});

test('sftkit chat reads turns from piped stdin, keeps history, handles /system and /reset, quits at end of input', () => {
  const r = sftkit(
    ['chat', '--model', dir, '--max-new-tokens', '3'],
    'hello\n/system Be brief.\nsecond turn\n/reset\nthird\n',
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /system message set/);
  assert.match(r.err, /history cleared/);
  // three answers, each ended by a newline (an answer itself may contain newlines)
  assert.ok(r.out.endsWith('\n') && r.out.split('\n').length - 1 >= 3, JSON.stringify(r.out));
  assert.match(sftkit(['chat', '--model', dir, '--merge'], '').err, /--merge needs --adapter/);
});

test('sftkit eval --compare-base writes results JSONL and a Markdown report with both models side by side', () => {
  const prompts = join(tmp, 'prompts.jsonl');
  writeFileSync(
    prompts,
    [
      JSON.stringify({ instruction: 'Say hi.', reference: 'hi' }),
      JSON.stringify({
        messages: [
          { role: 'user', content: 'Name a colour.' },
          { role: 'assistant', content: 'Blue.' },
        ],
      }),
      JSON.stringify({ instruction: 'Count to three.' }),
    ].join('\n') + '\n',
  );
  const data = join(tmp, 'data.jsonl');
  writeFileSync(
    data,
    JSON.stringify({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
      ],
    }) + '\n',
  );
  const out = join(tmp, 'results.jsonl');
  const r = sftkit([
    'eval',
    '--model',
    dir,
    '--adapter',
    adapter,
    '--prompts',
    prompts,
    '--out',
    out,
    '--compare-base',
    '--data',
    data,
    '--max-new-tokens',
    '5',
    '--batch-size',
    '2',
  ]);
  assert.equal(r.code, 0, r.err);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 3);
  assert.deepEqual(
    rows.map((x) => x.instruction),
    ['Say hi.', 'Name a colour.', 'Count to three.'],
  );
  assert.deepEqual(
    rows.map((x) => x.expected),
    ['hi', 'Blue.', null],
  );
  for (const x of rows) {
    for (const k of ['generated', 'base_generated', 'finish_reason', 'base_finish_reason', 'generated_tokens'])
      assert.ok(k in x, k);
    assert.ok(x.generated_tokens >= 1 && x.generated_tokens <= 5);
  }
  assert.equal(rows[2].exact_match, null);
  assert.equal(typeof rows[0].contains_reference, 'boolean');
  const report = readFileSync(join(tmp, 'results.md'), 'utf8');
  assert.match(report, /\| \| base \| fine-tuned \|/);
  assert.match(report, /\| ended with end-of-turn \|/);
  assert.match(report, /\| eval loss \| \d+\.\d{4} \| \d+\.\d{4} \|/);
  assert.match(report, /### 2\. Name a colour\./);
  assert.match(r.out, /^base: .*\nfine-tuned: .*eval loss/m);
  const bad = join(tmp, 'bad.jsonl');
  writeFileSync(bad, '{"instruction": "ok"}\n{"nope": 1}\n');
  assert.match(
    sftkit(['eval', '--model', dir, '--prompts', bad, '--out', out]).err,
    /bad\.jsonl:2: "instruction" must be a non-empty string/,
  );
});
