// Parquet rows, decoded in a worker thread (parquet-worker.ts, over parquet-decode.ts) one row group at a time, the
// next group decoding while the caller works on this one, so memory holds about two groups; rows come back as JSON
// text. A watchdog bounds each group's decoding by its compressed size: a corrupt file on which the decoder loops
// is terminated and named, where decoding on this thread could never be interrupted.
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { FileMetaData } from 'hyparquet';
import { UserError } from '../../util/errors.js';
import { startWorker } from '../../util/worker.js';
import { columnsOf, groupPlace, groupStarts, openParquet } from './parquet-decode.js';
import type { GroupReply, WorkerRequest } from './parquet-worker.js';
import type { RawRow } from '../readers.js';

export interface ParquetFileInfo {
  rows: number;
  rowGroups: number[];
  columns: string[];
  createdBy: string | null;
}

/** The footer of a Parquet file: row counts per group, top-level columns, writer. */
export async function parquetInfo(file: string): Promise<ParquetFileInfo> {
  const { fh, md } = await openParquet(file);
  await fh.close();
  return infoOf(md);
}

function infoOf(md: FileMetaData): ParquetFileInfo {
  return {
    rows: Number(md.num_rows),
    rowGroups: md.row_groups.map((g) => Number(g.num_rows)),
    columns: columnsOf(md),
    createdBy: md.created_by ?? null,
  };
}

export interface ParquetReadOptions {
  /**
   * Seconds one row group may take to decode before the file is called corrupt. Default: 10 s plus 4 s per MiB
   * of the group's compressed size (far beyond hyparquet's speed on a loaded machine), or SFTKIT_PARQUET_DECODE_LIMIT_S.
   */
  decodeLimitS?: number;
}

/** The seconds row group `g` may take to decode. */
function decodeLimitS(md: FileMetaData, g: number, fileSize: number, opts: ParquetReadOptions): number {
  const fixed = opts.decodeLimitS ?? Number(process.env.SFTKIT_PARQUET_DECODE_LIMIT_S ?? NaN);
  if (fixed > 0) return fixed;
  let bytes = 0;
  for (const c of md.row_groups[g]?.columns ?? []) bytes += Number(c.meta_data?.total_compressed_size ?? 0);
  // a corrupt footer may claim any size: what is decoded is read from the file
  bytes = Math.min(Number.isFinite(bytes) && bytes > 0 ? bytes : 0, fileSize);
  return 10 + (4 * bytes) / 2 ** 20;
}

/** The rows of a Parquet file as plain objects, one row group at a time. */
export async function* readParquetRows(file: string, opts: ParquetReadOptions = {}): AsyncGenerator<RawRow> {
  const { fh, md } = await openParquet(file);
  let worker: DecodeWorker | null = null;
  try {
    const starts = groupStarts(md);
    const groups = md.row_groups.length;
    if (groups === 0) return;
    const { size } = await fh.stat();
    worker = DecodeWorker.acquire();
    worker.open(file, fh.fd, size);
    worker.request(0);
    for (let g = 0; g < groups; g++) {
      const reply = await worker.take(g, decodeLimitS(md, g, size, opts), groupPlace(file, starts, g));
      if (g + 1 < groups) worker.request(g + 1); // decodes while this thread parses and the caller works
      let row = starts[g]!;
      const pieces = 'json' in reply ? reply.json : [reply.rows];
      for (let p = 0; p < pieces.length; p++) {
        const piece = pieces[p]!;
        pieces[p] = []; // parsed pieces are not kept
        const rows = typeof piece === 'string' ? (JSON.parse(piece) as Record<string, unknown>[]) : piece;
        for (const value of rows) {
          yield { value, source: { file, line: row + 1, row, rowGroup: g } };
          row++;
        }
      }
    }
  } finally {
    // Kept for the next file when it has nothing in flight (the end of the file); else terminated.
    await worker?.release();
    await fh.close();
  }
}

