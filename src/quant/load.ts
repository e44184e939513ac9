// Base linears as 4-bit weights while a model folder loads: read pre-quantized ones (bitsandbytes layout, from
// Python or `sftkit quantize`) as stored, or quantize dense ones (f32/bf16/f16) one at a time, so the dense
// matrix of at most one linear exists at once.
import type { FloatDType } from '../engine/index.js';
import type { SafetensorsModel } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { quantize4Bit } from './blockwise.js';
import type { QuantType } from './codebook.js';
import { quantStateKey, readQuantized } from './serialize.js';
import { QuantizedLinearWeight } from './weight.js';

/** QLoRA's load_in_4bit settings (transformers' BitsAndBytesConfig names in the train config). */
export interface QuantizeOptions {
  quantType?: QuantType;
  /** Default true (the QLoRA recipe). */
  doubleQuant?: boolean;
  /** bnb_4bit_compute_dtype; default 'bf16'. */
  compute?: FloatDType;
  blocksize?: number;
}

const ST_TO_TORCH: Record<string, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16', F64: 'float64' };

/** bnb_4bit_compute_dtype as the engine names it: bfloat16|bf16|float16|fp16 -> 'bf16', float32|f32 -> 'f32'. */
export function computeOf(dtype: unknown, where: string): FloatDType {
  if (dtype === undefined || dtype === null) return 'bf16';
  if (dtype === 'float32' || dtype === 'f32' || dtype === 'fp32') return 'f32';
  // float16 compute has no CPU kernel; bf16 is the nearest (same memory, wider range).
  if (dtype === 'bfloat16' || dtype === 'bf16' || dtype === 'float16' || dtype === 'fp16') return 'bf16';
  throw new UserError(`${where}: bnb_4bit_compute_dtype must be bfloat16 or float32, got ${JSON.stringify(dtype)}`);
}

/** The compute dtype a pre-quantized folder's config.json asks for. */
export function configCompute(raw: Record<string, unknown>, where: string): FloatDType {
  const qc = raw.quantization_config as Record<string, unknown> | null | undefined;
  return computeOf(qc?.bnb_4bit_compute_dtype, `${where}: quantization_config`);
}

/**
 * The 4-bit weight of linear `module` ([out, in]): as stored when the folder is pre-quantized, quantized now when
 * `quantize` is set, else null (the caller loads the dense weight).
 */
export function loadQuantizedLinear(
  st: SafetensorsModel,
  module: string,
  out: number,
  inp: number,
  quantize: QuantizeOptions | null,
  raw: Record<string, unknown>,
): QuantizedLinearWeight | null {
  if (quantStateKey(st, module)) {
    return new QuantizedLinearWeight(
      readQuantized(st, module, [out, inp], st.dir),
      quantize?.compute ?? configCompute(raw, st.dir),
    );
  }
  if (!quantize) return null;
  const name = `${module}.weight`;
  const info = st.tensors.get(name);
  if (!info) return null; // the model loader reports the missing tensor
  if (info.shape.length !== 2 || info.shape[0] !== out || info.shape[1] !== inp) return null; // ditto, the shape
  const q = quantize4Bit(st.readF32(name, { finite: true }), [out, inp], {
    type: quantize.quantType ?? 'nf4',
    blocksize: quantize.blocksize ?? 64,
    doubleQuant: quantize.doubleQuant ?? true,
    dtype: ST_TO_TORCH[info.dtype] ?? 'float32',
  });
  return new QuantizedLinearWeight(q, quantize.compute ?? 'bf16');
}

/** The train config's BitsAndBytesConfig keys -> load options (null without load_in_4bit). */
export function quantizeOptionsOf(c: {
  load_in_4bit: boolean;
  bnb_4bit_quant_type: QuantType;
  bnb_4bit_use_double_quant: boolean;
  bnb_4bit_compute_dtype: string;
}): QuantizeOptions | null {
  if (!c.load_in_4bit) return null;
  return {
    quantType: c.bnb_4bit_quant_type,
    doubleQuant: c.bnb_4bit_use_double_quant,
    compute: computeOf(c.bnb_4bit_compute_dtype, 'bnb_4bit_compute_dtype'),
  };
}
