// `sftkit train --config FILE.yaml [--key value ...]`: supervised fine-tuning with TRL's config names.
// Every config key is also a flag (flags override the file); the flag table comes from the config schema.
import type { Command, FlagSpec } from './command.js';
import { CONFIG_FIELDS } from '../train/config-schema.js';
import { resolveConfig } from '../train/config.js';
import { SFTTrainer } from '../train/trainer.js';

export function configFlags(): Record<string, FlagSpec> {
  const flags: Record<string, FlagSpec> = {
    config: { type: 'string', help: 'YAML config file (TRL SFTConfig keys; LoRA keys under peft:)' },
  };
  for (const f of CONFIG_FIELDS) {
    const name = f.flag ?? f.name;
    const choices = f.choices ? ` [${f.choices.join('|')}]` : '';
    const def =
      f.default === null ? '' : ` (default: ${Array.isArray(f.default) ? f.default.join(',') : String(f.default)})`;
    // a bare boolean flag (`--full_finetune`) means true, as in transformers' HfArgumentParser
    const bare = f.type === 'bool' ? { bare: 'true' } : {};
    flags[name] = { type: 'string', help: `${f.help}${choices}${def}`, ...bare };
    for (const a of f.aliases ?? []) flags[a] = { type: 'string', help: `alias of --${name}`, ...bare };
  }
  return flags;
}

/**
 * Ctrl-C: the first asks the trainer to save a checkpoint and stop after the current step; the second quits
 * at once (exit status 130, as a shell reports SIGINT).
 */
export function interruptHandler(
  trainer: Pick<SFTTrainer, 'requestStop' | 'stopping'>,
  log: (line: string) => void,
): () => void {
  return () => {
    if (trainer.stopping) process.exit(130);
    trainer.requestStop();
    log('interrupt: saving a checkpoint after this step (press Ctrl-C again to quit now)');
  };
}

export const command: Command = {
  name: 'train',
  summary: 'Fine-tune a model (LoRA or full) with a TRL-style config',
  usage:
    'sftkit train --config FILE.yaml [--learning_rate 1e-4 --lora_r 16 ...]\nsftkit train --model DIR --dataset FILE.jsonl --output_dir DIR [--key value ...]\n(booleans take a value: --packing true)',
  flags: configFlags(),
  async run(flags) {
    const config = resolveConfig({
      file: (flags.config as string | undefined) ?? null,
      flags,
      ignoreFlags: ['config', 'help', 'debug'],
    });
    const trainer = SFTTrainer.fromConfig(config, { log: (l) => process.stdout.write(l + '\n') });
    const stopOnInterrupt = interruptHandler(trainer, (l) => process.stderr.write(l + '\n'));
    process.on('SIGINT', stopOnInterrupt);
    let result;
    try {
      result = await trainer.train();
    } finally {
      process.off('SIGINT', stopOnInterrupt);
    }
    process.stdout.write(
      result.interrupted ? `interrupted at step ${result.steps}\n` : `saved to ${result.outputDir}/\n`,
    );
    return result.interrupted ? 130 : 0;
  },
};
