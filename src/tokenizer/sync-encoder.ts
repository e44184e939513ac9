// Synchronous encoding on top of the `tokenizers` package, whose encode() only returns a Promise:
// a worker thread owns a second copy of the tokenizer; the caller posts the text and blocks on
// Atomics.wait until the worker has answered, then takes the reply with receiveMessageOnPort.
// One round trip costs ~0.2 ms; use Tokenizer.encodeBatch (async, in-process) for bulk work.
//
// The worker is started (and its tokenizer loaded) asynchronously by SyncEncoder.start(), so a
// failure to start is a rejected promise, never a blocked thread. It runs with no execArgv (no
// loader hooks such as tsx): it is plain CommonJS that only loads the `tokenizers` addon.
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

export interface RawEncoding {
  ids: number[];
  /** [start, end) in Unicode code points, as the Rust library reports them. */
  offsets: number[][];
  specialMask: number[];
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.flag);
const port = workerData.port;
function reply(message) {
  port.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
process.on('uncaughtException', (e) => reply({ error: 'tokenizer worker crashed: ' + String(e && e.message || e) }));
let tok;
try {
  tok = require(workerData.tokenizersPath).Tokenizer.fromString(workerData.json);
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ error: String(e && e.message || e) });
}
port.on('message', async (m) => {
  try {
    const e = await tok.encode(m.text, null, { addSpecialTokens: m.addSpecialTokens });
    reply({ ids: e.getIds(), offsets: e.getOffsets(), specialMask: e.getSpecialTokensMask() });
  } catch (err) {
    reply({ error: String(err && err.message || err) });
  }
});
`;

const TIMEOUT_MS = 120_000;

export class SyncEncoder {
  private worker: Worker | null;
  private port: MessagePort | null;
  private flag: Int32Array;
  private failure: string | null = null;

  private constructor(worker: Worker, port: MessagePort, flag: Int32Array) {
    this.worker = worker;
    this.port = port;
    this.flag = flag;
    // An 'error' event without a listener would crash the process; remember it for the next call.
    worker.on('error', (e) => (this.failure = `tokenizer worker failed: ${e.message}`));
    worker.on('exit', () => (this.failure ??= 'tokenizer worker exited'));
  }

  /** Start the worker and wait until it has loaded the tokenizer (tokenizer.json text). */
  static start(tokenizerJson: string): Promise<SyncEncoder> {
    const tokenizersPath = createRequire(import.meta.url).resolve('tokenizers');
    const flagBuffer = new SharedArrayBuffer(4);
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { tokenizersPath, json: tokenizerJson, flag: flagBuffer, port: port2 },
      transferList: [port2],
    });
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        port1.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (m: { ready?: boolean; error?: string }) => {
        cleanup();
        if (m.ready) {
          worker.unref(); // never keeps the process alive
          port1.unref();
          resolve(new SyncEncoder(worker, port1, new Int32Array(flagBuffer)));
        } else {
          void worker.terminate();
          reject(new Error(m.error ?? 'tokenizer worker failed to start'));
        }
      };
      const onError = (e: Error) => {
        cleanup();
        reject(new Error(`tokenizer worker failed to start: ${e.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`tokenizer worker exited during start (code ${code})`));
      };
      port1.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  encode(text: string, addSpecialTokens: boolean): RawEncoding {
    if (!this.worker || !this.port) throw new Error('tokenizer is closed');
    if (this.failure) throw new Error(this.failure);
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ text, addSpecialTokens });
    if (Atomics.wait(this.flag, 0, 0, TIMEOUT_MS) === 'timed-out') {
      this.close();
      throw new Error(`tokenizer worker did not answer within ${TIMEOUT_MS / 1000} s`);
    }
    const msg = receiveMessageOnPort(this.port);
    if (!msg) throw new Error('tokenizer worker signalled without a reply');
    const reply = msg.message as RawEncoding & { error?: string };
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply;
  }

  close(): void {
    this.port?.close();
    void this.worker?.terminate();
    this.worker = null;
    this.port = null;
  }
}
