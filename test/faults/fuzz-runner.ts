// The child process of the fuzzer: builds the seed files once, then for each case it is sent, mutates a copy
// and runs the reader sftkit uses for that kind of file. Replies {outcome, message, rss}. The parent enforces
// the time limit and sees crashes and signals (test/faults/fuzz-lib.ts, fuzz-driver.ts).
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createModel } from '../../src/model/create-model.js';
import { SafetensorsModel, writeShardedSafetensors, type StWriteTensor } from '../../src/io/safetensors.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter, saveAdapter } from '../../src/model/peft.js';
import { exportGguf } from '../../src/export/gguf/export.js';
import { readGguf } from '../../src/export/gguf/reader.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { prepareDataset } from '../../src/data/pipeline.js';
import { resolveConfig } from '../../src/train/config.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { UserError } from '../../src/util/errors.js';
import { judgeMessage, makeCase, writeDataSeeds, type FuzzCase, type FuzzKind } from './fuzz-lib.js';

export interface CaseRequest {
  seedRoot: string;
  workRoot: string;
  kind: FuzzKind;
  index: number;
  seed: number;
}

export interface CaseReply {
  outcome: 'accepted' | 'refused' | 'bad-message' | 'internal-error';
  message: string;
  mutation: string;
  rssBytes: number;
}

async function makeSeeds(root: string): Promise<void> {
  if (existsSync(join(root, 'ready'))) return;
  mkdirSync(root, { recursive: true });
  const model = join(root, 'model');
  await createModel({ preset: 'tiny', out: model, seed: 3 });
  const m = LlamaModel.load(model);
  m.attachLora({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: ['q_proj', 'v_proj'], useRslora: false }, 1);
  await saveAdapter(m, join(root, 'adapter'), { baseModelNameOrPath: null });
  const sharded = join(root, 'sharded');
  cpSync(model, sharded, { recursive: true });
  rmSync(join(sharded, 'model.safetensors'));
  const st = SafetensorsModel.open(model);
  const tensors: StWriteTensor[] = [...st.tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: st.readBytes(t.name),
  }));
  st.close();
  await writeShardedSafetensors(sharded, tensors, { maxShardBytes: 120_000 });
  const data = join(root, 'data');
  writeDataSeeds(data);
  writeFileSync(
    join(root, 'sft.yaml'),
    [
      `model: ${model}`,
      `dataset: ${join(data, 'train.jsonl')}`,
      'output_dir: out',
      'max_length: 128',
      'num_train_epochs: 2',
      'per_device_train_batch_size: 4',
      'learning_rate: 2.0e-4',
      'lr_scheduler_type: cosine',
      'warmup_ratio: 0.1',
      'save_steps: 10',
      'seed: 1',
      'peft:',
      '  r: 8',
      '  lora_alpha: 16',
      '  target_modules: all-linear',
      '',
    ].join('\n'),
  );
  await exportGguf({ modelDir: model, outFile: join(root, 'model.gguf'), outType: 'f32' });
  const w = new Float32Array([0.5, 1, 2, 3]);
  await saveCheckpoint(join(root, 'checkpoint'), {
    step: 2,
    params: [{ name: 'w', shape: [4], data: w }],
    optimizer: { steps: [2], m: [new Float32Array(4)], v: [new Float32Array(4)] },
    scheduler: { type: 'linear', peak_lr: 1e-3, total_steps: 10, warmup_steps: 0, next_step: 2 },
    rng: { seed: 1, micro_step: 2, epoch: 0, batch_in_epoch: 2, tokens_seen: 10, trained_tokens_seen: 5 },
    trainerState: {
      global_step: 2,
      epoch: 0.2,
      max_steps: 10,
      num_train_epochs: 1,
      logging_steps: 1,
      eval_steps: null,
      save_steps: 1,
      train_batch_size: 1,
      log_history: [{ step: 1, epoch: 0.1, loss: 2 }],
      best_metric: null,
      best_model_checkpoint: null,
      is_world_process_zero: true,
      total_flos: 0,
    },
    config: { learning_rate: 1e-3 },
  });
  writeFileSync(join(root, 'ready'), '');
}

let seedTokenizer: Tokenizer | null = null;

async function runTarget(c: FuzzCase, seedRoot: string): Promise<void> {
  switch (c.kind) {
    case 'safetensors':
    case 'sharded-index':
    case 'config':
      LlamaModel.load(c.dir);
      return;
    case 'adapter':
      loadAdapter(LlamaModel.load(join(seedRoot, 'model')), c.dir);
      return;
    case 'tokenizer':
    case 'tokenizer-config':
    case 'chat-template': {
      const tok = await Tokenizer.fromDir(c.dir);
      try {
        tok.encode('Hello world, <|im_start|>user');
        tok.applyChatTemplate(
          [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: 'hello' },
          ],
          { addGenerationPrompt: false },
        );
      } finally {
        // its encoder thread would otherwise live until a GC finalizes it: thousands of cases pile them up
        tok.close();
      }
      return;
    }
    case 'jsonl':
    case 'json-dataset':
    case 'csv':
    case 'tsv':
    case 'parquet':
    case 'arrow': {
      seedTokenizer ??= await Tokenizer.fromDir(join(seedRoot, 'model'));
      await prepareDataset(seedTokenizer, {
        train: c.file,
        shuffle: false,
        maxLength: 128,
        lossKeys: { assistant_only_loss: true, completion_only_loss: null },
        cache: false,
      });
      return;
    }
    case 'yaml':
      resolveConfig({ file: c.file });
      return;
    case 'gguf':
      readGguf(c.file);
      return;
    case 'checkpoint-state':
      loadCheckpoint(join(c.dir, 'checkpoint-2'), [{ name: 'w', numel: 4 }]);
      return;
  }
}

export async function runCase(req: CaseRequest): Promise<CaseReply> {
  await makeSeeds(req.seedRoot);
  const c = makeCase(req.seedRoot, req.workRoot, req.kind, req.index, req.seed);
  let reply: CaseReply;
  try {
    await runTarget(c, req.seedRoot);
    reply = { outcome: 'accepted', message: '', mutation: c.mutation, rssBytes: 0 };
  } catch (e) {
    const message = (e as Error)?.message ?? String(e);
    if (e instanceof UserError) {
      const bad = judgeMessage(c, message);
      reply = bad
        ? { outcome: 'bad-message', message: `${bad}: ${message}`, mutation: c.mutation, rssBytes: 0 }
        : { outcome: 'refused', message, mutation: c.mutation, rssBytes: 0 };
    } else {
      reply = {
        outcome: 'internal-error',
        message: `${(e as Error)?.name ?? 'Error'}: ${message}\n${(e as Error)?.stack?.split('\n').slice(1, 4).join('\n') ?? ''}`,
        mutation: c.mutation,
        rssBytes: 0,
      };
    }
  }
  rmSync(c.dir, { recursive: true, force: true });
  reply.rssBytes = process.memoryUsage().rss;
  return reply;
}

// As a child process: answer case requests over IPC.
if (process.send) {
  process.on('message', (req: CaseRequest) => {
    runCase(req).then(
      (r) => process.send!(r),
      (e) => process.send!({ outcome: 'internal-error', message: String(e), mutation: '?', rssBytes: 0 }),
    );
  });
  process.send({ ready: true });
}

export { makeSeeds };
