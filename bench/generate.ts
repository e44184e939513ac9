// Prefill and decode tokens/s of KV-cache generation on the SmolLM2-135M shape (30 layers, hidden 576, GQA 9/3,
// vocab 49152), bf16 weights, greedy. The model folder is created once (random weights) and reused.
// Usage: node --import tsx bench/generate.ts [--model DIR] [--dtype bf16|f32] [--prompt 128] [--new 64] [--batch 1] [--threads N] [--json]
import { benchArgs } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { getBackend } from '../src/engine/index.js';
import { loadNative } from '../src/engine/native.js';
import { generate } from '../src/generate/generate.js';
import { castWeightsToBf16 } from '../src/generate/weights.js';
import { LlamaModel } from '../src/model/llama.js';

const args = benchArgs();
const modelFlag = args.string('model');
const dir = await benchModel('smollm2-135m-shape', modelFlag ? { dir: modelFlag } : {});
if (args.string('threads')) loadNative().setThreads(args.number('threads', 0));
const dtype = args.string('dtype', 'bf16') as 'bf16' | 'f32';
const promptLen = args.number('prompt', 128);
const newTokens = args.number('new', 64);
const batch = args.number('batch', 1);

const t0 = performance.now();
const model = LlamaModel.load(dir, { dtype });
if (dtype === 'bf16' && model.compute !== 'bf16') castWeightsToBf16(model);
const loadSeconds = (performance.now() - t0) / 1000;
const V = model.config.vocabSize;
// Prompts of distinct, deterministic ids; no stop ids, so every row decodes exactly `newTokens`.
const prompts = Array.from({ length: batch }, (_, b) =>
  Array.from({ length: promptLen }, (_, i) => (1 + b * 7919 + i * 104729) % V),
);

generate(
  model,
  prompts.map((p) => p.slice(0, 8)),
  { maxNewTokens: 2, doSample: false },
); // warm-up (pools, rope table)
const best = { prefill: 0, decode: 0 };
let last = null as ReturnType<typeof generate>['stats'] | null;
for (let run = 0; run < 2; run++) {
  const { stats } = generate(model, prompts, { maxNewTokens: newTokens, doSample: false });
  best.prefill = Math.max(best.prefill, stats.prefillTokens / stats.prefillSeconds);
  best.decode = Math.max(best.decode, stats.decodeTokens / stats.decodeSeconds);
  last = stats;
}
const be = getBackend();
const result = {
  model: dir,
  dtype,
  isa: be.isa(),
  threads: be.threads(),
  batch,
  prompt_tokens: promptLen,
  new_tokens: newTokens,
  load_s: Number(loadSeconds.toFixed(2)),
  prefill_tokens_per_s: Number(best.prefill.toFixed(1)),
  decode_tokens_per_s: Number(best.decode.toFixed(1)),
  decode_ms_per_step: Number(((1000 * batch) / best.decode).toFixed(1)),
};
if (args.flag('json')) process.stdout.write(JSON.stringify(result) + '\n');
else {
  process.stdout.write(
    `SmolLM2-135M shape, ${dtype}, ${be.isa()} x ${be.threads()} threads, batch ${batch}, prompt ${promptLen}, ${newTokens} new tokens (best of 2)\n`,
  );
  process.stdout.write(
    `  prefill: ${result.prefill_tokens_per_s} tokens/s\n  decode:  ${result.decode_tokens_per_s} tokens/s (${result.decode_ms_per_step} ms per step)\n`,
  );
  process.stdout.write(`  last run: ${JSON.stringify(last)}\n`);
}
