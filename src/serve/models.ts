// The models one server answers for: a base model folder and LoRA adapters on it, each under the name a
// request's `model` field picks (as vLLM's multi-LoRA serving). Adapters holding only LoRA matrices share the
// base weights: their matrices are kept apart and put on the linears before each forward pass of their rows.
// An adapter that also trained token rows (they live inside the embedding tables) gets a model of its own.
import { basename, resolve } from 'node:path';
import type { GenerationDefaults } from '../generate/generation-config.js';
import { loadForGeneration } from '../generate/load.js';
import { castWeightsToBf16 } from '../generate/weights.js';
import { readGenerationConfig } from '../generate/generation-config.js';
import { loadLlamaConfig } from '../io/hf-config.js';
import type { Linear } from '../model/linear.js';
import type { FloatDType } from '../engine/index.js';
import { LlamaModel } from '../model/llama.js';
import type { LoraAdapter } from '../model/lora.js';
import { loadAdapter, readAdapterJson } from '../model/peft.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface ServedModel {
  /** What a request's `model` names. */
  name: string;
  /** The base model's name for an adapter, else null. */
  parent: string | null;
  model: LlamaModel;
  /** The LoRA each linear of `model` carries for this name (put in place by activate()); null: nothing to swap. */
  loras: Map<Linear, LoraAdapter | null> | null;
  tokenizer: Tokenizer;
  defaults: GenerationDefaults;
  /** Unix seconds, for /v1/models. */
  created: number;
}

export interface AdapterSpec {
  name: string;
  dir: string;
}

/** `NAME=DIR` or `DIR` (named after the folder). */
export function parseAdapterFlag(v: string): AdapterSpec {
  const eq = v.indexOf('=');
  if (eq > 0) return { name: v.slice(0, eq), dir: v.slice(eq + 1) };
  return { name: basename(resolve(v)), dir: v };
}

/** Put this name's adapters on the shared linears (a pointer swap per linear). */
export function activate(m: ServedModel): void {
  if (m.loras) for (const [linear, lora] of m.loras) linear.lora = lora;
}

function hasTokenRows(dir: string): boolean {
  const json = readAdapterJson(dir).json as Record<string, unknown>;
  const t = json.trainable_token_indices;
  return t !== undefined && t !== null;
}

/** Load the base model and every adapter (each checked against the base) once, at start-up. */
export async function loadServedModels(o: {
  modelDir: string;
  adapters: AdapterSpec[];
  dtype?: FloatDType;
}): Promise<ServedModel[]> {
  const baseName = basename(resolve(o.modelDir));
  const names = new Set([baseName]);
  for (const a of o.adapters) {
    if (names.has(a.name))
      throw new UserError(
        `sftkit serve: the model name '${a.name}' is used twice (name adapters with --adapter NAME=DIR)`,
      );
    names.add(a.name);
  }
  const dtype: FloatDType = o.dtype ?? (loadLlamaConfig(o.modelDir).torchDtype === 'bfloat16' ? 'bf16' : 'f32');
  const created = Math.floor(Date.now() / 1000);
  const baseTokenizer = await Tokenizer.fromDir(o.modelDir);
  const defaults = readGenerationConfig(o.modelDir);
  // Adapters are read onto f32 tables; bf16 storage comes after, as loadForGeneration does.
  const base = LlamaModel.load(o.modelDir, { dtype: o.adapters.length > 0 ? 'f32' : dtype });
  const linears = base.linears();
  const none = () => new Map<Linear, LoraAdapter | null>(linears.map((l) => [l, null]));
  const out: ServedModel[] = [
    { name: baseName, parent: null, model: base, loras: none(), tokenizer: baseTokenizer, defaults, created },
  ];
  for (const a of o.adapters) {
    if (!existsSync(a.dir)) throw new UserError(`sftkit serve: --adapter ${a.name}=${a.dir}: no such folder`);
    if (hasTokenRows(a.dir)) {
      const own = await loadForGeneration({ modelDir: o.modelDir, adapterDir: a.dir, dtype });
      out.push({ name: a.name, parent: baseName, ...own, loras: null, created });
      continue;
    }
    for (const l of linears) l.lora = null;
    loadAdapter(base, a.dir);
    const loras = new Map<Linear, LoraAdapter | null>(linears.map((l) => [l, l.lora]));
    const tokenizer = existsSync(join(a.dir, 'tokenizer.json')) ? await Tokenizer.fromDir(a.dir) : baseTokenizer;
    out.push({ name: a.name, parent: baseName, model: base, loras, tokenizer, defaults, created });
  }
  for (const l of linears) l.lora = null;
  base.lora = null;
  if (dtype === 'bf16' && o.adapters.length > 0) castWeightsToBf16(base);
  return out;
}
