// Training at real sizes: LoRA, QLoRA and full fine-tuning steps on a `create-model` preset with the exact shapes
// of a real checkpoint (random weights; the folder is created once and cached under the OS temp dir). Per step:
// forward over B x T tokens (every next-token target trained), backward, AdamW step, zero_grad; the first step is
// not timed and the median of the rest is reported, with the process's peak RSS and the trainer's memory estimate.
// Full fine-tuning runs only where `sftkit train` would run it: when the estimate fits in --limit-gib (24).
// Run one at a time on a shared machine: flock /tmp/sftkit-heavy.lock node --import tsx bench/real-size.ts ...
// Usage: node --import tsx bench/real-size.ts --preset qwen3-0.6b-shape --mode lora|qlora|full
//          [--seq 512] [--batch 2] [--steps 3] [--rank 16] [--limit-gib 24] [--json]
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { benchArgs, median } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { AdamW, getBackend } from '../src/engine/index.js';
import { MODEL_PRESETS, type ModelPreset } from '../src/model/create-model.js';
import { LlamaModel } from '../src/model/llama.js';
import { estimateTrainingMemory } from '../src/train/memory.js';

const args = benchArgs();
const preset = args.string('preset', 'qwen3-0.6b-shape') as ModelPreset;
if (!MODEL_PRESETS.includes(preset)) throw new Error(`--preset must be one of ${MODEL_PRESETS.join(', ')}`);
const mode = args.string('mode', 'lora');
if (!['lora', 'qlora', 'full'].includes(mode)) throw new Error('--mode must be lora, qlora or full');
const seq = args.number('seq', 512),
  batch = args.number('batch', 2),
  steps = args.number('steps', 3),
  rank = args.number('rank', 16),
  limit = args.number('limit-gib', 24) * 2 ** 30;
if (!(steps >= 2)) throw new Error('--steps must be at least 2 (the first step is not timed)');
const GiB = (b: number) => (b / 2 ** 30).toFixed(2);

const dir = await benchModel(preset, { seed: 1 });

const t0 = performance.now();
const model = LlamaModel.load(dir, {
  dtype: 'bf16',
  quantize: mode === 'qlora' ? { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } : null,
});
if (mode === 'full') model.enableFullFineTuning();
else
  model.attachLora({ r: rank, loraAlpha: 2 * rank, loraDropout: 0, targetModules: 'all-linear', useRslora: false }, 1);
const loadS = (performance.now() - t0) / 1000;
const params = model.trainableParameters().map((p) => p.tensor);
let all = 0;
for (const p of model.allParameters()) all += p.tensor.numel;
for (const m of model.linears()) all += m.quantized?.numel ?? 0;
const trainable = params.reduce((s, p) => s + p.numel, 0);
// The trainer's estimate for this config (bf16 storage for LoRA/QLoRA, f32 for full fine-tuning).
const estimate = estimateTrainingMemory(model.config, {
  allParams: all,
  trainableParams: trainable,
  weightBytesPerParam: mode === 'full' ? 4 : 2,
  tokensPerMicroBatch: batch * seq,
  gradientCheckpointing: false,
});
const fits = estimate.total <= limit;
const base = { preset, mode, seq, batch, params: all, trainable, estimate_gib: Number(GiB(estimate.total)), fits };
if (!fits) {
  // As `sftkit train` does: a config whose estimate exceeds the memory is refused, not run.
  console.log(JSON.stringify({ ...base, refused: true }));
  process.exit(0);
}

const opt = new AdamW(params, { lr: 1e-5 });
const V = model.config.vocabSize;
let x = 12345;
const ids = new Int32Array(batch * seq).map(() => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) % V);
const times: number[] = [];
let loss = 0;
for (let s = 0; s < steps; s++) {
  const t = performance.now();
  loss = model.lossAndBackward({ batch, seq, inputIds: ids }).loss;
  opt.step();
  opt.zeroGrad();
  times.push((performance.now() - t) / 1000);
}
const stepS = median(times.slice(1));
const result = {
  ...base,
  tokens_per_s: Number(((batch * seq) / stepS).toFixed(1)),
  step_s: Number(stepS.toFixed(2)),
  peak_rss_gib: Number(GiB(process.resourceUsage().maxRSS * 1024)),
  load_s: Number(loadS.toFixed(1)),
  loss: Number(loss.toFixed(4)),
  isa: getBackend().isa(),
  threads: getBackend().threads(),
  cpu: cpus()[0]?.model ?? 'unknown',
};
console.log(JSON.stringify(result));
