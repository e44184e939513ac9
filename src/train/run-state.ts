// The counters of a run (steps, micro-steps, tokens, data position, log history): fresh, restored from a
// checkpoint-N/ folder, and written into one. All randomness derives from these counters and the seed.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PreparedExample } from '../data/types.js';
import type { LlamaModel } from '../model/llama.js';
import type { TokenRowsAdapter } from '../model/token-rows.js';
import { copyTokenizerFiles, saveLoraAdapter } from './artefacts.js';
import {
  FULL_PARAMS_FILE,
  latestCheckpoint,
  loadCheckpoint,
  PARAMS_FILE,
  saveCheckpoint,
  type LogEntry,
  type TrainerState,
} from './checkpoint.js';
import { configToJSON, type SFTConfig } from './config.js';
import { epochProgress, planEpoch, type EpochCursor } from './epochs.js';
import type { TrainableSet } from './parameters.js';

export interface RunState {
  /** Optimizer steps done. */
  step: number;
  /** Micro-batches run (dropout and NEFTune seeds derive from it). */
  microStep: number;
  tokensSeen: number;
  trainedTokensSeen: number;
  cursor: EpochCursor;
  logHistory: LogEntry[];
  /** The checkpoint this run resumed from, then the newest one it wrote. */
  lastCheckpoint: string | null;
}

/** Step 4 of a run: start from scratch, or restore weights, optimizer and counters from resume_from_checkpoint. */
export function startOrResume(
  c: SFTConfig,
  examples: PreparedExample[],
  trainable: TrainableSet,
  tokenRows: TokenRowsAdapter | null,
  totalSteps: number,
  log: (line: string) => void,
): RunState {
  const state: RunState = {
    step: 0,
    microStep: 0,
    tokensSeen: 0,
    trainedTokensSeen: 0,
    cursor: planEpoch(examples, c, 0),
    logHistory: [],
    lastCheckpoint: null,
  };
  const from = c.resume_from_checkpoint;
  if (from === null || from === false) return state;
  const dir = from === true ? latestCheckpoint(c.output_dir, log) : resolve(from);
  if (!dir) {
    if (from === true) log(`resume_from_checkpoint: no checkpoint in ${c.output_dir}; starting from scratch`);
    return state;
  }
  const { named, optimizer } = trainable;
  const ck = loadCheckpoint(
    dir,
    named.map((p) => ({ name: p.name, numel: p.tensor.numel })),
  );
  ck.params.forEach((p, i) => (named[i]!.tensor.data as Float32Array).set(p.data));
  tokenRows?.scatter();
  optimizer.loadState(ck.optimizer);
  state.step = ck.step;
  state.microStep = ck.rng.micro_step;
  state.tokensSeen = ck.rng.tokens_seen;
  state.trainedTokensSeen = ck.rng.trained_tokens_seen ?? 0;
  state.cursor = planEpoch(examples, c, ck.rng.epoch);
  state.cursor.index = ck.rng.batch_in_epoch;
  state.logHistory.push(...ck.trainerState.log_history);
  if (ck.scheduler.total_steps !== totalSteps)
    log(
      `warning: the checkpoint planned ${ck.scheduler.total_steps} steps, this run ${totalSteps}; the schedule follows this run`,
    );
  state.lastCheckpoint = dir;
  log(`resumed from ${dir} at step ${state.step}`);
  return state;
}

/** transformers' trainer_state.json for this run at `step`. */
export function trainerState(
  c: SFTConfig,
  step: number,
  epoch: number,
  totalSteps: number,
  logHistory: LogEntry[],
  tokenRows: TokenRowsAdapter | null,
): TrainerState & { trainable_token_indices: number[] } {
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
    trainable_token_indices: tokenRows?.ids ?? [],
  };
}

/** Write checkpoint-<step>/ (weights, optimizer, schedule, counters, adapter or HF folder); returns its path. */
export async function writeRunCheckpoint(
  c: SFTConfig,
  run: RunState,
  r: {
    model: LlamaModel;
    modelDir: string | null;
    trainable: TrainableSet;
    tokenRows: TokenRowsAdapter | null;
    totalSteps: number;
    warmupSteps: number;
  },
): Promise<string> {
  const { model, modelDir } = r;
  const optState = r.trainable.optimizer.state();
  return saveCheckpoint(
    c.output_dir,
    {
      step: run.step,
      params: r.trainable.named.map((p) => ({
        name: p.name,
        shape: [...p.tensor.shape],
        data: p.tensor.data as Float32Array,
      })),
      optimizer: { steps: optState.steps, m: optState.m, v: optState.v },
      scheduler: {
        type: c.lr_scheduler_type,
        peak_lr: c.learning_rate,
        total_steps: r.totalSteps,
        warmup_steps: r.warmupSteps,
        next_step: run.step,
      },
      rng: {
        seed: c.seed,
        micro_step: run.microStep,
        epoch: run.cursor.epoch,
        batch_in_epoch: run.cursor.index,
        tokens_seen: run.tokensSeen,
        trained_tokens_seen: run.trainedTokensSeen,
      },
      trainerState: trainerState(c, run.step, epochProgress(run.cursor), r.totalSteps, run.logHistory, r.tokenRows),
      config: configToJSON(c),
    },
    c.full_finetune
      ? async (tmp) => {
          writeFileSync(
            join(tmp, 'config.json'),
            JSON.stringify({ ...model.config.raw, torch_dtype: 'float32' }, null, 2) + '\n',
          );
          if (modelDir) copyTokenizerFiles(modelDir, tmp);
        }
      : async (tmp) => saveLoraAdapter(model, tmp, { baseModel: c.model }),
    c.full_finetune ? FULL_PARAMS_FILE : PARAMS_FILE,
  );
}
