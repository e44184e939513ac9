// A memory estimate for a training config, printed at start; the run is refused when it cannot fit.
import { existsSync, readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import type { LlamaConfig } from '../io/hf-config.js';
import type { PreparedExample } from '../data/types.js';
import type { LlamaModel } from '../model/llama.js';
import { UserError } from '../util/errors.js';
import type { SFTConfig } from './config.js';
import { formatBytes } from './metrics.js';

export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  total: number;
}

/**
 * Bytes for: frozen + trainable weights as stored, f32 gradients and AdamW m/v for trainable parameters, and
 * the activations one micro-batch keeps for backward (per token and layer: block inputs, norms, q/k/v, attention
 * output, MLP gate/up/act; plus the chunked LM head). A rough but conservative figure.
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
  return `memory estimate: ${formatBytes(e.total)} (weights ${formatBytes(e.weights)}, gradients ${formatBytes(e.gradients)}, optimizer ${formatBytes(e.optimizer)}, activations ${formatBytes(e.activations)})`;
}

/** Step 3 of a run: log the estimate for this config and refuse to start when it exceeds `available` bytes. */
export function guardMemory(
  model: LlamaModel,
  c: SFTConfig,
  counts: { allCount: number; trainableCount: number; rowTableGradients: number },
  examples: PreparedExample[],
  available: number,
  log: (line: string) => void,
): void {
  let longest = 0;
  for (const e of examples) longest = Math.max(longest, e.inputIds.length);
  const estimate = estimateTrainingMemory(model.config, {
    allParams: counts.allCount,
    trainableParams: counts.trainableCount + counts.rowTableGradients,
    weightBytesPerParam: c.bf16 && !c.full_finetune ? 2 : 4,
    tokensPerMicroBatch: c.per_device_train_batch_size * Math.min(c.max_length, longest),
    gradientCheckpointing: c.gradient_checkpointing,
  });
  log(formatEstimate(estimate));
  if (estimate.total > available) {
    throw new UserError(
      `not enough memory: this config needs about ${formatBytes(estimate.total)} but ${formatBytes(available)} is available. ` +
        `Try ${c.full_finetune ? 'LoRA (full_finetune: false), ' : ''}a smaller per_device_train_batch_size (with gradient_accumulation_steps to keep the effective batch), a smaller max_length${c.bf16 ? '' : ', bf16: true'}${c.gradient_checkpointing ? '' : ', or gradient_checkpointing: true'}.`,
    );
  }
}
