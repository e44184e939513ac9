// Shared helpers of the model tests: backend choice, fixture paths, reading reference dumps.
import { join } from 'node:path';
import { cpuBackend, referenceBackend, setBackend, type Backend } from '../../src/engine/index.js';
import { loadNative } from '../../src/engine/native.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { packageRoot } from '../../src/util/paths.js';

const KERNELS: (keyof Backend)[] = [
  'gemm',
  'add',
  'axpy',
  'scale',
  'embeddingForward',
  'embeddingBackward',
  'rmsnormForward',
  'rmsnormBackward',
  'rope',
  'attentionForward',
  'attentionBackward',
  'swigluForward',
  'gegluForward',
  'swigluBackward',
  'crossEntropy',
  'f32ToBf16',
  'bf16ToF32',
];

/** The native backend when it has every kernel the model uses, else (or with SFTKIT_BACKEND=reference) the float64 reference backend. */
export function useBestBackend(): string {
  if (process.env.SFTKIT_BACKEND === 'reference') {
    setBackend(referenceBackend);
    return 'reference';
  }
  try {
    const addon = loadNative();
    if (KERNELS.every((k) => typeof addon[k] === 'function')) {
      setBackend(cpuBackend());
      return 'cpu';
    }
  } catch {
    // no addon built: fall through to the reference backend
  }
  setBackend(referenceBackend);
  return 'reference';
}

export const FIXTURES = join(packageRoot(), 'test', 'fixtures', 'model');

export function fixture(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

/** Every tensor of a safetensors file as f32, by name. */
export function readAll(path: string): Map<string, Float32Array> {
  const f = SafetensorsFile.open(path);
  try {
    return new Map([...f.tensors.keys()].map((k) => [k, f.readF32(k)]));
  } finally {
    f.close();
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
