// Loads the N-API addon: SFTKIT_NATIVE if set, else the one built from source by `npm install` (node-gyp,
// build/Release), else the prebuilt binary shipped in the package (prebuilds/<platform>-<arch>, see
// scripts/prebuild.mjs).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { packageRoot } from '../util/paths.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, any>;

let addon: NativeAddon | null = null;

/**
 * SFTKIT_REQUIRE_NATIVE=1 (set by `npm test`, so by CI): a missing addon or kernel is an error, never a fallback
 * to the reference backend or a skipped test.
 */
export function nativeRequired(): boolean {
  return process.env.SFTKIT_REQUIRE_NATIVE === '1';
}

/** The prebuilt addon's path for this platform (it may not exist). */
export function prebuiltAddonPath(root = packageRoot()): string {
  return join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'sftkit.napi.node');
}

/** Where loadNative() looks, in order. */
export function nativeAddonCandidates(root = packageRoot()): string[] {
  if (process.env.SFTKIT_NATIVE) return [process.env.SFTKIT_NATIVE];
  return [join(root, 'build', 'Release', 'sftkit.node'), prebuiltAddonPath(root)];
}

export function loadNative(): NativeAddon {
  if (addon) return addon;
  const candidates = nativeAddonCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new Error(
      `sftkit: native addon not found (looked at ${candidates.join(', ')}): there is no prebuilt binary for ` +
        `${process.platform}-${process.arch} (prebuilt: linux-x64, linux-arm64); build it from source with ` +
        '`npm rebuild sftkit` (needs a C++17 compiler and Python 3; in a checkout: `npm run build:native`)',
    );
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}
