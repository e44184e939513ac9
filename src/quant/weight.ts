// A frozen 4-bit base weight as a Linear holds it (src/model/linear.ts `quantized`): the bitsandbytes-layout
// matrix, its GEMM precision, and its products x·Wᵀ and dY·W through the fused dequantize-GEMM. It is a
// LinearBase of the engine's linear op, which adds the bias and the LoRA path (QLoRA) as for a dense weight.
import {
  getBackend,
  type BaseInputGrad,
  type FloatDType,
  type LinearBase,
  type Mat,
  type Quantized4BitMatrix,
} from '../engine/index.js';
import { dequantize4Bit, numelOf, quantizedBytes, type Quantized4Bit } from './blockwise.js';
import { nf4Gemm } from './matmul.js';

export class QuantizedLinearWeight implements LinearBase {
  /** The view the kernels read. */
  readonly matrix: Quantized4BitMatrix;
  /** Frozen: no gradient for W. */
  readonly weight = null;

  constructor(
    readonly q: Quantized4Bit,
    /** bnb_4bit_compute_dtype: 'bf16' dequantizes W to bf16 and rounds x to bf16 (f32 accumulation). */
    public compute: FloatDType,
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

  /** y [rows, out] (+)= x·Wᵀ at W's own compute precision (the layer's applies to its LoRA path). */
  forward(x: Mat, rows: number, y: Float32Array, accumulate: boolean): void {
    if (!(x instanceof Float32Array)) throw new Error('QuantizedLinearWeight: x must be f32, got bf16');
    nf4Gemm(getBackend(), {
      w: this.matrix,
      transposed: false,
      m: rows,
      a: x,
      c: y,
      accumulate,
      compute: this.compute,
    });
  }

  /** dX [rows, in] (+)= dY·W through the same 4-bit kernel (the codes are never modified: nothing to save). */
  inputGrad(): BaseInputGrad {
    return (dy, rows, dx, accumulate) =>
      nf4Gemm(getBackend(), {
        w: this.matrix,
        transposed: true,
        m: rows,
        a: dy,
        c: dx,
        accumulate,
        compute: this.compute,
      });
  }

  /** The f32 W [out, in] (merging, tests): materialises the whole matrix. */
  dequantize(): Float32Array {
    return dequantize4Bit(this.q);
  }
}
