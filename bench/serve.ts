// `sftkit serve` throughput: N streaming chat requests sent at once (continuous batching) against the same N
// sent one after another, on the SmolLM2-135M shape (random weights, bf16), greedy, every answer exactly
// --new tokens long (ignore_eos). Prints aggregate generated tokens/s of both and their ratio.
// Usage: node --import tsx bench/serve.ts [--model DIR] [--requests 16] [--new 32] [--rounds 2] [--json]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { createModel } from '../src/model/create-model.js';
import { packageRoot } from '../src/util/paths.js';
import { startCli } from '../test/serve/helpers.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const dir = arg('model', join(packageRoot(), '.cache', 'bench', 'smollm2-135m-shape'));
if (!existsSync(join(dir, 'model.safetensors'))) {
  process.stderr.write(`creating ${dir} (create-model --preset smollm2-135m-shape)...\n`);
  await createModel({ preset: 'smollm2-135m-shape', out: dir, seed: 0, overwrite: true });
}
const requests = Number(arg('requests', '16'));
const newTokens = Number(arg('new', '32'));
const rounds = Number(arg('rounds', '2'));
const model = dir.split('/').pop()!;
const server = await startCli([
  'serve',
  '--model',
  dir,
  '--port',
  '0',
  '--dtype',
  arg('dtype', 'bf16'),
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
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const res = {
    requests,
    new_tokens: newTokens,
    sequential_tokens_per_s: Number(median(seq).toFixed(1)),
    concurrent_tokens_per_s: Number(median(con).toFixed(1)),
    speedup: Number((median(con) / median(seq)).toFixed(2)),
  };
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(res) + '\n');
  else
    process.stdout.write(
      `${requests} requests x ${newTokens} tokens: one after another ${res.sequential_tokens_per_s} tok/s, all at once ${res.concurrent_tokens_per_s} tok/s (${res.speedup}x)\n`,
    );
} finally {
  await server.stop();
}
