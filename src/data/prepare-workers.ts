// Worker threads for preparing large datasets: each holds its own copy of the tokenizer (loaded from the same
// folder) and prepares whole chunks (prepare-chunk.ts) while this thread reads the next rows. Chunks are handed out
// round robin and their results taken back in chunk order, so examples, counts and the first error are exactly
// those of preparing the chunks one after another on this thread.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/worker.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';
import type { ChunkOptions } from './prepare-chunk.js';
import type { PrepareReport } from './prepare.js';
import type { DataTokenizer, PreparedExample, SftRecord } from './types.js';
import { ExampleSlab, sourceColumns, type SlabArrays } from './example-slab.js';

export interface WorkerRequest {
  id: number;
  records: SftRecord[];
  opts: ChunkOptions;
}

export type WorkerReply =
  | {
      id: number;
      /** The examples' ids, masks and counts (example-slab.ts). */
      slab: SlabArrays;
      /** Each example's record, an index into the request's records (whose source the example carries). */
      records: Int32Array;
      reports: PrepareReport[];
    }
  | { id: number; error: { message: string; user: boolean } };

export interface ChunkResult {
  examples: PreparedExample[];
  reports: PrepareReport[];
}

/** How many workers to use for `tok` when the caller does not say: one per core up to 4; none on one core. */
export function defaultWorkerCount(tok: DataTokenizer): number {
  if (!(tok instanceof Tokenizer)) return 0;
  const n = Math.min(4, availableParallelism());
  return n >= 2 ? n : 0;
}

export class PrepareWorkers {
  private next = 0;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { records: SftRecord[]; resolve: (r: ChunkResult) => void; reject: (e: unknown) => void }
  >();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (m: WorkerReply) => this.reply(m));
      w.on('error', (e) => this.failAll(e));
      w.on('exit', (code) => {
        if (this.pending.size) this.failAll(new Error(`a data preparation worker exited (code ${code})`));
      });
    }
  }

  /** `n` workers with `tok`'s folder, or null when one cannot start or loads a different tokenizer. */
  static async start(tok: Tokenizer, n: number): Promise<PrepareWorkers | null> {
    const workers: Worker[] = [];
    const ready: Promise<boolean>[] = [];
    for (let i = 0; i < n; i++) {
      const w = startWorker('./prepare-worker', import.meta.url, {
        workerData: { tokenizerDir: tok.dir, chatTemplates: [...tok.chatTemplates] },
      });
      w.unref();
      workers.push(w);
      ready.push(
        new Promise((resolve) => {
          w.once('message', (m: { ready: boolean }) => resolve(m.ready));
          w.once('error', () => resolve(false));
        }),
      );
    }
    if ((await Promise.all(ready)).every(Boolean)) return new PrepareWorkers(workers);
    await Promise.all(workers.map((w) => w.terminate()));
    return null;
  }

  /** Prepare one chunk on the next worker. */
  run(records: SftRecord[], opts: ChunkOptions): Promise<ChunkResult> {
    const id = this.nextId++;
    const w = this.workers[this.next++ % this.workers.length]!;
    return new Promise<ChunkResult>((resolve, reject) => {
      this.pending.set(id, { records, resolve, reject });
      w.postMessage({ id, records, opts } satisfies WorkerRequest);
    });
  }

  private reply(m: WorkerReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if ('error' in m) {
      p.reject(m.error.user ? new UserError(m.error.message) : new Error(m.error.message));
      return;
    }
    const sources = sourceColumns(Array.from(m.records, (r) => p.records[r]!.source));
    p.resolve({ examples: new ExampleSlab(m.slab, sources).examples(), reports: m.reports });
  }

  private failAll(e: unknown): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
