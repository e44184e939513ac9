// A data-preparation worker thread (started by prepare-workers.ts): loads the tokenizer from its folder, then
// prepares the chunks of records it is sent exactly as the pipeline's own thread does (prepare-chunk.ts) and sends back
// the examples (a slab's arrays, transferred; sources as indices into the chunk), the counts, or the chunk's first error.
import { parentPort, workerData } from 'node:worker_threads';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';
import { finishChunk, startChunk, type ChunkOptions } from './prepare-chunk.js';
import { packArrays } from './example-slab.js';
import type { PrepareReport } from './prepare.js';
import type { PreparedExample, SftRecord } from './types.js';
import type { WorkerReply, WorkerRequest } from './prepare-workers.js';

const port = parentPort!;
const { tokenizerDir, chatTemplates } = workerData as { tokenizerDir: string; chatTemplates: [string, string][] };

let tok: Tokenizer | null = null;
try {
  tok = await Tokenizer.fromDir(tokenizerDir);
  // The folder must still give the tokenizer the caller holds (same templates), or the caller prepares in-thread.
  const same =
    tok.chatTemplates.size === chatTemplates.length && chatTemplates.every(([k, v]) => tok!.chatTemplates.get(k) === v);
  port.postMessage(same ? { ready: true } : { ready: false, why: 'the tokenizer folder changed' });
} catch (e) {
  port.postMessage({ ready: false, why: (e as Error).message });
}

port.on('message', (m: WorkerRequest) => void run(m.id, m.records, m.opts));

async function run(id: number, records: SftRecord[], opts: ChunkOptions): Promise<void> {
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const examples: PreparedExample[] = [];
    const reports: PrepareReport[] = [];
    await finishChunk(tok!, startChunk(tok!, records, opts), examples, reports);
    const index = new Map(records.map((r, i) => [r.source, i]));
    const slab = packArrays(examples);
    reply = { id, slab, records: Int32Array.from(examples, (e) => index.get(e.source)!), reports };
    transfer = [...Object.values(slab), reply.records].map((a) => a.buffer as ArrayBuffer);
  } catch (e) {
    reply = { id, error: { message: (e as Error).message, user: e instanceof UserError } };
  }
  port.postMessage(reply, transfer);
}
