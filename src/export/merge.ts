// Merge a LoRA adapter into its base model: W' = W + scale·B·A for every adapted linear, written as a complete
// HF folder (config.json, tokenizer and generation files, safetensors sharded above maxShardBytes).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { writeFileAtomicSync, writeOutputDir } from '../io/atomic.js';
import { join, resolve } from 'node:path';
import { getBackend } from '../engine/index.js';
import { copyFolderFiles, TOKENIZER_FILE, WEIGHT_FILE } from '../io/model-folder.js';
import { writeShardedSafetensors, type StWriteTensor } from '../io/safetensors.js';
import type { FloatDType } from '../engine/index.js';
import { LlamaModel } from '../model/llama.js';
import { loadAdapter } from '../model/peft.js';
import { foldTokenRows } from '../model/token-rows.js';
import { foldLora } from '../model/fold-lora.js';
import { UserError } from '../util/errors.js';

export interface MergeOptions {
  /** Output weight dtype; default: the base config's torch_dtype (bf16 for bfloat16, else f32). */
  dtype?: FloatDType;
  /** Shard size limit (default 2 GB, like save_pretrained's order of magnitude). */
  maxShardBytes?: number;
}

/** Merge `adapterDir` into the model in `modelDir` and write the result to `outDir`. */
export async function mergeAdapter(
  modelDir: string,
  adapterDir: string,
  outDir: string,
  opts: MergeOptions = {},
): Promise<{ merged: number; tokenRows: number; dtype: FloatDType; files: string[] }> {
  if (resolve(outDir) === resolve(modelDir)) throw new UserError(`merge: --out must differ from --model (${outDir})`);
  const model = LlamaModel.load(modelDir, { dtype: 'f32' });
  loadAdapter(model, adapterDir);
  const merged = foldLora(model);
  // Trained token rows replace their embedding / LM-head rows (PEFT's merge: index_copy into the weight).
  const tokenRows = foldTokenRows(model);
  const raw = model.config.raw;
  const dtype: FloatDType = opts.dtype ?? (model.config.torchDtype === 'bfloat16' ? 'bf16' : 'f32');

  const be = getBackend();
  const tensors: StWriteTensor[] = model.baseParameters().map(({ name, tensor }) => {
    const f32 = tensor.toF32();
    if (dtype === 'f32') return { name, dtype: 'F32', shape: [...tensor.shape], data: f32 };
    const bits = new Uint16Array(f32.length);
    be.f32ToBf16(f32, bits);
    return { name, dtype: 'BF16', shape: [...tensor.shape], data: bits };
  });

  if (
    existsSync(outDir) &&
    statSync(outDir).isDirectory() &&
    (existsSync(join(outDir, 'model.safetensors.index.json')) ||
      readdirSync(outDir).some((n) => n.endsWith('.safetensors')))
  ) {
    throw new UserError(`merge: ${outDir} already holds safetensors weights; choose an empty folder`);
  }
  const files: string[] = [];
  await writeOutputDir(outDir, 'merge --out', async (dir) => {
    await writeShardedSafetensors(dir, tensors, {
      maxShardBytes: opts.maxShardBytes ?? 2_000_000_000,
      metadata: { format: 'pt' },
    });
    // Tokenizer and generation files from the base, then any the adapter folder carries (a trainer may have
    // saved an updated chat template there).
    files.push(
      ...copyFolderFiles(modelDir, dir, (n) => !WEIGHT_FILE.test(n) && n !== 'config.json' && !n.startsWith('.')),
    );
    files.push(...copyFolderFiles(adapterDir, dir, (n) => TOKENIZER_FILE.test(n)));
    const config = { ...raw, torch_dtype: dtype === 'bf16' ? 'bfloat16' : 'float32' };
    writeFileAtomicSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  });
  return { merged, tokenRows, dtype, files: [...new Set(files)] };
}
