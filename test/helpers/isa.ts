// Runs a native-kernel check on every ISA path this machine supports, switching in-process with setIsa.
import { loadNative } from '../../src/engine/native.js';

const addon = loadNative();

/** Every dispatch path of each CPU family (x86-64, ARM64), each a superset of the one before it. */
export const X86_ISAS = ['scalar', 'avx2', 'avx512', 'avx512bf16'];
export const ARM_ISAS = ['scalar', 'neon', 'neon-bf16'];
const detected: string = addon.detectedIsa();
const family = ARM_ISAS.includes(detected) && detected !== 'scalar' ? ARM_ISAS : X86_ISAS;
/** The paths up to and including the one this CPU was detected to support. */
export const SUPPORTED_ISAS = family.slice(0, family.indexOf(detected) + 1);

/** The family's paths, the one this CPU belongs to (x86-64 unless it was detected as ARM64). */
export const ALL_ISAS = family;
/** The other family's non-scalar paths: never supported here. */
export const FOREIGN_ISAS = (family === ARM_ISAS ? X86_ISAS : ARM_ISAS).filter((n) => n !== 'scalar');
/** Supported paths with their own fused-kernel table (a bf16 path shares its base path's table). */
export const KERNEL_TABLE_ISAS = SUPPORTED_ISAS.filter((n) => !n.endsWith('bf16'));

/** Runs fn on each supported ISA path, restoring the active one afterwards. */
export function forEachIsa(fn: (isa: string) => void): void {
  const before = addon.isa();
  try {
    for (const isa of SUPPORTED_ISAS) {
      addon.setIsa(isa);
      fn(isa);
    }
  } finally {
    addon.setIsa(before);
  }
}
