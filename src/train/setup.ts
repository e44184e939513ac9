// Step 1 of a run: load the model, tokenizer and data, and set up the training method (LoRA, full fine-tuning,
// trainable token rows, gradient checkpointing). Nothing here trains.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dataProgress } from '../data/progress.js';
import { bf16Support, type Bf16Support } from '../engine/precision.js';
import { prepareDataset, type DatasetInput } from '../data/pipeline.js';
import type { PreparedExample } from '../data/types.js';
import { loadLlamaConfig, type LlamaConfig } from '../io/hf-config.js';
import { LlamaModel } from '../model/llama.js';
import type { LoraConfig as ModelLoraConfig } from '../model/lora.js';
import { TokenRowsAdapter } from '../model/token-rows.js';
import { quantizedBaseReport, quantizeOptionsOf } from '../quant/index.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { accessProblem, UserError } from '../util/errors.js';
import type { LoraConfig, SFTConfig } from './config.js';
import { findUntrainedRows, specialLabelTokens } from './untrained-rows.js';

/** What a run trains on and with. */
export interface RunSetup {
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** The HF folder the model came from (tokenizer files, base_model_name_or_path), when known. */
  modelDir: string | null;
  trainExamples: PreparedExample[];
  evalExamples: PreparedExample[];
  /** Adapted embedding / LM-head rows trained alongside LoRA (null when none). */
  tokenRows: TokenRowsAdapter | null;
}

export interface SetupInputs {
  /** A loaded model (else config.model is loaded). */
  model: LlamaModel | null;
  tokenizer: Tokenizer | null;
  modelDir: string | null;
  trainDataset: DatasetInput | null;
  evalDataset: DatasetInput | null;
  /**
   * Called with the model's config.json and the prepared training examples before the weights are loaded, and
   * again with the number of token rows once they are known (the memory guard: it throws to refuse the run).
   */
  beforeLoad?: (model: LlamaConfig, train: PreparedExample[], tokenRows: number) => void;
}

/** PEFT's default targets for Llama-family models. */
const DEFAULT_TARGETS = ['q_proj', 'v_proj'];

export function toModelLoraConfig(p: LoraConfig): ModelLoraConfig {
  const t = p.target_modules;
  return {
    r: p.r,
    loraAlpha: p.lora_alpha,
    loraDropout: p.lora_dropout,
    targetModules: t === null ? DEFAULT_TARGETS : t.length === 1 && t[0] === 'all-linear' ? 'all-linear' : t,
    useRslora: p.use_rslora,
  };
}

/** A run's first line: the precision and instruction-set path it trains with, and why. */
export function precisionReport(bf16: boolean, s: Bf16Support = bf16Support()): string {
  const path = `instruction set ${s.isa}`;
  if (bf16)
    return s.native
      ? `precision: bf16 weights and GEMMs, f32 accumulation (the default where the CPU multiplies bf16 natively: ${path}; bf16: false trains in f32)`
      : `precision: bf16 weights and GEMMs, f32 accumulation (bf16: true; ${path} has no native bf16 products, so they run as f32 products of bf16-rounded values)`;
  return s.native
    ? `precision: f32 (bf16: false; ${path} multiplies bf16 natively, so bf16: true would be faster)`
    : `precision: f32 (the default on ${path}, which has no native bf16 products)`;
}

export async function setUpRun(c: SFTConfig, inputs: SetupInputs, log: (line: string) => void): Promise<RunSetup> {
  log(precisionReport(c.bf16));
  let modelDir: string | null;
  if (inputs.model) {
    modelDir = inputs.modelDir ?? c.model;
    if (!inputs.tokenizer && !modelDir)
      throw new UserError('SFTTrainer: pass `tokenizer` (or `modelDir`) with a loaded model');
  } else {
    if (!c.model) throw new UserError('model is not set (a Hugging Face model folder)');
    const denied = accessProblem(join(c.model, 'config.json'));
    if (!existsSync(join(c.model, 'config.json')))
      throw new UserError(
        `model: ${c.model} ${denied ? `cannot be read: ${denied}` : !existsSync(c.model) ? 'does not exist' : statSync(c.model).isDirectory() ? 'is not a Hugging Face model folder (no config.json)' : 'is a file; expected a Hugging Face model folder (config.json, model.safetensors, tokenizer files)'}`,
      );
    modelDir = c.model;
  }
  const tokenizer = inputs.tokenizer ?? (await Tokenizer.fromDir(modelDir!));
  const { train, eval: evalExamples } = await prepareData(c, tokenizer, inputs, log);
  const listedRows = c.full_finetune ? 0 : new Set(c.peft.trainable_token_indices ?? []).size;
  inputs.beforeLoad?.(inputs.model?.config ?? loadLlamaConfig(modelDir!), train, listedRows);
  const model =
    inputs.model ?? LlamaModel.load(modelDir!, { dtype: c.bf16 ? 'bf16' : 'f32', quantize: quantizeOptionsOf(c) });
  const quantReport = quantizedBaseReport(model.linears().map((m) => m.quantized));
  if (quantReport) log(quantReport);
  if (c.full_finetune && quantReport)
    throw new UserError(
      "full_finetune: the model's base weights are 4-bit quantized (QLoRA trains adapters only); load the full-precision model",
    );
  if (c.full_finetune) model.enableFullFineTuning();
  else if (!model.lora) model.attachLora(toModelLoraConfig(c.peft), c.seed);
  const tokenRows = c.full_finetune ? null : attachTokenRows(c, model, tokenizer, train, log);
  // Untrained special tokens found in the weights add rows (and whole-table gradients): estimate again.
  if (tokenRows && tokenRows.ids.length > listedRows) inputs.beforeLoad?.(model.config, train, tokenRows.ids.length);
  // Per decoder block: activations are recomputed in backward (one block's at a time are held).
  model.gradientCheckpointing = c.gradient_checkpointing;
  return { model, tokenizer, modelDir, trainExamples: train, evalExamples, tokenRows };
}

