// The memory a training run needs, printed at start; the run is refused before the weights load when it
// cannot fit. estimateRunMemory models what sftkit's engine holds at the peak of a step, from config.json and the
// run's settings alone:
//   runtime      Node, V8 and the addon before any model is loaded (measured: see RUNTIME_BYTES)
//   weights      as stored: bf16/f32 dense matrices, NF4 codes + scales, f32 norms, biases and LoRA A/B; tables
//                widened to f32 when token rows train; every weight f32 for full fine-tuning
//   gradients    f32 for every trainable parameter (kept between steps: zeroGrad fills them), plus the whole
//                tables' gradients when token rows train
//   optimizer    AdamW m and v, f32, for every trainable parameter
//   activations  every op output the autograd tape keeps from the forward until backward reaches it (the engine
//                frees nothing earlier), each rounded up to the buffer pool's size class, plus the chunked LM head
//                (one chunk of logits, dHidden, and dW when the head trains) and one MLP-wide gradient of backward
//   final save   full fine-tuning only: writing the model holds an f32 copy of it while the pool still keeps the
//                released activation buffers (up to its free limit); the peak of the run when larger than the steps'
import { capacityFor, poolFreeLimit } from '../engine/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import type { LlamaConfig } from '../io/hf-config.js';
import { isLoraTarget, LINEAR_MODULES } from '../model/lora.js';
import { UserError } from '../util/errors.js';
import type { SFTConfig } from './config.js';
import { formatBytes } from './metrics.js';

export interface MemoryEstimate {
  /** Node, V8 and the addon (0 in the GPU planner's framework-neutral estimate). */
  runtime?: number;
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  /**
   * Full fine-tuning: what the final save holds beside the weights and optimizer state (the pool's retained
   * activation buffers, up to its free limit, and the f32 copy being written); the peak when above activations.
   */
  finalSave?: number;
  total: number;
}

/**
 * A framework-neutral figure (the GPU planner's, src/handoff/gpu-plan.ts): frozen + trainable weights as stored,
 * f32 gradients and AdamW m/v for trainable parameters, and per-token activations of a PyTorch-style forward.
 * sftkit's own runs use estimateRunMemory, which models this engine.
 */
export function estimateTrainingMemory(
  c: LlamaConfig,
  opts: {
    allParams: number;
    trainableParams: number;
    weightBytesPerParam: number;
    tokensPerMicroBatch: number;
    gradientCheckpointing: boolean;
  },
): MemoryEstimate {
  const weights =
    opts.allParams * opts.weightBytesPerParam + (opts.weightBytesPerParam === 4 ? 0 : opts.trainableParams * 4);
  const gradients = opts.trainableParams * 4;
  const optimizer = opts.trainableParams * 8;
  const D = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perTokenPerLayer = (4 * D + 2 * q + 2 * kv + 4 * c.intermediateSize) * 4;
  const layersHeld = opts.gradientCheckpointing ? 1 : c.numLayers;
  const lmHeadChunk = 1024 * c.vocabSize * 4 * 2;
  const activations =
    opts.tokensPerMicroBatch *
      (perTokenPerLayer * layersHeld + (opts.gradientCheckpointing ? D * 4 * c.numLayers : 0) + 2 * D * 4) +
    lmHeadChunk;
  return { weights, gradients, optimizer, activations, total: weights + gradients + optimizer + activations };
}

/** Memory the OS can give this process now (MemAvailable on Linux, else free memory). */
export function availableMemoryBytes(): number {
  try {
    if (existsSync('/proc/meminfo')) {
      const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
      if (m) return Number(m[1]) * 1024 + process.memoryUsage().rss;
    }
  } catch {
    // fall through
  }
  return freemem() + process.memoryUsage().rss;
}

export function formatEstimate(e: MemoryEstimate): string {
  return `memory estimate: ${formatBytes(e.total)} (${e.runtime ? `runtime ${formatBytes(e.runtime)}, ` : ''}weights ${formatBytes(e.weights)}, gradients ${formatBytes(e.gradients)}, optimizer ${formatBytes(e.optimizer)}, activations ${formatBytes(e.activations)}${e.finalSave ? `, final save ${formatBytes(e.finalSave)}` : ''})`;
}

