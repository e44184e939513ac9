// Runs a native-kernel check on every ISA path this machine supports, switching in-process with setIsa.
import { loadNative } from '../../src/engine/native.js';

const addon = loadNative();

/** Every dispatch path, each a superset of the one before it. */
export const ALL_ISAS = ['scalar', 'avx2', 'avx512', 'avx512bf16'];
/** The paths up to and including the one this CPU was detected to support. */
export const SUPPORTED_ISAS = ALL_ISAS.slice(0, ALL_ISAS.indexOf(addon.detectedIsa()) + 1);

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
