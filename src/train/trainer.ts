// SFTTrainer: a training run as named steps, each in its own module:
//   1. setUpRun (setup.ts)           model, tokenizer and data (src/data/pipeline.ts); LoRA / full / token rows
//   2. trainableSet (parameters.ts)  what trains, and the AdamW over it
//   3. guardMemory (memory.ts)       refuse a config that cannot fit (inside step 1, before the weights load)
//   4. startOrResume (run-state.ts)  counters fresh or from a checkpoint
//   5. the loop below: optimizerStep (step.ts: micro-batches with explicit dropout seeds and NEFTune noise from
//      noise.ts, clipping, AdamW), then logging, eval (evaluate.ts), checkpoints and a stop when requested
//   6. saveArtefacts: adapter or full model, trainer_state.json, model card, loss plot
// The trainer never patches the model, installs signal handlers or exits the process: the CLI turns Ctrl-C
// into requestStop().
//
//   const trainer = new SFTTrainer({ model: 'path/to/hf-model', args: { output_dir: 'out', learning_rate: 1e-4 },
//                                    trainDataset: 'data.jsonl', peftConfig: { r: 16, target_modules: ['all-linear'] } });
//   const result = await trainer.train();
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatasetInput } from '../data/pipeline.js';
import type { Batch } from '../data/batches.js';
import type { PreparedExample } from '../data/types.js';
import type { LlamaConfig } from '../io/hf-config.js';
import { LlamaModel } from '../model/llama.js';
import type { TokenRowsAdapter } from '../model/token-rows.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { ensureOutputDir, writeFileAtomicSync } from '../io/atomic.js';
import { copyTokenizerFiles, modelCard, saveFullModel, saveLoraAdapter, type ModelCardInfo } from './artefacts.js';
import { cleanCheckpointTemps, pruneCheckpoints, type LogEntry, type TrainerState } from './checkpoint.js';
import { configToJSON, resolveConfig, type LoraConfig, type SFTConfig, type SFTConfigInput } from './config.js';
import { epochProgress, nextMicroBatches, planEpoch } from './epochs.js';
import { evalLoss } from './evaluate.js';
import { lossCurveSvg } from './loss-plot.js';
import { availableMemoryBytes, guardMemory } from './memory.js';
import {
  formatSummary,
  MetricsWriter,
  peakRssBytes,
  readMetrics,
  type MetricsRecord,
  type RunSummary,
} from './metrics.js';
import { trainableSet } from './parameters.js';
import { ProgressBar } from './progress.js';
import { startOrResume, trainerState, writeRunCheckpoint, type RunState } from './run-state.js';
import { LrSchedule } from './schedule.js';
import { setUpRun } from './setup.js';
import { optimizerStep } from './step.js';

/**
 * One way per option, following TRL's split: the model, the datasets and the PEFT config sit beside the
 * training arguments (`args`, SFTConfig names), not inside them. The config file's `model`, `dataset`,
 * `eval_dataset` and `peft:` keys are what `sftkit train` reads; the library still accepts them inside `args`
 * (and `quiet` for `progress: false` plus a silent `log`), with a one-time deprecation warning, as TRL's
 * `__post_init__` does for renamed fields. `log` (human-readable lines) and `onLog` (metrics records, TRL's
 * `on_log` callback) are two different outputs, not two names for one.
 */
export interface SFTTrainerOptions {
  /** An HF model folder, or a loaded model (then pass `tokenizer`, and `modelDir` to copy tokenizer files). */
  model?: string | LlamaModel;
  tokenizer?: Tokenizer;
  /** Where `model` was loaded from (tokenizer files, base_model_name_or_path) when `model` is an object. */
  modelDir?: string;
  /** TRL SFTConfig names (snake_case), validated like a YAML file. */
  args?: SFTConfigInput | SFTConfig;
  /** A path (.jsonl/.json/folder), records, or prepared examples. */
  trainDataset?: DatasetInput;
  evalDataset?: DatasetInput;
  /** PEFT LoraConfig fields; ignored with full_finetune. */
  peftConfig?: Partial<LoraConfig>;
  /** Log lines (default: stderr); `() => {}` drops them. */
  log?: (line: string) => void;
  /** Show the progress bar / progress lines (default true). */
  progress?: boolean;
  /** @deprecated `progress: false` and `log: () => {}`. */
  quiet?: boolean;
  /** Refuse to start above this many bytes (default: the memory the OS reports available). */
  memoryLimitBytes?: number;
  /** Called for every metrics record (what goes to metrics.jsonl). */
  onLog?: (record: MetricsRecord) => void;
}

