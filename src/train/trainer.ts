// SFTTrainer: the training loop. Batches from the data pipeline; gradient accumulation normalised by the
// trained tokens of the whole accumulated batch (count first, then each micro-batch's loss is Σ CE / total,
// so the step's gradient is that of the mean over all its tokens, as transformers now does); clipping;
// AdamW; the schedule; NEFTune; eval; checkpoints with exact resume; metrics, progress and artefacts.
//
//   const trainer = new SFTTrainer({ model: 'path/to/hf-model', args: { output_dir: 'out', learning_rate: 1e-4 },
//                                    trainDataset: 'data.jsonl', peftConfig: { r: 16, target_modules: ['all-linear'] } });
//   const result = await trainer.train();
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdamW, add, clipGradNorm, getBackend, Tensor } from '../engine/index.js';
import { planBatches, collate, type Batch } from '../data/batches.js';
import type { PreparedExample } from '../data/types.js';
import { LlamaModel } from '../model/llama.js';
import { quantizedBaseReport, quantizeOptionsOf } from '../quant/index.js';
import type { LoraConfig as ModelLoraConfig } from '../model/lora.js';
import { formatTrainableParameters } from '../model/params.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';
import { ensureOutputDir, writeFileAtomicSync } from '../io/atomic.js';
import { copyTokenizerFiles, modelCard, saveFullModel, saveLoraAdapter } from './artefacts.js';
import {
  cleanCheckpointTemps,
  FULL_PARAMS_FILE,
  latestCheckpoint,
  loadCheckpoint,
  PARAMS_FILE,
  pruneCheckpoints,
  saveCheckpoint,
  type LogEntry,
  type TrainerState,
} from './checkpoint.js';
import { configToJSON, resolveConfig, type LoraConfig, type SFTConfig, type SFTConfigInput } from './config.js';
import { prepareDataset, type DatasetInput } from '../data/pipeline.js';
import { evalLossSum, trainStep } from './loss.js';
import { lossCurveSvg } from './loss-plot.js';
import { availableMemoryBytes, estimateTrainingMemory, formatEstimate } from './memory.js';
import {
  formatBytes,
  formatSummary,
  MetricsWriter,
  peakRssBytes,
  readMetrics,
  type MetricsRecord,
  type RunSummary,
} from './metrics.js';
import { ProgressBar } from './progress.js';
import { deriveSeed, Rng } from '../util/random.js';
import { LrSchedule } from './schedule.js';
import { findUntrainedRows, specialLabelTokens } from './token-rows.js';
import { TokenRowsAdapter } from '../model/token-rows.js';

