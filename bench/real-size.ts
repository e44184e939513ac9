// Training at real sizes: LoRA, QLoRA and full fine-tuning steps on a `create-model` preset with the exact shapes
// of a real checkpoint (random weights; the folder is created once and cached under the OS temp dir). Per step:
// forward over B x T tokens (every next-token target trained), backward, AdamW step, zero_grad; the first step is
// not timed and the median of the rest is reported, with the process's peak RSS and the trainer's memory estimate.
// The estimate is `sftkit train`'s (estimateRunMemory, from config.json alone): a config whose estimate exceeds
// --limit-gib (24) is refused before the weights are loaded, as `sftkit train` refuses it.
// Run one at a time on a shared machine: flock /tmp/sftkit-heavy.lock node --import tsx bench/real-size.ts ...
// Usage: node --import tsx bench/real-size.ts --preset qwen3-0.6b-shape --mode lora|qlora|full
//          [--seq 512] [--batch 2] [--steps 3] [--rank 16] [--dropout 0] [--limit-gib 24]
// Prints one JSON line; bench/real-size-table.ts turns a file of them into the bench/README.md table.
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { benchArgs, median } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { AdamW, getBackend, poolStats } from '../src/engine/index.js';
import { MODEL_PRESETS, type ModelPreset } from '../src/model/create-model.js';
import { loadLlamaConfig } from '../src/io/hf-config.js';
import { LlamaModel } from '../src/model/llama.js';
import { estimateRunMemory } from '../src/train/memory.js';

const args = benchArgs();
const preset = args.string('preset', 'qwen3-0.6b-shape') as ModelPreset;
if (!MODEL_PRESETS.includes(preset)) throw new Error(`--preset must be one of ${MODEL_PRESETS.join(', ')}`);
const mode = args.string('mode', 'lora');
if (!['lora', 'qlora', 'full'].includes(mode)) throw new Error('--mode must be lora, qlora or full');
const seq = args.number('seq', 512),
  batch = args.number('batch', 2),
  steps = args.number('steps', 3),
  rank = args.number('rank', 16),
  dropout = args.number('dropout', 0),
  limit = args.number('limit-gib', 24) * 2 ** 30;
if (!(steps >= 2)) throw new Error('--steps must be at least 2 (the first step is not timed)');
const GiB = (b: number) => (b / 2 ** 30).toFixed(2);

// Created (once) in a child process, so that writing the random weights does not count in this process's peak RSS.
const dir = await benchModel(preset, { seed: 1, childProcess: true });
const rssGiB = () => Number(GiB(process.memoryUsage().rss));
const peakGiB = () => Number(GiB(process.resourceUsage().maxRSS * 1024));
const baselineRss = rssGiB();

// The trainer's estimate for this config, from config.json alone (bf16 storage; full fine-tuning widens to f32).
const estimate = estimateRunMemory({
  config: loadLlamaConfig(dir),
  method: mode as 'lora' | 'qlora' | 'full',
  bf16: true,
  lora: mode === 'full' ? null : { r: rank, targetModules: 'all-linear', dropout },
  tokenRows: 0,
  batch,
  seq,
  gradientCheckpointing: false,
});
const fits = estimate.total <= limit;
const base = { preset, mode, seq, batch, rank, dropout, estimate_gib: Number(GiB(estimate.total)), fits };
if (!fits) {
  // As `sftkit train` does: a config whose estimate exceeds the memory is refused before the weights load.
  console.log(JSON.stringify({ ...base, refused: true, peak_rss_gib: peakGiB() }));
  process.exit(0);
}

const t0 = performance.now();
const model = LlamaModel.load(dir, {
  dtype: 'bf16',
  quantize: mode === 'qlora' ? { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } : null,
});
if (mode === 'full') model.enableFullFineTuning();
else
  model.attachLora(
    { r: rank, loraAlpha: 2 * rank, loraDropout: dropout, targetModules: 'all-linear', useRslora: false },
    1,
  );
const loadS = (performance.now() - t0) / 1000;
const afterLoad = { rss_gib: rssGiB(), peak_rss_gib: peakGiB() };
const params = model.trainableParameters().map((p) => p.tensor);
let all = 0;
for (const p of model.allParameters()) all += p.tensor.numel;
for (const m of model.linears()) all += m.quantized?.numel ?? 0;
const trainable = params.reduce((s, p) => s + p.numel, 0);

const opt = new AdamW(params, { lr: 1e-5 });
const V = model.config.vocabSize;
let x = 12345;
const ids = new Int32Array(batch * seq).map(() => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) % V);
const times: number[] = [];
const stepPeaks: number[] = [];
let loss = 0;
for (let s = 0; s < steps; s++) {
  const t = performance.now();
  loss = model.lossAndBackward({ batch, seq, inputIds: ids }).loss;
  opt.step();
  opt.zeroGrad();
  times.push((performance.now() - t) / 1000);
  stepPeaks.push(peakGiB());
  process.stderr.write(
    `step ${s + 1}: ${times.at(-1)!.toFixed(1)} s, loss ${loss.toFixed(4)}, rss ${rssGiB()} GiB, peak ${peakGiB()} GiB\n`,
  );
}
const pool = poolStats();
const stepS = median(times.slice(1));
const result = {
  ...base,
  params: all,
  trainable,
  tokens_per_s: Number(((batch * seq) / stepS).toFixed(1)),
  step_s: Number(stepS.toFixed(2)),
  peak_rss_gib: peakGiB(),
  est_over_peak: Number((estimate.total / (process.resourceUsage().maxRSS * 1024)).toFixed(3)),
  estimate_parts_gib: Object.fromEntries(Object.entries(estimate).map(([k, v]) => [k, Number(GiB(v))])),
  baseline_rss_gib: baselineRss,
  after_load: afterLoad,
  step_peaks_gib: stepPeaks,
  step_s_all: times.map((t) => Number(t.toFixed(2))),
  pool_gib: {
    live: Number(GiB(pool.liveBytes)),
    peak_live: Number(GiB(pool.peakLiveBytes)),
    free: Number(GiB(pool.freeBytes)),
  },
  load_s: Number(loadS.toFixed(1)),
  loss: Number(loss.toFixed(4)),
  isa: getBackend().isa(),
  threads: getBackend().threads(),
  cpu: cpus()[0]?.model ?? 'unknown',
  // The machine's 1-minute load average when the steps ended: timings taken beside other work are slower.
  load_avg: Number(loadavg()[0]!.toFixed(1)),
};
console.log(JSON.stringify(result));
