// ../shared beside the repository (real models and data, the PyTorch reference): for tests, benches and scripts
// that use it and skip, with a message, when it is absent. Shipped code never reads it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

/** ../shared (or $SFTKIT_SHARED) when it exists, else null. */
export function sharedDir(): string | null {
  const dir = process.env.SFTKIT_SHARED ?? join(packageRoot(), '..', 'shared');
  return existsSync(join(dir, 'README.md')) ? dir : null;
}
