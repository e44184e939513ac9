// Loads the N-API addon built by `npm install` (node-gyp) from build/Release.
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

export function loadNative(): NativeAddon {
  if (addon) return addon;
  const path = process.env.SFTKIT_NATIVE ?? join(packageRoot(), 'build', 'Release', 'sftkit.node');
  if (!existsSync(path)) {
    throw new Error(
      `sftkit: native addon not found at ${path}; run \`npm install\` (or \`npm run build:native\`) to build it`,
    );
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}
