// Training throughput of `SFTTrainer` on a SmolLM2-135M-shaped model with random weights, the configuration
// of issue #6: LoRA r=16 on all 7 projections, seq 512, batch 2, bf16. Compare with
//   /usr/bin/python3 ../shared/reference/torch_speed.py lora bf16 30 512 2 4
// Usage: npx tsx bench/train-speed.ts [STEPS=5] [LAYERS=30]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { SFTTrainer } from '../src/train/trainer.js';
import { generatePretrainCorpus } from '../src/quickstart/corpus/pretrain-corpus.js';
import type { SftRecord } from '../src/data/types.js';
import { formatBytes, peakRssBytes } from '../src/train/metrics.js';

const [stepsArg, layersArg] = benchArgs().positionals([]);
const steps = Number(stepsArg ?? 5);
const layers = Number(layersArg ?? 30);
const modelDir = await benchModel('smollm2-135m-shape', { layers });
const dir = mkdtempSync(join(tmpdir(), 'sftkit-bench-train-'));
try {
  const records: SftRecord[] = generatePretrainCorpus({ targetBytes: 200_000 }).map((text, i) => ({
    kind: 'text',
    text,
    source: { file: 'corpus', line: i + 1 },
  }));
  const stepTimes: number[] = [];
  let last = Date.now();
  const trainer = new SFTTrainer({
    model: modelDir,
    args: {
      output_dir: join(dir, 'out'),
      max_steps: steps,
      per_device_train_batch_size: 2,
      max_length: 512,
      packing: true,
      bf16: true,
      logging_steps: 1,
      save_strategy: 'no',
      learning_rate: 1e-4,
    },
    peftConfig: { r: 16, lora_alpha: 32, lora_dropout: 0, target_modules: ['all-linear'] },
    trainDataset: records,
    progress: false,
    onLog: () => {
      const now = Date.now();
      stepTimes.push((now - last) / 1000);
      last = now;
    },
  });
  await trainer.prepare();
  last = Date.now();
  await trainer.train();
  // The first step includes one-time costs (packing, buffers): report the rest.
  const steady = stepTimes.slice(1);
  const sec = steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length);
  console.log(
    JSON.stringify({
      layers,
      seq: 512,
      batch: 2,
      steps,
      secondsPerStep: Number(sec.toFixed(3)),
      tokensPerSecond: Math.round(1024 / sec),
      peakRss: formatBytes(peakRssBytes()),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
