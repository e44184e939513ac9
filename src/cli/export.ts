// `sftkit export gguf`: write a GGUF for llama.cpp / Ollama / LM Studio (optionally merging a LoRA adapter).
import { UserError } from '../util/errors.js';
import { requireString, type Command } from './command.js';

const FORMATS = ['gguf'];

export const command: Command = {
  name: 'export',
  summary: 'Export a model (+ optional LoRA adapter) to GGUF for llama.cpp, Ollama and LM Studio',
  usage:
    'sftkit export gguf --model DIR [--adapter DIR] --out FILE.gguf [--outtype f32|f16|bf16|q8_0] [--ollama] [--name NAME]',
  positionals: true,
  flags: {
    model: { type: 'string', help: 'Hugging Face model folder (Llama, Mistral, SmolLM, Qwen2)' },
    adapter: { type: 'string', help: 'PEFT LoRA adapter folder, merged into the weights first' },
    out: { type: 'string', help: 'Output .gguf file (written atomically)' },
    outtype: {
      type: 'string',
      help: 'Weight type of the 2-D tensors: f32, f16, bf16 or q8_0 (norms and biases stay f32)',
      default: 'f16',
    },
    ollama: { type: 'boolean', help: 'Also write an Ollama Modelfile beside the GGUF' },
    name: { type: 'string', help: 'general.name stored in the file (default: the model folder name)' },
  },
  async run(flags, positionals) {
    const format = positionals[0];
    if (format === undefined)
      throw new UserError(
        `sftkit export: name the format, e.g. 'sftkit export gguf --model DIR --out FILE.gguf' (formats: ${FORMATS.join(', ')})`,
      );
    if (!FORMATS.includes(format) || positionals.length > 1)
      throw new UserError(`sftkit export: unknown format '${positionals.join(' ')}' (formats: ${FORMATS.join(', ')})`);
    const { exportGguf, GGUF_OUT_TYPES } = await import('../export/gguf/export.js');
    const outType = String(flags.outtype ?? 'f16');
    if (!(GGUF_OUT_TYPES as readonly string[]).includes(outType))
      throw new UserError(
        `sftkit export gguf: --outtype must be one of ${GGUF_OUT_TYPES.join(', ')}, got '${outType}'`,
      );
    const r = await exportGguf({
      modelDir: requireString(flags, 'model', 'export gguf'),
      outFile: requireString(flags, 'out', 'export gguf'),
      outType: outType as (typeof GGUF_OUT_TYPES)[number],
      adapterDir: typeof flags.adapter === 'string' ? flags.adapter : undefined,
      name: typeof flags.name === 'string' ? flags.name : undefined,
      ollama: flags.ollama === true,
    });
    const counts = new Map<string, number>();
    for (const t of Object.values(r.tensorTypes)) counts.set(t, (counts.get(t) ?? 0) + 1);
    const types = [...counts].map(([t, n]) => `${n} ${t}`).join(', ');
    process.stdout.write(
      `wrote ${r.path} (${r.arch}, ${r.tensorCount} tensors: ${types}; ${(r.bytes / 1e6).toFixed(2)} MB)\n`,
    );
    if (r.modelfile) process.stdout.write(`wrote ${r.modelfile} (ollama create NAME -f ${r.modelfile})\n`);
  },
};