export interface TrainResult {
  steps: number;
  /** Per-step train loss (index = step - 1) of the steps this process ran. */
  stepLosses: number[];
  finalTrainLoss: number | null;
  finalEvalLoss: number | null;
  summary: RunSummary;
  interrupted: boolean;
  outputDir: string;
  /** Token ids whose embedding rows were trained (untrained-row fix). */
  trainedTokenRows: number[];
}

const warned = new Set<string>();

/** A deprecated spelling was used: say so once per process. */
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(message, { type: 'DeprecationWarning', code: `SFTKIT_${key.toUpperCase()}` });
}

/** Options with the deprecated spellings folded into the canonical ones (each warns once). */
function canonicalOptions(opts: SFTTrainerOptions): { args: SFTConfigInput; opts: SFTTrainerOptions } {
  const args = { ...(opts.args ?? {}) } as SFTConfigInput;
  const out = { ...opts };
  const moved = (key: string, option: string) =>
    warnOnce(
      `args_${key}`,
      `SFTTrainer: args.${key} is deprecated in the library API; pass \`${option}\` beside args (as TRL)`,
    );
  if (args.model != null && opts.model === undefined) moved('model', 'model');
  if (args.dataset != null && opts.trainDataset === undefined) moved('dataset', 'trainDataset');
  if (args.eval_dataset != null && opts.evalDataset === undefined) moved('eval_dataset', 'evalDataset');
  if (args.peft != null && Object.keys(args.peft).length > 0) moved('peft', 'peftConfig');
  if (typeof opts.model === 'string') args.model = opts.model;
  if (opts.peftConfig) args.peft = { ...(args.peft ?? {}), ...opts.peftConfig };
  if (typeof opts.trainDataset === 'string') args.dataset = opts.trainDataset;
  if (typeof opts.evalDataset === 'string') args.eval_dataset = opts.evalDataset;
  if (opts.quiet !== undefined) {
    warnOnce('quiet', 'SFTTrainer: `quiet` is deprecated; pass `progress: false` and `log: () => {}`');
    if (opts.quiet) {
      out.progress = false;
      out.log = () => {};
    }
  }
  return { args, opts: out };
}

export class SFTTrainer {
  readonly config: SFTConfig;
  model: LlamaModel | null = null;
  tokenizer: Tokenizer | null = null;
  private readonly opts: SFTTrainerOptions;
  private readonly log: (line: string) => void;
  private stopRequested = false;
  private trainExamples: PreparedExample[] = [];
  private evalExamples: PreparedExample[] = [];
  private tokenRows: TokenRowsAdapter | null = null;
  private modelDir: string | null = null;
  private prepared = false;
  private memoryChecked = false;

  constructor(options: SFTTrainerOptions) {
    const { args, opts } = canonicalOptions(options);
    this.opts = opts;
    this.config = resolveConfig({ object: withoutUndefined(args) });
    this.log = opts.log ?? ((l) => process.stderr.write(l + '\n'));
  }

  /**
   * A trainer for a whole SFTConfig as a config file spells it (`model`, `dataset`, `eval_dataset` and `peft:`
   * inside): what `sftkit train` and `sftkit export-run` do. Those keys go to their own options.
   */
  static fromConfig(
    config: SFTConfig,
    options: Omit<SFTTrainerOptions, 'args' | 'model' | 'peftConfig'> = {},
  ): SFTTrainer {
    const { model, dataset, eval_dataset, peft, ...args } = config;
    return new SFTTrainer({
      ...options,
      ...(model !== null ? { model } : {}),
      ...(dataset !== null && options.trainDataset === undefined ? { trainDataset: dataset } : {}),
      ...(eval_dataset !== null && options.evalDataset === undefined ? { evalDataset: eval_dataset } : {}),
      peftConfig: peft,
      args,
    });
  }

  /** Ask the loop to save a checkpoint and stop after the current step (what Ctrl-C does in the CLI). */
  requestStop(): void {
    this.stopRequested = true;
  }

