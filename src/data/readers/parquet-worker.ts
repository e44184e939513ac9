// The Parquet decoding worker (started by parquet.ts): reads a file through the descriptor the caller opened (and
// closes), decodes the row groups it is asked for, one at a time in the order asked, and posts back each group's
// rows or its first error. Decoding runs here because hyparquet can loop synchronously for minutes over a corrupt
// run length: the caller's watchdog terminates this thread, which nothing inside the caller's own thread could.
import type { MessagePort } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { workerData } from 'node:worker_threads';
import { UserError } from '../../util/errors.js';
import { decodeRowGroup, hasInexactNumber, inexactJsonColumns, parquetOfFd } from './parquet-decode.js';

/** Read this file from now on (a worker decodes one file at a time, and may be handed the next). */
export type WorkerRequest = { open: { file: string; fd: number; size: number } } | { group: number };

/**
 * A group's rows as JSON text, in pieces of up to PIECE_ROWS rows (posting strings and parsing them costs the
 * receiving thread about a quarter of what a structured clone of the objects does, and the receiver parses one
 * piece at a time, so it holds one group as compact text and only a piece as objects), or as objects when a value
 * is a number JSON would change.
 */
export type GroupReply =
  | { group: number; json: string[] }
  | { group: number; rows: Record<string, unknown>[] }
  | { group: number; error: { message: string; user: boolean } };

/**
 * A full garbage collection. A worker that has replied sits idle until the reader wants the next group, and an
 * idle isolate does not collect: without this it would hold the last group's garbage (about 200 MiB for 50,000
 * chat rows) for as long as the caller works. The usual way to reach V8's gc() without --expose-gc (not
 * accepted in a worker's execArgv): set the flag, take gc from a new context, clear the flag.
 */
const collect: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
    return gc;
  } catch {
    return () => {};
  }
})();

const { port } = workerData as { port: MessagePort };
let file = '';
let opened: ReturnType<typeof parquetOfFd> = Promise.reject(new Error('no file is open'));
opened.catch(() => {}); // reported with the first request
let queue: Promise<void> = Promise.resolve();

port.on('message', (m: WorkerRequest) => {
  if ('open' in m) {
    queue = queue.then(() => {
      file = m.open.file;
      opened = parquetOfFd(m.open.fd, m.open.size);
      opened.catch(() => {});
    });
  } else queue = queue.then(() => decode(m.group)).then(collect); // the group's objects are garbage by now
});

async function decode(group: number): Promise<void> {
  let reply: GroupReply;
  try {
    const p = await opened;
    const rows = await decodeRowGroup(file, p, group);
    const inexact = inexactJsonColumns(p.md);
    reply = rows.some((r) => inexact.some((c) => hasInexactNumber(r[c])))
      ? { group, rows }
      : { group, json: jsonPieces(rows) };
  } catch (e) {
    reply = { group, error: { message: (e as Error)?.message ?? String(e), user: e instanceof UserError } };
  }
  port.postMessage(reply);
}

const PIECE_ROWS = 2048;

function jsonPieces(rows: Record<string, unknown>[]): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < rows.length; i += PIECE_ROWS) pieces.push(JSON.stringify(rows.slice(i, i + PIECE_ROWS)));
  return pieces;
}
