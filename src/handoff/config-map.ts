// How every SFTConfig key reaches the exported PyTorch run: a transformers TrainingArguments field, a PEFT
// LoraConfig field (in initial_adapter/adapter_config.json), a BitsAndBytesConfig field, from_pretrained, or
// applied by sftkit before export (baked into the batches / the initial adapter), or not applicable. One table
// drives run.json, the README of the run folder and the test that no key is forgotten.
import type { SFTConfig } from '../train/config.js';
import { UserError } from '../util/errors.js';

export type MappingKind =
  'TrainingArguments' | 'LoraConfig' | 'BitsAndBytesConfig' | 'from_pretrained' | 'baked' | 'not applicable';

export interface KeyMapping {
  kind: MappingKind;
  /** The counterpart's name (TrainingArguments / LoraConfig / BitsAndBytesConfig field, from_pretrained kwarg). */
  target?: string;
  note: string;
}

const ta = (target: string, note = 'same meaning'): KeyMapping => ({ kind: 'TrainingArguments', target, note });
const lora = (target: string, note = 'written to initial_adapter/adapter_config.json'): KeyMapping => ({
  kind: 'LoraConfig',
  target,
  note,
});
const bnb = (target: string, note = 'same meaning'): KeyMapping => ({ kind: 'BitsAndBytesConfig', target, note });
const baked = (note: string): KeyMapping => ({ kind: 'baked', note });
const na = (note: string): KeyMapping => ({ kind: 'not applicable', note });

/** Keys as the config names them: top-level names, and `peft.<name>` for LoraConfig fields. */
export const KEY_MAPPINGS: Readonly<Record<string, KeyMapping>> = {
  model: { kind: 'from_pretrained', target: 'pretrained_model_name_or_path', note: 'base_model/ (copied) or --model' },
  dataset: baked('tokenised, masked and batched by sftkit into data/'),
  eval_dataset: na('eval loss is not exported: run `sftkit eval` on the imported result'),
  output_dir: na('train.py --output_dir (default RUN_DIR/output); `sftkit import-run` brings it back'),
  max_length: baked('truncation happened at export (and packing capacity)'),
  packing: baked('rows are packed at export; see "Packing" below for which attention honours it'),
  assistant_only_loss: baked('labels are -100 outside assistant turns'),
  completion_only_loss: baked('labels are -100 outside completions'),
  dataset_text_field: baked('read at export'),
  dataset_train_split: baked('the split is chosen at export'),
  dataset_test_split: na('eval data is not exported: run `sftkit eval` on the imported result'),
  test_size: baked('the held-out fraction is removed from the training rows at export'),
  dataset_format: baked('records are read in this format at export'),
  dataset_messages_field: baked('read at export'),
  dataset_prompt_field: baked('read at export'),
  dataset_completion_field: baked('read at export'),
  dataset_tools_field: baked('tool schemas are rendered through the chat template at export'),
  enable_thinking: baked('passed to the chat template at export'),
  reasoning_history: baked('applied to the conversations at export'),
  eos_token: baked('appended at export'),
  num_train_epochs: baked('every epoch (reshuffled with seed + epoch as sftkit does) is in data/; max_steps is set'),
  max_steps: ta('max_steps', "sftkit's planned optimizer steps (from max_steps or num_train_epochs)"),
  per_device_train_batch_size: ta('per_device_train_batch_size', 'rows per micro-batch, fixed in data/'),
  per_device_eval_batch_size: ta('per_device_eval_batch_size'),
  gradient_accumulation_steps: ta(
    'gradient_accumulation_steps',
    'G micro-batches per optimizer step across all processes: each of W processes accumulates G/W',
  ),
  learning_rate: ta('learning_rate'),
  lr_scheduler_type: ta('lr_scheduler_type'),
  warmup_ratio: ta('warmup_ratio'),
  warmup_steps: ta('warmup_steps'),
  weight_decay: ta('weight_decay', 'same parameters exempt (biases, norm weights)'),
  adam_beta1: ta('adam_beta1'),
  adam_beta2: ta('adam_beta2'),
  adam_epsilon: ta('adam_epsilon'),
  optim: ta('optim', "'adamw' becomes 'adamw_torch'"),
  max_grad_norm: ta('max_grad_norm'),
  seed: ta('seed', 'data order and initial LoRA weights are fixed at export; the seed drives dropout only'),
  logging_steps: ta('logging_steps', 'train.py also writes every step to output/losses.jsonl'),
  eval_strategy: na('no eval set is exported (eval_strategy is set to no)'),
  eval_steps: na('no eval set is exported'),
  save_strategy: ta('save_strategy'),
  save_steps: ta('save_steps'),
  save_total_limit: ta('save_total_limit'),
  resume_from_checkpoint: na(
    'sftkit checkpoints do not resume in Trainer; resume a remote run with its own checkpoint',
  ),
  bf16: {
    kind: 'TrainingArguments',
    target: 'bf16',
    note: 'also torch_dtype=bfloat16 for the frozen weights; autocast differs from sftkit bf16 GEMMs in rounding',
  },
  gradient_checkpointing: ta('gradient_checkpointing', 'with use_reentrant=False'),
  neftune_noise_alpha: ta('neftune_noise_alpha', 'same formula; the noise draws differ'),
  full_finetune: na('decides the method: no initial_adapter/, every weight trains'),
  train_untrained_tokens: lora('trainable_token_indices', 'rows detected at export, in initial_adapter/'),
  load_in_4bit: bnb('load_in_4bit'),
  bnb_4bit_quant_type: bnb('bnb_4bit_quant_type'),
  bnb_4bit_use_double_quant: bnb('bnb_4bit_use_double_quant'),
  bnb_4bit_compute_dtype: bnb('bnb_4bit_compute_dtype', 'float32 / bfloat16'),
  'peft.r': lora('r'),
  'peft.lora_alpha': lora('lora_alpha'),
  'peft.lora_dropout': lora('lora_dropout', 'same rate; the dropout masks differ (different RNG)'),
  'peft.target_modules': lora('target_modules', "expanded to module names as PEFT does for 'all-linear'"),
  'peft.bias': lora('bias'),
  'peft.use_rslora': lora('use_rslora'),
  'peft.trainable_token_indices': lora('trainable_token_indices', 'with the detected rows, in initial_adapter/'),
  'peft.modules_to_save': lora('modules_to_save', 'refused at export: sftkit train does not train them'),
};

