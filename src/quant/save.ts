// `sftkit quantize`: a dense HF folder -> the same folder with every decoder projection in bitsandbytes' 4-bit
// layout (what transformers' save_pretrained writes for load_in_4bit), embeddings, norms and LM head as they were.
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync, writeOutputDir } from '../io/atomic.js';
import { join, resolve } from 'node:path';
import { loadLlamaConfig } from '../io/hf-config.js';
import { copyFolderFiles, WEIGHT_FILE } from '../io/model-folder.js';
import { SafetensorsModel, writeShardedSafetensors, type StWriteTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { quantize4Bit, quantizedBytes } from './blockwise.js';
import type { QuantType } from './codebook.js';
import { quantizationConfigJson, quantizedTensors } from './serialize.js';

/** Stored dtypes that hold floats (checked for Inf/NaN before they are copied). */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** The linears transformers quantizes in a Llama-family model (every nn.Linear but lm_head). */
export const QUANTIZED_LINEAR = /^(model\.layers\.\d+\.(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj))\.weight$/;

export interface QuantizeFolderOptions {
  quantType?: QuantType;
  doubleQuant?: boolean;
  blocksize?: number;
  /** bnb_4bit_compute_dtype written to config.json; default 'bfloat16'. */
  computeDtype?: 'bfloat16' | 'float32';
}

export interface QuantizeFolderResult {
  linears: number;
  params: number;
  bytes: number;
  files: string[];
}

const TORCH_DTYPE: Record<string, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16', F64: 'float64' };

export async function quantizeFolder(
  modelDir: string,
  outDir: string,
  opts: QuantizeFolderOptions = {},
): Promise<QuantizeFolderResult> {
  if (resolve(modelDir) === resolve(outDir))
    throw new UserError(`quantize: --out must differ from --model (${outDir})`);
  const config = loadLlamaConfig(modelDir); // validates the architecture; refuses already-quantized folders' other methods
  if (config.raw.quantization_config)
    throw new UserError(`${modelDir}: config.json already has a quantization_config (the folder is quantized)`);
  const quantType = opts.quantType ?? 'nf4';
  const doubleQuant = opts.doubleQuant ?? true;
  const st = SafetensorsModel.open(modelDir);
  const tensors: StWriteTensor[] = [];
  let linears = 0;
  let params = 0;
  let bytes = 0;
  try {
    for (const [name, info] of st.tensors) {
      const m = QUANTIZED_LINEAR.exec(name);
      if (m && info.shape.length === 2) {
        const q = quantize4Bit(st.readF32(name, { finite: true }), info.shape, {
          type: quantType,
          doubleQuant,
          blocksize: opts.blocksize ?? 64,
          dtype: TORCH_DTYPE[info.dtype] ?? 'float32',
        });
        tensors.push(...quantizedTensors(m[1]!, q));
        linears++;
        params += info.shape[0]! * info.shape[1]!;
        bytes += quantizedBytes(q);
      } else {
        if (FLOAT_DTYPES.has(info.dtype)) st.readF32(name, { finite: true }); // refuse Inf/NaN, naming the tensor
        tensors.push({ name, dtype: info.dtype, shape: [...info.shape], data: st.readBytes(name) });
      }
    }
  } finally {
    st.close();
  }
  if (linears === 0)
    throw new UserError(
      `${modelDir}: no decoder projections (model.layers.N.self_attn.q_proj.weight, ...) to quantize`,
    );
  const raw = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  raw.quantization_config = quantizationConfigJson({
    quantType,
    doubleQuant,
    computeDtype: opts.computeDtype ?? 'bfloat16',
  });
  let files: string[] = [];
  await writeOutputDir(outDir, 'quantize --out', async (dir) => {
    await writeShardedSafetensors(dir, tensors, { metadata: { format: 'pt' } });
    writeFileAtomicSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2) + '\n');
    files = copyFolderFiles(modelDir, dir, (n) => !WEIGHT_FILE.test(n) && n !== 'config.json' && !n.startsWith('.'));
  });
  return { linears, params, bytes, files };
}
