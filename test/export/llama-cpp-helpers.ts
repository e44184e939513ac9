// Test helpers: llama.cpp (through node-llama-cpp's prebuilt CPU binaries) next to sftkit's own model.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { SeededRandom } from '../../src/util/random.js';
import { LlamaModel } from '../../src/model/llama.js';
import { LINEAR_MODULES } from '../../src/model/lora.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
export type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;

let cached: Promise<{ llama: Llama | null; reason: string | null }> | null = null;

/** llama.cpp's CPU backend from node-llama-cpp's prebuilt binaries, or the reason it cannot load here. */
export function loadLlamaCpp(): Promise<{ llama: Llama | null; reason: string | null }> {
  cached ??= (async () => {
    try {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      const llama = await getLlama({
        build: 'never',
        gpu: false,
        logLevel: LlamaLogLevel.error,
        progressLogs: false,
        skipDownload: true,
      });
      return { llama, reason: null };
    } catch (e) {
      return {
        llama: null,
        reason: `node-llama-cpp cannot load a llama.cpp backend on this machine: ${(e as Error).message.split('\n')[0]}`,
      };
    }
  })();
  return cached;
}

export interface Greedy {
  ids: number[];
  /** top-1 minus top-2 logit at each step (how robust the choice is to rounding). */
  margins: number[];
}

function argmaxWithMargin(row: Float32Array): [number, number] {
  let best = 0;
  let second = -Infinity;
  for (let i = 1; i < row.length; i++) {
    if (row[i]! > row[best]!) {
      second = row[best]!;
      best = i;
    } else if (row[i]! > second) second = row[i]!;
  }
  return [best, row[best]! - second];
}

/** sftkit's greedy continuation: one full forward pass per new token (no KV cache; tiny models). */
export function sftkitGreedy(model: LlamaModel, prompt: number[], steps: number): Greedy {
  const ids = [...prompt];
  const margins: number[] = [];
  const V = model.config.vocabSize;
  for (let s = 0; s < steps; s++) {
    const logits = model.logits({ batch: 1, seq: ids.length, inputIds: Int32Array.from(ids) }).toF32();
    const [next, margin] = argmaxWithMargin(logits.subarray((ids.length - 1) * V, ids.length * V));
    ids.push(next);
    margins.push(margin);
  }
  return { ids: ids.slice(prompt.length), margins };
}

export interface LlamaCppRun {
  /** Free-running greedy continuation. */
  greedy: number[];
  /** Teacher-forced top-1 along `reference` (sftkit's continuation): agreement per position. */
  teacherForcedTop1: number[];
  /** Largest |llama.cpp logit - sftkit logit| seen along the teacher-forced positions (when given). */
  maxLogitDiff: number;
}

// An f32 KV cache (llama.cpp defaults to f16) and no flash attention, so f32 exports compute in f32 end to end.
const CONTEXT = {
  contextSize: 128,
  batchSize: 128,
  threads: 1,
  sequences: 1,
  flashAttention: false,
  experimentalKvCacheKeyType: 'F32',
  experimentalKvCacheValueType: 'F32',
} as const;

/** Load `ggufPath` in llama.cpp, continue `prompt` greedily, and replay `reference` teacher-forced. */
export async function runLlamaCpp(
  llama: Llama,
  ggufPath: string,
  prompt: number[],
  steps: number,
  reference: number[],
  sftkitModel?: LlamaModel,
): Promise<LlamaCppRun> {
  const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
  try {
    const greedy: number[] = [];
    {
      const ctx = await model.createContext(CONTEXT);
      const seq = ctx.getSequence();
      for await (const tok of seq.evaluate(prompt as never[], { temperature: 0 })) {
        greedy.push(tok as unknown as number);
        if (greedy.length >= steps) break;
      }
      await ctx.dispose();
    }
    const ctx = await model.createContext(CONTEXT);
    const input = [...prompt, ...reference.slice(0, steps - 1)];
    const items = input.map((t, i) =>
      i >= prompt.length - 1 ? ([t, { generateNext: { logits: true } }] as const) : t,
    );
    const out = await ctx.getSequence().controlledEvaluate(items as never);
    await ctx.dispose();
    const teacherForcedTop1: number[] = [];
    let maxLogitDiff = 0;
    const V = sftkitModel?.config.vocabSize ?? 0;
    const ref = sftkitModel
      ? sftkitModel.logits({ batch: 1, seq: input.length, inputIds: Int32Array.from(input) }).toF32()
      : null;
    for (let i = prompt.length - 1; i < input.length; i++) {
      const logits = out[i]?.next.logits;
      if (!logits) throw new Error(`llama.cpp returned no logits at position ${i}`);
      let best = -1;
      let bestValue = -Infinity;
      for (const [tok, v] of logits) {
        if (v > bestValue) [best, bestValue] = [tok as unknown as number, v];
        if (ref) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(v - ref[i * V + (tok as unknown as number)]!));
      }
      teacherForcedTop1.push(best);
    }
    return { greedy, teacherForcedTop1, maxLogitDiff };
  } finally {
    await model.dispose();
  }
}

/** llama.cpp's tokenization (special tokens parsed, no BOS added) of each string. */
export async function llamaCppTokenize(
  llama: Llama,
  ggufPath: string,
  texts: string[],
): Promise<{ ids: number[][]; addsBos: boolean; pre: string | null }> {
  const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0, vocabOnly: true });
  try {
    const pre = (model.fileInfo.metadata as { tokenizer?: { ggml?: { pre?: string } } }).tokenizer?.ggml?.pre ?? null;
    return {
      ids: texts.map((t) => model.tokenize(t, true).map((x) => x as unknown as number)),
      addsBos: model.tokens.shouldPrependBosToken,
      pre,
    };
  } finally {
    await model.dispose();
  }
}

/** A random PEFT LoRA adapter for every linear of `model` (nonzero B, so it changes the output). */
export async function writeRandomAdapter(
  model: LlamaModel,
  dir: string,
  seed: number,
  opts: { r?: number; alpha?: number; bStd?: number } = {},
): Promise<void> {
  const { r = 4, alpha = 8, bStd = 0.05 } = opts;
  mkdirSync(dir, { recursive: true });
  const tensors = [];
  for (const m of model.linears()) {
    const a = new Float32Array(r * m.inFeatures);
    const b = new Float32Array(m.outFeatures * r);
    new SeededRandom(seed, tensors.length + 1).fillNormal(a, 1 / Math.sqrt(m.inFeatures));
    new SeededRandom(seed, tensors.length + 2).fillNormal(b, bStd);
    tensors.push({
      name: `base_model.model.${m.name}.lora_A.weight`,
      dtype: 'F32' as const,
      shape: [r, m.inFeatures],
      data: a,
    });
    tensors.push({
      name: `base_model.model.${m.name}.lora_B.weight`,
      dtype: 'F32' as const,
      shape: [m.outFeatures, r],
      data: b,
    });
  }
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors);
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r,
    lora_alpha: alpha,
    lora_dropout: 0,
    target_modules: [...LINEAR_MODULES],
    bias: 'none',
    use_rslora: false,
    fan_in_fan_out: false,
    inference_mode: true,
    modules_to_save: null,
  };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
}