/** Node + V8 + the addon + sftkit's modules, resident before a model loads (RSS measured on this engine: 0.09 GiB). */
export const RUNTIME_BYTES = 96 * 2 ** 20;

/** What a run trains, as the estimate needs it (nothing loaded). */
export interface RunMemoryInput {
  config: LlamaConfig;
  method: 'lora' | 'qlora' | 'full';
  /** Dense weights stored as bf16 (SFTConfig.bf16); full fine-tuning widens every weight to f32 regardless. */
  bf16: boolean;
  /** LoRA (and QLoRA): rank, target modules as the model's LoraConfig takes them, dropout on the adapter input. */
  lora: { r: number; targetModules: string[] | string; dropout: number; layersToTransform?: number[] | null } | null;
  /** QLoRA storage: bitsandbytes blocks of 64 with (default) double-quantized scales. */
  quant?: { blocksize: number; doubleQuant: boolean };
  /** Token rows trained alongside LoRA (trainable_token_indices plus untrained special tokens). */
  tokenRows: number;
  batch: number;
  /** Padded sequence length of the micro-batch. */
  seq: number;
  gradientCheckpointing: boolean;
  /** Dropout runs (training); off for evaluation-only estimates. Default true. */
  training?: boolean;
}

/** The pool's size class of an f32 buffer of n elements (what the allocation really takes). */
const f32Buffer = (n: number): number => capacityFor(n * 4);

/** Bytes of one 4-bit matrix of n elements: codes, per-block scales (u8 + nested f32 when double-quantized). */
export function nf4Bytes(n: number, blocksize = 64, doubleQuant = true): number {
  const blocks = Math.ceil(n / blocksize);
  return Math.ceil(n / 2) + (doubleQuant ? blocks + 4 * Math.ceil(blocks / 256) + 4 : 4 * blocks);
}

interface LinearShape {
  name: string;
  layer: number;
  out: number;
  in: number;
  bias: boolean;
}

/** The 7 projections of layer i (generated per layer: a config may claim absurd depths, refused by the total). */
function layerLinearShapes(c: LlamaConfig, i: number): LinearShape[] {
  const D = c.hiddenSize,
    q = c.numHeads * c.headDim,
    kv = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const shape: Record<(typeof LINEAR_MODULES)[number], [string, number, number, boolean]> = {
    q_proj: ['self_attn', q, D, c.attentionBias],
    k_proj: ['self_attn', kv, D, c.attentionBias],
    v_proj: ['self_attn', kv, D, c.attentionBias],
    o_proj: ['self_attn', D, q, false],
    gate_proj: ['mlp', I, D, c.mlpBias],
    up_proj: ['mlp', I, D, c.mlpBias],
    down_proj: ['mlp', D, I, c.mlpBias],
  };
  return LINEAR_MODULES.map((m) => {
    const [block, o, inF, bias] = shape[m];
    return { name: `model.layers.${i}.${block}.${m}`, layer: i, out: o, in: inF, bias };
  });
}

/** Parameters of the model config.json describes (4-bit matrices counted by their elements; a tied head once). */
export function countParameters(c: LlamaConfig): number {
  const n = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2) + c.hiddenSize;
  const layer = layerLinearShapes(c, 0).reduce((s, l) => s + l.out * l.in + (l.bias ? l.out : 0), 0);
  return n + c.numLayers * (layer + normsPerLayer(c));
}

/** Elements of one layer's norm weights: input + post-attention (+ Gemma's two), q/k norms over head_dim. */
function normsPerLayer(c: LlamaConfig): number {
  return c.hiddenSize * (c.sandwichNorms ? 4 : 2) + (c.qkNorm ? 2 * c.headDim : 0);
}