  /** True once requestStop() was called. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /**
   * Load model, tokenizer and data, and set up the method (LoRA / full / token rows). Idempotent. `forTraining`:
   * log the memory estimate and refuse a run that cannot fit before the weights are loaded.
   */
  async prepare(forTraining = false): Promise<void> {
    if (this.prepared) return;
    const o = this.opts;
    const guard = (model: LlamaConfig, train: PreparedExample[], tokenRows: number) =>
      this.checkMemory(model, train, tokenRows);
    const run = await setUpRun(
      this.config,
      {
        model: o.model instanceof LlamaModel ? o.model : null,
        tokenizer: o.tokenizer ?? null,
        modelDir: o.modelDir ?? null,
        trainDataset: o.trainDataset ?? null,
        evalDataset: o.evalDataset ?? null,
        ...(forTraining ? { beforeLoad: guard } : {}),
      },
      this.log,
    );
    this.model = run.model;
    this.tokenizer = run.tokenizer;
    this.modelDir = run.modelDir;
    this.trainExamples = run.trainExamples;
    this.evalExamples = run.evalExamples;
    this.tokenRows = run.tokenRows;
    this.prepared = true;
  }

  /** Step 3: log the memory estimate of this run and refuse it when it cannot fit. */
  private checkMemory(model: LlamaConfig, train: PreparedExample[], tokenRows: number): void {
    let longestExample = 0;
    for (const e of train) longestExample = Math.max(longestExample, e.inputIds.length);
    const limit = this.opts.memoryLimitBytes ?? availableMemoryBytes();
    guardMemory(model, this.config, { longestExample, tokenRows }, limit, this.log);
    this.memoryChecked = true;
  }

  /** The token id written into padding. */
  padId(): number {
    return this.tokenizer!.padTokenId ?? this.tokenizer!.eosTokenId ?? 0;
  }

  /** The prepared training examples (after prepare()). */
  trainingExamples(): readonly PreparedExample[] {
    return this.trainExamples;
  }

  /** Optimizer steps of the run: max_steps, else num_train_epochs x updates per epoch (after prepare()). */
  plannedTotalSteps(): number {
    const c = this.config;
    const updatesPerEpoch = Math.ceil(planEpoch(this.trainExamples, c, 0).plan.length / c.gradient_accumulation_steps);
    return c.max_steps > 0 ? c.max_steps : Math.max(1, Math.ceil(c.num_train_epochs * updatesPerEpoch));
  }

  /**
   * The micro-batches of every optimizer step of a fresh run, in the order train() consumes them: up to
   * gradient_accumulation_steps per step, fewer at the end of an epoch, the next epoch reshuffled.
   */
  *plannedSteps(): Generator<{ micro: Batch[]; epoch: number }> {
    const c = this.config;
    const total = this.plannedTotalSteps();
    let cursor = planEpoch(this.trainExamples, c, 0);
    for (let step = 0; step < total; step++) {
      if (cursor.index >= cursor.plan.length) cursor = planEpoch(this.trainExamples, c, cursor.epoch + 1);
      const { batches } = nextMicroBatches(cursor, this.trainExamples, c.gradient_accumulation_steps, this.padId());
      yield { micro: batches, epoch: epochProgress(cursor) };
    }
  }

  /** Mean cross-entropy over every trained token of the eval set (dropout off, no noise). */
  async evaluate(): Promise<number | null> {
    await this.prepare();
    const r = evalLoss(this.model!, this.evalExamples, {
      batchSize: this.config.per_device_eval_batch_size,
      padTokenId: this.padId(),
    });
    return r?.loss ?? null;
  }

