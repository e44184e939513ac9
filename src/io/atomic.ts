// Atomic, durable file and folder writes. Every writer goes to a temporary sibling (same folder, so rename()
// stays on one file system), fsyncs it, renames it over the target and fsyncs the folder, so:
//   - kill -9 at any moment leaves either the old file or the new one, never half of one;
//   - after a power cut, a file whose write returned survives (file data, then the directory entry, are on disk).
// On a full disk the temporary is removed and a DiskFullError says how much was needed (src/util/errors.ts).
// Temporaries are named `.NAME.tmp-PID-HEX` (also `.old-`, `.data-`); cleanStaleTemps() removes those that a
// killed process left behind.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asWriteError, UserError } from '../util/errors.js';
import { makeDirs } from './make-dirs.js';

/** A unique sibling path of `target` (same folder, so rename() stays on one file system). */
export function tempSiblingPath(target: string, tag = 'tmp'): string {
  return join(dirname(target), `.${basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** What tempSiblingPath() produces: `.NAME.(tmp|old|data)-PID-HEX`. */
const TEMP_NAME = /^\.(.+)\.(tmp|old|data)-(\d+)-[0-9a-f]{8}$/;

/** fsync a folder, so renames and new entries in it survive a power cut (a no-op where folders cannot be opened). */
export function fsyncDirSync(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on a folder; nothing more can be done there
  } finally {
    closeSync(fd);
  }
}

/** A file is about to be written at `path`: refuse a folder there before anything is written (one line). */
export function refuseFolderTarget(path: string): void {
  let folder = false;
  try {
    folder = statSync(path).isDirectory();
  } catch {
    return; // nothing there (or unreadable: the write reports it)
  }
  if (folder) throw new UserError(`${path}: is a folder; expected the path of a file to write`);
}

function dataBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** Write a whole file atomically and durably (temp file, fsync, rename, fsync the folder). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  refuseFolderTarget(path);
  const bytes = dataBytes(data);
  const tmp = tempSiblingPath(path);
  try {
    makeDirs(dirname(path));
    const fh = await open(tmp, 'w');
    try {
      await writeAllAsync(fh, bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    fsyncDirSync(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true });
    throw asWriteError(e, path, bytes.length);
  }
}

/** Synchronous twin of writeFileAtomic, for code paths that cannot await. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  refuseFolderTarget(path);
  const bytes = dataBytes(data);
  const tmp = tempSiblingPath(path);
  try {
    makeDirs(dirname(path));
    const fd = openSync(tmp, 'w');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    fsyncDirSync(dirname(path));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw asWriteError(e, path, bytes.length);
  }
}

async function writeAllAsync(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30));
    done += bytesWritten;
  }
}

/**
 * A file written piece by piece (streamed outputs such as `data tokenize`): pieces go to a temporary sibling,
 * `commit()` makes it durable and renames it into place, `abort()` removes it. On a full disk, write() and
 * commit() throw a DiskFullError with the bytes written so far (the whole file needed at least that much).
 */
export class AtomicFileWriter {
  private written = 0;
  private closed = false;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string): Promise<AtomicFileWriter> {
    refuseFolderTarget(path);
    makeDirs(dirname(path));
    const tmp = tempSiblingPath(path);
    try {
      return new AtomicFileWriter(path, tmp, await open(tmp, 'w'));
    } catch (e) {
      throw asWriteError(e, path, null);
    }
  }

  /** Append a piece (buffered: written out in pieces of about 1 MiB). */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = dataBytes(data);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      await writeAllAsync(this.fh, bytes);
      this.written += bytes.length;
    } catch (e) {
      await this.abort();
      throw asWriteError(e, this.path, this.written + bytes.length, true);
    }
  }

  async commit(): Promise<void> {
    await this.flush();
    try {
      await this.fh.sync();
      await this.fh.close();
      this.closed = true;
      await rename(this.tmp, this.path);
      fsyncDirSync(dirname(this.path));
    } catch (e) {
      await this.abort();
      throw asWriteError(e, this.path, this.written, true);
    }
  }

  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => {});
    }
    await rm(this.tmp, { force: true });
  }
}

/** Bytes of the plain files under `dir` (what a failed folder write had managed to write). */
function treeBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    n += st.isDirectory() ? treeBytes(join(dir, name)) : st.size;
  }
  return n;
}

/** fsync every plain file under `dir` (recursively), then the folders themselves. */
function fsyncTreeSync(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) fsyncTreeSync(p);
    else if (st.isFile()) {
      const fd = openSync(p, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
  fsyncDirSync(dir);
}

/**
 * Build a folder atomically: `fill` writes into a fresh temporary sibling folder, which then replaces
 * `finalDir` (an existing `finalDir` is moved aside first and removed after the swap). Everything in the folder
 * is fsynced before the rename and the parent after it. If `fill` throws, the temporary folder is removed and
 * `finalDir` is left untouched.
 */
export async function atomicDir(finalDir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  makeDirs(dirname(finalDir));
  const tmp = tempSiblingPath(finalDir);
  try {
    await mkdir(tmp);
    await fill(tmp);
    fsyncTreeSync(tmp);
  } catch (e) {
    const written = existsSync(tmp) ? treeBytes(tmp) : 0;
    await rm(tmp, { recursive: true, force: true });
    throw asWriteError(e, finalDir, written > 0 ? written : null, true);
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
    fsyncDirSync(dirname(finalDir));
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(tmp, finalDir);
    fsyncDirSync(dirname(finalDir));
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporaries (`.NAME.tmp-PID-HEX` files and folders, and `.old-`/`.data-` ones) that a process
 * which is no longer running left in `dir`: a killed write. Returns the removed paths (for a message).
 * `.NAME.old-*` folders are a previous version set aside during a swap; if NAME itself is missing (killed
 * between the two renames) the old version is put back instead of removed.
 */
export function cleanStaleTemps(dir: string): { removed: string[]; restored: string[] } {
  const removed: string[] = [];
  const restored: string[] = [];
  if (!existsSync(dir)) return { removed, restored };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { removed, restored };
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || processAlive(Number(m[3]))) continue;
    const p = join(dir, name);
    const target = join(dir, m[1]!);
    if (m[2] === 'old' && !existsSync(target)) {
      renameSync(p, target);
      restored.push(target);
      continue;
    }
    rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  if (removed.length > 0 || restored.length > 0) fsyncDirSync(dir);
  return { removed, restored };
}

/** Create `dir` (and parents) for output, failing with one line when it, or a part of its path, is a file. */
export function ensureOutputDir(dir: string, what: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new UserError(`${what}: ${dir} is a file, not a folder; choose a folder for the output`);
  try {
    makeDirs(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST')
      throw new UserError(`${what}: cannot create folder ${dir}: a part of that path is a file`, { cause: e });
    throw asWriteError(e, dir, null);
  }
}

/**
 * Write an output folder (merge, quantize): when `dir` is absent or empty it is built in a temporary sibling
 * and renamed into place (a failure leaves nothing that looks complete); an existing non-empty folder is
 * written into directly (each file is still written atomically).
 */
export async function writeOutputDir(dir: string, what: string, fill: (dir: string) => Promise<void>): Promise<void> {
  ensureOutputDir(dirname(dir), what);
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new UserError(`${what}: ${dir} is a file, not a folder; choose a folder for the output`);
  if (!existsSync(dir) || readdirSync(dir).length === 0) await atomicDir(dir, fill);
  else await fill(dir);
}
