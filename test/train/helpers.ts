// Shared fixtures for trainer tests: a tiny random model folder and small conversational datasets.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/model/create-model.js';
import type { SftRecord } from '../../src/data/types.js';
import { generateChatData, type Conversation } from '../../src/quickstart/corpus/chat-data.js';

let modelDir: Promise<string> | null = null;

/** A tiny random Llama (hidden 64, 2 layers, byte tokenizer with ChatML), created once per test process. */
export function tinyModel(): Promise<string> {
  modelDir ??= (async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sftkit-train-test-')), 'tiny');
    await createModel({ preset: 'tiny', out: dir, seed: 7 });
    return dir;
  })();
  return modelDir;
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `sftkit-${tag}-`));
}

function toRecords(convs: Conversation[], file: string): SftRecord[] {
  return convs.map((c, i) => ({ kind: 'conversation', messages: c.messages, source: { file, line: i + 1 } }));
}

/** Small train/eval conversation sets from the quickstart generator. */
export function chatRecords(trainCount: number, evalCount = 4): { train: SftRecord[]; eval: SftRecord[] } {
  const d = generateChatData({ trainCount, evalCount, seed: 11 });
  return { train: toRecords(d.train, 'train.jsonl'), eval: toRecords(d.eval, 'eval.jsonl') };
}

/** Common args for fast runs. */
export function fastArgs(outputDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    output_dir: outputDir,
    max_length: 128,
    per_device_train_batch_size: 4,
    learning_rate: 3e-3,
    logging_steps: 1,
    save_strategy: 'no',
    assistant_only_loss: true,
    // f32 unless a test asks for bf16: the default follows the CPU (bf16 where it multiplies bf16 natively), and
    // these tests compare values against f32 models.
    bf16: false,
    ...extra,
  };
}
