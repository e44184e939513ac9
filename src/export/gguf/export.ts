// `sftkit export gguf`: a Hugging Face Llama/Mistral/Qwen2/Qwen3/Gemma 3 folder (optionally with a LoRA adapter merged
// in) -> one GGUF file llama.cpp, Ollama and LM Studio load, plus an optional Ollama Modelfile.
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadLlamaConfig, type LlamaConfig } from '../../io/hf-config.js';
import { SafetensorsModel } from '../../io/safetensors.js';
import { Tokenizer } from '../../tokenizer/tokenizer.js';
import { UserError } from '../../util/errors.js';
import { LlamaModel } from '../../model/llama.js';
import { loadAdapter } from '../../model/peft.js';
import { foldLora } from '../../model/fold-lora.js';
import { foldTokenRows } from '../../model/token-rows.js';
import { encodeTensor } from './convert.js';
import { GGML_BLOCK, type GgmlTypeName } from './format.js';
import { checkExportable, ggufArchOf, llama3RopeFactors, modelMetadata } from './metadata.js';
import { writeModelfile } from './modelfile.js';
import { ggufTensorName, ggufValueShift, isIgnoredHfTensor, permuteRopeRows, type GgufArch } from './tensor-map.js';
import { convertVocab, vocabMetadata } from './vocab.js';
import { writeGguf, type GgufTensor, type GgufValue } from './writer.js';

export const GGUF_OUT_TYPES = ['f32', 'f16', 'bf16', 'q8_0'] as const;
export type GgufOutType = (typeof GGUF_OUT_TYPES)[number];
const GGML_OF: Record<GgufOutType, GgmlTypeName> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };

export interface GgufExportOptions {
  modelDir: string;
  outFile: string;
  /** Default 'f16'. */
  outType?: GgufOutType;
  /** A PEFT LoRA adapter folder merged into the weights first (W + scale·B·A). */
  adapterDir?: string;
  /** general.name; default: the model folder's name. */
  name?: string;
  /** Also write an Ollama Modelfile beside the GGUF. */
  ollama?: boolean;
  /** Metadata and vocabulary only, no tensors (llama.cpp loads it with vocab_only, e.g. to check tokenization). */
  vocabOnly?: boolean;
  /** The tokenizer of the tokenizer folder used (the adapter's when it has tokenizer.json, else the model's), if already loaded. */
  tokenizer?: Tokenizer;
}

export interface GgufExportResult {
  path: string;
  bytes: number;
  arch: GgufArch;
  tensorCount: number;
  /** The ggml type each tensor was written as (1-D tensors stay f32; q8_0 falls back to f16 for rows not a multiple of 32). */
  tensorTypes: Record<string, GgmlTypeName>;
  modelfile: string | null;
}

/** Where the weights come from: lazily from safetensors, or from a model with an adapter folded in. */
interface WeightSource {
  entries: { name: string; shape: readonly number[] }[];
  read(name: string): Float32Array;
  close(): void;
}

function safetensorsSource(dir: string): WeightSource {
  const st = SafetensorsModel.open(dir);
  return {
    entries: [...st.tensors.values()].map((t) => ({ name: t.name, shape: t.shape })),
    read: (name) => st.readF32(name, { finite: true }),
    close: () => st.close(),
  };
}

function mergedSource(modelDir: string, adapterDir: string): WeightSource {
  const model = LlamaModel.load(modelDir, { dtype: 'f32' });
  loadAdapter(model, adapterDir);
  foldLora(model);
  foldTokenRows(model);
  const params = new Map(model.baseParameters().map((p) => [p.name, p.tensor]));
  return {
    entries: [...params].map(([name, t]) => ({ name, shape: t.shape })),
    read: (name) => params.get(name)!.toF32(),
    close: () => params.clear(),
  };
}

/** The order llama.cpp's converter writes: embeddings, blocks in order, final norm, head. */
function tensorRank(ggufName: string): [number, number] {
  if (ggufName === 'token_embd.weight') return [-2, 0];
  if (ggufName === 'rope_freqs.weight') return [-1, 0];
  const m = /^blk\.(\d+)\./.exec(ggufName);
  if (m) return [Number(m[1]), 0];
  return [Number.MAX_SAFE_INTEGER, ggufName === 'output_norm.weight' ? 0 : 1];
}

/** The ggml type a tensor is stored as for `outType`, following llama.cpp's converter. */
export function tensorTypeFor(shape: readonly number[], outType: GgufOutType): GgmlTypeName {
  if (shape.length <= 1) return 'F32';
  const t = GGML_OF[outType];
  if (shape[shape.length - 1]! % GGML_BLOCK[t].elements !== 0) return 'F16';
  return t;
}

