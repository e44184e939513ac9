// `sftkit serve` in a child process on loopback, driven by the official `openai` client: chat and text
// completions (streaming and not), greedy answers identical to `sftkit generate --json`, adapters chosen by
// model name, 16 concurrent streams sharing forward passes, disconnects freeing rows, and the limits
// (oversized prompt 400, full queue 429, body size 413, API key 401), all in OpenAI's error shape.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { createModel } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { saveAdapter } from '../../src/model/peft.js';
import type { SchedulerStats } from '../../src/serve/scheduler.js';
import { runCli } from '../helpers/cli.js';
import { randomLora, tinyModelDir } from '../generate/helpers.js';
import { startCli, waitFor, type RunningServer } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'sftkit-serve-'));
let dir = '';
let adapterA = '';
let adapterB = '';
let server: RunningServer;
let client: OpenAI;
let base = '';

before(async () => {
  dir = await tinyModelDir(tmp);
  base = dir.split('/').pop()!;
  for (const [name, seed] of [
    ['a', 11],
    ['b', 23],
  ] as const) {
    const m = LlamaModel.load(dir);
    randomLora(m, seed);
    await saveAdapter(m, join(tmp, name));
  }
  adapterA = join(tmp, 'a');
  adapterB = join(tmp, 'b');
  server = await startCli([
    'serve',
    '--model',
    dir,
    '--adapter',
    `tuned-a=${adapterA}`,
    '--adapter',
    `tuned-b=${adapterB}`,
    '--port',
    '0',
    '--max-prompt-tokens',
    '64',
    '--max-new-tokens',
    '64',
    '--max-body-bytes',
    '4096',
  ]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const stats = async (url: string, headers: Record<string, string> = {}): Promise<SchedulerStats> =>
  (await (await fetch(`${url}/sftkit/stats`, { headers })).json()) as SchedulerStats;

function generateJson(args: string[]): { text: string; prompt_token_ids: number[]; token_ids: number[] } {
  const r = runCli(['generate', '--json', '--temperature', '0', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('GET /v1/models lists the base and its adapters', async () => {
  const list = await client.models.list();
  assert.deepEqual(
    list.data.map((m) => m.id),
    [base, 'tuned-a', 'tuned-b'],
  );
  assert.equal(list.data[0]!.owned_by, 'sftkit');
});

test('greedy chat and text completions equal `sftkit generate --json` for the base and an adapter', async () => {
  for (const [model, adapter] of [
    [base, null],
    ['tuned-a', adapterA],
  ] as const) {
    const cli = generateJson([
      '--model',
      dir,
      ...(adapter ? ['--adapter', adapter] : []),
      '--chat',
      '--prompt',
      'Tell me a story',
      '--max-new-tokens',
      '12',
    ]);
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Tell me a story' }],
      temperature: 0,
      max_tokens: 12,
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, model);
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.equal(r.choices[0]!.message.content, cli.text, model);
    assert.equal(r.usage!.prompt_tokens, cli.prompt_token_ids.length);
    assert.equal(r.usage!.completion_tokens, cli.token_ids.length);
    assert.equal(r.usage!.total_tokens, cli.prompt_token_ids.length + cli.token_ids.length);
    assert.equal(r.choices[0]!.finish_reason, cli.token_ids.length === 12 ? 'length' : 'stop');

    // The same request streamed: deltas concatenate to the same text; usage arrives in a last chunk.
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Tell me a story' }],
      temperature: 0,
      max_completion_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let first = true;
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (first) assert.equal(chunk.choices[0]!.delta.role, 'assistant');
      first = false;
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, cli.text);
    assert.equal(finish, r.choices[0]!.finish_reason);
    assert.equal(usage?.completion_tokens, cli.token_ids.length);
  }
  // Plain-text completions, streaming and not.
  const cli = generateJson(['--model', dir, '--adapter', adapterB, '--prompt', 'Once upon', '--max-new-tokens', '10']);
  const c = await client.completions.create({ model: 'tuned-b', prompt: 'Once upon', temperature: 0, max_tokens: 10 });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0]!.text, cli.text);
  assert.equal(c.usage!.prompt_tokens, cli.prompt_token_ids.length);
  const s = await client.completions.create({
    model: 'tuned-b',
    prompt: 'Once upon',
    temperature: 0,
    max_tokens: 10,
    stream: true,
  });
  let streamed = '';
  for await (const chunk of s) streamed += chunk.choices[0]?.text ?? '';
  assert.equal(streamed, cli.text);
});

test('two adapters on one base answer differently by model name; seeded sampling repeats', async () => {
  const ask = async (model: string, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) =>
    (
      await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hello' }],
        temperature: 0,
        max_tokens: 16,
        ...extra,
        // vLLM's extension: do not stop at end-of-turn, so every answer has its full length
        ...({ ignore_eos: true } as object),
      })
    ).choices[0]!.message.content;
  const [a, b, plain] = await Promise.all([ask('tuned-a'), ask('tuned-b'), ask(base)]);
  assert.notEqual(a, b);
  assert.notEqual(a, plain);
  assert.notEqual(b, plain);
  // Asked again concurrently with the others, an adapter still answers the same.
  assert.equal(await ask('tuned-a'), a);
  const sampled = { temperature: 1.0, top_p: 0.9, seed: 5 };
  assert.equal(await ask('tuned-a', sampled), await ask('tuned-a', sampled));
});

