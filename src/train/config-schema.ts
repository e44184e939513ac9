// The one place where every training option is declared: name, type, default, allowed values, help, aliases.
// The YAML loader, the CLI flags of `sftkit train` and the defaults of the library API all read this table,
// so a default lives in exactly one place. Names follow TRL's SFTConfig, PEFT's LoraConfig and
// transformers' BitsAndBytesConfig so a TRL user's config reads the same here.

import { bf16Support } from '../engine/precision.js';

export type FieldType = 'string' | 'int' | 'float' | 'bool' | 'enum' | 'list' | 'bool_or_string' | 'int_list';

export interface FieldSpec {
  /** Key in the config object (peft fields live under `peft`). */
  name: string;
  type: FieldType;
  default: unknown;
  /** A default that depends on the machine, computed when a config is made (`default` then names it for help). */
  autoDefault?: () => unknown;
  help: string;
  /** Allowed values for 'enum'. */
  choices?: readonly string[];
  /** null is an accepted value (an unset optional). */
  nullable?: boolean;
  /** Inclusive lower bound for numbers; `exclusiveMin` makes it strict. */
  min?: number;
  exclusiveMin?: boolean;
  max?: number;
  /** Other spellings accepted in YAML and as flags (TRL / older transformers names). */
  aliases?: readonly string[];
  /** 'peft' for LoraConfig fields (YAML: nested `peft:` block; flags: `--lora_<name>` as in TRL's CLI). */
  group?: 'peft';
  /** Flag name when it differs from `name` (peft fields). */
  flag?: string;
}

export const SCHEDULER_TYPES = ['linear', 'cosine', 'constant', 'constant_with_warmup'] as const;
export type SchedulerType = (typeof SCHEDULER_TYPES)[number];

