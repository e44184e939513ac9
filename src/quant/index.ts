// QLoRA's 4-bit base weights: bitsandbytes-compatible NF4/FP4 quantization with double quantization, the fused
// dequantize + GEMM as a base of the engine's linear op, the serialized layout, and loading.
export { NF4_CODE, FP4_CODE, DYNAMIC_MAP_SIGNED, codeOf, type QuantType } from './codebook.js';
export {
  quantize4Bit,
  dequantize4Bit,
  blockScales,
  quantizeBlockwise8,
  quantizedBytes,
  type Quantized4Bit,
  type NestedScales,
  type Quantize4BitOptions,
} from './blockwise.js';
export { nf4Gemm, referenceNf4Gemm, dequantizeMatrix } from './matmul.js';
export { QuantizedLinearWeight } from './weight.js';
export {
  quantizedTensors,
  readQuantized,
  quantizationConfigJson,
  quantStateJson,
  pythonFloat,
  type QuantizationConfig,
} from './serialize.js';
export { loadQuantizedLinear, computeOf, quantizeOptionsOf, type QuantizeOptions } from './load.js';
export { quantizedBaseReport, quantizedBaseStats, type QuantizedBaseStats } from './report.js';
export { quantizeFolder, QUANTIZED_LINEAR, type QuantizeFolderOptions, type QuantizeFolderResult } from './save.js';