test('16 concurrent streaming requests all complete, sharing forward passes', async () => {
  const before = await stats(server.url);
  const runOne = async (i: number) => {
    const stream = await client.chat.completions.create({
      model: i % 2 ? 'tuned-a' : base,
      messages: [{ role: 'user', content: `request number ${i}` }],
      temperature: 0,
      max_tokens: 24,
      stream: true,
      stream_options: { include_usage: true },
      ...({ ignore_eos: true } as object),
    });
    let tokens = 0;
    let finish = null;
    for await (const chunk of stream) {
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    return { tokens, finish };
  };
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => runOne(i)));
  for (const r of results) assert.deepEqual(r, { tokens: 24, finish: 'length' });
  const after = await stats(server.url);
  const tokens = after.generatedTokens - before.generatedTokens;
  const steps = after.decodeSteps - before.decodeSteps;
  assert.equal(tokens, 16 * 24);
  assert.ok(after.maxBatchSeen > 1, `rows never shared a step: ${JSON.stringify(after)}`);
  assert.ok(steps < tokens / 2, `${steps} decode steps for ${tokens} tokens: requests did not share steps`);
  assert.equal(after.running, 0);
});

test('errors come in OpenAI shape: oversized prompt 400, unknown model 404, bad field 400, large body 413', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: base, messages: [{ role: 'user', content: 'word '.repeat(200) }] }),
    (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'context_length_exceeded');
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, 'messages');
      assert.match(e.message, /the prompt has \d+ tokens; this server takes at most 64/);
      return true;
    },
  );
  const raw = await fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: base, prompt: 'word '.repeat(200) }),
  });
  assert.equal(raw.status, 400);
  const body = (await raw.json()) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), {
    status: 404,
    code: 'model_not_found',
  });
  await assert.rejects(
    client.chat.completions.create({ model: base, messages: [{ role: 'user', content: 'x' }], max_tokens: 65 }),
    { status: 400, param: 'max_tokens' },
  );
  await assert.rejects(
    client.chat.completions.create({ model: base, messages: [{ role: 'user', content: 'x' }], n: 2 }),
    { status: 400, param: 'n' },
  );
  await assert.rejects(
    client.chat.completions.create({ model: base, messages: [{ role: 'user', content: 'x' }], temperature: 3 }),
    { status: 400, param: 'temperature' },
  );
  const big = await fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: base, prompt: 'x'.repeat(5000) }),
  });
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'request_too_large');
  const unknown = await fetch(`${server.url}/v1/files`);
  assert.equal(unknown.status, 404);
  assert.ok(((await unknown.json()) as { error: unknown }).error);
});

