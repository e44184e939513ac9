// The exported training data: every micro-batch of the run, in sftkit's order, as safetensors shards plus
// data/index.json. Micro-batch j is three I32 tensors `j.input_ids`, `j.labels`, `j.position_ids` of shape
// [rows, seq]; optimizer step k owns micro-batches k*G .. k*G+G-1 (G = micro_batches_per_step). A step that
// sftkit runs with fewer micro-batches (the end of an epoch) is filled with one-token micro-batches that train
// nothing, so that every process of a distributed run takes the same number of micro-batches per step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';
import { SafetensorsFile, writeSafetensors, type StWriteTensor } from '../io/safetensors.js';
import type { Batch } from '../data/batches.js';
import { IGNORE_INDEX } from '../engine/backend.js';
import { UserError } from '../util/errors.js';

export const BATCHES_FORMAT = 'sftkit-batches/1';
export const INDEX_NAME = 'index.json';
const FIELDS = ['input_ids', 'labels', 'position_ids'] as const;

export interface MicroBatchEntry {
  file: string;
  step: number;
  rows: number;
  seq: number;
  trained_tokens: number;
  /** A filler micro-batch (nothing trained) completing a short step. */
  filler?: boolean;
}

export interface BatchIndex {
  format: typeof BATCHES_FORMAT;
  steps: number;
  micro_batches_per_step: number;
  pad_token_id: number;
  trained_tokens: number;
  /** sftkit's epoch (fractional) at the end of each step, for metrics.jsonl. */
  step_epochs: number[];
  micro_batches: MicroBatchEntry[];
}

/** A micro-batch that trains nothing: one pad token, label -100. */
export function fillerBatch(padTokenId: number): Batch {
  return {
    inputIds: Int32Array.of(padTokenId),
    labels: Int32Array.of(IGNORE_INDEX),
    positionIds: Int32Array.of(0),
    batch: 1,
    seq: 1,
    numTrainedTokens: 0,
  };
}

/**
 * Write the steps (each a list of at most `perStep` micro-batches) to `dir`, starting a new shard file after
 * `maxShardBytes`. Returns the index (also written to dir/index.json).
 */
export async function writeBatchFiles(
  dir: string,
  steps: Iterable<{ micro: Batch[]; epoch: number }>,
  opts: { perStep: number; padTokenId: number; maxShardBytes?: number },
): Promise<BatchIndex> {
  const maxBytes = opts.maxShardBytes ?? 256 << 20;
  const entries: MicroBatchEntry[] = [];
  let shard: StWriteTensor[] = [];
  let shardBytes = 0;
  const files: string[] = [];
  const flush = async () => {
    if (shard.length === 0) return;
    const name = `batches-${String(files.length + 1).padStart(5, '0')}.safetensors`;
    await writeSafetensors(join(dir, name), shard, { format: BATCHES_FORMAT });
    files.push(name);
    shard = [];
    shardBytes = 0;
  };
  let step = 0;
  let trained = 0;
  const epochs: number[] = [];
  for (const { micro, epoch } of steps) {
    epochs.push(Number(epoch.toFixed(4)));
    if (micro.length === 0 || micro.length > opts.perStep)
      throw new Error(`batch files: step ${step + 1} has ${micro.length} micro-batches (1..${opts.perStep} allowed)`);
    const full = [...micro];
    while (full.length < opts.perStep) full.push(fillerBatch(opts.padTokenId));
    for (let a = 0; a < full.length; a++) {
      const b = full[a]!;
      const j = entries.length;
      const data = { input_ids: b.inputIds, labels: b.labels, position_ids: b.positionIds };
      for (const f of FIELDS) shard.push({ name: `${j}.${f}`, dtype: 'I32', shape: [b.batch, b.seq], data: data[f] });
      shardBytes += 3 * 4 * b.batch * b.seq;
      entries.push({
        file: `batches-${String(files.length + 1).padStart(5, '0')}.safetensors`,
        step,
        rows: b.batch,
        seq: b.seq,
        trained_tokens: b.numTrainedTokens,
        ...(a >= micro.length ? { filler: true } : {}),
      });
      trained += b.numTrainedTokens;
    }
    step++;
    if (shardBytes >= maxBytes) await flush();
  }
  await flush();
  const index: BatchIndex = {
    format: BATCHES_FORMAT,
    steps: step,
    micro_batches_per_step: opts.perStep,
    pad_token_id: opts.padTokenId,
    trained_tokens: trained,
    step_epochs: epochs,
    micro_batches: entries,
  };
  writeFileAtomicSync(join(dir, INDEX_NAME), JSON.stringify(index) + '\n');
  return index;
}

/** Read micro-batch j back (tests, `sftkit import-run` checks). */
export function readMicroBatch(dir: string, index: BatchIndex, j: number): Batch {
  const e = index.micro_batches[j];
  if (!e) throw new UserError(`${join(dir, INDEX_NAME)}: no micro-batch ${j}`);
  const f = SafetensorsFile.open(join(dir, e.file));
  try {
    const read = (name: string) => {
      const bytes = f.readBytes(`${j}.${name}`).slice();
      return new Int32Array(bytes.buffer, 0, bytes.byteLength / 4);
    };
    return {
      inputIds: read('input_ids'),
      labels: read('labels'),
      positionIds: read('position_ids'),
      batch: e.rows,
      seq: e.seq,
      numTrainedTokens: e.trained_tokens,
    };
  } finally {
    f.close();
  }
}

export function readBatchIndex(dir: string): BatchIndex {
  const path = join(dir, INDEX_NAME);
  const index = JSON.parse(readFileSync(path, 'utf8')) as BatchIndex;
  if (index.format !== BATCHES_FORMAT) throw new UserError(`${path}: format is not ${BATCHES_FORMAT}`);
  return index;
}
