// Shared pieces of the generation tests: a tiny model whose weights are scrambled so greedy decoding is not
// trivially repetitive, a reference greedy loop over full forward passes, and a random LoRA.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { SplitMix64 } from '../../src/util/random.js';

/** A fresh tiny model folder (2 layers, hidden 64, GQA 4/2, untied head, byte-level BPE ChatML tokenizer). */
export async function tinyModelDir(
  root: string,
  opts: { tied?: boolean; arch?: 'llama' | 'qwen2' | 'qwen3' | 'gemma3'; overrides?: Record<string, unknown> } = {},
): Promise<string> {
  const dir = mkdtempSync(join(root ?? tmpdir(), 'tiny-'));
  await createModel({
    preset: 'tiny',
    out: dir,
    seed: 3,
    arch: opts.arch ?? 'llama',
    tokenizer: 'bpe',
    overwrite: true,
    configOverrides: { tie_word_embeddings: opts.tied ?? false, ...opts.overrides },
  });
  return dir;
}

/** Replace the weights with larger random values: logits then depend on the whole context. */
export function scramble(model: LlamaModel, seed = 7): LlamaModel {
  const rng = new SplitMix64(seed);
  for (const l of model.linears()) rng.fillUniform(l.weight.data as Float32Array, 2 / Math.sqrt(l.inFeatures));
  rng.fillUniform(model.embedTokens.data as Float32Array, 1);
  if (!model.tied) rng.fillUniform(model.lmHead.data as Float32Array, 4 / Math.sqrt(model.config.hiddenSize));
  return model;
}

/** LoRA on every linear with non-zero B (PEFT init has B = 0, which would make the adapter a no-op). */
export function randomLora(model: LlamaModel, seed = 11): void {
  model.attachLora({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear', useRslora: false }, seed);
  const rng = new SplitMix64(seed + 1);
  for (const m of model.linears()) rng.fillUniform(m.lora!.b.data as Float32Array, 0.5);
}

/** Greedy decoding by a full forward pass over the whole sequence for every new token (no cache). */
export function greedyByFullForward(model: LlamaModel, prompt: number[], n: number): number[] {
  const V = model.config.vocabSize;
  const ids = [...prompt];
  for (let s = 0; s < n; s++) {
    const logits = model.logits({ batch: 1, seq: ids.length, inputIds: Int32Array.from(ids) });
    const row = (logits.data as Float32Array).subarray((ids.length - 1) * V, ids.length * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
    logits.dispose();
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

/** Last-position logits of a full forward pass. */
export function lastLogits(model: LlamaModel, ids: number[]): Float32Array {
  const V = model.config.vocabSize;
  const logits = model.logits({ batch: 1, seq: ids.length, inputIds: Int32Array.from(ids) });
  const out = Float32Array.from((logits.data as Float32Array).subarray((ids.length - 1) * V));
  logits.dispose();
  return out;
}