function checkTensorSet(config: LlamaConfig, names: Set<string>, source: string): void {
  const need = ['model.embed_tokens.weight', 'model.norm.weight'];
  if (!config.tieWordEmbeddings) need.push('lm_head.weight');
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    need.push(`${p}.input_layernorm.weight`, `${p}.post_attention_layernorm.weight`);
    if (config.qkNorm) need.push(`${p}.self_attn.q_norm.weight`, `${p}.self_attn.k_norm.weight`);
    if (config.sandwichNorms)
      need.push(`${p}.pre_feedforward_layernorm.weight`, `${p}.post_feedforward_layernorm.weight`);
    for (const m of [
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
      'mlp.gate_proj',
      'mlp.up_proj',
      'mlp.down_proj',
    ])
      need.push(`${p}.${m}.weight`);
    if (config.attentionBias) for (const m of ['q_proj', 'k_proj', 'v_proj']) need.push(`${p}.self_attn.${m}.bias`);
  }
  const missing = need.filter((n) => !names.has(n));
  if (missing.length > 0)
    throw new UserError(
      `${source}: missing tensors for GGUF export: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (+${missing.length - 5} more)` : ''}`,
    );
}

export async function exportGguf(opts: GgufExportOptions): Promise<GgufExportResult> {
  const outType = opts.outType ?? 'f16';
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(outType))
    throw new UserError(`export gguf: --outtype must be one of ${GGUF_OUT_TYPES.join(', ')}, got '${outType}'`);
  const modelDir = opts.modelDir;
  if (!existsSync(modelDir) || !statSync(modelDir).isDirectory())
    throw new UserError(`export gguf: model folder ${modelDir} does not exist`);
  const config = loadLlamaConfig(modelDir);
  const configSource = join(modelDir, 'config.json');
  const arch = ggufArchOf(config, configSource);
  checkExportable(config, arch, configSource);

  // An adapter folder may carry an updated tokenizer / chat template (trainers save it there).
  const tokDir = opts.adapterDir && existsSync(join(opts.adapterDir, 'tokenizer.json')) ? opts.adapterDir : modelDir;
  const tokenizer = opts.tokenizer ?? (await Tokenizer.fromDir(tokDir));
  const vocab = convertVocab(tokDir, tokenizer, config.vocabSize);

  const metadata = new Map<string, GgufValue>();
  const name = opts.name ?? basename(resolve(modelDir));
  for (const [k, v] of modelMetadata({ config, arch, name, fileType: GGML_OF[outType] })) metadata.set(k, v);
  for (const [k, v] of vocabMetadata(vocab, tokenizer)) metadata.set(k, v);

  if (opts.vocabOnly) {
    const bytes = writeGguf(opts.outFile, metadata, []);
    return { path: opts.outFile, bytes, arch, tensorCount: 0, tensorTypes: {}, modelfile: null };
  }
  const source = opts.adapterDir ? mergedSource(modelDir, opts.adapterDir) : safetensorsSource(modelDir);
  try {
    const present = new Set(source.entries.map((e) => e.name));
    checkTensorSet(config, present, modelDir);
    const tensors: GgufTensor[] = [];
    const tensorTypes: Record<string, GgmlTypeName> = {};
    for (const { name: hfName, shape } of source.entries) {
      if (isIgnoredHfTensor(hfName)) continue;
      if (hfName === 'lm_head.weight' && config.tieWordEmbeddings) continue; // llama.cpp reuses token_embd
      const ggufName = ggufTensorName(hfName, modelDir, arch);
      const shift = ggufValueShift(hfName, arch);
      const type = tensorTypeFor(shape, outType);
      const rowLength = shape[shape.length - 1] ?? 1;
      // llama.cpp's `llama` graph applies RoPE to adjacent pairs; HF checkpoints are in rotate-half order.
      const permuteHeads =
        arch !== 'llama'
          ? 0
          : /\.q_proj\.(weight|bias)$/.test(hfName)
            ? config.numHeads
            : /\.k_proj\.(weight|bias)$/.test(hfName)
              ? config.numKvHeads
              : 0;
      tensorTypes[ggufName] = type;
      tensors.push({
        name: ggufName,
        shape,
        type,
        data: () => {
          let values = source.read(hfName);
          if (permuteHeads) values = permuteRopeRows(values, permuteHeads, shape.length === 1 ? 1 : rowLength);
          if (shift !== 0) values = values.map((x) => x + shift);
          return encodeTensor(values, type, rowLength);
        },
      });
    }
    const ropeFactors = llama3RopeFactors(config);
    if (ropeFactors) {
      tensorTypes['rope_freqs.weight'] = 'F32';
      tensors.push({
        name: 'rope_freqs.weight',
        shape: [ropeFactors.length],
        type: 'F32',
        data: () => encodeTensor(ropeFactors, 'F32', ropeFactors.length),
      });
    }
    tensors.sort((a, b) => {
      const [la, pa] = tensorRank(a.name);
      const [lb, pb] = tensorRank(b.name);
      return la - lb || pa - pb;
    });
    const bytes = writeGguf(opts.outFile, metadata, tensors);
    const modelfile = opts.ollama ? writeModelfile(opts.outFile, tokenizer) : null;
    return { path: opts.outFile, bytes, arch, tensorCount: tensors.length, tensorTypes, modelfile };
  } finally {
    source.close();
  }
}