export interface SFTTrainerOptions {
  /** An HF model folder, or a loaded model (then pass `tokenizer`, and `modelDir` to copy tokenizer files). */
  model?: string | LlamaModel;
  tokenizer?: Tokenizer;
  /** Where `model` was loaded from (tokenizer files, base_model_name_or_path) when `model` is an object. */
  modelDir?: string;
  /** TRL SFTConfig names (snake_case), validated like a YAML file; `peft` may hold LoraConfig fields. */
  args?: SFTConfigInput | SFTConfig;
  /** A path (.jsonl/.json/folder), records, or prepared examples; defaults to args.dataset. */
  trainDataset?: DatasetInput;
  evalDataset?: DatasetInput;
  /** PEFT LoraConfig fields (overrides args.peft); ignored with full_finetune. */
  peftConfig?: Partial<LoraConfig>;
  /** Log lines (default: stderr). */
  log?: (line: string) => void;
  /** No progress bar or log lines. */
  quiet?: boolean;
  /** Show the progress bar / progress lines (default true). */
  progress?: boolean;
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

interface EpochCursor {
  epoch: number;
  /** Micro-batches of this epoch already consumed. */
  index: number;
  plan: number[][][];
  seqs: number[];
}

/** PEFT's default targets for Llama-family models. */
const DEFAULT_TARGETS = ['q_proj', 'v_proj'];

export function toModelLoraConfig(p: LoraConfig): ModelLoraConfig {
  const t = p.target_modules;
  return {
    r: p.r,
    loraAlpha: p.lora_alpha,
    loraDropout: p.lora_dropout,
    targetModules: t === null ? DEFAULT_TARGETS : t.length === 1 && t[0] === 'all-linear' ? 'all-linear' : t,
    useRslora: p.use_rslora,
  };
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

  constructor(opts: SFTTrainerOptions) {
    this.opts = opts;
    const args = { ...(opts.args ?? {}) } as SFTConfigInput;
    if (typeof opts.model === 'string') args.model = opts.model;
    if (opts.peftConfig) args.peft = { ...(args.peft ?? {}), ...opts.peftConfig };
    if (typeof opts.trainDataset === 'string') args.dataset = opts.trainDataset;
    if (typeof opts.evalDataset === 'string') args.eval_dataset = opts.evalDataset;
    this.config = resolveConfig({ object: withoutUndefined(args) });
    this.log = opts.quiet ? () => {} : (opts.log ?? ((l) => process.stderr.write(l + '\n')));
  }

  /** Ask the loop to save a checkpoint and stop after the current step (what Ctrl-C does). */
  requestStop(): void {
    this.stopRequested = true;
  }

  /** Load model, tokenizer and data, and set up the method (LoRA / full / token rows). Idempotent. */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    const c = this.config;
    if (this.opts.model instanceof LlamaModel) {
      this.model = this.opts.model;
      this.modelDir = this.opts.modelDir ?? c.model;
      if (!this.opts.tokenizer && !this.modelDir)
        throw new UserError('SFTTrainer: pass `tokenizer` (or `modelDir`) with a loaded model');
    } else {
      if (!c.model) throw new UserError('model is not set (a Hugging Face model folder)');
      if (!existsSync(join(c.model, 'config.json')))
        throw new UserError(`model: ${c.model} is not a Hugging Face model folder (no config.json)`);
      this.modelDir = c.model;
    }
    this.tokenizer = this.opts.tokenizer ?? (await Tokenizer.fromDir(this.modelDir!));
    const trainInput = this.opts.trainDataset ?? c.dataset;
    if (!trainInput) throw new UserError('dataset is not set (a .jsonl/.json file or folder)');
    const data = await prepareDataset(this.tokenizer, {
      train: trainInput,
      eval: this.opts.evalDataset ?? c.eval_dataset,
      shuffle: false, // the batch planner shuffles, per epoch, from the seed
      textField: c.dataset_text_field,
      maxLength: c.max_length,
      lossKeys: { assistant_only_loss: c.assistant_only_loss, completion_only_loss: c.completion_only_loss },
      ...(c.eos_token ? { eosToken: c.eos_token } : {}),
      tokenizerDir: this.tokenizer.dir,
      outputDir: c.output_dir,
    });
    this.trainExamples = data.train;
    this.evalExamples = data.eval;
    this.log(data.summary.train + (data.fromCache ? ' (from the data cache)' : ''));
    for (const w of data.prepare?.warnings ?? []) this.log(`warning: ${w}`);
    if (data.summary.eval) this.log(data.summary.eval);
    if (c.eval_strategy !== 'no' && this.evalExamples.length === 0)
      throw new UserError(`eval_strategy is '${c.eval_strategy}' but no eval_dataset is set`);
    if (!this.model)
      this.model = LlamaModel.load(this.modelDir!, { dtype: c.bf16 ? 'bf16' : 'f32', quantize: quantizeOptionsOf(c) });
    const model = this.model;
    const quantReport = quantizedBaseReport(model.linears().map((m) => m.quantized));
    if (quantReport) this.log(quantReport);
    if (c.full_finetune && quantReport)
      throw new UserError(
        "full_finetune: the model's base weights are 4-bit quantized (QLoRA trains adapters only); load the full-precision model",
      );
    if (c.full_finetune) {
      model.enableFullFineTuning();
    } else if (!model.lora) {
      model.attachLora(toModelLoraConfig(c.peft), c.seed);
    }
    if (!c.full_finetune) this.setupTokenRows();
    // Per decoder block: activations are recomputed in backward (one block's at a time are held).
    model.gradientCheckpointing = c.gradient_checkpointing;
    this.prepared = true;
  }

