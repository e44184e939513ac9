// Everything a generation front end needs from disk: the model (f32 or bf16, with a LoRA adapter kept apart
// or merged), its tokenizer and generation defaults; plus prompt encoding (plain text or chat messages).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadLlamaConfig } from '../io/hf-config.js';
import type { FloatDType } from '../engine/index.js';
import { LlamaModel } from '../model/llama.js';
import { loadAdapter } from '../model/peft.js';
import { Tokenizer, type ChatMessage } from '../tokenizer/tokenizer.js';
import { readGenerationConfig, type GenerationDefaults } from './generation-config.js';
import { castWeightsToBf16 } from './weights.js';
import { foldLora } from '../model/fold-lora.js';

export interface LoadForGenerationOptions {
  modelDir: string;
  adapterDir?: string | null;
  /** Weight storage and GEMM precision; default: bf16 when config.json says bfloat16, else f32. */
  dtype?: FloatDType;
  /** Fold the adapter into the base weights (faster decoding) instead of applying it on the fly. */
  merge?: boolean;
}

export interface LoadedForGeneration {
  model: LlamaModel;
  tokenizer: Tokenizer;
  defaults: GenerationDefaults;
  dtype: FloatDType;
}

/** Load model (+ adapter) and tokenizer for generation. The tokenizer comes from the adapter folder when it has one. */
export async function loadForGeneration(o: LoadForGenerationOptions): Promise<LoadedForGeneration> {
  let model: LlamaModel;
  const dtype: FloatDType = o.dtype ?? defaultDtype(o.modelDir);
  if (!o.adapterDir) {
    model = LlamaModel.load(o.modelDir, { dtype });
  } else {
    // Adapters (and trained token rows) are applied to f32 tables; bf16 storage comes after.
    model = LlamaModel.load(o.modelDir, { dtype: 'f32' });
    loadAdapter(model, o.adapterDir); // LoRA matrices and any trained token rows
    if (o.merge) foldLora(model);
    if (dtype === 'bf16') castWeightsToBf16(model);
  }
  const tokDir = o.adapterDir && hasTokenizer(o.adapterDir) ? o.adapterDir : o.modelDir;
  const tokenizer = await Tokenizer.fromDir(tokDir);
  return { model, tokenizer, defaults: readGenerationConfig(o.modelDir), dtype };
}

function defaultDtype(dir: string): FloatDType {
  return loadLlamaConfig(dir).torchDtype === 'bfloat16' ? 'bf16' : 'f32';
}

function hasTokenizer(dir: string): boolean {
  return existsSync(join(dir, 'tokenizer.json'));
}

/** Token ids of a plain-text prompt (BOS added when the tokenizer adds it). */
export function encodeText(tok: Tokenizer, text: string): number[] {
  return tok.encode(text, { addSpecialTokens: true }).ids;
}

/** Token ids of a conversation rendered with the chat template and the assistant generation prompt. */
export function encodeChat(tok: Tokenizer, messages: ChatMessage[]): number[] {
  const text = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  return tok.encode(text, { addSpecialTokens: false }).ids;
}

/** Ids that end an answer: the tokenizer's eos / end-of-turn ids, else generation_config.json's eos_token_id. */
export function stopTokenIdsFor(loaded: Pick<LoadedForGeneration, 'tokenizer' | 'defaults'>): number[] {
  const ids = loaded.tokenizer.stopTokenIds;
  return ids.length ? [...ids] : [...loaded.defaults.eosTokenIds];
}

/** Id written into padding slots of a batch (they are masked out): pad, else eos, else 0. */
export function padTokenIdFor(tok: Tokenizer): number {
  return tok.padTokenId ?? tok.eosTokenId ?? 0;
}

/** Decode generated ids for display: special tokens dropped (as HF decode(skip_special_tokens=True)). */
export function decoderFor(tok: Tokenizer): (ids: number[]) => string {
  return (ids) => tok.decode(ids, { skipSpecialTokens: true });
}
