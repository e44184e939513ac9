// `sftkit serve` throughput: N streaming chat requests sent at once (continuous batching) against the same N
// sent one after another, on the SmolLM2-135M shape (random weights, bf16), greedy, every answer exactly
// --new tokens long (ignore_eos). Prints aggregate generated tokens/s of both and their ratio.
// Usage: node --import tsx bench/serve.ts [--model DIR] [--requests 16] [--new 32] [--rounds 2] [--json]
import OpenAI from 'openai';
import { benchArgs, median } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { startCli } from '../test/serve/helpers.js';

const args = benchArgs();
const modelFlag = args.string('model');
const dir = await benchModel('smollm2-135m-shape', modelFlag ? { dir: modelFlag } : {});
const requests = args.number('requests', 16);
const newTokens = args.number('new', 32);
const rounds = args.number('rounds', 2);
const model = dir.split('/').pop()!;
const server = await startCli([
  'serve',
  '--model',
  dir,
  '--port',
  '0',
  '--dtype',
  args.string('dtype', 'bf16'),
  '--max-batch',
  String(requests),
]);
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });

async function one(i: number): Promise<number> {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: `Write about topic number ${i}.` }],
    temperature: 0,
    max_tokens: newTokens,
    stream: true,
    stream_options: { include_usage: true },
    ...({ ignore_eos: true } as object),
  });
  let n = 0;
  for await (const chunk of stream) if (chunk.usage) n = chunk.usage.completion_tokens;
  return n;
}

async function timed(run: () => Promise<number[]>): Promise<number> {
  const t0 = performance.now();
  const counts = await run();
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== requests * newTokens) throw new Error(`expected ${requests * newTokens} tokens, got ${total}`);
  return total / ((performance.now() - t0) / 1000);
}

try {
  await one(-1); // warm-up
  const seq: number[] = [];
  const con: number[] = [];
  for (let r = 0; r < rounds; r++) {
    seq.push(
      await timed(async () => {
        const out: number[] = [];
        for (let i = 0; i < requests; i++) out.push(await one(i));
        return out;
      }),
    );
    con.push(await timed(() => Promise.all(Array.from({ length: requests }, (_, i) => one(i)))));
  }
  const res = {
    requests,
    new_tokens: newTokens,
    sequential_tokens_per_s: Number(median(seq).toFixed(1)),
    concurrent_tokens_per_s: Number(median(con).toFixed(1)),
    speedup: Number((median(con) / median(seq)).toFixed(2)),
  };
  if (args.flag('json')) process.stdout.write(JSON.stringify(res) + '\n');
  else
    process.stdout.write(
      `${requests} requests x ${newTokens} tokens: one after another ${res.sequential_tokens_per_s} tok/s, all at once ${res.concurrent_tokens_per_s} tok/s (${res.speedup}x)\n`,
    );
} finally {
  await server.stop();
}