  /** Find special tokens in the labels whose rows look untrained, and make those rows trainable. */
  private setupTokenRows(): void {
    const c = this.config;
    const model = this.model!;
    const tok = this.tokenizer!;
    const ids = new Set<number>(c.peft.trainable_token_indices ?? []);
    if (c.train_untrained_tokens) {
      const labelIds = new Set<number>();
      for (const ex of this.trainExamples) ex.inputIds.forEach((id, t) => ex.assistantMask[t] && labelIds.add(id));
      const candidates = specialLabelTokens(labelIds, tok.specialTokenIds);
      const D = model.config.hiddenSize;
      const V = model.config.vocabSize;
      const name = (id: number) => tok.idToToken(id) ?? `#${id}`;
      const tables = model.tied ? [model.embedTokens] : [model.embedTokens, model.lmHead];
      const found = new Map<number, string>();
      for (const t of tables) {
        for (const s of findUntrainedRows(t.toF32(), V, D, candidates, name))
          if (!found.has(s.id)) found.set(s.id, s.reason);
      }
      for (const [id, reason] of found) {
        this.log(
          `untrained token row: ${name(id)} (id ${id}) occurs in the labels but its embedding looks untrained: ${reason}; training this row alongside LoRA (set train_untrained_tokens: false to turn off)`,
        );
        ids.add(id);
      }
    }
    if (ids.size > 0)
      this.tokenRows = TokenRowsAdapter.attachTrainable(
        model,
        [...ids].sort((a, b) => a - b),
      );
  }

  private epochPlan(epoch: number): EpochCursor {
    const c = this.config;
    const plan = planBatches(this.trainExamples, {
      batchSize: c.per_device_train_batch_size,
      maxLength: c.max_length,
      packing: c.packing,
      seed: c.seed,
      epoch,
    });
    const seqs = plan.batches.map((rows) =>
      Math.max(...rows.map((r) => r.reduce((s, i) => s + this.trainExamples[i]!.inputIds.length, 0))),
    );
    return { epoch, index: 0, plan: plan.batches, seqs };
  }

  /** The prepared training examples (after prepare()). */
  trainingExamples(): readonly PreparedExample[] {
    return this.trainExamples;
  }

  /** Optimizer steps of the run: max_steps, else num_train_epochs x updates per epoch (after prepare()). */
  plannedTotalSteps(): number {
    const c = this.config;
    const batchesPerEpoch = this.epochPlan(0).plan.length;
    const updatesPerEpoch = Math.ceil(batchesPerEpoch / c.gradient_accumulation_steps);
    return c.max_steps > 0 ? c.max_steps : Math.max(1, Math.ceil(c.num_train_epochs * updatesPerEpoch));
  }

  /**
   * The micro-batches of every optimizer step of a fresh run, in the order train() consumes them: up to
   * gradient_accumulation_steps per step, fewer at the end of an epoch, the next epoch reshuffled.
   */
  *plannedSteps(): Generator<{ micro: Batch[]; epoch: number }> {
    const total = this.plannedTotalSteps();
    let cursor = this.epochPlan(0);
    for (let step = 0; step < total; step++) {
      if (cursor.index >= cursor.plan.length) cursor = this.epochPlan(cursor.epoch + 1);
      const micro = this.stepBatches(cursor);
      cursor.index += micro.length;
      yield { micro, epoch: cursor.epoch + cursor.index / Math.max(1, cursor.plan.length) };
    }
  }

  /** One optimizer step's micro-batches from the cursor: up to gradient_accumulation_steps of this epoch. */
  private stepBatches(cursor: EpochCursor): Batch[] {
    const count = Math.min(this.config.gradient_accumulation_steps, cursor.plan.length - cursor.index);
    const micro: Batch[] = [];
    for (let k = 0; k < count; k++) micro.push(this.batchAt(cursor, cursor.index + k));
    return micro;
  }

  /** The token id written into padding. */
  padId(): number {
    return this.tokenizer!.padTokenId ?? this.tokenizer!.eosTokenId ?? 0;
  }

  private batchAt(cur: EpochCursor, i: number): Batch {
    return collate(this.trainExamples, cur.plan[i]!, cur.seqs[i]!, this.padId());
  }

