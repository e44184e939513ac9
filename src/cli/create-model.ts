// `sftkit create-model`: write a random-weight HF model folder with a ChatML tokenizer.
import type { Command } from './command.js';
import { numberFlag, requireString } from './command.js';
import { createModel, MODEL_ARCHES, MODEL_PRESETS, presetArch, type ModelPreset } from '../model/create-model.js';
import { UserError } from '../util/errors.js';

function choice<T extends string>(flags: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const v = flags[name] ?? fallback;
  if (!allowed.includes(v as T))
    throw new UserError(`sftkit create-model: --${name} must be one of ${allowed.join(', ')}, got '${String(v)}'`);
  return v as T;
}

export const command: Command = {
  name: 'create-model',
  summary: 'Write a small random-weight Hugging Face model folder (for tests and demos)',
  usage: `sftkit create-model --preset ${MODEL_PRESETS.join('|')} --out DIR [--seed N] [--arch ${MODEL_ARCHES.join('|')}] [--tokenizer byte|bpe]`,
  flags: {
    preset: { type: 'string', help: `Model shape: ${MODEL_PRESETS.join(' | ')}`, default: 'tiny' },
    out: { type: 'string', help: 'Output folder (must be new or empty)' },
    seed: { type: 'string', help: 'Random seed for the weights', default: '0' },
    arch: {
      type: 'string',
      help: "llama | qwen2 (q/k/v biases) | qwen3 (q/k norms) | gemma3 (Gemma3ForCausalLM); default: the preset's family",
    },
    tokenizer: {
      type: 'string',
      help: 'byte (256 byte tokens + ChatML specials) | bpe (merges trained on a built-in English text)',
      default: 'byte',
    },
    force: { type: 'boolean', help: 'Replace an existing model folder at --out' },
  },
  async run(flags) {
    const out = requireString(flags, 'out', 'create-model');
    const seed = numberFlag(flags, 'seed', 'create-model', 0);
    if (!Number.isSafeInteger(seed))
      throw new UserError(`sftkit create-model: --seed must be an integer, got '${String(flags.seed)}'`);
    const preset = choice<ModelPreset>(flags, 'preset', MODEL_PRESETS, 'tiny');
    const arch = choice(flags, 'arch', MODEL_ARCHES, presetArch(preset));
    const tokenizer = choice(flags, 'tokenizer', ['byte', 'bpe'] as const, 'byte');
    await createModel({ preset, out, seed, arch, tokenizer, overwrite: flags.force === true });
    process.stdout.write(`wrote ${preset} ${arch} model (seed ${seed}, ${tokenizer} tokenizer) to ${out}\n`);
  },
};
