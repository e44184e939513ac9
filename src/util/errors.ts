// Errors the CLI prints as one line (no stack trace unless --debug): the user's input was wrong, or the
// system refused (disk full, permission denied, a folder where a file belongs).
import { existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { formatBytes } from './bytes.js';

/**
 * An error caused by the user's input (bad file, bad flag, bad config): the CLI prints its message
 * without a stack trace (the stack shows with --debug).
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** The file system ran out of space (ENOSPC) or quota (EDQUOT) while writing `path`. */
export class DiskFullError extends UserError {
  constructor(
    readonly path: string,
    /** Bytes the write needed in all (null when unknown). */
    readonly neededBytes: number | null,
    /** Bytes the file system had free when the error was reported (null when unknown). */
    readonly freeBytes: number | null,
    options?: { cause?: unknown; atLeast?: boolean },
  ) {
    const need =
      neededBytes === null ? '' : `needed ${options?.atLeast ? 'at least ' : ''}${formatBytes(neededBytes)}, `;
    const free = freeBytes === null ? '' : `${formatBytes(freeBytes)} free`;
    const code = (options?.cause as NodeJS.ErrnoException | undefined)?.code ?? 'ENOSPC';
    super(
      `disk full: could not write ${path} (${need}${free || 'no space left'}; ${code}); nothing was replaced: free some space or choose another output folder`,
      options,
    );
    this.name = 'DiskFullError';
  }
}

/** Node's errno errors carry a string `code`. */
export function errnoCode(e: unknown): string | null {
  const c = (e as NodeJS.ErrnoException | null)?.code;
  return typeof c === 'string' ? c : null;
}

export function isDiskFull(e: unknown): boolean {
  const c = errnoCode(e);
  return c === 'ENOSPC' || c === 'EDQUOT';
}

/** Free bytes (for an unprivileged writer) on the file system holding `path` or its nearest existing parent. */
export function freeBytesAt(path: string): number | null {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) return null;
    p = up;
  }
  try {
    const s = statfsSync(p);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/**
 * Turn a disk-full system error raised while writing `path` into a DiskFullError (other errors pass through
 * unchanged). `neededBytes` is the size of the whole write when known.
 */
export function asDiskFull(e: unknown, path: string, neededBytes: number | null, atLeast = false): unknown {
  if (e instanceof DiskFullError || !isDiskFull(e)) return e;
  return new DiskFullError(path, neededBytes, freeBytesAt(path), { cause: e, atLeast });
}

const SYSTEM_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'already exists',
  ENOENT: 'no such file or folder',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error',
  EFBIG: 'file too large for this file system or ulimit',
};

/** `permission denied (EACCES)`: the reason a system error gives in words, with its code (or its message). */
export function systemReason(e: unknown): string {
  const code = errnoCode(e);
  if (code === null) return (e as Error)?.message ?? String(e);
  const reason = SYSTEM_REASONS[code];
  return reason ? `${reason} (${code})` : code;
}

/**
 * Why `path` cannot even be looked at (`permission denied (EACCES)` when a folder on the way may not be searched),
 * or null when it exists or simply is not there: for messages that would otherwise say "not found".
 */
export function accessProblem(path: string): string | null {
  try {
    statSync(path);
    return null;
  } catch (e) {
    const code = errnoCode(e);
    return code === null || code === 'ENOENT' || code === 'ENOTDIR' ? null : systemReason(e);
  }
}

const NOT_ALLOWED = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * A write to `path` that failed: a DiskFullError (asDiskFull), or for a write the system refuses (permission
 * denied, read-only file system) a one-line UserError naming `path` itself rather than the temporary file the
 * write went through; other errors pass through unchanged.
 */
export function asWriteError(e: unknown, path: string, neededBytes: number | null, atLeast = false): unknown {
  const full = asDiskFull(e, path, neededBytes, atLeast);
  if (full !== e || e instanceof UserError || !NOT_ALLOWED.has(errnoCode(e) ?? '')) return full;
  return new UserError(
    `${path}: cannot write: ${systemReason(e)}; check the permissions of ${dirname(resolve(path))}`,
    {
      cause: e,
    },
  );
}

/**
 * A one-line message for a system error that is the environment's fault rather than a bug in sftkit
 * (disk full, permissions, a file where a folder belongs), or null for anything else.
 */
export function systemErrorMessage(e: unknown): string | null {
  const code = errnoCode(e);
  if (code === null) return null;
  const err = e as NodeJS.ErrnoException;
  const path = err.path ?? (err as { dest?: string }).dest;
  if (isDiskFull(e)) {
    const free = path ? freeBytesAt(path) : null;
    return `disk full (${code}) while ${err.syscall ?? 'writing'}${path ? ` ${path}` : ''}${free !== null ? ` (${formatBytes(free)} free)` : ''}: free some space or choose another output folder`;
  }
  const reason = SYSTEM_REASONS[code];
  if (!reason) return null;
  return `${path ?? 'a file'}: ${reason} (${code}${err.syscall ? ` during ${err.syscall}` : ''})`;
}
