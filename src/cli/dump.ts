// `sftkit dump`: the parity contract. Logits, loss and gradients of one batch, written as F32 safetensors that
// ../shared/reference/ref_llama.py writes too, so anyone can check the math against PyTorch.
import { writeSafetensors, type StWriteTensor } from '../io/safetensors.js';
import { readBatchFile } from '../model/batch.js';
import { computeDump } from '../model/dump.js';
import { LlamaModel } from '../model/llama.js';
import { loadAdapter } from '../model/peft.js';
import { UserError } from '../util/errors.js';
import { dtypeFlag, requireString, type Command } from './command.js';

export const command: Command = {
  name: 'dump',
  summary: 'Write logits, loss and gradients of one batch (parity check against the PyTorch reference)',
  usage: 'sftkit dump --model DIR [--adapter DIR | --full] --batch BATCH.json --out OUT.safetensors [--dtype f32|bf16]',
  flags: {
    model: { type: 'string', help: 'Hugging Face model folder (config.json + safetensors)' },
    adapter: { type: 'string', help: 'PEFT LoRA adapter folder: gradients of its lora_A/lora_B tensors' },
    full: { type: 'boolean', help: 'Full fine-tuning: gradients of every weight, by HF name' },
    batch: {
      type: 'string',
      help: 'JSON {"input_ids": [[...]], "labels"?: [[...]] (-100 = ignored), "position_ids"?: [[...]]}',
    },
    out: { type: 'string', help: 'Output safetensors: logits [B,T,V], loss [1], grad.<name> (all F32)' },
    dtype: { type: 'string', help: 'Frozen-weight storage and GEMM precision: f32 or bf16', default: 'f32' },
  },
  async run(flags) {
    const modelDir = requireString(flags, 'model', 'dump');
    const batchPath = requireString(flags, 'batch', 'dump');
    const out = requireString(flags, 'out', 'dump');
    const dtype = dtypeFlag(flags.dtype, 'dump') ?? 'f32';
    const adapter = typeof flags.adapter === 'string' ? flags.adapter : null;
    if (adapter && flags.full) throw new UserError('sftkit dump: use either --adapter or --full, not both');

    const model = LlamaModel.load(modelDir, { dtype });
    if (adapter) loadAdapter(model, adapter);
    else if (flags.full) model.enableFullFineTuning();
    else model.freezeBase();
    const batch = readBatchFile(batchPath, model.config.vocabSize);

    const dump = computeDump(model, batch);
    const tensors: StWriteTensor[] = dump.map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: t.data }));
    const loss = dump.find((t) => t.name === 'loss')!.data[0]!;
    await writeSafetensors(out, tensors);
    process.stdout.write(`loss ${loss.toFixed(6)}\nwrote ${out} (${tensors.length} tensors)\n`);
  },
};
