// `mkdir -p` that always ends. Node's recursive mkdir (sync and async) spins forever when the kernel answers ENOENT
// for a child of a folder that exists, as procfs does (`--output_dir /proc/x`): it takes ENOENT to mean "the parent
// is missing", creates the parent (EEXIST) and retries. Here each missing folder is created once, from the top.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Create `dir` and any missing parents; a system error (ENOENT, ENOTDIR, EACCES, ...) names the folder it hit. */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); ;) {
    try {
      if (statSync(p).isDirectory()) break;
      // a file where a folder belongs (here or, through the mkdir below, on the way)
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), {
        code: 'ENOTDIR',
        syscall: 'mkdir',
        path: p,
      });
    } catch (e) {
      if (code(e) !== 'ENOENT') throw e;
    }
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      // another process may have made it meanwhile
      if (!(code(e) === 'EEXIST' && statSync(d).isDirectory())) throw e;
    }
  }
}
