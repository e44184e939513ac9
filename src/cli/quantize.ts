// `sftkit quantize`: write a 4-bit (bitsandbytes NF4/FP4) copy of an HF model folder that transformers and sftkit load.
import { quantizeFolder } from '../quant/save.js';
import { UserError } from '../util/errors.js';
import { requireString, type Command } from './command.js';

export const command: Command = {
  name: 'quantize',
  summary: "Quantize a model's linear layers to 4 bits (bitsandbytes NF4/FP4 layout, double quantization) for QLoRA",
  usage:
    'sftkit quantize --model DIR --out DIR [--quant-type nf4|fp4] [--no-double-quant] [--compute-dtype bfloat16|float32]',
  flags: {
    model: { type: 'string', help: 'Hugging Face model folder (f32, bf16 or f16 safetensors)' },
    out: { type: 'string', help: 'Output folder' },
    'quant-type': { type: 'string', help: '4-bit data type: nf4 or fp4', default: 'nf4' },
    'no-double-quant': { type: 'boolean', help: 'Keep the block scales in f32 instead of quantizing them to 8 bits' },
    'compute-dtype': {
      type: 'string',
      help: 'bnb_4bit_compute_dtype recorded in config.json: bfloat16 or float32',
      default: 'bfloat16',
    },
  },
  async run(flags) {
    const modelDir = requireString(flags, 'model', 'quantize');
    const outDir = requireString(flags, 'out', 'quantize');
    const quantType = flags['quant-type'] ?? 'nf4';
    if (quantType !== 'nf4' && quantType !== 'fp4')
      throw new UserError(`sftkit quantize: --quant-type must be nf4 or fp4, got '${String(quantType)}'`);
    const computeRaw = flags['compute-dtype'] ?? 'bfloat16';
    const computeDtype = computeRaw === 'bf16' ? 'bfloat16' : computeRaw === 'f32' ? 'float32' : computeRaw;
    if (computeDtype !== 'bfloat16' && computeDtype !== 'float32')
      throw new UserError(`sftkit quantize: --compute-dtype must be bfloat16 or float32, got '${String(computeRaw)}'`);
    const doubleQuant = !flags['no-double-quant'];
    const r = await quantizeFolder(modelDir, outDir, { quantType, doubleQuant, computeDtype });
    const fmt = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    process.stdout.write(
      `quantized ${r.linears} linears (${fmt(r.params)} params) to ${quantType}${doubleQuant ? ' with double quantization' : ''}: ` +
        `${(r.bytes / 1e6).toFixed(2)} MB, ${(r.bytes / r.params).toFixed(4)} bytes/param -> ${outDir}` +
        `${r.files.length ? `; copied ${r.files.join(', ')}` : ''}\n`,
    );
  },
};
