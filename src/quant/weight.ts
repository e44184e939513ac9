// A frozen 4-bit base weight as a Linear holds it (src/model/linear.ts `quantized`): the bitsandbytes-layout
// matrix, its GEMM precision, and the differentiable product x·Wᵀ.
import type { Compute, LoraPath, Quantized4BitMatrix, Tensor } from '../engine/index.js';
import { dequantize4Bit, numelOf, quantizedBytes, type Quantized4Bit } from './blockwise.js';
import { quantizedLinear } from './linear-op.js';

export class QuantizedLinearWeight {
  /** The view the kernels read. */
  readonly matrix: Quantized4BitMatrix;

  constructor(
    readonly q: Quantized4Bit,
    /** bnb_4bit_compute_dtype: 'bf16' dequantizes W to bf16 and rounds x to bf16 (f32 accumulation). */
    public compute: Compute,
  ) {
    if (q.shape.length !== 2)
      throw new Error(`QuantizedLinearWeight: expected a 2-D weight, got shape [${q.shape.join(', ')}]`);
    this.matrix = {
      rows: q.shape[0]!,
      cols: q.shape[1]!,
      blocksize: q.blocksize,
      packed: q.packed,
      code: q.code,
      absmax: q.absmax,
      nested: q.nested,
    };
  }

  get outFeatures(): number {
    return this.matrix.rows;
  }

  get inFeatures(): number {
    return this.matrix.cols;
  }

  /** Parameters represented (out·in). */
  get numel(): number {
    return numelOf(this.q.shape);
  }

  /** Bytes held in memory: codes, scales and nested scales. */
  get bytes(): number {
    return quantizedBytes(this.q);
  }

  /**
   * x [..., in] -> x·Wᵀ + bias (+ scale·(xl·Aᵀ)·Bᵀ with a LoRA path, its GEMMs at `loraCompute`) [..., out];
   * differentiable in x, bias and the adapter.
   */
  forward(x: Tensor, bias: Tensor | null, lora: LoraPath | null = null, loraCompute: Compute = this.compute): Tensor {
    return quantizedLinear(x, this.matrix, bias, this.compute, lora, loraCompute);
  }

  /** The f32 W [out, in] (merging, tests): materialises the whole matrix. */
  dequantize(): Float32Array {
    return dequantize4Bit(this.q);
  }
}
