// A small tmpfs for disk-full tests (needs root and a kernel that lets this process mount): mount, fill to a
// chosen free size, unmount. Where mounting is not allowed, mountTmpfs returns the reason to skip with.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Fill the file system so that about `leaveBytes` stay free (replaces an earlier filler). */
  fill(leaveBytes: number): void;
  /** Remove the filler. */
  unfill(): void;
  unmount(): void;
}

export function mountTmpfs(size: string): Tmpfs | string {
  if (process.platform !== 'linux') return 'disk-full tests need Linux tmpfs';
  if (process.getuid?.() !== 0) return 'disk-full tests mount a tmpfs, which needs root';
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-diskfull-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here (${(r.stderr || r.error?.message || 'mount failed').trim()})`;
  }
  const filler = join(dir, '.filler');
  const unfill = () => rmSync(filler, { force: true });
  return {
    dir,
    fill(leaveBytes: number) {
      unfill();
      const s = statfsSync(dir);
      let remaining = Number(s.bavail) * Number(s.bsize) - leaveBytes;
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(1 << 16, 1);
      try {
        while (remaining > 0) {
          const n = Math.min(chunk.length, remaining);
          writeSync(fd, chunk, 0, n);
          remaining -= n;
        }
      } finally {
        closeSync(fd);
      }
    },
    unfill,
    unmount() {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
