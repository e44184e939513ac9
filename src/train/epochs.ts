// Where a run is in its data: the batch plan of the current epoch and how many of its micro-batches are used.
// The plan is a pure function of (examples, config, epoch), so a resumed run rebuilds it from the epoch number.
import { collate, planBatches, type Batch } from '../data/batches.js';
import type { PreparedExample } from '../data/types.js';
import type { SFTConfig } from './config.js';

export interface EpochCursor {
  epoch: number;
  /** Micro-batches of this epoch already consumed. */
  index: number;
  /** Per micro-batch, its rows of example indices. */
  plan: number[][][];
  /** Per micro-batch, its padded row length. */
  seqs: number[];
}

export function planEpoch(examples: PreparedExample[], c: SFTConfig, epoch: number): EpochCursor {
  const plan = planBatches(examples, {
    batchSize: c.per_device_train_batch_size,
    maxLength: c.max_length,
    packing: c.packing,
    seed: c.seed,
    epoch,
  });
  const seqs = plan.batches.map((rows) =>
    Math.max(...rows.map((r) => r.reduce((s, i) => s + examples[i]!.inputIds.length, 0))),
  );
  return { epoch, index: 0, plan: plan.batches, seqs };
}

/** Epochs completed as a fraction (what trainer_state.json and metrics call `epoch`). */
export function epochProgress(cur: EpochCursor): number {
  return cur.epoch + cur.index / Math.max(1, cur.plan.length);
}

/**
 * The micro-batches of the next optimizer step: up to gradient_accumulation_steps of this epoch (fewer at its
 * end), and the input tokens they hold. Advances the cursor.
 */
export function nextMicroBatches(
  cur: EpochCursor,
  examples: PreparedExample[],
  accumulation: number,
  padId: number,
): { batches: Batch[]; inputTokens: number } {
  const count = Math.min(accumulation, cur.plan.length - cur.index);
  const batches: Batch[] = [];
  let inputTokens = 0;
  for (let k = 0; k < count; k++) {
    const i = cur.index + k;
    batches.push(collate(examples, cur.plan[i]!, cur.seqs[i]!, padId));
    for (const row of cur.plan[i]!) for (const e of row) inputTokens += examples[e]!.inputIds.length;
  }
  cur.index += count;
  return { batches, inputTokens };
}