  /** Mean cross-entropy over every trained token of the eval set (dropout off, no noise). */
  async evaluate(): Promise<number | null> {
    await this.prepare();
    if (this.evalExamples.length === 0) return null;
    const c = this.config;
    const model = this.model!;
    const plan = planBatches(this.evalExamples, {
      batchSize: c.per_device_eval_batch_size,
      maxLength: c.max_length,
      packing: false,
      seed: 0,
    });
    let sum = 0;
    let count = 0;
    for (const rows of plan.batches) {
      const seq = Math.max(...rows.map((r) => this.evalExamples[r[0]!]!.inputIds.length));
      const b = collate(this.evalExamples, rows, seq, this.padId());
      const r = evalLossSum(model, b);
      sum += r.sum;
      count += r.targets;
    }
    return count > 0 ? sum / count : null;
  }

  async train(): Promise<TrainResult> {
    ensureOutputDir(this.config.output_dir, 'output_dir');
    await this.prepare();
    const c = this.config;
    const model = this.model!;
    const outDir = c.output_dir;
    cleanCheckpointTemps(outDir, this.log);

    // ---- parameters and optimizer
    const rowTables = new Set(this.tokenRows?.tables() ?? []);
    const named = [
      ...model.trainableParameters().filter((p) => !rowTables.has(p.tensor)),
      ...(this.tokenRows?.parameters() ?? []),
    ];
    for (const p of named) p.tensor.name = p.name;
    const params = named.map((p) => p.tensor);
    const noDecay = new Set(named.filter((p) => /norm\.weight$|\.bias$/.test(p.name)).map((p) => p.tensor));
    const optimizer = new AdamW(params, {
      lr: c.learning_rate,
      beta1: c.adam_beta1,
      beta2: c.adam_beta2,
      eps: c.adam_epsilon,
      weightDecay: c.weight_decay,
      noDecay: [...noDecay],
    });
    const method = c.full_finetune
      ? 'full fine-tuning'
      : `LoRA r=${c.peft.r} alpha=${c.peft.lora_alpha}${this.tokenRows ? ` + ${this.tokenRows.ids.length} token rows` : ''}`;
    // Counted here, not from requiresGrad: with token rows the whole embedding carries a gradient but only the
    // selected rows train (PEFT counts trainable_tokens_delta the same way).
    let allCount = 0;
    for (const p of model.allParameters()) allCount += p.tensor.numel;
    for (const m of model.linears()) allCount += m.quantized?.numel ?? 0; // 4-bit base weights (their `weight` is empty)
    const trainableReport = formatTrainableParameters({
      trainable: params.reduce((s, p) => s + p.numel, 0),
      all: allCount,
    });
    this.log(`${method}: ${trainableReport}`);

    // ---- schedule
    const totalSteps = this.plannedTotalSteps();
    const schedule = new LrSchedule(c.lr_scheduler_type, c.learning_rate, totalSteps, c.warmup_steps, c.warmup_ratio);

    // ---- memory guard
    const maxTokens =
      c.per_device_train_batch_size *
      Math.min(c.max_length, Math.max(...this.trainExamples.map((e) => e.inputIds.length)));
    const rowTableGrads = [...rowTables].reduce((s, t) => s + t.numel, 0);
    const estimate = estimateTrainingMemory(model.config, {
      allParams: allCount,
      trainableParams: params.reduce((s, p) => s + p.numel, 0) + rowTableGrads,
      weightBytesPerParam: c.bf16 && !c.full_finetune ? 2 : 4,
      tokensPerMicroBatch: maxTokens,
      gradientCheckpointing: c.gradient_checkpointing,
    });
    this.log(formatEstimate(estimate));
    const available = this.opts.memoryLimitBytes ?? availableMemoryBytes();
    if (estimate.total > available) {
      throw new UserError(
        `not enough memory: this config needs about ${formatBytes(estimate.total)} but ${formatBytes(available)} is available. ` +
          `Try ${c.full_finetune ? 'LoRA (full_finetune: false), ' : ''}a smaller per_device_train_batch_size (with gradient_accumulation_steps to keep the effective batch), a smaller max_length${c.bf16 ? '' : ', bf16: true'}${c.gradient_checkpointing ? '' : ', or gradient_checkpointing: true'}.`,
      );
    }

    // ---- state (fresh or resumed)
    let step = 0;
    let microStep = 0;
    let tokensSeen = 0;
    let trainedTokensSeen = 0;
    let cursor = this.epochPlan(0);
    const logHistory: LogEntry[] = [];
    let resumedFrom: string | null = null;
    if (c.resume_from_checkpoint !== null && c.resume_from_checkpoint !== false) {
      const dir =
        c.resume_from_checkpoint === true
          ? latestCheckpoint(outDir, this.log)
          : resolve(c.resume_from_checkpoint as string);
      if (!dir) {
        if (c.resume_from_checkpoint === true)
          this.log(`resume_from_checkpoint: no checkpoint in ${outDir}; starting from scratch`);
      } else {
        const ck = loadCheckpoint(
          dir,
          named.map((p) => ({ name: p.name, numel: p.tensor.numel })),
        );
        ck.params.forEach((p, i) => (named[i]!.tensor.data as Float32Array).set(p.data));
        this.tokenRows?.scatter();
        optimizer.loadState(ck.optimizer);
        step = ck.step;
        microStep = ck.rng.micro_step;
        tokensSeen = ck.rng.tokens_seen;
        trainedTokensSeen = ck.rng.trained_tokens_seen ?? 0;
        cursor = this.epochPlan(ck.rng.epoch);
        cursor.index = ck.rng.batch_in_epoch;
        logHistory.push(...ck.trainerState.log_history);
        if (ck.scheduler.total_steps !== totalSteps)
          this.log(
            `warning: the checkpoint planned ${ck.scheduler.total_steps} steps, this run ${totalSteps}; the schedule follows this run`,
          );
        resumedFrom = dir;
        this.log(`resumed from ${dir} at step ${step}`);
      }
    }
    const metrics = new MetricsWriter(join(outDir, 'metrics.jsonl'), resumedFrom ? { truncateAfterStep: step } : {});
    let lastCheckpoint: string | null = resumedFrom;

    // ---- hooks: NEFTune noise on the embedding output, and dropout seeds that are a function of microStep
    const origEmbed = model.embed.bind(model);
    const origCtx = model.forwardContext.bind(model);
    let current: { seq: number; rng: Rng; noiseRng: Rng; training: boolean } = {
      seq: 1,
      rng: new Rng(0),
      noiseRng: new Rng(0),
      training: false,
    };
    model.forwardContext = (training: boolean) => {
      const ctx = origCtx(training);
      current.training = training;
      return training ? { ...ctx, nextSeed: () => current.rng.nextU32() } : ctx;
    };
    const alpha = c.neftune_noise_alpha;
    if (alpha !== null && alpha > 0) {
      model.embed = (ids: Int32Array): Tensor => {
        const x = origEmbed(ids);
        if (!current.training) return x;
        const D = model.config.hiddenSize;
        const mag = alpha / Math.sqrt(current.seq * D);
        const noise = new Float32Array(ids.length * D);
        for (let i = 0; i < noise.length; i++) noise[i] = (current.noiseRng.next() * 2 - 1) * mag;
        return add(x, Tensor.from(noise, [ids.length, D], 'f32'));
      };
    }

    const progress = new ProgressBar({
      total: totalSteps,
      startStep: step,
      plainEvery: c.logging_steps,
      quiet: this.opts.quiet || this.opts.progress === false,
    });
    const onSigint = () => {
      if (this.stopRequested) process.exit(130);
      this.stopRequested = true;
      progress.log('interrupt: saving a checkpoint after this step (press Ctrl-C again to quit now)');
    };
    process.on('SIGINT', onSigint);

    const evalSteps = c.eval_steps ?? c.logging_steps;
    const started = Date.now();
    const startTokens = tokensSeen;
    const stepLosses: number[] = [];
    let logLossSum = 0;
    let logLossSteps = 0;
    let finalTrainLoss: number | null = null;
    let finalEvalLoss: number | null = null;
    let interrupted = false;
    const epochFloat = () => cursor.epoch + cursor.index / Math.max(1, cursor.plan.length);

    const save = async (): Promise<void> => {
      const state = this.trainerState(step, epochFloat(), totalSteps, logHistory);
      const optState = optimizer.state();
      const dir = await saveCheckpoint(
        outDir,
        {
          step,
          params: named.map((p) => ({ name: p.name, shape: [...p.tensor.shape], data: p.tensor.data as Float32Array })),
          optimizer: { steps: optState.steps, m: optState.m, v: optState.v },
          scheduler: {
            type: c.lr_scheduler_type,
            peak_lr: c.learning_rate,
            total_steps: totalSteps,
            warmup_steps: schedule.warmup,
            next_step: step,
          },
          rng: {
            seed: c.seed,
            micro_step: microStep,
            epoch: cursor.epoch,
            batch_in_epoch: cursor.index,
            tokens_seen: tokensSeen,
            trained_tokens_seen: trainedTokensSeen,
          },
          trainerState: state,
          config: configToJSON(c),
        },
        c.full_finetune
          ? async (tmp) => {
              writeFileSync(
                join(tmp, 'config.json'),
                JSON.stringify({ ...model.config.raw, torch_dtype: 'float32' }, null, 2) + '\n',
              );
              if (this.modelDir) copyTokenizerFiles(this.modelDir, tmp);
            }
          : async (tmp) => saveLoraAdapter(model, tmp, { baseModel: c.model }),
        c.full_finetune ? FULL_PARAMS_FILE : PARAMS_FILE,
      );
      lastCheckpoint = dir;
      for (const removed of pruneCheckpoints(outDir, c.save_total_limit))
        progress.log(`removed old checkpoint ${removed}`);
    };

    const runEval = async (): Promise<number | null> => {
      const loss = await this.evaluate();
      if (loss !== null) finalEvalLoss = loss;
      return loss;
    };

    try {
      while (step < totalSteps) {
        if (cursor.index >= cursor.plan.length) cursor = this.epochPlan(cursor.epoch + 1);
        const epochAtStart = cursor.epoch;
        // One optimizer step: up to gradient_accumulation_steps micro-batches of this epoch (fewer at its end).
        const micro = this.stepBatches(cursor);
        const count = micro.length;
        const total = micro.reduce((s, b) => s + b.numTrainedTokens, 0);
        let inputTokens = 0;
        for (let k = 0; k < count; k++)
          for (const row of cursor.plan[cursor.index + k]!)
            for (const i of row) inputTokens += this.trainExamples[i]!.inputIds.length;
        let stepLoss = 0;
        for (const b of micro) {
          current = {
            seq: b.seq,
            rng: new Rng(deriveSeed(c.seed, 0xd0, microStep)),
            noiseRng: new Rng(deriveSeed(c.seed, 0x4e, microStep)),
            training: true,
          };
          const r = trainStep(model, b, Math.max(1, total));
          stepLoss += r.loss;
          microStep++;
        }
        cursor.index += count;
        this.tokenRows?.gather();
        const gradNorm =
          c.max_grad_norm > 0
            ? clipGradNorm(params, c.max_grad_norm)
            : Math.sqrt(params.reduce((s, p) => s + (p.grad ? getBackend().sumSquares(p.grad) : 0), 0));
        if (!Number.isFinite(stepLoss) || !Number.isFinite(gradNorm)) {
          const what = !Number.isFinite(stepLoss) ? `loss is ${stepLoss}` : `gradient norm is ${gradNorm}`;
          throw new UserError(
            `step ${step + 1}: ${what}; stopped before updating the weights. ` +
              (lastCheckpoint
                ? `Last good checkpoint: ${lastCheckpoint} (resume with --resume_from_checkpoint ${lastCheckpoint} and a lower learning_rate)`
                : 'No checkpoint was saved yet; try a lower learning_rate or max_grad_norm.'),
          );
        }
        const lr = schedule.at(step);
        optimizer.step(lr);
        this.tokenRows?.scatter();
        optimizer.zeroGrad();
        model.zeroGrad();
        step++;
        tokensSeen += inputTokens;
        trainedTokensSeen += total;
        stepLosses.push(stepLoss);
        finalTrainLoss = stepLoss;
        logLossSum += stepLoss;
        logLossSteps++;

        const elapsed = (Date.now() - started) / 1000;
        const tps = (tokensSeen - startTokens) / Math.max(elapsed, 1e-9);
        progress.update({ step, loss: stepLoss, lr, tokensPerSecond: tps });
        const epochEnded = cursor.index >= cursor.plan.length;
        const record: MetricsRecord = { step, epoch: Number(epochFloat().toFixed(4)) };
        let logged = false;
        if (step % c.logging_steps === 0 || step === totalSteps) {
          const avg = logLossSum / logLossSteps;
          Object.assign(record, {
            loss: avg,
            grad_norm: gradNorm,
            lr,
            tokens: tokensSeen,
            trained_tokens: trainedTokensSeen,
            tokens_per_s: Math.round(tps),
          });
          logHistory.push({ step, epoch: record.epoch, loss: avg, grad_norm: gradNorm, learning_rate: lr });
          logLossSum = 0;
          logLossSteps = 0;
          logged = true;
        }
        const evalNow =
          this.evalExamples.length > 0 &&
          ((c.eval_strategy === 'steps' && step % evalSteps === 0) ||
            (c.eval_strategy === 'epoch' && epochEnded && cursor.epoch === epochAtStart));
        if (evalNow) {
          const ev = await runEval();
          if (ev !== null) {
            record.eval_loss = ev;
            logHistory.push({ step, epoch: record.epoch, eval_loss: ev });
            progress.log(`step ${step}: eval loss ${ev.toFixed(4)}`);
            logged = true;
          }
        }
        if (logged) {
          metrics.write(record);
          this.opts.onLog?.(record);
        }
        const saveNow =
          (c.save_strategy === 'steps' && step % c.save_steps === 0) || (c.save_strategy === 'epoch' && epochEnded);
        if (saveNow && step < totalSteps) await save();
        if (this.stopRequested && step < totalSteps) {
          await save();
          progress.log(
            `stopped at step ${step}; checkpoint saved to ${lastCheckpoint} (continue with --resume_from_checkpoint true)`,
          );
          interrupted = true;
          break;
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
      model.embed = origEmbed;
      model.forwardContext = origCtx;
      progress.finish();
    }

    const seconds = (Date.now() - started) / 1000;
    if (!interrupted) {
      if (this.evalExamples.length > 0 && finalEvalLoss === null) await runEval();
      await this.saveArtefacts(outDir, {
        method,
        trainableReport,
        finalTrainLoss,
        finalEvalLoss,
        steps: step,
        seconds,
        tokens: tokensSeen,
        totalSteps,
        logHistory,
      });
    }
    const summary: RunSummary = {
      seconds,
      steps: step,
      tokens: tokensSeen - startTokens,
      tokensPerSecond: (tokensSeen - startTokens) / Math.max(seconds, 1e-9),
      peakRssBytes: peakRssBytes(),
      finalTrainLoss,
      finalEvalLoss,
    };
    this.log(formatSummary(summary));
    return {
      steps: step,
      stepLosses,
      finalTrainLoss,
      finalEvalLoss,
      summary,
      interrupted,
      outputDir: outDir,
      trainedTokenRows: this.tokenRows?.ids ?? [],
    };
  }

  private trainerState(
    step: number,
    epoch: number,
    totalSteps: number,
    logHistory: LogEntry[],
  ): TrainerState & { trainable_token_indices: number[] } {
    const c = this.config;
    return {
      global_step: step,
      epoch,
      max_steps: totalSteps,
      num_train_epochs: c.num_train_epochs,
      logging_steps: c.logging_steps,
      eval_steps: c.eval_steps,
      save_steps: c.save_steps,
      train_batch_size: c.per_device_train_batch_size,
      log_history: [...logHistory],
      best_metric: null,
      best_model_checkpoint: null,
      is_world_process_zero: true,
      total_flos: 0,
      trainable_token_indices: this.tokenRows?.ids ?? [],
    };
  }

  private async saveArtefacts(
    outDir: string,
    i: {
      method: string;
      trainableReport: string;
      finalTrainLoss: number | null;
      finalEvalLoss: number | null;
      steps: number;
      seconds: number;
      tokens: number;
      totalSteps: number;
      logHistory: LogEntry[];
    },
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
      JSON.stringify(this.trainerState(i.steps, i.logHistory.at(-1)?.epoch ?? 0, i.totalSteps, i.logHistory), null, 2) +
        '\n',
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
