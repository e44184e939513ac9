// Tests that compare or use the native addon skip, with the reason, when the addon or one of its kernels is
// missing, except under SFTKIT_REQUIRE_NATIVE=1 (set by `npm test`, so by CI), where that is a failure.
import { nativeRequired } from '../../src/engine/native.js';

/** Whether err says the addon lacks a kernel (cpuBackend's message). */
export function isMissingKernel(err: unknown): boolean {
  return err instanceof Error && /not built into this addon/.test(err.message);
}

/** The reason to skip for, or (SFTKIT_REQUIRE_NATIVE=1) an error thrown with it. */
export function skipForMissingNative(reason: string): string {
  if (nativeRequired()) throw new Error(`${reason} (SFTKIT_REQUIRE_NATIVE=1: missing native code fails the run)`);
  return reason;
}