/** Live decoding workers, idle one included (tests check that a reader closed early leaves none busy). */
let liveWorkers = 0;
export function parquetWorkersAlive(): number {
  return liveWorkers;
}

type GroupRows = Exclude<GroupReply, { error: unknown }>;

/**
 * A decoding worker: row groups asked for in order and taken back with a time limit each. One idle worker is kept
 * for the next file (starting one costs more than reading a small file); the others are terminated.
 */
class DecodeWorker {
  private static idle: DecodeWorker | null = null;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly replies = new Map<number, GroupReply>();
  private waiting: { group: number; settle: (r: GroupReply | Error) => void } | null = null;
  private inFlight = 0;
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;

  static acquire(): DecodeWorker {
    const w = DecodeWorker.idle ?? new DecodeWorker();
    DecodeWorker.idle = null;
    return w;
  }

  private constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = startWorker('./parquet-worker', import.meta.url, {
      workerData: { port: port2 },
      transferList: [port2],
    });
    liveWorkers++;
    port1.on('message', (m: GroupReply) => this.receive(m));
    // Neither keeps the process alive (unref after on('message'), which refs the port): while a group is awaited,
    // its watchdog timer does.
    this.worker.unref();
    port1.unref();
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => {
      liveWorkers--;
      if (DecodeWorker.idle === this) DecodeWorker.idle = null;
      this.fail(new Error(`the Parquet decoding worker stopped (exit code ${code})`));
    });
  }

  open(file: string, fd: number, size: number): void {
    this.port.postMessage({ open: { file, fd, size } } satisfies WorkerRequest);
  }

  request(group: number): void {
    this.inFlight++;
    this.port.postMessage({ group } satisfies WorkerRequest);
  }

  /** Row group `group`'s rows; past `limitS` seconds of waiting the worker is terminated and `place` named. */
  take(group: number, limitS: number, place: string): Promise<GroupRows> {
    return new Promise<GroupReply | Error>((settle) => {
      const timer = setTimeout(() => {
        // A reply may be queued behind this timer when this thread was busy: take it before judging.
        for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port))
          this.receive(m.message as GroupReply);
        if (this.waiting?.group !== group) return;
        this.waiting = null;
        void this.close();
        settle(
          new UserError(
            `${place}: decoding did not finish in ${limitS.toFixed(0)} s (corrupt file? a column's run lengths may be garbage)`,
          ),
        );
      }, limitS * 1000);
      this.waiting = {
        group,
        settle: (r) => {
          clearTimeout(timer);
          this.waiting = null;
          settle(r);
        },
      };
      this.deliver();
    }).then((r) => {
      if ((r as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY')
        throw new UserError(`${place}: decoding ran out of memory (corrupt file?)`, { cause: r });
      if (r instanceof Error) throw r;
      if ('error' in r) throw r.error.user ? new UserError(r.error.message) : new Error(r.error.message);
      return r;
    });
  }

  private receive(m: GroupReply): void {
    this.inFlight--;
    this.replies.set(m.group, m);
    this.deliver();
  }

  private deliver(): void {
    const w = this.waiting;
    if (!w) return;
    const r = this.replies.get(w.group);
    if (r) {
      this.replies.delete(w.group);
      w.settle(r);
    } else if (this.failure) w.settle(this.failure);
  }

  private fail(e: Error): void {
    if (this.closing) return;
    this.failure ??= e;
    this.deliver();
  }

  /** Done with this file: keep the worker for the next one if it is idle and well, else terminate it. */
  release(): Promise<void> {
    if (!this.closing && !this.failure && this.inFlight === 0 && this.replies.size === 0 && !DecodeWorker.idle) {
      DecodeWorker.idle = this;
      return Promise.resolve();
    }
    return this.close();
  }

  /** Terminate the worker (past a time limit, on an error, or when the caller stops with a group in flight). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.port.close();
      await this.worker.terminate();
    })();
    return this.closing;
  }
}
