// What a finished run leaves in output_dir: the PEFT adapter (LoRA, plus trained token rows the way PEFT
// saves them) or a complete HF model folder (full fine-tuning), the tokenizer files, and a model card.
import { writeFileAtomicSync } from '../io/atomic.js';
import { copyFolderFiles } from '../io/model-folder.js';
import { join } from 'node:path';
import type { Tensor } from '../engine/index.js';
import { writeShardedSafetensors, type StWriteTensor } from '../io/safetensors.js';
import type { LlamaModel } from '../model/llama.js';
import { saveAdapter } from '../model/peft.js';
import type { SFTConfig } from './config.js';

export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'tokenizer.model',
  'chat_template.jinja',
];

export function copyTokenizerFiles(fromDir: string, toDir: string): string[] {
  return copyFolderFiles(fromDir, toDir, (name) => TOKENIZER_FILES.includes(name));
}

function f32Tensor(name: string, t: Tensor): StWriteTensor {
  return { name, dtype: 'F32', shape: [...t.shape], data: t.toF32() };
}

/** adapter_config.json + adapter_model.safetensors: LoRA matrices and the trained token rows (model.tokenRows). */
export async function saveLoraAdapter(
  model: LlamaModel,
  dir: string,
  opts: { baseModel: string | null },
): Promise<void> {
  await saveAdapter(model, dir, { baseModelNameOrPath: opts.baseModel });
}

/** A complete HF folder for full fine-tuning: config.json (as loaded), f32 weights by HF names, tokenizer files. */
export async function saveFullModel(model: LlamaModel, dir: string, baseDir: string | null): Promise<void> {
  const raw = { ...model.config.raw, torch_dtype: 'float32' };
  writeFileAtomicSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
  const tensors = model.baseParameters().map((p) => f32Tensor(p.name, p.tensor));
  await writeShardedSafetensors(dir, tensors, { metadata: { format: 'pt' } });
  if (baseDir) copyTokenizerFiles(baseDir, dir);
}

export interface ModelCardInfo {
  config: SFTConfig;
  method: string;
  trainableReport: string;
  finalTrainLoss: number | null;
  finalEvalLoss: number | null;
  steps: number;
  seconds: number;
  tokens: number;
  tokenRows: { id: number; token: string }[];
}

export function modelCard(i: ModelCardInfo): string {
  const c = i.config;
  const keys: (keyof SFTConfig)[] = [
    'model',
    'dataset',
    'eval_dataset',
    'max_length',
    'num_train_epochs',
    'max_steps',
    'per_device_train_batch_size',
    'gradient_accumulation_steps',
    'learning_rate',
    'lr_scheduler_type',
    'warmup_ratio',
    'warmup_steps',
    'weight_decay',
    'max_grad_norm',
    'seed',
    'bf16',
    'packing',
    'assistant_only_loss',
    'neftune_noise_alpha',
  ];
  const rows = keys.map((k) => `| ${k} | ${JSON.stringify(c[k])} |`);
  if (!c.full_finetune) rows.push(`| peft | ${JSON.stringify(c.peft)} |`);
  return [
    '---',
    `base_model: ${c.model ?? 'unknown'}`,
    'library_name: sftkit',
    `tags: [sftkit, sft, ${c.full_finetune ? 'full-finetune' : 'lora'}]`,
    '---',
    '',
    `# ${c.output_dir.split('/').filter(Boolean).pop() ?? 'model'}`,
    '',
    `Fine-tuned from \`${c.model ?? 'unknown'}\` on \`${c.dataset ?? 'in-memory data'}\` with sftkit (${i.method}).`,
    '',
    '## Results',
    '',
    `- steps: ${i.steps}, trained tokens: ${i.tokens.toLocaleString('en-US')}, time: ${i.seconds.toFixed(1)} s`,
    `- final train loss: ${i.finalTrainLoss?.toFixed(4) ?? '-'}`,
    `- final eval loss: ${i.finalEvalLoss?.toFixed(4) ?? '-'}`,
    `- ${i.trainableReport}`,
    ...(i.tokenRows.length
      ? [
          `- trained token rows (were untrained in the base model): ${i.tokenRows.map((t) => `${t.token} (${t.id})`).join(', ')}`,
        ]
      : []),
    '',
    '## Training configuration',
    '',
    '| key | value |',
    '|---|---|',
    ...rows,
    '',
    'Loss curve: `loss.svg`; per-step metrics: `metrics.jsonl`.',
    '',
  ].join('\n');
}