/** The train and eval examples through the data pipeline (cached under output_dir/data-cache). */
async function prepareData(
  c: SFTConfig,
  tokenizer: Tokenizer,
  inputs: SetupInputs,
  log: (line: string) => void,
): Promise<{ train: PreparedExample[]; eval: PreparedExample[] }> {
  const trainInput = inputs.trainDataset ?? c.dataset;
  if (!trainInput) throw new UserError('dataset is not set (a .jsonl/.json file or folder)');
  const data = await prepareDataset(tokenizer, {
    train: trainInput,
    eval: inputs.evalDataset ?? c.eval_dataset,
    shuffle: false, // the batch planner shuffles, per epoch, from the seed
    textField: c.dataset_text_field,
    format: c.dataset_format,
    ...(c.dataset_messages_field ? { messagesField: c.dataset_messages_field } : {}),
    ...(c.dataset_prompt_field ? { promptField: c.dataset_prompt_field } : {}),
    ...(c.dataset_completion_field ? { completionField: c.dataset_completion_field } : {}),
    ...(c.dataset_tools_field ? { toolsField: c.dataset_tools_field } : {}),
    trainSplit: c.dataset_train_split,
    testSplit: c.dataset_test_split,
    evalFromTestSplit: c.eval_strategy !== 'no',
    ...(c.test_size ? { evalRatio: c.test_size, seed: c.seed } : {}),
    ...(c.enable_thinking !== null ? { templateExtra: { enable_thinking: c.enable_thinking } } : {}),
    reasoningHistory: c.reasoning_history,
    onProgress: dataProgress(),
    maxLength: c.max_length,
    lossKeys: { assistant_only_loss: c.assistant_only_loss, completion_only_loss: c.completion_only_loss },
    ...(c.eos_token ? { eosToken: c.eos_token } : {}),
    tokenizerDir: tokenizer.dir,
    outputDir: c.output_dir,
  });
  log(data.summary.train + (data.fromCache ? ' (from the data cache)' : ''));
  for (const w of data.prepare?.warnings ?? []) log(`warning: ${w}`);
  if (data.summary.eval) log(data.summary.eval);
  if (c.eval_strategy !== 'no' && data.eval.length === 0)
    throw new UserError(`eval_strategy is '${c.eval_strategy}' but no eval_dataset is set`);
  return { train: data.train, eval: data.eval };
}

/**
 * Token rows trained alongside LoRA: peft.trainable_token_indices, plus the special tokens in the labels whose
 * embedding rows look untrained (train_untrained_tokens).
 */
function attachTokenRows(
  c: SFTConfig,
  model: LlamaModel,
  tok: Tokenizer,
  examples: PreparedExample[],
  log: (line: string) => void,
): TokenRowsAdapter | null {
  const ids = new Set<number>(c.peft.trainable_token_indices ?? []);
  if (c.train_untrained_tokens) {
    const labelIds = new Set<number>();
    for (const ex of examples) ex.inputIds.forEach((id, t) => ex.assistantMask[t] && labelIds.add(id));
    const candidates = specialLabelTokens(labelIds, tok.specialTokenIds);
    const D = model.config.hiddenSize;
    const V = model.config.vocabSize;
    const name = (id: number) => tok.idToToken(id) ?? `#${id}`;
    const tables = model.tied ? [model.embedTokens] : [model.embedTokens, model.lmHead];
    const found = new Map<number, string>();
    for (const t of tables) {
      for (const s of findUntrainedRows(t.toF32(), V, D, candidates, name))
        if (!found.has(s.id)) found.set(s.id, s.reason);
    }
    for (const [id, reason] of found) {
      log(
        `untrained token row: ${name(id)} (id ${id}) occurs in the labels but its embedding looks untrained: ${reason}; training this row alongside LoRA (set train_untrained_tokens: false to turn off)`,
      );
      ids.add(id);
    }
  }
  if (ids.size === 0) return null;
  return TokenRowsAdapter.attachTrainable(
    model,
    [...ids].sort((a, b) => a - b),
  );
}