/** SFTConfig keys as KEY_MAPPINGS names them. */
export function configKeys(c: SFTConfig): string[] {
  return [...Object.keys(c).filter((k) => k !== 'peft'), ...Object.keys(c.peft).map((k) => `peft.${k}`)];
}

/** What sftkit's run plan fixes at export that the config alone does not. */
export interface RunPlanFacts {
  totalSteps: number;
}

/** TrainingArguments for run.json (train.py adds output_dir, accumulation per process and the backend). */
export function trainingArguments(c: SFTConfig, plan: RunPlanFacts): Record<string, unknown> {
  return {
    max_steps: plan.totalSteps,
    per_device_train_batch_size: c.per_device_train_batch_size,
    per_device_eval_batch_size: c.per_device_eval_batch_size,
    learning_rate: c.learning_rate,
    lr_scheduler_type: c.lr_scheduler_type,
    warmup_ratio: c.warmup_ratio,
    warmup_steps: c.warmup_steps,
    weight_decay: c.weight_decay,
    adam_beta1: c.adam_beta1,
    adam_beta2: c.adam_beta2,
    adam_epsilon: c.adam_epsilon,
    optim: c.optim === 'adamw' ? 'adamw_torch' : c.optim,
    max_grad_norm: c.max_grad_norm,
    seed: c.seed,
    logging_steps: c.logging_steps,
    eval_strategy: 'no',
    save_strategy: c.save_strategy,
    save_steps: c.save_steps,
    save_total_limit: c.save_total_limit,
    bf16: c.bf16,
    gradient_checkpointing: c.gradient_checkpointing,
    ...(c.gradient_checkpointing ? { gradient_checkpointing_kwargs: { use_reentrant: false } } : {}),
    neftune_noise_alpha: c.neftune_noise_alpha,
  };
}

/** BitsAndBytesConfig for run.json, or null without load_in_4bit. */
export function bitsAndBytesConfig(c: SFTConfig): Record<string, unknown> | null {
  if (!c.load_in_4bit) return null;
  return {
    load_in_4bit: true,
    bnb_4bit_quant_type: c.bnb_4bit_quant_type,
    bnb_4bit_use_double_quant: c.bnb_4bit_use_double_quant,
    bnb_4bit_compute_dtype:
      c.bnb_4bit_compute_dtype === 'bf16' || c.bnb_4bit_compute_dtype === 'bfloat16' ? 'bfloat16' : 'float32',
  };
}

/** Config values the export cannot carry over faithfully: refused with the reason. */
export function checkExportable(c: SFTConfig, origin: string): void {
  if (c.peft.modules_to_save && c.peft.modules_to_save.length > 0 && !c.full_finetune)
    throw new UserError(
      `${origin}: peft.modules_to_save is not trained by sftkit train, so export-run cannot reproduce it; remove it`,
    );
}

/** The README table: one row per config key. */
export function mappingTable(c: SFTConfig): string {
  const rows = configKeys(c).map((k) => {
    const m = KEY_MAPPINGS[k];
    if (!m) throw new Error(`config-map: no mapping for ${k}`);
    const where = m.kind === 'baked' ? 'applied by sftkit at export' : m.target ? `\`${m.kind}.${m.target}\`` : m.kind;
    return `| \`${k}\` | \`${JSON.stringify(valueOf(c, k))}\` | ${where} | ${m.note} |`;
  });
  return ['| SFTConfig key | value | PyTorch side | note |', '|---|---|---|---|', ...rows].join('\n');
}

function valueOf(c: SFTConfig, key: string): unknown {
  if (key.startsWith('peft.')) return (c.peft as unknown as Record<string, unknown>)[key.slice(5)];
  return (c as unknown as Record<string, unknown>)[key];
}
