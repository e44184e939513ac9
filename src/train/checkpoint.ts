// checkpoint-N/ folders (a stable contract): everything needed to continue a run exactly where it stopped.
//   trainable.safetensors   every trainable tensor by name (PEFT key names for LoRA), F32; for full fine-tuning
//                           it is model.safetensors (HF names) + config.json + tokenizer: a loadable HF folder
//   optimizer.safetensors   AdamW exp_avg.<name> / exp_avg_sq.<name>, F32; per-parameter step counts in metadata
//   scheduler.json          schedule type, peak lr, total and warmup steps, next step
//   rng_state.json          seed and counters (all randomness is a pure function of them) + data-order position
//   trainer_state.json      transformers-style state: global_step, epoch, log_history, ...
//   training_args.json      the effective SFTConfig
//   (+ whatever the artefact writer adds: adapter_model.safetensors + adapter_config.json for LoRA)
// Written into a temporary sibling folder, fsynced and renamed into place, so a crash never leaves half a
// checkpoint under its real name; what a killed write leaves (`.checkpoint-N.tmp-*`) is removed by
// cleanCheckpointTemps(). A checkpoint whose weights or optimizer state hold Inf/NaN is never written, and
// resume_from_checkpoint: true takes the newest checkpoint that is complete and finite (docs/crash-safety.md).
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { atomicDir, cleanStaleTemps, fsyncDirSync, tempSiblingPath } from '../io/atomic.js';
import { describeNonFinite, firstNonFinite } from '../io/finite.js';
import { SafetensorsFile, writeSafetensors, type StWriteTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { oneLine, readJsonFile } from '../util/json.js';

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

/** The files every checkpoint has (plus PARAMS_FILE or FULL_PARAMS_FILE). */
export const CHECKPOINT_FILES = [
  'optimizer.safetensors',
  'scheduler.json',
  'rng_state.json',
  'trainer_state.json',
  'training_args.json',
];

/** checkpoint-N folders in output_dir, sorted by N (complete or not: see checkpointProblem). */
export function listCheckpoints(outputDir: string): { step: number; path: string }[] {
  if (!existsSync(outputDir) || !statSync(outputDir).isDirectory()) return [];
  return readdirSync(outputDir)
    .map((name) => ({ name, m: /^checkpoint-(\d+)$/.exec(name) }))
    .filter((e) => e.m !== null && statSync(join(outputDir, e.name)).isDirectory())
    .map((e) => ({ step: Number(e.m![1]), path: join(outputDir, e.name) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Why `dir` cannot be resumed from, or null when it is a complete checkpoint: a missing file, an unreadable
 * JSON or safetensors file, or (with `checkFinite`) a tensor holding Inf/NaN.
 */
export function checkpointProblem(dir: string, opts: { checkFinite?: boolean } = {}): string | null {
  const paramsName = existsSync(join(dir, PARAMS_FILE)) ? PARAMS_FILE : FULL_PARAMS_FILE;
  for (const f of [...CHECKPOINT_FILES, paramsName]) {
    if (!existsSync(join(dir, f))) return `${f} is missing`;
  }
  for (const f of CHECKPOINT_FILES.filter((n) => n.endsWith('.json'))) {
    try {
      const v: unknown = readJsonFile(join(dir, f));
      if (typeof v !== 'object' || v === null) return `${f} is not a JSON object`;
    } catch (e) {
      return (e as Error).message;
    }
  }
  for (const f of [paramsName, 'optimizer.safetensors']) {
    let st: SafetensorsFile;
    try {
      st = SafetensorsFile.open(join(dir, f));
    } catch (e) {
      return (e as Error).message;
    }
    try {
      if (opts.checkFinite) {
        for (const [name, info] of st.tensors) {
          if (info.dtype !== 'F32') continue;
          const a = st.readF32(name);
          const i = firstNonFinite(a);
          if (i >= 0)
            return `${f}: tensor '${name}' holds a non-finite value (${describeNonFinite(a[i]!)}) at index ${i}`;
        }
      }
    } finally {
      st.close();
    }
  }
  return null;
}

/**
 * The newest checkpoint in output_dir that is complete and finite, or null. Checkpoints skipped on the way
 * are reported through `log` with the reason.
 */
export function latestCheckpoint(outputDir: string, log: (line: string) => void = () => {}): string | null {
  const all = listCheckpoints(outputDir);
  for (let i = all.length - 1; i >= 0; i--) {
    const problem = checkpointProblem(all[i]!.path, { checkFinite: true });
    if (problem === null) return all[i]!.path;
    log(`resume_from_checkpoint: skipping ${all[i]!.path}: ${problem}`);
  }
  return null;
}

/**
 * Remove what killed checkpoint writes left in output_dir (`.checkpoint-N.tmp-*` folders, temporary files of
 * the final save); a checkpoint set aside during a swap whose replacement never arrived is put back.
 */
export function cleanCheckpointTemps(outputDir: string, log: (line: string) => void): void {
  const { removed, restored } = cleanStaleTemps(outputDir);
  for (const p of removed) log(`removed ${basename(p)}: left by an interrupted write (not a complete checkpoint)`);
  for (const p of restored) log(`restored ${p} from an interrupted swap`);
}

/** Remove a checkpoint folder: renamed to a temporary name first, so a kill midway never leaves half of one. */
function removeCheckpoint(path: string): void {
  const doomed = tempSiblingPath(path);
  renameSync(path, doomed);
  fsyncDirSync(join(path, '..'));
  rmSync(doomed, { recursive: true, force: true });
}

/** Remove the oldest checkpoints so at most `limit` remain (transformers' save_total_limit). */
export function pruneCheckpoints(outputDir: string, limit: number | null): string[] {
  if (limit === null) return [];
  const all = listCheckpoints(outputDir);
  const removed: string[] = [];
  for (const c of all.slice(0, Math.max(0, all.length - limit))) {
    removeCheckpoint(c.path);
    removed.push(c.path);
  }
  return removed;
}

/**
 * Refuse to write a checkpoint holding Inf/NaN (it would be taken for a good one): throws naming the tensor.
 */
export function assertFiniteCheckpoint(c: CheckpointContents): void {
  c.params.forEach((p, k) => {
    for (const [what, arr] of [
      ['weights', p.data],
      ['AdamW exp_avg', c.optimizer.m[k]],
      ['AdamW exp_avg_sq', c.optimizer.v[k]],
    ] as const) {
      if (!arr) continue;
      const i = firstNonFinite(arr);
      if (i >= 0)
        throw new UserError(
          `step ${c.step}: ${what} of ${p.name} hold a non-finite value (${arr[i]}) at index ${i}; the checkpoint was not saved`,
        );
    }
  });
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
  assertFiniteCheckpoint(c);
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
  const v = readJsonFile(path, 'checkpoint state file');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${path}: must be a JSON object`);
  return v as T;
}

/** Check that `obj[key]` is a non-negative integer (or a finite number with `real`), naming file and field. */
function field(path: string, obj: object, key: string, kind: 'count' | 'number' | 'string', optional = false): void {
  const v = (obj as Record<string, unknown>)[key];
  if (v === undefined && optional) return;
  const ok =
    kind === 'count'
      ? typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
      : kind === 'number'
        ? typeof v === 'number' && Number.isFinite(v)
        : typeof v === 'string';
  if (!ok)
    throw new UserError(
      `${path}: field "${key}" must be ${kind === 'count' ? 'a non-negative integer' : kind === 'number' ? 'a finite number' : 'a string'}, got ${JSON.stringify(v) ?? 'nothing'}`,
    );
}

function validateState(dir: string, s: SchedulerState, r: RngState, t: TrainerState): void {
  const sp = join(dir, 'scheduler.json');
  field(sp, s, 'type', 'string');
  field(sp, s, 'peak_lr', 'number');
  for (const k of ['total_steps', 'warmup_steps', 'next_step']) field(sp, s, k, 'count');
  const rp = join(dir, 'rng_state.json');
  field(rp, r, 'seed', 'number');
  for (const k of ['micro_step', 'epoch', 'batch_in_epoch', 'tokens_seen']) field(rp, r, k, 'count');
  field(rp, r, 'trained_tokens_seen', 'count', true);
  const tp = join(dir, 'trainer_state.json');
  field(tp, t, 'global_step', 'count');
  if (!Array.isArray(t.log_history))
    throw new UserError(
      `${tp}: field "log_history" must be an array, got ${JSON.stringify(t.log_history) ?? 'nothing'}`,
    );
  t.log_history.forEach((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      throw new UserError(`${tp}: log_history[${i}] must be an object`);
    field(tp, e, 'step', 'count');
  });
}

/** Read a checkpoint folder back; `expectedNames` (the trainable tensors of this run) must match exactly. */
export function loadCheckpoint(dir: string, expected: { name: string; numel: number }[]): CheckpointContents {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UserError(`resume_from_checkpoint: ${dir} is not a folder`);
  const trainerState = readJson<TrainerState>(join(dir, 'trainer_state.json'));
  const scheduler = readJson<SchedulerState>(join(dir, 'scheduler.json'));
  const rng = readJson<RngState>(join(dir, 'rng_state.json'));
  const config = readJson<unknown>(join(dir, 'training_args.json'));
  validateState(dir, scheduler, rng, trainerState);
  const problem = checkpointProblem(dir, { checkFinite: true });
  if (problem !== null) throw new UserError(`resume_from_checkpoint: cannot resume from ${dir}: ${problem}`);
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
            ? `; missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`
            : '') +
          (unexpected.length
            ? `; unexpected: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''}`
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
      for (const [key, out] of [
        [`exp_avg.${e.name}`, m],
        [`exp_avg_sq.${e.name}`, v],
      ] as const) {
        const a = optFile.readF32(key);
        if (a.length !== e.numel)
          throw new UserError(`${optFile.path}: tensor ${key} has ${a.length} elements, this run's has ${e.numel}`);
        out.push(a);
      }
    }
    const meta = (key: string): unknown[] => {
      try {
        const v: unknown = JSON.parse(optFile.metadata[key] ?? '[]');
        if (!Array.isArray(v)) throw new Error('not an array');
        return v;
      } catch (err) {
        throw new UserError(
          `${optFile.path}: __metadata__.${key} must be a JSON array (${oneLine((err as Error).message)})`,
        );
      }
    };
    const savedNames = meta('params');
    const savedSteps = meta('steps');
    const steps = expected.map((e) => {
      const s = savedSteps[savedNames.indexOf(e.name)] ?? trainerState.global_step;
      if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0)
        throw new UserError(`${optFile.path}: __metadata__.steps holds ${JSON.stringify(s)} for ${e.name}`);
      return s;
    });
    return { step: trainerState.global_step, params, optimizer: { steps, m, v }, scheduler, rng, trainerState, config };
  } finally {
    paramsFile.close();
    optFile.close();
  }
}
