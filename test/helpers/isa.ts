// Runs a native-kernel check on every ISA path this machine supports, switching in-process with setIsa.
import { loadNative } from '../../src/engine/native.js';

const addon = loadNative();

/** Every dispatch path of each CPU family (x86-64, ARM64), each a superset of the one before it. */
export const X86_ISAS = ['scalar', 'avx2', 'avx512', 'avx512bf16', 'amx'];
export const ARM_ISAS = ['scalar', 'neon', 'neon-bf16'];
const detected: string = addon.detectedIsa();
const family = ARM_ISAS.includes(detected) && detected !== 'scalar' ? ARM_ISAS : X86_ISAS;
/** The paths up to and including the one this CPU was detected to support. */
export const SUPPORTED_ISAS = family.slice(0, family.indexOf(detected) + 1);

/** The family's paths, the one this CPU belongs to (x86-64 unless it was detected as ARM64). */
export const ALL_ISAS = family;
/** The other family's non-scalar paths: never supported here. */
export const FOREIGN_ISAS = (family === ARM_ISAS ? X86_ISAS : ARM_ISAS).filter((n) => n !== 'scalar');
/** Supported paths with their own fused-kernel table (a bf16 or AMX path shares its base path's table). */
export const KERNEL_TABLE_ISAS = SUPPORTED_ISAS.filter((n) => !n.endsWith('bf16') && n !== 'amx');

/** Why the AMX path is off here ('skipped: no AMX (...)'), or false where it runs: the `skip` of AMX-only tests. */
export const NO_AMX: string | false = SUPPORTED_ISAS.includes('amx') ? false : `skipped: no AMX (${addon.amxStatus()})`;

/**
 * forEachIsa, then the AMX path with its tile instructions emulated in scalar code (SFTKIT_GEMM_EMULATE_AMX=1,
 * label '<isa>+amx-emulated') under the scalar ISA and the best one, whose packers differ: bf16 GEMMs then run the
 * AMX path's packing, loop nest, tile addresses and strides on any CPU. The one check of that path without AMX.
 */
export function forEachGemmPath(fn: (path: string) => void): void {
  forEachIsa(fn);
  const before = addon.isa();
  process.env.SFTKIT_GEMM_EMULATE_AMX = '1';
  try {
    for (const isa of new Set(['scalar', SUPPORTED_ISAS[SUPPORTED_ISAS.length - 1]!])) {
      addon.setIsa(isa);
      fn(`${isa}+amx-emulated`);
    }
  } finally {
    delete process.env.SFTKIT_GEMM_EMULATE_AMX;
    addon.setIsa(before);
  }
}

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
