// Prefill and decode tokens/s of KV-cache generation on the SmolLM2-135M shape (30 layers, hidden 576, GQA 9/3,
// vocab 49152), bf16 weights, greedy. The model folder is created once (random weights) and reused.
// Usage: node --import tsx bench/generate.ts [--model DIR] [--dtype bf16|f32] [--prompt 128] [--new 64] [--batch 1]
//          [--threads N] [--json] [--compare-llamacpp [--rounds 3]]
//
// Decode reads every weight once per step (batch 1: few-row products, bound by memory), so beside tokens/s it
// reports the weight bytes read per decoded token times tokens/s as GB/s, next to the machine's copy bandwidth
// (a threaded bf16 -> f32 conversion of 256 MiB, read + written bytes).
//
// Prefill: tokens/s here is the prompt length over the wall time of the whole prefill forward, fixed costs included
// (for each of the 30 layers a dozen kernel calls and their JS dispatch, the KV cache allocation, one LM-head row).
// A difference of whole `sftkit generate` runs with 128- and 8-token prompts divides (t128 - t8) by 120 tokens:
// the fixed cost cancels out, so that figure is the marginal rate of extra prompt tokens, higher than the rate of
// a 128-token prefill. This benchmark prints both (and the 8-token prefill) so the two measures can be reconciled.
//
// --compare-llamacpp exports the same weights to an f16 GGUF (sftkit export gguf, cached beside the model) and times
// llama.cpp through node-llama-cpp (a dev dependency, its prebuilt CPU backend, same thread count) in interleaved
// rounds with sftkit: prefill = prompt tokens / time to the first generated token, decode = the following tokens /
// their time, for both engines alike. Medians of rounds and per-round ratios.
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { benchArgs, median } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { getBackend } from '../src/engine/index.js';
import { loadNative } from '../src/engine/native.js';
import { exportGguf } from '../src/export/gguf/export.js';
import { generate } from '../src/generate/generate.js';
import { castWeightsToBf16 } from '../src/generate/weights.js';
import { LlamaModel } from '../src/model/llama.js';
import { loadLlamaCpp } from '../test/export/llama-cpp-helpers.js';

const args = benchArgs();
const modelFlag = args.string('model');
const dir = await benchModel('smollm2-135m-shape', modelFlag ? { dir: modelFlag } : {});
if (args.string('threads')) loadNative().setThreads(args.number('threads', 0));
const dtype = args.string('dtype', 'bf16') as 'bf16' | 'f32';
const promptLen = args.number('prompt', 128);
const newTokens = args.number('new', 64);
const batch = args.number('batch', 1);
const compareLlamaCpp = args.flag('compare-llamacpp');
const rounds = args.number('rounds', 3);

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

interface Rates {
  prefill: number;
  decode: number;
}
/** One sftkit generation of the benchmark's prompts: prefill and decode tokens/s. */
function sftkitRun(): Rates & { stats: ReturnType<typeof generate>['stats'] } {
  const { stats } = generate(model, prompts, { maxNewTokens: newTokens, doSample: false });
  return {
    prefill: stats.prefillTokens / stats.prefillSeconds,
    decode: stats.decodeTokens / stats.decodeSeconds,
    stats,
  };
}
/** Seconds of the prefill of the first `len` tokens of each prompt (one new token, so decode does not run). */
function prefillSeconds(len: number): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const { stats } = generate(
      model,
      prompts.map((p) => p.slice(0, len)),
      { maxNewTokens: 1, doSample: false },
    );
    best = Math.min(best, stats.prefillSeconds);
  }
  return best;
}

const best = { prefill: 0, decode: 0 };
let last = null as ReturnType<typeof generate>['stats'] | null;
for (let run = 0; run < 2; run++) {
  const r = sftkitRun();
  best.prefill = Math.max(best.prefill, r.prefill);
  best.decode = Math.max(best.decode, r.decode);
  last = r.stats;
}

// Prefill: the whole-forward rate vs the marginal rate of a difference of runs (see the top of the file).
const shortLen = Math.min(8, promptLen - 1);
const tLong = prefillSeconds(promptLen),
  tShort = prefillSeconds(shortLen);
const marginal = (batch * (promptLen - shortLen)) / (tLong - tShort);

// Weights read per decoded token and the machine's copy bandwidth.
const weightBytes =
  model.linears().reduce((s, m) => s + (m.quantized ? 0 : m.weight.data.byteLength), 0) + model.lmHead.data.byteLength;
