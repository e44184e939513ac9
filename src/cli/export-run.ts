// `sftkit export-run --config sft.yaml --out RUN_DIR [--gpus N --gpu-memory 80GiB]`: the same fine-tune as a
// folder that transformers + PEFT run under accelerate (DDP, FSDP, DeepSpeed), see src/handoff/.
import type { Command } from './command.js';
import { numberFlag, requireString } from './command.js';
import { configFlags } from './train.js';
import { resolveConfig } from '../train/config.js';
import { exportRun } from '../handoff/export-run.js';
import { parseByteSize } from '../handoff/gpu-plan.js';

export const command: Command = {
  name: 'export-run',
  summary: 'Write a run folder that trains the same fine-tune on GPUs with PyTorch (accelerate: DDP/FSDP/DeepSpeed)',
  usage:
    'sftkit export-run --config FILE.yaml --out RUN_DIR [--gpus N --gpu-memory 80GiB] [--key value ...]\n' +
    'then on the GPU machine: pip install -r RUN_DIR/requirements.txt && RUN_DIR/launch.sh ddp; back here: sftkit import-run RUN_DIR',
  flags: {
    out: { type: 'string', help: 'The run folder to write (must not exist or be empty)' },
    gpus: { type: 'string', help: 'GPUs per machine: sizes the DDP/FSDP/DeepSpeed configs and the memory plan' },
    'gpu-memory': { type: 'string', help: 'Memory per GPU (80GiB, 24GB): prints which accelerate config fits' },
    'no-copy-model': { type: 'boolean', help: 'Reference the base model by path instead of copying it into RUN_DIR' },
    ...configFlags(),
  },
  async run(flags) {
    const out = requireString(flags, 'out', 'export-run');
    const gpus = numberFlag(flags, 'gpus', 'export-run', 1);
    const mem = flags['gpu-memory'];
    const config = resolveConfig({
      file: (flags.config as string | undefined) ?? null,
      flags,
      ignoreFlags: ['config', 'help', 'debug', 'out', 'gpus', 'gpu-memory', 'no-copy-model'],
    });
    await exportRun({
      config,
      out,
      configFile: (flags.config as string | undefined) ?? null,
      copyModel: flags['no-copy-model'] !== true,
      gpus,
      gpuMemory: typeof mem === 'string' ? parseByteSize(mem, '--gpu-memory') : null,
      log: (l) => process.stdout.write(l + '\n'),
    });
  },
};