  async train(): Promise<TrainResult> {
    ensureOutputDir(this.config.output_dir, 'output_dir');
    await this.prepare(true);
    const c = this.config;
    const model = this.model!;
    // prepare() ran earlier without the guard: check now, with the weights already loaded.
    if (!this.memoryChecked) this.checkMemory(model.config, this.trainExamples, this.tokenRows?.ids.length ?? 0);
    const outDir = c.output_dir;
    cleanCheckpointTemps(outDir, this.log);

    const trainable = trainableSet(model, this.tokenRows, c);
    this.log(`${trainable.method}: ${trainable.trainableReport}`);
    const totalSteps = this.plannedTotalSteps();
    const schedule = new LrSchedule(c.lr_scheduler_type, c.learning_rate, totalSteps, c.warmup_steps, c.warmup_ratio);
    const run = startOrResume(c, this.trainExamples, trainable, this.tokenRows, totalSteps, this.log);
    const metrics = new MetricsWriter(
      join(outDir, 'metrics.jsonl'),
      run.lastCheckpoint ? { truncateAfterStep: run.step } : {},
    );
    const progress = new ProgressBar({
      total: totalSteps,
      startStep: run.step,
      plainEvery: c.logging_steps,
      quiet: this.opts.progress === false,
    });
    const checkpointInputs = {
      model,
      modelDir: this.modelDir,
      trainable,
      tokenRows: this.tokenRows,
      totalSteps,
      warmupSteps: schedule.warmup,
    };
    const save = async (): Promise<void> => {
      run.lastCheckpoint = await writeRunCheckpoint(c, run, checkpointInputs);
      for (const removed of pruneCheckpoints(outDir, c.save_total_limit))
        progress.log(`removed old checkpoint ${removed}`);
    };

    const evalSteps = c.eval_steps ?? c.logging_steps;
    const started = Date.now();
    const startTokens = run.tokensSeen;
    const stepLosses: number[] = [];
    let logLossSum = 0;
    let logLossSteps = 0;
    let finalEvalLoss: number | null = null;
    let interrupted = false;
    try {
      while (run.step < totalSteps) {
        if (run.cursor.index >= run.cursor.plan.length)
          run.cursor = planEpoch(this.trainExamples, c, run.cursor.epoch + 1);
        const epochAtStart = run.cursor.epoch;
        const micro = nextMicroBatches(run.cursor, this.trainExamples, c.gradient_accumulation_steps, this.padId());
        const lr = schedule.at(run.step);
        const r = optimizerStep(
          {
            model,
            params: trainable.params,
            optimizer: trainable.optimizer,
            tokenRows: this.tokenRows,
            seed: c.seed,
            neftuneAlpha: c.neftune_noise_alpha,
            maxGradNorm: c.max_grad_norm,
            lr,
          },
          micro.batches,
          run.microStep,
          run.step + 1,
          run.lastCheckpoint,
        );
        run.microStep += micro.batches.length;
        run.step++;
        run.tokensSeen += micro.inputTokens;
        run.trainedTokensSeen += r.trainedTokens;
        stepLosses.push(r.loss);
        logLossSum += r.loss;
        logLossSteps++;

        const elapsed = (Date.now() - started) / 1000;
        const tps = (run.tokensSeen - startTokens) / Math.max(elapsed, 1e-9);
        progress.update({ step: run.step, loss: r.loss, lr, tokensPerSecond: tps });
        const epochEnded = run.cursor.index >= run.cursor.plan.length;
        const record: MetricsRecord = { step: run.step, epoch: Number(epochProgress(run.cursor).toFixed(4)) };
        let logged = false;
        if (run.step % c.logging_steps === 0 || run.step === totalSteps) {
          const avg = logLossSum / logLossSteps;
          Object.assign(record, {
            loss: avg,
            grad_norm: r.gradNorm,
            lr,
            tokens: run.tokensSeen,
            trained_tokens: run.trainedTokensSeen,
            tokens_per_s: Math.round(tps),
          });
          run.logHistory.push({
            step: run.step,
            epoch: record.epoch,
            loss: avg,
            grad_norm: r.gradNorm,
            learning_rate: lr,
          });
          logLossSum = 0;
          logLossSteps = 0;
          logged = true;
        }
        const evalNow =
          this.evalExamples.length > 0 &&
          ((c.eval_strategy === 'steps' && run.step % evalSteps === 0) ||
            (c.eval_strategy === 'epoch' && epochEnded && run.cursor.epoch === epochAtStart));
        if (evalNow) {
          const ev = await this.evaluate();
          if (ev !== null) {
            finalEvalLoss = ev;
            record.eval_loss = ev;
            run.logHistory.push({ step: run.step, epoch: record.epoch, eval_loss: ev });
            progress.log(`step ${run.step}: eval loss ${ev.toFixed(4)}`);
            logged = true;
          }
        }
        if (logged) {
          metrics.write(record);
          this.opts.onLog?.(record);
        }
        const saveNow =
          (c.save_strategy === 'steps' && run.step % c.save_steps === 0) || (c.save_strategy === 'epoch' && epochEnded);
        if (saveNow && run.step < totalSteps) await save();
        if (this.stopRequested && run.step < totalSteps) {
          await save();
          progress.log(
            `stopped at step ${run.step}; checkpoint saved to ${run.lastCheckpoint} (continue with --resume_from_checkpoint true)`,
          );
          interrupted = true;
          break;
        }
      }
    } finally {
      progress.finish();
    }
    return this.finish(run, {
      interrupted,
      stepLosses,
      finalEvalLoss,
      seconds: (Date.now() - started) / 1000,
      startTokens,
      totalSteps,
      method: trainable.method,
      trainableReport: trainable.trainableReport,
    });
  }