const copyGBs = (() => {
  const n = 64 << 20; // 64 Mi bf16 in (128 MiB) -> f32 out (256 MiB)
  const src = new Uint16Array(n),
    dst = new Float32Array(n);
  const be = getBackend();
  be.bf16ToF32(src, dst); // first touch
  let bestS = Infinity;
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    be.bf16ToF32(src, dst);
    bestS = Math.min(bestS, (performance.now() - s) / 1000);
  }
  return (6 * n) / bestS / 1e9;
})();
const decodeGBs = (weightBytes * best.decode) / batch / 1e9;

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
  prefill_ms: Number((1000 * tLong).toFixed(1)),
  prefill_short_ms: Number((1000 * tShort).toFixed(1)),
  prefill_marginal_tokens_per_s: Number(marginal.toFixed(1)),
  weight_mib: Number((weightBytes / 2 ** 20).toFixed(1)),
  decode_weight_gb_per_s: Number(decodeGBs.toFixed(2)),
  copy_bandwidth_gb_per_s: Number(copyGBs.toFixed(2)),
};
if (args.flag('json')) process.stdout.write(JSON.stringify(result) + '\n');
else {
  process.stdout.write(
    `SmolLM2-135M shape, ${dtype}, ${be.isa()} x ${be.threads()} threads, batch ${batch}, prompt ${promptLen}, ${newTokens} new tokens (best of 2)\n`,
  );
  process.stdout.write(
    `  prefill: ${result.prefill_tokens_per_s} tokens/s\n  decode:  ${result.decode_tokens_per_s} tokens/s (${result.decode_ms_per_step} ms per step)\n`,
  );
  process.stdout.write(
    `  prefill of ${promptLen} tokens ${result.prefill_ms} ms, of ${shortLen} tokens ${result.prefill_short_ms} ms: ` +
      `marginal rate ${result.prefill_marginal_tokens_per_s} tokens/s (what a difference of whole runs measures; ` +
      `the ${result.prefill_short_ms} ms a short prefill costs is mostly fixed per-forward work that it leaves out)\n`,
  );
  process.stdout.write(
    `  decode reads ${result.weight_mib} MiB of weights per step: ${result.decode_weight_gb_per_s} GB/s at batch ${batch}, ` +
      `machine copy bandwidth ${result.copy_bandwidth_gb_per_s} GB/s (${((100 * decodeGBs) / copyGBs).toFixed(0)}%)\n`,
  );
  process.stdout.write(`  last run: ${JSON.stringify(last)}\n`);
}

if (compareLlamaCpp) {
  const { llama, reason } = await loadLlamaCpp();
  if (!llama) throw new Error(`--compare-llamacpp: ${reason}`);
  if (batch !== 1) throw new Error('--compare-llamacpp compares batch 1');
  const gguf = join(dir, 'bench-f16.gguf');
  if (!existsSync(gguf)) {
    process.stderr.write(`exporting ${gguf} (f16)...\n`);
    await exportGguf({ modelDir: dir, outFile: gguf, outType: 'f16' });
  }
  const lmodel = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const prompt = prompts[0]!;
  /** One llama.cpp generation: time to the first token = prefill, the rest = decode (as sftkitRun splits it). */
  async function llamaRun(): Promise<Rates> {
    const ctx = await lmodel.createContext({
      contextSize: promptLen + newTokens + 16,
      batchSize: promptLen,
      threads: be.threads(),
      sequences: 1,
    });
    try {
      const seq = ctx.getSequence();
      const start = performance.now();
      let first = 0,
        n = 0;
      for await (const _tok of seq.evaluate(prompt as never[], { temperature: 0 })) {
        if (n++ === 0) first = performance.now();
        if (n >= newTokens) break;
      }
      const end = performance.now();
      return { prefill: promptLen / ((first - start) / 1000), decode: (n - 1) / ((end - first) / 1000) };
    } finally {
      await ctx.dispose();
    }
  }
  await llamaRun(); // warm-up
  const ours: Rates[] = [],
    theirs: Rates[] = [];
  for (let r = 0; r < rounds; r++) {
    const load0 = loadavg()[0]!.toFixed(2);
    const a = sftkitRun(),
      b = await llamaRun();
    ours.push(a);
    theirs.push(b);
    process.stdout.write(
      `round ${r + 1}/${rounds}: sftkit prefill ${a.prefill.toFixed(1)} decode ${a.decode.toFixed(1)} tok/s; ` +
        `llama.cpp prefill ${b.prefill.toFixed(1)} decode ${b.decode.toFixed(1)} tok/s; load ${load0}\n`,
    );
  }
  await lmodel.dispose();
  const row = (what: keyof Rates) => {
    const o = median(ours.map((x) => x[what])),
      t = median(theirs.map((x) => x[what])),
      ratio = median(ours.map((x, i) => x[what] / theirs[i]![what]));
    return `| ${what} | ${o.toFixed(1)} | ${t.toFixed(1)} | ${ratio.toFixed(2)}x |`;
  };
  process.stdout.write(
    `\nsftkit (${dtype}, ${be.isa()}) vs llama.cpp (node-llama-cpp, f16 GGUF of the same weights), ${be.threads()} threads, ` +
      `batch 1, prompt ${promptLen}, ${newTokens} new, medians of ${rounds} interleaved rounds\n` +
      `| tokens/s | sftkit | llama.cpp | sftkit / llama.cpp (median of per-round ratios) |\n|---|---:|---:|---:|\n` +
      `${row('prefill')}\n${row('decode')}\n`,
  );
}
