// Starting a worker thread on one of our own modules, the same way whether sftkit runs from its TypeScript sources
// (tests, benches: through tsx) or from the built JavaScript.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running the module `name` (a path without extension, relative to `from`, the caller's
 * `import.meta.url`). From TypeScript sources the worker registers tsx before it imports its entry (an
 * `--import tsx` in execArgv does not reach a worker's entry module on Node 20); built code needs nothing.
 */
export function startWorker(name: string, from: string, opts: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const ts = from.endsWith('.ts');
  const url = new URL(`${name}.${ts ? 'ts' : 'js'}`, from);
  const entry = ts
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`
    : url;
  return new Worker(entry, { execArgv: [], ...opts, eval: ts });
}
