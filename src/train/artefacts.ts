// What a finished run leaves in output_dir: the PEFT adapter (LoRA, plus trained token rows the way PEFT
// saves them) or a complete HF model folder (full fine-tuning), the tokenizer files, and a model card.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../engine/index.js';
import { SafetensorsFile, writeSafetensors, writeShardedSafetensors, type StWriteTensor } from '../io/safetensors.js';
import type { LlamaModel } from '../model/llama.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson, loadAdapter, peftKey, sortedJson } from '../model/peft.js';
import { UserError } from '../util/errors.js';
import type { SFTConfig } from './config.js';
import { tokenRowsKey, type TrainableTokenRows } from './token-rows.js';

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'tokenizer.model', 'chat_template.jinja'];

export function copyTokenizerFiles(fromDir: string, toDir: string): string[] {
  mkdirSync(toDir, { recursive: true });
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    if (existsSync(join(fromDir, f))) {
      copyFileSync(join(fromDir, f), join(toDir, f));
      copied.push(f);
    }
  }
  return copied;
}

function f32Tensor(name: string, t: Tensor): StWriteTensor {
  return { name, dtype: 'F32', shape: [...t.shape], data: t.toF32() };
}

/** adapter_config.json + adapter_model.safetensors: LoRA matrices and, when set, the trained token rows. */
export async function saveLoraAdapter(model: LlamaModel, dir: string, opts: { baseModel: string | null; tokenRows?: TrainableTokenRows | null }): Promise<void> {
  const cfg = model.lora;
  const modules = model.linears().filter((m) => m.lora);
  if (!cfg || modules.length === 0) throw new Error('saveLoraAdapter: the model has no LoRA adapters attached');
  mkdirSync(dir, { recursive: true });
  const tensors: StWriteTensor[] = [];
  for (const m of modules) {
    tensors.push(f32Tensor(peftKey(m.name, 'A'), m.lora!.a), f32Tensor(peftKey(m.name, 'B'), m.lora!.b));
  }
  const json = adapterConfigJson(cfg, modules.map((m) => m.name), opts.baseModel);
  if (opts.tokenRows) {
    for (const p of opts.tokenRows.parameters()) tensors.push(f32Tensor(p.name, p.tensor));
    json.trainable_token_indices = opts.tokenRows.adapterConfigField();
  }
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeFileSync(join(dir, ADAPTER_CONFIG), sortedJson(json));
}

/**
 * Load a PEFT adapter, including `trainable_token_indices` rows (which src/model's loader does not know):
 * the LoRA part goes through loadAdapter, then the rows are written into the embedding / LM head.
 */
export function loadAdapterWithTokenRows(model: LlamaModel, dir: string): { tokenIds: number[] } {
  const config = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
  const field = config.trainable_token_indices as number[] | Record<string, number[]> | undefined | null;
  if (!field) {
    loadAdapter(model, dir);
    return { tokenIds: [] };
  }
  const st = SafetensorsFile.open(join(dir, ADAPTER_WEIGHTS));
  const tmp = mkdtempSync(join(tmpdir(), 'sftkit-adapter-'));
  try {
    const rowKeys = new Set([tokenRowsKey('model.embed_tokens'), tokenRowsKey('lm_head')]);
    const lora = [...st.tensors.values()].filter((t) => !rowKeys.has(t.name)).map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: st.readF32(t.name) }));
    // loadAdapter validates strictly (unexpected keys fail), so it reads a copy without the row tensors.
    writeSafetensorsSync(join(tmp, ADAPTER_WEIGHTS), lora);
    writeFileSync(join(tmp, ADAPTER_CONFIG), JSON.stringify(config));
    loadAdapter(model, tmp);
    const D = model.config.hiddenSize;
    const apply = (table: Tensor, key: string, ids: number[]) => {
      if (!st.tensors.has(key)) throw new UserError(`${dir}: adapter_config.json lists trainable_token_indices but ${key} is missing`);
      const rows = st.readF32(key);
      if (rows.length !== ids.length * D) throw new UserError(`${dir}: ${key} has ${rows.length} values, expected ${ids.length} x ${D}`);
      const data = table.dtype === 'f32' ? (table.data as Float32Array) : null;
      if (!data) throw new UserError(`${dir}: trained token rows need f32 embeddings (load the model with dtype f32)`);
      ids.forEach((id, i) => data.set(rows.subarray(i * D, (i + 1) * D), id * D));
    };
    const embedIds = Array.isArray(field) ? field : field.embed_tokens ?? [];
    apply(model.embedTokens, tokenRowsKey('model.embed_tokens'), embedIds);
    if (!Array.isArray(field) && field.lm_head && !model.tied) apply(model.lmHead, tokenRowsKey('lm_head'), field.lm_head);
    return { tokenIds: embedIds };
  } finally {
    st.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// A tiny synchronous safetensors writer for the temporary copy above (all F32).
function writeSafetensorsSync(path: string, tensors: { name: string; shape: number[]; data: Float32Array }[]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  writeFileSync(path, out);
}

/** A complete HF folder for full fine-tuning: config.json (as loaded), f32 weights by HF names, tokenizer files. */
export async function saveFullModel(model: LlamaModel, dir: string, baseDir: string | null): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const raw = { ...model.config.raw, torch_dtype: 'float32' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
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
  const keys: (keyof SFTConfig)[] = ['model', 'dataset', 'eval_dataset', 'max_length', 'num_train_epochs', 'max_steps', 'per_device_train_batch_size', 'gradient_accumulation_steps', 'learning_rate', 'lr_scheduler_type', 'warmup_ratio', 'warmup_steps', 'weight_decay', 'max_grad_norm', 'seed', 'bf16', 'packing', 'assistant_only_loss', 'neftune_noise_alpha'];
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
    ...(i.tokenRows.length ? [`- trained token rows (were untrained in the base model): ${i.tokenRows.map((t) => `${t.token} (${t.id})`).join(', ')}`] : []),
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
