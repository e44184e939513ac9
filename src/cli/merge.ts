// `sftkit merge`: fold a LoRA adapter into its base model and write a complete HF folder.
import { mergeAdapter } from '../export/merge.js';
import { dtypeFlag, requireString, type Command } from './command.js';

export const command: Command = {
  name: 'merge',
  summary: 'Merge a LoRA adapter into its base model (W + scale·B·A) and write an HF model folder',
  usage: 'sftkit merge --model DIR --adapter DIR --out DIR [--dtype f32|bf16]',
  flags: {
    model: { type: 'string', help: 'Base Hugging Face model folder' },
    adapter: { type: 'string', help: 'PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)' },
    out: { type: 'string', help: 'Output folder (config, tokenizer files, safetensors sharded above 2 GB)' },
    dtype: { type: 'string', help: 'Output weight dtype: f32 or bf16 (default: the base config torch_dtype)' },
  },
  async run(flags) {
    const modelDir = requireString(flags, 'model', 'merge');
    const adapterDir = requireString(flags, 'adapter', 'merge');
    const outDir = requireString(flags, 'out', 'merge');
    const r = await mergeAdapter(modelDir, adapterDir, outDir, { dtype: dtypeFlag(flags.dtype, 'merge') });
    process.stdout.write(
      `merged ${r.merged} LoRA modules${r.tokenRows ? ` and ${r.tokenRows} trained token row${r.tokenRows === 1 ? '' : 's'}` : ''} into ${outDir} (${r.dtype}); copied ${r.files.length ? r.files.join(', ') : 'no other files'}\n`,
    );
  },
};
