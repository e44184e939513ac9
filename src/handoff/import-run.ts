// `sftkit import-run RUN_DIR`: take back the output of an exported run. The per-step losses become
// metrics.jsonl and loss.svg (as `sftkit train` writes them), the tokenizer files join the adapter (or model)
// so `sftkit generate | eval | merge | export gguf` load it, and the result is checked: sftkit loads it and
// recomputes the logits train.py saved from its final model.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.js';
import { LlamaModel } from '../model/llama.js';
import { loadAdapter } from '../model/peft.js';
import { copyTokenizerFiles } from '../train/artefacts.js';
import { lossCurveSvg } from '../train/loss-plot.js';
import { MetricsWriter, readMetrics, type MetricsRecord } from '../train/metrics.js';
import { UserError } from '../util/errors.js';
import { readBatchIndex } from './batch-files.js';
import { readRunJson } from './export-run.js';

export interface StepRecord {
  step: number;
  loss: number;
  grad_norm?: number | null;
  learning_rate?: number | null;
}

export interface ImportRunResult {
  outputDir: string;
  steps: StepRecord[];
  /** Max |sftkit logits - train.py logits| over check_logits.safetensors, or null when absent. */
  logitsMaxAbsDiff: number | null;
  logitsMaxAbs: number | null;
}

/** output/losses.jsonl (every step, written by train.py), else Trainer's trainer_state.json log_history. */
export function readStepLosses(outputDir: string): StepRecord[] {
  const jsonl = join(outputDir, 'losses.jsonl');
  if (existsSync(jsonl)) {
    return readFileSync(jsonl, 'utf8')
      .split('\n')
      .map((l, i) => ({ l, i }))
      .filter(({ l }) => l.trim() !== '')
      .map(({ l, i }) => {
        try {
          return JSON.parse(l) as StepRecord;
        } catch {
          throw new UserError(`${jsonl}:${i + 1}: not a JSON object`);
        }
      });
  }
  const state = join(outputDir, 'trainer_state.json');
  if (!existsSync(state))
    throw new UserError(`${outputDir}: no losses.jsonl or trainer_state.json (has train.py finished?)`);
  const s = JSON.parse(readFileSync(state, 'utf8')) as { log_history?: Record<string, number>[] };
  return (s.log_history ?? [])
    .filter((e) => typeof e.loss === 'number')
    .map((e) => ({
      step: e.step!,
      loss: e.loss!,
      grad_norm: e.grad_norm ?? null,
      learning_rate: e.learning_rate ?? null,
    }));
}

/** The base model folder of a run: --model, else base_model/ in the run folder, else the path at export. */
export function runBaseModel(runDir: string, override?: string | null): string {
  if (override) return override;
  const copied = join(runDir, 'base_model');
  if (existsSync(join(copied, 'config.json'))) return copied;
  const run = readRunJson(runDir);
  if (existsSync(join(run.base_model, 'config.json'))) return run.base_model;
  throw new UserError(`${runDir}: the base model (${run.base_model}) is not here; pass --model DIR`);
}

/** Load what train.py wrote as sftkit would for generate/eval/merge/export. */
export function loadRunResult(runDir: string, outputDir: string, baseModel: string): LlamaModel {
  const run = readRunJson(runDir);
  if (run.method === 'full') return LlamaModel.load(outputDir);
  const model = LlamaModel.load(baseModel);
  loadAdapter(model, outputDir);
  return model;
}

export async function importRun(
  runDir: string,
  opts: { output?: string | null; model?: string | null; log?: (l: string) => void } = {},
): Promise<ImportRunResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const dir = resolve(runDir);
  const run = readRunJson(dir);
  const outputDir = resolve(opts.output ?? join(dir, 'output'));
  if (!existsSync(outputDir)) throw new UserError(`${outputDir}: no output folder (copy train.py's output/ back here)`);
  const steps = readStepLosses(outputDir);
  if (steps.length === 0) throw new UserError(`${outputDir}: no logged losses`);

  // metrics.jsonl as sftkit train writes it (every step), and the loss plot.
  const index = readBatchIndex(join(dir, run.data));
  const trainedPerStep = new Array<number>(index.steps).fill(0);
  for (const e of index.micro_batches) trainedPerStep[e.step] = (trainedPerStep[e.step] ?? 0) + e.trained_tokens;
  const metricsPath = join(outputDir, 'metrics.jsonl');
  const writer = new MetricsWriter(metricsPath);
  let trained = 0;
  for (const s of steps) {
    trained += trainedPerStep[s.step - 1] ?? 0;
    const rec: MetricsRecord = { step: s.step, epoch: index.step_epochs[s.step - 1] ?? 0, loss: s.loss };
    if (typeof s.grad_norm === 'number' && Number.isFinite(s.grad_norm)) rec.grad_norm = s.grad_norm;
    if (typeof s.learning_rate === 'number' && Number.isFinite(s.learning_rate)) rec.lr = s.learning_rate;
    rec.trained_tokens = trained;
    writer.write(rec);
  }
  writeFileSync(join(outputDir, 'loss.svg'), lossCurveSvg(readMetrics(metricsPath), `${dir}: loss (PyTorch run)`));

  const base = runBaseModel(dir, opts.model);
  copyTokenizerFiles(base, outputDir);
  const model = loadRunResult(dir, outputDir, base);
  let maxDiff: number | null = null;
  let maxAbs: number | null = null;
  const checkPath = join(outputDir, 'check_logits.safetensors');
  if (existsSync(checkPath)) {
    const f = SafetensorsFile.open(checkPath);
    try {
      const ids = new Int32Array(f.readBytes('input_ids').slice().buffer);
      const pos = new Int32Array(f.readBytes('position_ids').slice().buffer);
      const want = f.readF32('logits');
      const got = model.logits({ batch: 1, seq: ids.length, inputIds: ids, positionIds: pos }).toF32();
      if (got.length !== want.length)
        throw new UserError(`${checkPath}: logits have ${want.length} values, sftkit computed ${got.length}`);
      maxDiff = 0;
      maxAbs = 0;
      for (let i = 0; i < got.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
      }
    } finally {
      f.close();
    }
    log(
      `import-run: sftkit's logits of the imported ${run.method === 'full' ? 'model' : 'adapter'} vs train.py's final model: max abs diff ${maxDiff.toExponential(2)} (max |logit| ${maxAbs!.toFixed(2)})`,
    );
  }
  log(
    `import-run: ${steps.length} steps, final loss ${steps.at(-1)!.loss.toFixed(4)}; wrote ${metricsPath} and loss.svg; ` +
      `load it with: sftkit generate ${run.method === 'full' ? `--model ${outputDir}` : `--model ${base} --adapter ${outputDir}`}`,
  );
  return { outputDir, steps, logitsMaxAbsDiff: maxDiff, logitsMaxAbs: maxAbs };
}
