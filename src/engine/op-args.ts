// What every op checks of its inputs and how it names shapes in errors; and GEMM argument helpers shared by ops.
import type { FloatDType, GemmArgs, Mat } from './backend.js';
import type { Tensor } from './tensor.js';

export function f32Data(t: Tensor, op: string, what: string): Float32Array {
  t.assertLive(op);
  if (!(t.data instanceof Float32Array)) throw new Error(`${op}: ${what} must be f32, got ${t.dtype}`);
  return t.data;
}

export function matData(t: Tensor, op: string, what: string): Mat {
  t.assertLive(op);
  if (t.data instanceof Int32Array) throw new Error(`${op}: ${what} must be f32 or bf16, got i32`);
  return t.data;
}

export function lastDim(t: Tensor): number {
  return t.shape.length ? t.shape[t.shape.length - 1]! : 1;
}

export function shapeStr(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

/** args with its `compute` set when one is given (else the backend's default for the operand types). */
export function withCompute(args: GemmArgs, compute: FloatDType | undefined): GemmArgs {
  if (compute) args.compute = compute;
  return args;
}
