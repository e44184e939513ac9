// The small text files of a run folder: requirements.txt, launch.sh and README.md.
import type { SFTConfig } from '../train/config.js';
import { mappingTable } from './config-map.js';
import { ACCELERATE_CONFIGS } from './accelerate-configs.js';

/**
 * Versions that work together. Checked here: transformers 4.48 (commit 9feae5fb), peft 0.20.0, accelerate
 * 1.2.1, huggingface_hub 0.27.1 on torch 1.13 (CPU, gloo). The GPU-side pins (torch, bitsandbytes, deepspeed)
 * are the releases of the same period that these versions support.
 */
export const REQUIREMENTS = `# Pinned to versions known to work together (see README.md: which were exercised where).
torch==2.5.1
transformers==4.48.0
peft==0.20.0
accelerate==1.2.1
huggingface_hub==0.27.1
safetensors==0.4.5
tokenizers==0.21.0
numpy<2.3
# load_in_4bit (QLoRA):
bitsandbytes==0.45.0
# DeepSpeed configs (accelerate/zero2.yaml, zero3.yaml) only:
# deepspeed==0.16.2
`;

export const LAUNCH_SH = `#!/usr/bin/env bash
# Start the exported run with one of the accelerate configs in accelerate/ (see README.md):
#   ./launch.sh 1gpu | ddp | fsdp | zero2 | zero3 | multinode [accelerate launch options...] [-- train.py options...]
# e.g. ./launch.sh ddp --num_processes 4      ./launch.sh fsdp -- --model /models/my-base
set -euo pipefail
cd "$(dirname "$0")"
name="\${1:-ddp}"
shift || true
if [ ! -f "accelerate/\${name}.yaml" ]; then
  echo "launch.sh: no accelerate/\${name}.yaml (choose one of: ${ACCELERATE_CONFIGS.join(' ')})" >&2
  exit 2
fi
launch_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do launch_args+=("$1"); shift; done
[ "\${1:-}" = "--" ] && shift
exec accelerate launch --config_file "accelerate/\${name}.yaml" "\${launch_args[@]}" train.py "$@"
`;

export interface ReadmeInfo {
  config: SFTConfig;
  configFile: string | null;
  steps: number;
  microBatches: number;
  trainedTokens: number;
  method: string;
  baseModel: string;
  copiedModel: boolean;
  gpuPlan: string | null;
  architecture: string;
}

export function runReadme(i: ReadmeInfo): string {
  const c = i.config;
  const g = c.gradient_accumulation_steps;
  return `# sftkit run: ${i.method} on PyTorch (transformers + PEFT + accelerate)

Written by \`sftkit export-run\`${i.configFile ? ` from \`${i.configFile}\`` : ''}. It is the same fine-tune \`sftkit train\` would
run: the same batches in the same order, the same initial weights, the same loss normalisation, the same optimizer
and schedule. Copy this folder to the GPU machine(s), install \`requirements.txt\`, start \`launch.sh\`, copy
\`output/\` back and run \`sftkit import-run THIS_FOLDER\`.

| what | where |
|---|---|
| base model | ${i.copiedModel ? '`base_model/` (a copy)' : `\`${i.baseModel}\` (not copied: pass \`-- --model PATH\` to launch.sh)`} |
| training data | \`data/\`: ${i.microBatches} micro-batches for ${i.steps} optimizer steps, ${i.trainedTokens.toLocaleString('en-US')} trained tokens (\`index.json\` + safetensors shards) |
| initial weights | ${c.full_finetune ? 'the base model itself (full fine-tuning)' : '`initial_adapter/` (PEFT, loaded with `is_trainable=True`)'} |
| script | \`train.py\` (reads \`run.json\`) |
| launch | \`launch.sh\` with a config of \`accelerate/\` |
| result | \`output/\`: ${c.full_finetune ? 'the model' : 'the PEFT adapter'}, \`losses.jsonl\` (every step), \`trainer_state.json\`, \`check_logits.safetensors\` |

## Which accelerate config

| config | when |
|---|---|
| \`1gpu\` | the run fits one GPU (\`./launch.sh 1gpu\`) |
| \`ddp\` | it fits one GPU and you have several: each GPU holds a full copy, fastest when it fits |
| \`zero2\` | weights fit one GPU but gradients + optimizer states do not (full fine-tuning): DeepSpeed shards those |
| \`fsdp\` | the weights themselves do not fit one GPU: FSDP full shard, wrapping \`${i.architecture.replace(/ForCausalLM$/, '')}DecoderLayer\` |
| \`zero3\` | as FSDP, with DeepSpeed (\`pip install deepspeed\`) |
| \`multinode\` | several machines: edit \`main_process_ip\` and \`machine_rank\` and start it on every machine |

${i.gpuPlan ? 'For the GPUs given at export:\n\n```\n' + i.gpuPlan + '\n```\n\n' : ''}Set the number of processes with \`--num_processes W\`: **W must divide ${g}** (sftkit's gradient_accumulation_steps):
optimizer step k trains on micro-batches k·${g} … k·${g}+${g - 1}, and each of the W processes accumulates ${g}/W of them,
so every W that divides ${g} trains the same tokens per step (export again with a larger gradient_accumulation_steps
for more GPUs).

Checked and not checked: on a CPU machine (torch 1.13, gloo) with transformers 4.48 (commit 9feae5fb), peft 0.20.0,
accelerate 1.2.1, huggingface_hub 0.27.1, \`accelerate launch --multi_gpu --num_processes 2\` and 1 process with
gradient accumulation reproduce \`sftkit train\`'s losses. The FSDP and DeepSpeed configs were only validated by
accelerate's own config parser and launcher argument handling (they need GPUs); load_in_4bit needs bitsandbytes on a GPU.

## The loss

Trainer's loss with \`num_items_in_batch\` is the sum of the cross-entropy over the micro-batch divided by the trained
tokens of the whole optimizer step; \`average_tokens_across_devices\` counts them over all processes (and multiplies
by the process count, which DDP's gradient averaging undoes). That is sftkit's normalisation: the mean over every
trained token of the step. Trainer counts labels before the shift, so the first label of every example is written
as -100 (it is never a target). Under DeepSpeed, train.py undoes the engine's extra division by the accumulation steps.

## Packing

${c.packing ? 'This run packs several examples per row; `position_ids` restart at 0 for each example.' : "This run does not pack (one example per row), so any attention implementation gives sftkit's result."}
transformers 4.48 with \`eager\` or \`sdpa\` attention does **not** separate packed examples by \`position_ids\` (an example
would attend to the ones before it in its row), so for packed runs train.py passes a block-diagonal causal
\`attention_mask\` [rows, 1, seq, seq] built from the position ids (as sftkit separates them; \`--no_packed_mask\` turns
it off). \`flash_attention_2\` (\`-- --attn_implementation flash_attention_2\`) separates them from \`position_ids\` itself
and gets no mask. Newer transformers releases handle packed \`position_ids\` themselves; check before turning the mask off.

## Differences that remain

- Dropout (\`lora_dropout\`) and NEFTune noise draw different random numbers (same rates).
- bf16: sftkit keeps trainable weights in f32 and runs bf16 GEMMs; here \`bf16=True\` is torch autocast.
- Float summation order differs (GPU kernels, all-reduce), so losses agree to rounding, not bit for bit.

## Every config key

${mappingTable(c)}
`;
}
