// QLoRA vs bf16 LoRA on a SmolLM2-135M-shaped model: base-weight bytes/param, peak RSS and training tokens/s.
// Each variant runs in its own process so peak RSS is its own; variants alternate over --rounds and the table
// shows medians (step time of the steps after the first). qlora-nf4 quantizes the bf16 folder while loading;
// qlora-prequantized loads the folder `sftkit quantize` wrote.
//   node --import tsx bench/qlora.ts [--seq 512] [--batch 2] [--steps 3] [--rounds 3] [--model DIR]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { benchArgs, formatTable, median, runJsonLine } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { AdamW } from '../src/engine/index.js';
import { LlamaModel } from '../src/model/llama.js';
import { quantizedBaseStats } from '../src/quant/report.js';
import { quantizeFolder } from '../src/quant/save.js';

const args = benchArgs();
const seq = args.number('seq', 512);
const batch = args.number('batch', 2);
const steps = args.number('steps', 3);
const rounds = args.number('rounds', 3);
const modelFlag = args.string('model');
const modelDir = await benchModel('smollm2-135m-shape', modelFlag ? { dir: modelFlag } : {});
const quantizedDir = `${modelDir}-nf4`;
if (!existsSync(join(quantizedDir, 'config.json'))) await quantizeFolder(modelDir, quantizedDir);

type Variant = 'lora-bf16' | 'qlora-nf4' | 'qlora-prequantized';

function runVariant(variant: Variant): void {
  const t0 = performance.now();
  const model =
    variant === 'qlora-nf4'
      ? LlamaModel.load(modelDir, { dtype: 'bf16', quantize: { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } })
      : variant === 'qlora-prequantized'
        ? LlamaModel.load(quantizedDir, { dtype: 'bf16' })
        : LlamaModel.load(modelDir, { dtype: 'bf16' });
  const loadS = (performance.now() - t0) / 1000;
  model.attachLora({ r: 8, loraAlpha: 16, loraDropout: 0, targetModules: 'all-linear', useRslora: false }, 0);
  const opt = new AdamW(
    model.trainableParameters().map((p) => p.tensor),
    { lr: 1e-4 },
  );
  const ids = new Int32Array(batch * seq);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 7919) % model.config.vocabSize;
  const times: number[] = [];
  let loss = 0;
  for (let s = 0; s < steps; s++) {
    const t = performance.now();
    model.zeroGrad();
    loss = model.lossAndBackward({ batch, seq, inputIds: ids }).loss;
    opt.step();
    times.push(performance.now() - t);
  }
  const warm = times.slice(1);
  const tokS = (batch * seq * warm.length) / (warm.reduce((a, b) => a + b, 0) / 1000);
  const stats = quantizedBaseStats(model.linears().map((m) => m.quantized));
  let linearParams = 0;
  let linearBytes = 0;
  for (const m of model.linears()) {
    linearParams += m.outFeatures * m.inFeatures;
    linearBytes += m.quantized ? 0 : m.weight.data.byteLength;
  }
  linearBytes += stats.bytes;
  console.log(
    JSON.stringify({
      variant,
      seq,
      batch,
      steps,
      loadS: +loadS.toFixed(2),
      tokensPerS: +tokS.toFixed(1),
      stepS: warm.map((x) => +(x / 1000).toFixed(2)),
      linearBytesPerParam: +(linearBytes / linearParams).toFixed(4),
      linearMB: +(linearBytes / 1e6).toFixed(1),
      peakRssMB: +(process.resourceUsage().maxRSS / 1024).toFixed(0),
      loss: +loss.toFixed(4),
    }),
  );
}

const variant = args.string('variant');
if (variant) {
  runVariant(variant as Variant);
} else {
  const variants: Variant[] = ['lora-bf16', 'qlora-nf4', 'qlora-prequantized'];
  const results = new Map<Variant, Record<string, unknown>[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      const r = runJsonLine(process.execPath, [
        '--import',
        'tsx',
        process.argv[1]!,
        ...['--variant', v, '--seq', `${seq}`, '--batch', `${batch}`, '--steps', `${steps}`, '--model', modelDir],
      ]);
      if (!r.result) {
        process.stderr.write(r.error);
        process.exit(1);
      }
      results.get(v)!.push(r.result);
    }
  }
  console.log(
    `SmolLM2-135M shape, LoRA r=8 all-linear, ${batch} x ${seq} tokens per step, median of ${rounds} rounds\n`,
  );
  const rows = variants.map((v) => {
    const rs = results.get(v)!;
    const num = (key: string) => median(rs.map((r) => r[key] as number));
    const stepS = median(rs.flatMap((r) => r.stepS as number[]));
    return [
      v,
      `${String(rs[0]!.linearMB)} MB`,
      String(rs[0]!.linearBytesPerParam),
      num('loadS'),
      stepS,
      ((batch * seq) / stepS).toFixed(0),
      num('peakRssMB'),
    ];
  });
  process.stdout.write(
    formatTable(['variant', 'linear weights', 'bytes/param', 'load s', 'step s', 'tokens/s', 'peak RSS MB'], rows, {
      markdown: true,
    }),
  );
}
