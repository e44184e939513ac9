// Atomic file and folder writes: write beside the target under a temporary name, then rename, so a
// crash or an error never leaves a half-written file where a reader expects a complete one.
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A unique sibling path of `target` (same folder, so rename() stays on one file system). */
export function tempSiblingPath(target: string, tag = 'tmp'): string {
  return join(dirname(target), `.${basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write a whole file atomically (temp file + rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempSiblingPath(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Synchronous twin of writeFileAtomic, for code paths that cannot await. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempSiblingPath(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Build a folder atomically: `fill` writes into a fresh temporary sibling folder, which then replaces
 * `finalDir` (an existing `finalDir` is moved aside first and removed after the swap).
 * If `fill` throws, the temporary folder is removed and `finalDir` is left untouched.
 */
export async function atomicDir(finalDir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(finalDir), { recursive: true });
  const tmp = tempSiblingPath(finalDir);
  await mkdir(tmp);
  try {
    await fill(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (existsSync(finalDir)) {
    const old = tempSiblingPath(finalDir, 'old');
    await rename(finalDir, old);
    try {
      await rename(tmp, finalDir);
    } catch (e) {
      await rename(old, finalDir); // put the previous folder back
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(tmp, finalDir);
  }
}
