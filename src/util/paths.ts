import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | null = null;

/** The sftkit package root (the folder holding its package.json), from src/ or dist/src/ alike. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return (cachedRoot = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('sftkit: cannot find the package root from ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
