// The serialized 4-bit layout of transformers + bitsandbytes (Linear4bit state dict / QuantState.as_dict(packed)):
//   <m>.weight                                 U8 [ceil(numel/2), 1]  packed codes
//   <m>.weight.absmax                          U8 [blocks] with double quantization, else F32 [blocks]
//   <m>.weight.nested_absmax                   F32 [ceil(blocks/256)]  (double quantization)
//   <m>.weight.nested_quant_map                F32 [256]               (double quantization)
//   <m>.weight.quant_map                       F32 [16]
//   <m>.weight.quant_state.bitsandbytes__<t>   U8: UTF-8 JSON {quant_type, blocksize, dtype, shape,
//                                                  nested_blocksize, nested_dtype, nested_offset}
// and config.json's quantization_config (BitsAndBytesConfig.to_dict()).
import type { StDType, StWriteTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { DYNAMIC_MAP_SIGNED, FP4_CODE, NF4_CODE, type QuantType } from './codebook.js';
import { numelOf, type Quantized4Bit } from './blockwise.js';

/** The suffixes (after `<m>.weight`) a quantized linear adds to a state dict. */
export const QUANT_STATE_PREFIX = '.weight.quant_state.bitsandbytes__';

/** Python's repr() of a float (shortest round-trip digits; exponent form below 1e-4 and from 1e16), as json.dumps writes it. */
export function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || '0'}`;
}

/** json.dumps of the non-tensor quant state, key order as bitsandbytes builds it. */
export function quantStateJson(q: Quantized4Bit): string {
  const parts = [
    `"quant_type": "${q.type}"`,
    `"blocksize": ${q.blocksize}`,
    `"dtype": "${q.dtype}"`,
    `"shape": [${q.shape.join(', ')}]`,
  ];
  if (q.nested)
    parts.push(
      `"nested_blocksize": ${q.nested.blocksize}`,
      `"nested_dtype": "float32"`,
      `"nested_offset": ${pythonFloat(q.nested.offset)}`,
    );
  return `{${parts.join(', ')}}`;
}

/** The state-dict entries of one quantized linear (`module` e.g. 'model.layers.0.self_attn.q_proj'). */
export function quantizedTensors(module: string, q: Quantized4Bit): StWriteTensor[] {
  const w = `${module}.weight`;
  const out: StWriteTensor[] = [{ name: w, dtype: 'U8', shape: [q.packed.length, 1], data: q.packed }];
  out.push({
    name: `${w}.absmax`,
    dtype: q.absmax instanceof Uint8Array ? 'U8' : 'F32',
    shape: [q.absmax.length],
    data: q.absmax,
  });
  if (q.nested) {
    out.push({ name: `${w}.nested_absmax`, dtype: 'F32', shape: [q.nested.absmax.length], data: q.nested.absmax });
    out.push({
      name: `${w}.nested_quant_map`,
      dtype: 'F32',
      shape: [q.nested.code.length],
      data: q.nested.code.slice(),
    });
  }
  out.push({ name: `${w}.quant_map`, dtype: 'F32', shape: [q.code.length], data: q.code.slice() });
  const json = new TextEncoder().encode(quantStateJson(q));
  out.push({ name: `${module}${QUANT_STATE_PREFIX}${q.type}`, dtype: 'U8', shape: [json.length], data: json });
  return out;
}

/** What reading a quantized linear needs from a folder: tensor metadata and raw bytes. */
export interface TensorSource {
  tensors: Map<string, { dtype: StDType; shape: number[] }>;
  readBytes(name: string): Uint8Array;
}

/** The quant-state key of a module if the folder holds it quantized. */
export function quantStateKey(src: TensorSource, module: string): string | null {
  for (const t of ['nf4', 'fp4'])
    if (src.tensors.has(`${module}${QUANT_STATE_PREFIX}${t}`)) return `${module}${QUANT_STATE_PREFIX}${t}`;
  return null;
}

/** A stored code table as the shared constant when it equals one (every bitsandbytes file repeats them). */
function sharedTable(t: Float32Array): Float32Array {
  for (const known of [NF4_CODE, FP4_CODE, DYNAMIC_MAP_SIGNED]) {
    if (known.length === t.length && known.every((v, i) => Object.is(v, t[i]))) return known;
  }
  return t;
}

function f32Of(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/**
 * Reads a quantized linear saved by bitsandbytes (or by `sftkit quantize`), checking every piece against the
 * expected shape [out, in]. `where` names the folder in errors.
 */
export function readQuantized(src: TensorSource, module: string, expectShape: number[], where: string): Quantized4Bit {
  const stateKey = quantStateKey(src, module);
  if (!stateKey) throw new UserError(`${where}: no quant state (${module}${QUANT_STATE_PREFIX}nf4) for ${module}`);
  const bad = (msg: string): never => {
    throw new UserError(`${where}: ${module}: ${msg}`);
  };
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(new TextDecoder().decode(src.readBytes(stateKey))) as Record<string, unknown>;
  } catch (e) {
    return bad(`${stateKey} is not valid JSON (${(e as Error).message})`);
  }
  const type = state.quant_type;
  if (type !== 'nf4' && type !== 'fp4') bad(`quant_type ${JSON.stringify(type)} is not nf4 or fp4`);
  const blocksize = state.blocksize;
  if (typeof blocksize !== 'number' || !Number.isInteger(blocksize) || blocksize < 2 || blocksize % 2)
    bad(`blocksize ${JSON.stringify(blocksize)} must be a positive even integer`);
  const shape = state.shape;
  if (!Array.isArray(shape) || shape.length !== expectShape.length || shape.some((d, i) => d !== expectShape[i])) {
    bad(`quant state shape ${JSON.stringify(shape)} does not match [${expectShape.join(', ')}] from config.json`);
  }
  const n = numelOf(expectShape);
  const blocks = Math.ceil(n / (blocksize as number));
  const info = (suffix: string, dtype: StDType, numel: number | null): Uint8Array => {
    const name = `${module}.weight${suffix}`;
    const t = src.tensors.get(name);
    if (!t) return bad(`missing tensor ${name}`);
    if (t.dtype !== dtype) bad(`${name} has dtype ${t.dtype}, expected ${dtype}`);
    if (numel !== null && numelOf(t.shape) !== numel)
      bad(`${name} has ${numelOf(t.shape)} elements, expected ${numel}`);
    return src.readBytes(name);
  };
  const packed = info('', 'U8', Math.ceil(n / 2));
  const code = sharedTable(f32Of(info('.quant_map', 'F32', 16)));
  const absmaxInfo = src.tensors.get(`${module}.weight.absmax`);
  const nestedAbsmaxInfo = src.tensors.get(`${module}.weight.nested_absmax`);
  const base = {
    type: type as QuantType,
    shape: [...expectShape],
    blocksize: blocksize as number,
    packed,
    code,
    dtype: typeof state.dtype === 'string' ? state.dtype : 'float32',
  };
  if (nestedAbsmaxInfo) {
    const nestedBlocksize = state.nested_blocksize;
    if (typeof nestedBlocksize !== 'number' || !Number.isInteger(nestedBlocksize) || nestedBlocksize < 1)
      bad(`nested_blocksize ${JSON.stringify(nestedBlocksize)} must be a positive integer`);
    const offset = Number(state.nested_offset);
    if (!Number.isFinite(offset)) bad(`nested_offset ${JSON.stringify(state.nested_offset)} is not a number`);
    const absmax = info('.absmax', 'U8', blocks);
    const nestedAbsmax = f32Of(info('.nested_absmax', 'F32', Math.ceil(blocks / (nestedBlocksize as number))));
    const nestedCode = sharedTable(f32Of(info('.nested_quant_map', 'F32', 256)));
    return {
      ...base,
      absmax,
      nested: {
        absmax: nestedAbsmax,
        code: nestedCode,
        blocksize: nestedBlocksize as number,
        offset: Math.fround(offset),
      },
    };
  }
  if (absmaxInfo?.dtype === 'U8') bad('absmax is U8 (double quantization) but nested_absmax is missing');
  return { ...base, absmax: f32Of(info('.absmax', 'F32', blocks)), nested: null };
}

export interface QuantizationConfig {
  quantType: QuantType;
  doubleQuant: boolean;
  /** 'bfloat16' | 'float32' | 'float16' as transformers writes it. */
  computeDtype: string;
}

/** config.json's quantization_config as transformers' BitsAndBytesConfig.to_dict() writes it for 4-bit. */
export function quantizationConfigJson(c: QuantizationConfig): Record<string, unknown> {
  return {
    _load_in_4bit: true,
    _load_in_8bit: false,
    bnb_4bit_compute_dtype: c.computeDtype,
    bnb_4bit_quant_storage: 'uint8',
    bnb_4bit_quant_type: c.quantType,
    bnb_4bit_use_double_quant: c.doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: null,
    llm_int8_threshold: 6.0,
    load_in_4bit: true,
    load_in_8bit: false,
    quant_method: 'bitsandbytes',
  };
}
