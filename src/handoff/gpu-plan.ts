// Which accelerate config fits N GPUs of a given memory: per-GPU bytes for DDP, ZeRO-2, FSDP and ZeRO-3 from
// the estimate `sftkit train` prints (src/train/memory.ts), split the way each strategy shards it.
import type { LlamaConfig } from '../io/hf-config.js';
import { estimateTrainingMemory, type MemoryEstimate } from '../train/memory.js';
import { formatBytes } from '../train/metrics.js';
import { UserError } from '../util/errors.js';
import type { AccelerateConfigName } from './accelerate-configs.js';

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** '80GiB', '80GB', '80G' (= GiB), '40000MiB' -> bytes. */
export function parseByteSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = (m?.[2] ?? '').toLowerCase();
  const scale = unit === '' ? 1 : UNITS[unit];
  if (!m || scale === undefined || !(Number(m[1]) > 0))
    throw new UserError(`${flag}: expected a size such as 80GiB, 24GB or 40000MiB, got '${text}'`);
  return Number(m[1]) * scale;
}

export interface PlanInput {
  config: LlamaConfig;
  allParams: number;
  trainableParams: number;
  /** Parameters of one decoder layer (FSDP/ZeRO-3 gather one layer at a time). */
  layerParams: number;
  tokensPerMicroBatch: number;
  gradientCheckpointing: boolean;
  bf16: boolean;
  load4bit: boolean;
  fullFinetune: boolean;
}

export interface StrategyFit {
  config: AccelerateConfigName;
  label: string;
  perGpu: number;
  fits: boolean;
}

export interface GpuPlan {
  gpus: number;
  gpuMemory: number;
  estimate: MemoryEstimate;
  strategies: StrategyFit[];
  /** The config to use: the simplest that fits (DDP before ZeRO-2 before FSDP), or null. */
  choice: AccelerateConfigName | null;
}

/** Bytes per frozen weight: NF4 with its scales (~4.5 bits), bf16, or f32. */
function weightBytes(p: PlanInput): number {
  if (p.load4bit) return 0.5625;
  return p.bf16 ? 2 : 4;
}

/** Leave this share of each GPU for the CUDA context, allocator fragmentation and communication buffers. */
export const GPU_HEADROOM = 0.9;

export function planGpus(p: PlanInput, gpus: number, gpuMemory: number): GpuPlan {
  if (!(Number.isInteger(gpus) && gpus >= 1)) throw new UserError(`--gpus: expected a whole number >= 1, got ${gpus}`);
  const wb = weightBytes(p);
  const e = estimateTrainingMemory(p.config, {
    allParams: p.allParams,
    trainableParams: p.trainableParams,
    weightBytesPerParam: wb,
    tokensPerMicroBatch: p.tokensPerMicroBatch,
    gradientCheckpointing: p.gradientCheckpointing,
  });
  const states = e.gradients + e.optimizer;
  const layer = p.layerParams * wb;
  const budget = gpuMemory * GPU_HEADROOM;
  const fit = (config: AccelerateConfigName, label: string, perGpu: number): StrategyFit => ({
    config,
    label,
    perGpu,
    fits: perGpu <= budget,
  });
  const strategies: StrategyFit[] =
    gpus === 1
      ? [fit('1gpu', 'one GPU', e.total)]
      : [
          fit('ddp', 'DDP (replicated)', e.total),
          fit('zero2', 'ZeRO-2 (states sharded)', e.weights + states / gpus + e.activations),
          fit('fsdp', 'FSDP full shard', (e.weights + states) / gpus + layer + e.activations),
          fit('zero3', 'ZeRO-3', (e.weights + states) / gpus + layer + e.activations),
        ];
  return { gpus, gpuMemory, estimate: e, strategies, choice: strategies.find((s) => s.fits)?.config ?? null };
}

export function formatGpuPlan(plan: GpuPlan, p: PlanInput): string {
  const e = plan.estimate;
  const lines = [
    `GPU plan: ${plan.gpus} GPU(s) x ${formatBytes(plan.gpuMemory)} (${Math.round(GPU_HEADROOM * 100)}% usable); ` +
      `${p.fullFinetune ? 'full fine-tuning' : p.load4bit ? 'QLoRA (4-bit base)' : 'LoRA'}, ` +
      `${p.tokensPerMicroBatch} tokens per micro-batch${p.gradientCheckpointing ? ', gradient checkpointing' : ''}`,
    `  whole run: weights ${formatBytes(e.weights)}, gradients ${formatBytes(e.gradients)}, optimizer ${formatBytes(e.optimizer)}, activations per micro-batch ${formatBytes(e.activations)}`,
  ];
  for (const s of plan.strategies)
    lines.push(
      `  ${s.label.padEnd(24)} ${formatBytes(s.perGpu).padStart(10)} per GPU  ${s.fits ? 'fits' : 'does not fit'}  (accelerate/${s.config}.yaml)`,
    );
  lines.push(
    plan.choice
      ? `  use: accelerate/${plan.choice}.yaml (./launch.sh ${plan.choice})`
      : `  nothing fits: try ${p.load4bit ? '' : 'load_in_4bit: true, '}${p.gradientCheckpointing ? '' : 'gradient_checkpointing: true, '}a smaller per_device_train_batch_size or max_length, or more GPUs`,
  );
  return lines.join('\n');
}
