// Whether this machine multiplies bf16 natively: that decides a training run's bf16 default.
import { getBackend } from './current-backend.js';

/** Instruction-set paths whose GEMMs multiply bf16 in hardware (vdpbf16ps, AMX tiles, BFMMLA). */
export const NATIVE_BF16_ISAS: readonly string[] = ['avx512bf16', 'amx', 'neon-bf16'];

export interface Bf16Support {
  /** True where bf16 products run in hardware, so bf16 GEMMs are the fast ones. */
  native: boolean;
  /** The active instruction-set path ('reference' for the float64 backend, 'unavailable' without the addon). */
  isa: string;
}

export function bf16Support(): Bf16Support {
  let isa = 'unavailable';
  try {
    isa = getBackend().isa();
  } catch {
    // No native addon (e.g. a config read on a machine that only hands a run off): no native bf16 here.
  }
  return { native: NATIVE_BF16_ISAS.includes(isa), isa };
}
