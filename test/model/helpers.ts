// Shared helpers of the model tests: backend choice, fixture paths, reading reference dumps.
import { join } from 'node:path';
import { cpuBackend, referenceBackend, setBackend } from '../../src/engine/index.js';
import { missingNativeKernels } from '../../src/engine/cpu-backend.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { packageRoot } from '../../src/util/paths.js';
import { skipForMissingNative } from '../helpers/native.js';

/**
 * The native backend when it has every kernel the model uses, else (or with SFTKIT_BACKEND=reference) the float64
 * reference backend; under SFTKIT_REQUIRE_NATIVE=1 a missing addon or kernel throws instead.
 */
export function useBestBackend(): string {
  if (process.env.SFTKIT_BACKEND === 'reference') {
    setBackend(referenceBackend);
    return 'reference';
  }
  let why: string;
  try {
    const missing = missingNativeKernels();
    if (missing.length === 0) {
      setBackend(cpuBackend());
      return 'cpu';
    }
    why = `native kernels ${missing.join(', ')} are not built into this addon`;
  } catch (e) {
    why = (e as Error).message;
  }
  skipForMissingNative(`the model tests fall back to the reference backend: ${why}`);
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