/**
 * f32 elements of the outputs one decoder layer keeps per token until backward, in forward order (see
 * LlamaModel.qkv/finishLayer): input norm, q/k/v (+ LoRA dropout copies of their inputs), q/k norms, RoPE'd q/k,
 * attention, o_proj (+ Gemma's post-attention norm), residual, pre-MLP norm, gate/up/activation, down_proj
 * (+ post-feedforward norm), residual. Returned as buffer sizes per token, so each can be rounded to its pool class.
 */
function layerOutputsPerToken(c: LlamaConfig, loraDropoutInputs: number[]): number[] {
  const D = c.hiddenSize,
    q = c.numHeads * c.headDim,
    kv = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const out = [D, q, kv, kv];
  if (c.qkNorm) out.push(q, kv);
  out.push(q, kv, q, D);
  if (c.sandwichNorms) out.push(D);
  out.push(D, D, I, I, I, D);
  if (c.sandwichNorms) out.push(D);
  out.push(D);
  return [...out, ...loraDropoutInputs];
}

/** The run's memory at the peak of a step (see the file comment for each part). */
export function estimateRunMemory(r: RunMemoryInput): MemoryEstimate {
  const c = r.config;
  const D = c.hiddenSize,
    V = c.vocabSize,
    N = r.batch * r.seq;
  const full = r.method === 'full';
  const dense = full || !r.bf16 ? 4 : 2;
  const quant = r.quant ?? { blocksize: 64, doubleQuant: true };
  const rows = full ? 0 : r.tokenRows;
  const tables = c.tieWordEmbeddings ? 1 : 2;
  const loraCfg = r.lora && !full ? { ...r.lora, loraAlpha: 1, loraDropout: r.lora.dropout, useRslora: false } : null;

  // Weights as stored, and what trains.
  let weights = 0,
    trainable = 0;
  const dropoutInputs = new Map<number, number[]>(); // layer -> LoRA dropout copies per token
  const loraLinears = new Map<number, number>(); // layer -> adapted linears
  for (let i = 0; i < c.numLayers; i++)
    for (const l of layerLinearShapes(c, i)) {
      const n = l.out * l.in;
      weights += r.method === 'qlora' ? nf4Bytes(n, quant.blocksize, quant.doubleQuant) : n * dense;
      if (l.bias) weights += 4 * l.out;
      if (full) trainable += n + (l.bias ? l.out : 0);
      else if (loraCfg && isLoraTarget(loraCfg, l.name, l.layer)) {
        const a = loraCfg.r * (l.in + l.out);
        weights += 4 * a;
        trainable += a;
        loraLinears.set(l.layer, (loraLinears.get(l.layer) ?? 0) + 1);
        if (loraCfg.loraDropout > 0 && r.training !== false) {
          const list = dropoutInputs.get(l.layer) ?? [];
          list.push(l.in);
          dropoutInputs.set(l.layer, list);
        }
      }
    }
  const norms = c.numLayers * normsPerLayer(c) + D;
  weights += 4 * norms;
  if (full) trainable += norms;
  // Embedding (and an untied head): bf16/f32 as loaded; f32 when fully trained or when rows of them train.
  weights += tables * V * D * (full || rows > 0 ? 4 : dense);
  if (full) trainable += tables * V * D;
  trainable += rows * D * tables;

  const gradients = trainable * 4 + (rows > 0 ? tables * V * D * 4 : 0);
  const optimizer = trainable * 8;

  // Activations: embedding (+ Gemma's scaled copy), each layer's outputs (or, checkpointed, each layer's input
  // plus one layer recomputed in backward), the final norm, the LM head's buffers, backward's working set.
  let activations = f32Buffer(N * D) * (c.embedScale !== null ? 2 : 1) + f32Buffer(N * D);
  const layerBytes = (layer: number): number => {
    let b = 0;
    for (const e of layerOutputsPerToken(c, dropoutInputs.get(layer) ?? [])) b += f32Buffer(N * e);
    // RMSNorm row scales, attention log-sum-exp rows, LoRA's rank-wide products X·Aᵀ.
    b += f32Buffer(N) * (c.sandwichNorms ? 4 : 2) + f32Buffer(N * c.numHeads);
    if (c.qkNorm) b += f32Buffer(N * c.numHeads) + f32Buffer(N * c.numKvHeads);
    if (loraCfg) b += (loraLinears.get(layer) ?? 0) * f32Buffer(N * loraCfg.r);
    return b;
  };
  if (r.gradientCheckpointing) {
    let most = 0;
    for (let i = 0; i < c.numLayers; i++) most = Math.max(most, layerBytes(i));
    activations += c.numLayers * f32Buffer(N * D) + most;
  } else for (let i = 0; i < c.numLayers; i++) activations += layerBytes(i);
  const chunk = Math.ceil(N / Math.ceil(N / Math.max(1, Math.floor(HEAD_CHUNK_LOGITS / V))));
  activations += f32Buffer(chunk * V) * (c.finalLogitSoftcap !== null ? 2 : 1) + f32Buffer(N * D);
  if (full || rows > 0) activations += f32Buffer(V * D); // the head's dW, computed in the forward
  // Backward's working set: its gradients replace the outputs they free, except the first MLP-wide one.
  activations += f32Buffer(N * c.intermediateSize);

  const runtime = RUNTIME_BYTES;
  const finalSave = full ? Math.min(poolFreeLimit(), activations) + 4 * countParameters(c) : 0;
  return {
    runtime,
    weights,
    gradients,
    optimizer,
    activations,
    ...(full ? { finalSave } : {}),
    total: runtime + weights + gradients + optimizer + Math.max(activations, finalSave),
  };
}