  /** Step 6: the final eval (when none ran yet) and artefacts of a finished run, the summary line and result. */
  private async finish(
    run: RunState,
    r: {
      interrupted: boolean;
      stepLosses: number[];
      finalEvalLoss: number | null;
      seconds: number;
      startTokens: number;
      totalSteps: number;
      method: string;
      trainableReport: string;
    },
  ): Promise<TrainResult> {
    const outDir = this.config.output_dir;
    const finalTrainLoss = r.stepLosses.at(-1) ?? null;
    let finalEvalLoss = r.finalEvalLoss;
    if (!r.interrupted) {
      if (this.evalExamples.length > 0 && finalEvalLoss === null) finalEvalLoss = await this.evaluate();
      await this.saveArtefacts(outDir, {
        method: r.method,
        trainableReport: r.trainableReport,
        finalTrainLoss,
        finalEvalLoss,
        steps: run.step,
        seconds: r.seconds,
        tokens: run.tokensSeen,
        totalSteps: r.totalSteps,
        logHistory: run.logHistory,
      });
    }
    const tokens = run.tokensSeen - r.startTokens;
    const summary: RunSummary = {
      seconds: r.seconds,
      steps: run.step,
      tokens,
      tokensPerSecond: tokens / Math.max(r.seconds, 1e-9),
      peakRssBytes: peakRssBytes(),
      finalTrainLoss,
      finalEvalLoss,
    };
    this.log(formatSummary(summary));
    return {
      steps: run.step,
      stepLosses: r.stepLosses,
      finalTrainLoss,
      finalEvalLoss,
      summary,
      interrupted: r.interrupted,
      outputDir: outDir,
      trainedTokenRows: this.tokenRows?.ids ?? [],
    };
  }

  private async saveArtefacts(
    outDir: string,
    i: Omit<ModelCardInfo, 'config' | 'tokenRows'> & { totalSteps: number; logHistory: LogEntry[] },
  ): Promise<void> {
    const c = this.config;
    const model = this.model!;
    if (c.full_finetune) await saveFullModel(model, outDir, this.modelDir);
    else {
      await saveLoraAdapter(model, outDir, { baseModel: c.model ?? this.modelDir });
      if (this.modelDir) copyTokenizerFiles(this.modelDir, outDir);
    }
    writeFileAtomicSync(
      join(outDir, 'trainer_state.json'),
      JSON.stringify(
        trainerState(c, i.steps, i.logHistory.at(-1)?.epoch ?? 0, i.totalSteps, i.logHistory, this.tokenRows),
        null,
        2,
      ) + '\n',
    );
    writeFileAtomicSync(join(outDir, 'training_args.json'), JSON.stringify(configToJSON(c), null, 2) + '\n');
    const tok = this.tokenizer!;
    writeFileAtomicSync(
      join(outDir, 'README.md'),
      modelCard({
        config: c,
        method: i.method,
        trainableReport: i.trainableReport,
        finalTrainLoss: i.finalTrainLoss,
        finalEvalLoss: i.finalEvalLoss,
        steps: i.steps,
        seconds: i.seconds,
        tokens: i.tokens,
        tokenRows: (this.tokenRows?.ids ?? []).map((id) => ({ id, token: tok.idToToken(id) ?? `#${id}` })),
      }),
    );
    const metricsPath = join(outDir, 'metrics.jsonl');
    if (existsSync(metricsPath))
      writeFileAtomicSync(join(outDir, 'loss.svg'), lossCurveSvg(readMetrics(metricsPath), `${c.output_dir}: loss`));
  }
}

/** Keys set to undefined mean "not given" (the defaults apply). */
function withoutUndefined(args: SFTConfigInput): SFTConfigInput {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) if (v !== undefined) out[k] = v;
  return out as SFTConfigInput;
}

/** Read back a run's metrics (for tests and tools). */
export function readRunMetrics(outputDir: string): MetricsRecord[] {
  const p = join(outputDir, 'metrics.jsonl');
  return existsSync(p) ? readMetrics(p) : [];
}

export function readTrainerState(outputDir: string): TrainerState {
  return JSON.parse(readFileSync(join(outputDir, 'trainer_state.json'), 'utf8')) as TrainerState;
}
