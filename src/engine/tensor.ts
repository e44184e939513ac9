// Tensor: a shape, a dtype and typed-array storage (pooled), plus the autograd fields.
import { allocF32, allocI32, allocU16, release } from './pool.js';
import type { FloatDType } from './backend.js';
import type { TapeNode } from './tape.js';

export type DType = FloatDType | 'i32';
export type TensorData = Float32Array | Uint16Array | Int32Array;

/** Shared, reference-counted storage: a tensor and its reshape views, plus saves for backward. */
export class Storage {
  refs = 1;
  constructor(public data: TensorData) {}
  retain(): TensorData {
    this.refs++;
    return this.data;
  }
  releaseRef(): void {
    if (--this.refs === 0) release(this.data);
  }
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Uint16Array) return 'bf16';
  return 'i32';
}

function alloc(dtype: DType, n: number): TensorData {
  return dtype === 'f32' ? allocF32(n) : dtype === 'bf16' ? allocU16(n) : allocI32(n);
}

const EMPTY = { f32: new Float32Array(0), bf16: new Uint16Array(0), i32: new Int32Array(0) };

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  data: TensorData;
  /** Set by the user on leaf parameters; backward() accumulates into .grad. */
  requiresGrad = false;
  grad: Float32Array | null = null;
  name?: string;
  /** @internal The tape node that produced this tensor when it depends on a tensor needing grad. */
  node: TapeNode | null = null;
  /** @internal Produced by an op while a step was being recorded: backward()/clearTape() dispose it. */
  transient = false;
  /** @internal Survives backward()/clearTape() (see keep()). */
  kept = false;
  /** @internal */
  storage: Storage;
  private disposedFlag = false;

  constructor(data: TensorData, shape: readonly number[], dtype?: DType, storage?: Storage) {
    const dt = dtype ?? dtypeOf(data);
    if (dtypeOf(data) !== dt) throw new Error(`Tensor: dtype ${dt} does not match a ${data.constructor.name}`);
    const n = numelOf(shape);
    if (data.length !== n)
      throw new Error(`Tensor: ${data.length} elements do not fill shape [${shape.join(', ')}] (${n})`);
    this.shape = Object.freeze([...shape]);
    this.dtype = dt;
    this.data = data;
    this.storage = storage ?? new Storage(data);
  }

  get numel(): number {
    return this.data.length;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  static zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const data = alloc(dtype, numelOf(shape));
    data.fill(0);
    return new Tensor(data, shape, dtype);
  }

  /** A tensor with pooled storage and unspecified contents (every element must be written). */
  static empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return new Tensor(alloc(dtype, numelOf(shape)), shape, dtype);
  }

  /** Wraps data without copying. */
  static from(data: TensorData, shape: readonly number[], dtype?: DType): Tensor {
    return new Tensor(data, shape, dtype);
  }

  /**
   * A view with a new shape over the same storage; one dimension may be -1. Not recorded for autograd: the
   * differentiable view is ops.reshape().
   */
  view(shape: readonly number[]): Tensor {
    this.assertLive('reshape');
    const known = shape.filter((d) => d !== -1);
    const free = shape.length - known.length;
    if (free > 1) throw new Error('reshape: at most one dimension may be -1');
    const rest = numelOf(known);
    const resolved = free ? shape.map((d) => (d === -1 ? (rest === 0 ? 0 : this.numel / rest) : d)) : shape;
    if (numelOf(resolved) !== this.numel) {
      throw new Error(`reshape: cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
    }
    this.storage.retain();
    return new Tensor(this.data, resolved, this.dtype, this.storage);
  }

  /** A copy of the values as f32 (bf16 widened exactly). */
  toF32(): Float32Array {
    this.assertLive('toF32');
    if (this.data instanceof Uint16Array) {
      const src = this.data;
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return out;
    }
    return Float32Array.from(this.data);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`item: tensor has ${this.numel} elements`);
    return this.toF32()[0]!;
  }

  zeroGrad(): void {
    this.grad?.fill(0);
  }

  /** Makes an op output survive backward()/clearTape(), which otherwise dispose the step's intermediates. */
  keep(): this {
    this.kept = true;
    return this;
  }

  /** Releases the storage (to the pool once no view or pending backward uses it) and the grad. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.storage.releaseRef();
    this.data = EMPTY[this.dtype];
    if (this.grad) release(this.grad);
    this.grad = null;
    this.node = null;
  }

  /** @internal */
  assertLive(op: string): void {
    if (this.disposedFlag) throw new Error(`${op}: tensor${this.name ? ` '${this.name}'` : ''} was disposed`);
  }
}
