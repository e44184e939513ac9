// checkpoint-N/ folders (a stable contract): everything needed to continue a run exactly where it stopped.
//   trainable.safetensors   every trainable tensor by name (PEFT key names for LoRA), F32; for full fine-tuning
//                           it is model.safetensors (HF names) + config.json + tokenizer: a loadable HF folder
//   optimizer.safetensors   AdamW exp_avg.<name> / exp_avg_sq.<name>, F32; per-parameter step counts in metadata
//   scheduler.json          schedule type, peak lr, total and warmup steps, next step
//   rng_state.json          seed and counters (all randomness is a pure function of them) + data-order position
//   trainer_state.json      transformers-style state: global_step, epoch, log_history, ...
//   training_args.json      the effective SFTConfig
//   (+ whatever the artefact writer adds: adapter_model.safetensors + adapter_config.json for LoRA)
// Written into a temporary sibling folder and renamed into place, so a crash never leaves half a checkpoint.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicDir } from '../io/atomic.js';
import { SafetensorsFile, writeSafetensors, type StWriteTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SchedulerState {
  type: string;
  peak_lr: number;
  total_steps: number;
  warmup_steps: number;
  /** The 0-based step the next update will use. */
  next_step: number;
}

export interface RngState {
  seed: number;
  /** Micro-batches run so far (dropout and NEFTune seeds derive from it). */
  micro_step: number;
  /** Data order: the epoch being read and how many of its micro-batches are consumed. */
  epoch: number;
  batch_in_epoch: number;
  /** Input tokens (padding excluded) and trained tokens seen so far (counters continue from here). */
  tokens_seen: number;
  trained_tokens_seen?: number;
}

export interface LogEntry {
  step: number;
  epoch: number;
  loss?: number;
  grad_norm?: number;
  learning_rate?: number;
  eval_loss?: number;
  [k: string]: unknown;
}

/** transformers' trainer_state.json fields that matter to readers, plus our own. */
export interface TrainerState {
  global_step: number;
  epoch: number;
  max_steps: number;
  num_train_epochs: number;
  logging_steps: number;
  eval_steps: number | null;
  save_steps: number;
  train_batch_size: number;
  log_history: LogEntry[];
  best_metric: number | null;
  best_model_checkpoint: string | null;
  is_world_process_zero: boolean;
  total_flos: number;
}

export interface CheckpointContents {
  step: number;
  params: NamedArray[];
  optimizer: { steps: number[]; m: Float32Array[]; v: Float32Array[] };
  scheduler: SchedulerState;
  rng: RngState;
  trainerState: TrainerState;
  config: unknown;
}

export const CHECKPOINT_PREFIX = 'checkpoint-';
export const PARAMS_FILE = 'trainable.safetensors';
/** Full fine-tuning checkpoints store the weights as an HF folder would. */
export const FULL_PARAMS_FILE = 'model.safetensors';

export function checkpointDir(outputDir: string, step: number): string {
  return join(outputDir, `${CHECKPOINT_PREFIX}${step}`);
}

/** checkpoint-N folders in output_dir, sorted by N. */
export function listCheckpoints(outputDir: string): { step: number; path: string }[] {
  if (!existsSync(outputDir)) return [];
  return readdirSync(outputDir)
    .map((name) => ({ name, m: /^checkpoint-(\d+)$/.exec(name) }))
    .filter(
      (e) =>
        e.m !== null &&
        statSync(join(outputDir, e.name)).isDirectory() &&
        existsSync(join(outputDir, e.name, 'trainer_state.json')),
    )
    .map((e) => ({ step: Number(e.m![1]), path: join(outputDir, e.name) }))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(outputDir: string): string | null {
  const all = listCheckpoints(outputDir);
  return all.length > 0 ? all[all.length - 1]!.path : null;
}

/** Remove the oldest checkpoints so at most `limit` remain (transformers' save_total_limit). */
export function pruneCheckpoints(outputDir: string, limit: number | null): string[] {
  if (limit === null) return [];
  const all = listCheckpoints(outputDir);
  const removed: string[] = [];
  for (const c of all.slice(0, Math.max(0, all.length - limit))) {
    rmSync(c.path, { recursive: true, force: true });
    removed.push(c.path);
  }
  return removed;
}

function f32(name: string, shape: number[], data: Float32Array): StWriteTensor {
  return { name, dtype: 'F32', shape, data };
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/**
 * Write checkpoint-<step>/ atomically. `extra` may add files (e.g. the PEFT adapter) into the temporary folder.
 */
export async function saveCheckpoint(
  outputDir: string,
  c: CheckpointContents,
  extra?: (dir: string) => Promise<void>,
  paramsFile = PARAMS_FILE,
): Promise<string> {
  const dir = checkpointDir(outputDir, c.step);
  const names = c.params.map((p) => p.name);
  await atomicDir(dir, async (tmp) => {
    await writeSafetensors(
      join(tmp, paramsFile),
      c.params.map((p) => f32(p.name, p.shape, p.data)),
      { format: 'pt' },
    );
    const opt: StWriteTensor[] = [];
    c.params.forEach((p, i) => {
      opt.push(f32(`exp_avg.${p.name}`, p.shape, c.optimizer.m[i]!));
      opt.push(f32(`exp_avg_sq.${p.name}`, p.shape, c.optimizer.v[i]!));
    });
    await writeSafetensors(join(tmp, 'optimizer.safetensors'), opt, {
      steps: JSON.stringify(c.optimizer.steps),
      params: JSON.stringify(names),
    });
    await writeFile(join(tmp, 'scheduler.json'), json(c.scheduler));
    await writeFile(join(tmp, 'rng_state.json'), json(c.rng));
    await writeFile(join(tmp, 'trainer_state.json'), json(c.trainerState));
    await writeFile(join(tmp, 'training_args.json'), json(c.config));
    if (extra) await extra(tmp);
  });
  return dir;
}

function readJson<T>(path: string): T {
  if (!existsSync(path)) throw new UserError(`${path}: missing (not a complete sftkit checkpoint)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`${path}: cannot parse: ${(e as Error).message}`);
  }
}

/** Read a checkpoint folder back; `expectedNames` (the trainable tensors of this run) must match exactly. */
export function loadCheckpoint(dir: string, expected: { name: string; numel: number }[]): CheckpointContents {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UserError(`resume_from_checkpoint: ${dir} is not a folder`);
  const trainerState = readJson<TrainerState>(join(dir, 'trainer_state.json'));
  const scheduler = readJson<SchedulerState>(join(dir, 'scheduler.json'));
  const rng = readJson<RngState>(join(dir, 'rng_state.json'));
  const config = readJson<unknown>(join(dir, 'training_args.json'));
  const paramsFile = SafetensorsFile.open(
    join(dir, existsSync(join(dir, PARAMS_FILE)) ? PARAMS_FILE : FULL_PARAMS_FILE),
  );
  const optFile = SafetensorsFile.open(join(dir, 'optimizer.safetensors'));
  try {
    const have = [...paramsFile.tensors.keys()].sort();
    const want = expected.map((e) => e.name).sort();
    const missing = want.filter((n) => !paramsFile.tensors.has(n));
    const unexpected = have.filter((n) => !want.includes(n));
    if (missing.length > 0 || unexpected.length > 0) {
      throw new UserError(
        `${dir}: the checkpoint's trainable tensors do not match this run's (a different model, LoRA config or method?)` +
          (missing.length
            ? `\n  missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`
            : '') +
          (unexpected.length
            ? `\n  unexpected: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''}`
            : ''),
      );
    }
    const params: NamedArray[] = [];
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (const e of expected) {
      const info = paramsFile.tensors.get(e.name)!;
      const data = paramsFile.readF32(e.name);
      if (data.length !== e.numel)
        throw new UserError(`${dir}: tensor ${e.name} has ${data.length} elements, this run's has ${e.numel}`);
      params.push({ name: e.name, shape: info.shape, data });
      m.push(optFile.readF32(`exp_avg.${e.name}`));
      v.push(optFile.readF32(`exp_avg_sq.${e.name}`));
    }
    const savedNames = JSON.parse(optFile.metadata.params ?? '[]') as string[];
    const savedSteps = JSON.parse(optFile.metadata.steps ?? '[]') as number[];
    const steps = expected.map((e) => savedSteps[savedNames.indexOf(e.name)] ?? trainerState.global_step);
    return { step: trainerState.global_step, params, optimizer: { steps, m, v }, scheduler, rng, trainerState, config };
  } finally {
    paramsFile.close();
    optFile.close();
  }
}
