// The test files under a folder (every *.test.ts, sorted), for scripts/test.mjs and scripts/test-arm64.mjs.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function collectTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collectTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
