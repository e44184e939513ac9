// Positioned reads that fill a buffer: readSync may return fewer bytes than asked, and one call reads at most 2 GiB.
import { readSync } from 'node:fs';

const MAX_READ = 1 << 30;

/** Fill `into` from `fd` starting at byte `position`; returns the bytes read (fewer only at the end of the file). */
export function readFullySync(fd: number, into: Uint8Array, position: number): number {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(MAX_READ, into.length - done), position + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}