const FIELDS = [
  // What to train on, where to write
  {
    name: 'model',
    type: 'string',
    default: null,
    nullable: true,
    aliases: ['model_name_or_path'],
    help: 'Base model: a Hugging Face model folder',
  },
  {
    name: 'dataset',
    type: 'string',
    default: null,
    nullable: true,
    aliases: ['dataset_name', 'train_file'],
    help: 'Training data: .jsonl / .json file or a folder of them',
  },
  {
    name: 'eval_dataset',
    type: 'string',
    default: null,
    nullable: true,
    aliases: ['validation_file'],
    help: 'Held-out data for eval loss (optional)',
  },
  {
    name: 'output_dir',
    type: 'string',
    default: 'sftkit-output',
    help: 'Where checkpoints, metrics and the final adapter/model go',
  },
  // Data
  {
    name: 'max_length',
    type: 'int',
    default: 1024,
    min: 1,
    aliases: ['max_seq_length'],
    help: 'Maximum tokens per example (longer ones are truncated)',
  },
  { name: 'packing', type: 'bool', default: false, help: 'Pack several examples into each row of max_length tokens' },
  {
    name: 'assistant_only_loss',
    type: 'bool',
    default: false,
    help: 'Train only on assistant turns (conversational data)',
  },
  {
    name: 'completion_only_loss',
    type: 'bool',
    default: null,
    nullable: true,
    help: 'Train only on the completion (prompt-completion data); null = yes for such data',
  },
  {
    name: 'dataset_text_field',
    type: 'string',
    default: 'text',
    help: 'Field holding the text of language-modelling records',
  },
  // Dataset folders, splits, columns (TRL names where TRL has them)
  {
    name: 'dataset_train_split',
    type: 'string',
    default: 'train',
    help: 'Split of a dataset folder to train on (Hub file names: train-00000-of-00001.parquet, train.jsonl, train/)',
  },
  {
    name: 'dataset_test_split',
    type: 'string',
    default: 'test',
    help: 'Split of the dataset folder used for eval when eval_dataset is not set and eval_strategy asks for one',
  },
  {
    name: 'test_size',
    type: 'float',
    default: null,
    nullable: true,
    min: 0,
    max: 1,
    help: 'Hold out this fraction of the training data (seeded) as the eval split when there is none',
  },
  {
    name: 'dataset_format',
    type: 'enum',
    default: 'auto',
    choices: ['auto', 'conversational', 'sharegpt', 'prompt-completion', 'instruction', 'text'],
    help: 'Record format; auto detects it from the columns and prints what it found',
  },
  {
    name: 'dataset_messages_field',
    type: 'string',
    default: null,
    nullable: true,
    help: 'Column holding the conversation when not messages/conversations (role/content or from/value turns)',
  },
  {
    name: 'dataset_prompt_field',
    type: 'string',
    default: null,
    nullable: true,
    help: 'Column holding the prompt when not prompt',
  },
  {
    name: 'dataset_completion_field',
    type: 'string',
    default: null,
    nullable: true,
    help: 'Column holding the completion when not completion/response',
  },
  {
    name: 'dataset_tools_field',
    type: 'string',
    default: null,
    nullable: true,
    help: 'Column holding the tool schemas (JSON list or JSON text) when not tools',
  },
  {
    name: 'enable_thinking',
    type: 'bool',
    default: null,
    nullable: true,
    help: 'Passed to the chat template as enable_thinking (Qwen3); null = not passed',
  },
  {
    name: 'reasoning_history',
    type: 'enum',
    default: 'template',
    choices: ['template', 'drop', 'keep'],
    help: "Earlier turns' reasoning: as the template renders it, dropped, or kept (one example per exchange)",
  },
  {
    name: 'eos_token',
    type: 'string',
    default: null,
    nullable: true,
    help: "Token that ends each example; null = the tokenizer's eos",
  },
  // Schedule
  {
    name: 'num_train_epochs',
    type: 'float',
    default: 3,
    min: 0,
    exclusiveMin: true,
    help: 'Passes over the training data (ignored when max_steps > 0)',
  },
  {
    name: 'max_steps',
    type: 'int',
    default: -1,
    min: -1,
    help: 'Total optimizer steps; -1 = derive from num_train_epochs',
  },
  {
    name: 'per_device_train_batch_size',
    type: 'int',
    default: 8,
    min: 1,
    aliases: ['batch_size'],
    help: 'Examples (rows) per micro-batch',
  },
  { name: 'per_device_eval_batch_size', type: 'int', default: 8, min: 1, help: 'Examples per eval batch' },
  { name: 'gradient_accumulation_steps', type: 'int', default: 1, min: 1, help: 'Micro-batches per optimizer step' },
  {
    name: 'learning_rate',
    type: 'float',
    default: 2e-5,
    min: 0,
    exclusiveMin: true,
    aliases: ['lr'],
    help: 'Peak learning rate (AdamW)',
  },
  {
    name: 'lr_scheduler_type',
    type: 'enum',
    default: 'linear',
    choices: SCHEDULER_TYPES,
    help: 'Learning-rate schedule after warmup',
  },
  {
    name: 'warmup_ratio',
    type: 'float',
    default: 0,
    min: 0,
    max: 1,
    help: 'Warmup as a fraction of total steps (ceil)',
  },
  { name: 'warmup_steps', type: 'int', default: 0, min: 0, help: 'Warmup steps; overrides warmup_ratio when > 0' },
  { name: 'weight_decay', type: 'float', default: 0, min: 0, help: 'AdamW decoupled weight decay' },
  { name: 'adam_beta1', type: 'float', default: 0.9, min: 0, max: 1, help: 'AdamW beta1' },
  { name: 'adam_beta2', type: 'float', default: 0.999, min: 0, max: 1, help: 'AdamW beta2' },
  { name: 'adam_epsilon', type: 'float', default: 1e-8, min: 0, exclusiveMin: true, help: 'AdamW epsilon' },
  {
    name: 'optim',
    type: 'enum',
    default: 'adamw_torch',
    choices: ['adamw_torch', 'adamw_torch_fused', 'adamw'],
    help: 'Optimizer (AdamW only)',
  },
  {
    name: 'max_grad_norm',
    type: 'float',
    default: 1.0,
    min: 0,
    help: 'Clip the global gradient norm to this (0 = no clipping)',
  },
  { name: 'seed', type: 'int', default: 42, min: 0, help: 'Seed for initialisation, data order, dropout and noise' },
  // Logging, eval, checkpoints
  { name: 'logging_steps', type: 'int', default: 10, min: 1, help: 'Log train loss every N optimizer steps' },
  {
    name: 'eval_strategy',
    type: 'enum',
    default: 'no',
    choices: ['no', 'steps', 'epoch'],
    aliases: ['evaluation_strategy'],
    help: 'When to compute eval loss',
  },
  {
    name: 'eval_steps',
    type: 'int',
    default: null,
    nullable: true,
    min: 1,
    help: 'Eval every N steps (eval_strategy steps); null = logging_steps',
  },
  {
    name: 'save_strategy',
    type: 'enum',
    default: 'steps',
    choices: ['no', 'steps', 'epoch'],
    help: 'When to write checkpoint-N/',
  },
  { name: 'save_steps', type: 'int', default: 500, min: 1, help: 'Write checkpoint-N/ every N optimizer steps' },
  {
    name: 'save_total_limit',
    type: 'int',
    default: null,
    nullable: true,
    min: 1,
    help: 'Keep at most this many checkpoints (oldest pruned)',
  },
  {
    name: 'resume_from_checkpoint',
    type: 'bool_or_string',
    default: null,
    nullable: true,
    help: 'true = latest checkpoint in output_dir, or a checkpoint folder',
  },
  // Precision, memory, regularisation
  {
    name: 'bf16',
    type: 'bool',
    default: 'auto',
    autoDefault: () => bf16Support().native,
    help: 'Frozen weights in bf16 with bf16 GEMMs (fp32 accumulation, fp32 trainable weights); auto = true where the CPU multiplies bf16 natively (AVX512_BF16, AMX, Arm BF16), as TRL defaults bf16 to true',
  },
  {
    name: 'gradient_checkpointing',
    type: 'bool',
    default: false,
    help: 'Recompute block activations in backward to save memory',
  },
  {
    name: 'neftune_noise_alpha',
    type: 'float',
    default: null,
    nullable: true,
    min: 0,
    help: 'NEFTune: uniform noise on embeddings scaled alpha/sqrt(seq·dim)',
  },
  // Method
  { name: 'full_finetune', type: 'bool', default: false, help: 'Train every weight instead of a LoRA adapter' },
  {
    name: 'train_untrained_tokens',
    type: 'bool',
    default: true,
    help: 'Detect special tokens with untrained embedding rows and train those rows (LoRA)',
  },
  // QLoRA (bitsandbytes names)
  { name: 'load_in_4bit', type: 'bool', default: false, help: 'QLoRA: store frozen weights in NF4' },
  { name: 'bnb_4bit_quant_type', type: 'enum', default: 'nf4', choices: ['nf4', 'fp4'], help: '4-bit data type' },
  {
    name: 'bnb_4bit_use_double_quant',
    type: 'bool',
    default: false,
    help: 'Quantize the NF4 scales too (double quantization)',
  },
  {
    name: 'bnb_4bit_compute_dtype',
    type: 'enum',
    default: 'float32',
    choices: ['float32', 'bfloat16', 'f32', 'bf16'],
    help: 'Compute dtype of 4-bit GEMMs',
  },
  // PEFT LoraConfig (YAML: under `peft:`; flags: --lora_r, --lora_alpha, ...)
  { name: 'r', group: 'peft', flag: 'lora_r', type: 'int', default: 8, min: 1, help: 'LoRA rank' },
  {
    name: 'lora_alpha',
    group: 'peft',
    flag: 'lora_alpha',
    type: 'float',
    default: 16,
    min: 0,
    exclusiveMin: true,
    help: 'LoRA scale numerator (scale = alpha/r, or alpha/sqrt(r) with rsLoRA)',
  },
  {
    name: 'lora_dropout',
    group: 'peft',
    flag: 'lora_dropout',
    type: 'float',
    default: 0.05,
    min: 0,
    max: 0.99,
    help: 'Dropout on the LoRA input',
  },
  {
    name: 'target_modules',
    group: 'peft',
    flag: 'lora_target_modules',
    type: 'list',
    default: null,
    nullable: true,
    help: "Module names (q_proj,v_proj,...) or 'all-linear'; null = q_proj,v_proj as PEFT",
  },
  {
    name: 'bias',
    group: 'peft',
    flag: 'lora_bias',
    type: 'enum',
    default: 'none',
    choices: ['none'],
    help: "LoRA bias ('none' only)",
  },
  {
    name: 'use_rslora',
    group: 'peft',
    flag: 'use_rslora',
    type: 'bool',
    default: false,
    help: 'rsLoRA scale alpha/sqrt(r)',
  },
  {
    name: 'trainable_token_indices',
    group: 'peft',
    flag: 'trainable_token_indices',
    type: 'int_list',
    default: null,
    nullable: true,
    help: 'Token ids whose embedding rows train alongside LoRA (added to the detected ones)',
  },
  {
    name: 'modules_to_save',
    group: 'peft',
    flag: 'modules_to_save',
    type: 'list',
    default: null,
    nullable: true,
    help: 'Whole modules to train and save (embed_tokens, lm_head): not supported yet, refused with LoRA',
  },
] as const satisfies readonly FieldSpec[];