test('non-loopback --host needs --api-key (refused before binding)', () => {
  const r = runCli(['serve', '--model', dir, '--host', '0.0.0.0', '--port', '0'], { timeoutMs: 60_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--host 0\.0\.0\.0 exposes the server beyond this machine; give --api-key/);
});

test('a full queue answers 429, a disconnect mid-stream frees the row, the API key is required', async () => {
  // A slower model (wider, deeper, long context) so that answers are still running while the test looks.
  const slow = join(tmp, 'slow');
  await createModel({
    preset: 'tiny',
    out: slow,
    seed: 5,
    arch: 'llama',
    tokenizer: 'bpe',
    overwrite: true,
    configOverrides: { hidden_size: 256, intermediate_size: 768, num_hidden_layers: 6, max_position_embeddings: 8192 },
  });
  const key = 'test-key-123';
  const s2 = await startCli([
    'serve',
    '--model',
    slow,
    '--port',
    '0',
    '--max-batch',
    '1',
    '--max-queue',
    '1',
    '--max-new-tokens',
    '8000',
    '--api-key',
    key,
  ]);
  try {
    const auth = { authorization: `Bearer ${key}` };
    const c2 = new OpenAI({ baseURL: `${s2.url}/v1`, apiKey: key, maxRetries: 0 });
    await assert.rejects(
      new OpenAI({ baseURL: `${s2.url}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list(),
      (e: unknown) => e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key',
    );
    const long = () =>
      c2.completions.create({
        model: 'slow',
        prompt: 'Once upon a time',
        max_tokens: 8000,
        stream: true,
        ...({ ignore_eos: true } as object),
      });
    const first = await long();
    const it = first[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) await it.next(); // it is generating
    const second = await long(); // waits for the one row
    await waitFor(async () => (await stats(s2.url, auth)).waiting === 1, 10_000, 'the second request to queue');
    await assert.rejects(long(), (e: unknown) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.status, 429);
      assert.equal(e.type, 'rate_limit_error');
      return true;
    });
    // The first client goes away mid-stream: its row is freed, and the queued request gets it.
    first.controller.abort();
    await waitFor(async () => (await stats(s2.url, auth)).cancelled === 1, 10_000, 'the row to be freed');
    await waitFor(async () => (await stats(s2.url, auth)).waiting === 0, 10_000, 'the queued request to start');
    const mid = await stats(s2.url, auth);
    assert.equal(mid.running, 1);
    second.controller.abort();
    await waitFor(async () => (await stats(s2.url, auth)).running === 0, 10_000, 'the second row to be freed');
    const end = await stats(s2.url, auth);
    assert.equal(end.cancelled, 2);
    assert.ok(end.generatedTokens < 4000, `aborted rows kept generating: ${end.generatedTokens} tokens`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(
      (await stats(s2.url, auth)).generatedTokens,
      end.generatedTokens,
      'nothing generates after the aborts',
    );
    // A non-streaming request whose client gives up frees its row too.
    const ac = new AbortController();
    const pending = c2.completions
      .create(
        { model: 'slow', prompt: 'Once', max_tokens: 8000, ...({ ignore_eos: true } as object) },
        { signal: ac.signal },
      )
      .catch((e: unknown) => e);
    await waitFor(async () => (await stats(s2.url, auth)).running === 1, 10_000, 'the non-streaming request to run');
    ac.abort();
    assert.ok((await pending) instanceof Error);
    await waitFor(async () => (await stats(s2.url, auth)).running === 0, 10_000, 'the non-streaming row to be freed');
    assert.equal((await stats(s2.url, auth)).cancelled, 3);
  } finally {
    await s2.stop();
  }
});
