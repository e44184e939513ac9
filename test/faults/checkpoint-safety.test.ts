// What a kill -9 leaves behind is recognised: partial checkpoints are never chosen for resume, leftover
// temporaries are removed (or a set-aside checkpoint restored), non-finite checkpoints are neither written nor
// recommended, and a metrics line cut short by a kill is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkpointProblem,
  cleanCheckpointTemps,
  latestCheckpoint,
  saveCheckpoint,
  type CheckpointContents,
} from '../../src/train/checkpoint.js';
import { readMetrics } from '../../src/train/metrics.js';
import { UserError } from '../../src/util/errors.js';
import { tempDir } from '../train/helpers.js';

/** A pid that is not running (the largest pid Linux hands out is below 2^22). */
const DEAD_PID = 4_194_000;

function contents(step: number, value = 0.5): CheckpointContents {
  const data = new Float32Array([value, 1, 2, 3]);
  return {
    step,
    params: [{ name: 'w', shape: [4], data }],
    optimizer: { steps: [step], m: [new Float32Array(4)], v: [new Float32Array(4)] },
    scheduler: { type: 'linear', peak_lr: 1e-3, total_steps: 10, warmup_steps: 0, next_step: step },
    rng: { seed: 1, micro_step: step, epoch: 0, batch_in_epoch: step, tokens_seen: 0 },
    trainerState: {
      global_step: step,
      epoch: 0,
      max_steps: 10,
      num_train_epochs: 1,
      logging_steps: 1,
      eval_steps: null,
      save_steps: 1,
      train_batch_size: 1,
      log_history: [],
      best_metric: null,
      best_model_checkpoint: null,
      is_world_process_zero: true,
      total_flos: 0,
    },
    config: {},
  };
}

test('resume takes the newest complete, finite checkpoint and says why it skipped others', async () => {
  const out = tempDir('ck-safety');
  await saveCheckpoint(out, contents(1));
  await saveCheckpoint(out, contents(2));
  await saveCheckpoint(out, contents(3));
  // checkpoint-3 loses a file (damaged by hand), checkpoint-2 is fine
  rmSync(join(out, 'checkpoint-3', 'optimizer.safetensors'));
  const lines: string[] = [];
  assert.equal(
    latestCheckpoint(out, (l) => lines.push(l)),
    join(out, 'checkpoint-2'),
  );
  assert.match(lines.join('\n'), /skipping .*checkpoint-3: optimizer\.safetensors is missing/);
  assert.equal(checkpointProblem(join(out, 'checkpoint-2')), null);
});

test('a checkpoint holding Inf/NaN is refused when saving and skipped when resuming', async () => {
  const out = tempDir('ck-nan');
  await saveCheckpoint(out, contents(1));
  await assert.rejects(saveCheckpoint(out, contents(2, Number.NaN)), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match((e as Error).message, /step 2: weights of w hold a non-finite value \(NaN\) at index 0/);
    return true;
  });
  assert.equal(existsSync(join(out, 'checkpoint-2')), false);
  // one written by an older sftkit (or damaged) with an Inf is not recommended
  await saveCheckpoint(out, contents(3));
  const f = join(out, 'checkpoint-3', 'trainable.safetensors');
  const { writeSafetensors } = await import('../../src/io/safetensors.js');
  await writeSafetensors(f, [{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array([1, Infinity, 0, 0]) }]);
  const lines: string[] = [];
  assert.equal(
    latestCheckpoint(out, (l) => lines.push(l)),
    join(out, 'checkpoint-1'),
  );
  assert.match(
    lines.join('\n'),
    /checkpoint-3: trainable\.safetensors: tensor 'w' holds a non-finite value \(Infinity\) at index 1/,
  );
});

test('leftovers of killed writes are removed with a message; a set-aside checkpoint is restored', async () => {
  const out = tempDir('ck-temps');
  await saveCheckpoint(out, contents(1));
  mkdirSync(join(out, `.checkpoint-2.tmp-${DEAD_PID}-0123abcd`));
  writeFileSync(join(out, `.adapter_model.safetensors.tmp-${DEAD_PID}-89abcdef`), 'half');
  // killed between the two renames of a swap: checkpoint-1 was moved aside, its replacement never arrived
  const { renameSync } = await import('node:fs');
  renameSync(join(out, 'checkpoint-1'), join(out, `.checkpoint-1.old-${DEAD_PID}-00000000`));
  // a temporary of a live process (this one) is left alone
  const mine = join(out, `.metrics.jsonl.tmp-${process.pid}-11111111`);
  writeFileSync(mine, '');
  const lines: string[] = [];
  cleanCheckpointTemps(out, (l) => lines.push(l));
  assert.deepEqual(readdirSync(out).sort(), ['.metrics.jsonl.tmp-' + process.pid + '-11111111', 'checkpoint-1']);
  assert.match(lines.join('\n'), /removed \.checkpoint-2\.tmp-\d+-0123abcd: left by an interrupted write/);
  assert.match(lines.join('\n'), /restored .*checkpoint-1/);
  assert.equal(checkpointProblem(join(out, 'checkpoint-1')), null);
});

test('metrics.jsonl: a record cut short by a kill is dropped, any other bad line is named', () => {
  const dir = tempDir('metrics-torn');
  const p = join(dir, 'metrics.jsonl');
  writeFileSync(p, '{"step":1,"epoch":0}\n{"step":2,"epoch":0}\n{"step":3,"ep');
  assert.deepEqual(
    readMetrics(p).map((r) => r.step),
    [1, 2],
  );
  writeFileSync(p, '{"step":1,"epoch":0}\nnot json\n{"step":3,"epoch":0}\n');
  assert.throws(() => readMetrics(p), /metrics\.jsonl:2: not a JSON metrics record/);
});
