// The native CPU backend: the addon exports one function per Backend method, same names and
// arguments, so this file only binds them.
import type { Backend } from './backend.js';
import { loadNative } from './native.js';

const METHODS = [
  'isa',
  'threads',
  'gemm',
  'f32ToBf16',
  'bf16ToF32',
  'add',
  'axpy',
  'scale',
  'sumSquares',
  'embeddingForward',
  'embeddingBackward',
  'rmsnormForward',
  'rmsnormBackward',
  'rope',
  'attentionForward',
  'attentionBackward',
  'swigluForward',
  'swigluBackward',
  'gegluForward',
  'gegluBackward',
  'crossEntropy',
  'adamw',
  'dropout',
] as const satisfies readonly (keyof Backend)[];

const OPTIONAL_METHODS = ['gemmNarrow', 'nf4Gemm'] as const satisfies readonly (keyof Backend)[];

let backend: Backend | null = null;

export function cpuBackend(): Backend {
  if (backend) return backend;
  const addon = loadNative();
  const b: Record<string, unknown> = { name: 'cpu' };
  for (const m of METHODS) {
    const fn = addon[m];
    b[m] =
      typeof fn === 'function'
        ? fn
        : () => {
            throw new Error(`sftkit: native kernel '${m}' is not built into this addon`);
          };
  }
  // Optional kernels: absent from an older addon, callers fall back.
  for (const m of OPTIONAL_METHODS) if (typeof addon[m] === 'function') b[m] = addon[m];
  backend = b as unknown as Backend;
  return backend;
}