/** Rows of logits the engine's fused LM-head cross-entropy computes at once (src/engine/ops.ts). */
const HEAD_CHUNK_LOGITS = 1 << 26;

/** A run's estimate from its SFTConfig and the model's config.json: what `sftkit train` prints. */
export function runMemoryInput(
  model: LlamaConfig,
  c: SFTConfig,
  shape: { batch: number; seq: number; tokenRows: number },
): RunMemoryInput {
  const t = c.peft.target_modules;
  return {
    config: model,
    method: c.full_finetune ? 'full' : c.load_in_4bit ? 'qlora' : 'lora',
    bf16: c.bf16,
    lora: {
      r: c.peft.r,
      targetModules: t === null ? ['q_proj', 'v_proj'] : t.length === 1 && t[0] === 'all-linear' ? 'all-linear' : t,
      dropout: c.peft.lora_dropout,
    },
    quant: { blocksize: 64, doubleQuant: c.bnb_4bit_use_double_quant },
    tokenRows: shape.tokenRows,
    batch: shape.batch,
    seq: shape.seq,
    gradientCheckpointing: c.gradient_checkpointing,
  };
}

/**
 * Log the estimate for this run and refuse to start when it exceeds `available` bytes. Called before the weights
 * are loaded (src/train/setup.ts), with the longest example's length as the micro-batch's padded length.
 */
export function guardMemory(
  model: LlamaConfig,
  c: SFTConfig,
  shape: { longestExample: number; tokenRows: number },
  available: number,
  log: (line: string) => void,
): MemoryEstimate {
  const estimate = estimateRunMemory(
    runMemoryInput(model, c, {
      batch: c.per_device_train_batch_size,
      seq: Math.min(c.max_length, Math.max(1, shape.longestExample)),
      tokenRows: shape.tokenRows,
    }),
  );
  log(formatEstimate(estimate));
  if (estimate.total > available) {
    throw new UserError(
      `not enough memory: this config needs about ${formatBytes(estimate.total)} but ${formatBytes(available)} is available. ` +
        `Try ${c.full_finetune ? 'LoRA (full_finetune: false), ' : ''}a smaller per_device_train_batch_size (with gradient_accumulation_steps to keep the effective batch), a smaller max_length${c.bf16 ? '' : ', bf16: true'}${c.gradient_checkpointing ? '' : ', or gradient_checkpointing: true'}.`,
    );
  }
  return estimate;
}
