// The native CPU backend: the addon exports one function per Backend method, same names and
// arguments, so this file only binds them.
import type { Backend } from './backend.js';
import { loadNative, nativeRequired } from './native.js';

const METHODS = [
  'isa',
  'threads',
  'gemm',
  'gemmNarrow',
  'nf4Gemm',
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

let backend: Backend | null = null;

/** The Backend methods the loaded addon does not export (throws when the addon itself cannot load). */
export function missingNativeKernels(): string[] {
  const addon = loadNative();
  return METHODS.filter((m) => typeof addon[m] !== 'function');
}

/**
 * The backend over the addon. A kernel the addon lacks (a build from other sources) throws when called; with
 * SFTKIT_REQUIRE_NATIVE=1 (npm test, so CI) the backend refuses to exist instead.
 */
export function cpuBackend(): Backend {
  if (backend) return backend;
  const addon = loadNative();
  const missing = missingNativeKernels();
  if (missing.length && nativeRequired())
    throw new Error(
      `sftkit: native kernels ${missing.join(', ')} are not built into this addon (SFTKIT_REQUIRE_NATIVE=1)`,
    );
  const b: Record<string, unknown> = { name: 'cpu' };
  for (const m of METHODS) {
    b[m] = missing.includes(m)
      ? () => {
          throw new Error(`sftkit: native kernel '${m}' is not built into this addon`);
        }
      : addon[m];
  }
  backend = b as unknown as Backend;
  return backend;
}