/** Every option's spec, for code that walks the table (YAML reader, flags, defaults). */
export const CONFIG_FIELDS: readonly FieldSpec[] = FIELDS;

type Field = (typeof FIELDS)[number];

/** The TypeScript type of a field's values, from its spec. */
type ValueOf<F extends FieldSpec> = F['type'] extends 'string'
  ? string
  : F['type'] extends 'int' | 'float'
    ? number
    : F['type'] extends 'bool'
      ? boolean
      : F['type'] extends 'enum'
        ? F extends { choices: readonly (infer C)[] }
          ? C
          : never
        : F['type'] extends 'list'
          ? string[]
          : F['type'] extends 'int_list'
            ? number[]
            : F['type'] extends 'bool_or_string'
              ? boolean | string
              : never;

type FieldValue<F extends FieldSpec> = F extends { nullable: true } ? ValueOf<F> | null : ValueOf<F>;

/** PEFT LoraConfig fields (the `peft:` block), typed from the table above. */
export type LoraConfig = { [F in Extract<Field, { group: 'peft' }> as F['name']]: FieldValue<F> };

/** Every training option, typed from the table above (the one declaration). */
export type SFTConfig = { [F in Exclude<Field, { group: 'peft' }> as F['name']]: FieldValue<F> } & {
  peft: LoraConfig;
};

export function fieldsOf(group: 'peft' | undefined): FieldSpec[] {
  return CONFIG_FIELDS.filter((f) => f.group === group);
}
