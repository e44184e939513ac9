// `sftkit serve`: an OpenAI-compatible HTTP server for a base model and LoRA adapters on it (chosen by the
// request's `model`), with continuous batching. Binds 127.0.0.1 unless told otherwise; any other address
// needs --api-key. Also the pieces `sftkit dashboard` shares: limits from flags and listen-until-signal.
import type { FastifyInstance } from 'fastify';
import { loadLlamaConfig } from '../io/hf-config.js';
import { loadServedModels, parseAdapterFlag, type ServedModel } from '../serve/models.js';
import { Scheduler } from '../serve/scheduler.js';
import { buildServer, isLoopback, type ServeLimits } from '../serve/server.js';
import { UserError } from '../util/errors.js';
import { dtypeFlag, numberFlag, requireString, type Command, type FlagSpec } from './command.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

/** Flags for the server's limits (sftkit serve and sftkit dashboard). */
export const LIMIT_FLAGS: Record<string, FlagSpec> = {
  port: { type: 'string', help: 'TCP port (0 = any free port; the address is printed)', default: '8000' },
  'max-batch': { type: 'string', help: 'Most requests generating at once (rows of the shared batch)', default: '16' },
  'max-queue': { type: 'string', help: 'Most requests waiting for a row; more get HTTP 429', default: '64' },
  'max-prompt-tokens': { type: 'string', help: "Longest prompt in tokens (default: the model's context length)" },
  'max-new-tokens': {
    type: 'string',
    help: 'Largest max_tokens a request may ask for (also the default)',
    default: '512',
  },
  'max-body-bytes': { type: 'string', help: 'Largest request body', default: '1048576' },
  dtype: { type: 'string', help: "Weight storage and GEMM precision: f32 | bf16 (default: config.json's torch_dtype)" },
};

function positiveInt(flags: Flags, name: string, cmd: string, fallback: number, min = 1): number {
  const n = numberFlag(flags, name, cmd, fallback);
  if (!Number.isInteger(n) || n < min)
    throw new UserError(`sftkit ${cmd}: --${name} must be an integer >= ${min}, got '${String(flags[name])}'`);
  return n;
}

export function limitsFromFlags(flags: Flags, cmd: string, modelDir: string): ServeLimits {
  return {
    maxPromptTokens: positiveInt(flags, 'max-prompt-tokens', cmd, loadLlamaConfig(modelDir).maxPositionEmbeddings),
    maxNewTokens: positiveInt(flags, 'max-new-tokens', cmd, 512),
    bodyBytes: positiveInt(flags, 'max-body-bytes', cmd, 1 << 20, 64),
  };
}

export function schedulerFromFlags(flags: Flags, cmd: string): Scheduler {
  return new Scheduler({
    maxBatch: positiveInt(flags, 'max-batch', cmd, 16),
    maxQueue: positiveInt(flags, 'max-queue', cmd, 64, 0),
  });
}

/** Listen, print the address, and run until SIGINT / SIGTERM. */
export async function listenUntilSignal(app: FastifyInstance, host: string, port: number, what: string): Promise<void> {
  await app.listen({ host, port });
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  const shown = host.includes(':') ? `[${host}]` : host;
  process.stderr.write(`${what}: listening on http://${shown}:${actual}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // Open streams end now (their rows are freed), instead of holding the shutdown until they finish.
      const closing = app.close();
      app.server.closeAllConnections();
      void closing.then(() => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function portFlag(flags: Flags, cmd: string, fallback: number): number {
  const port = positiveInt(flags, 'port', cmd, fallback, 0);
  if (port > 65535) throw new UserError(`sftkit ${cmd}: --port must be at most 65535, got ${port}`);
  return port;
}

export function describeModels(models: ServedModel[]): string {
  return models.map((m) => (m.parent ? `${m.name} (adapter on ${m.parent})` : m.name)).join(', ');
}

export const command: Command = {
  name: 'serve',
  summary: 'OpenAI-compatible HTTP server (chat/completions, streaming, continuous batching, several LoRA adapters)',
  usage:
    'sftkit serve --model DIR [--adapter NAME=DIR ...] [--port 8000] [--host 127.0.0.1 | --host 0.0.0.0 --api-key KEY]\n' +
    '    [--max-batch 16] [--max-queue 64] [--max-prompt-tokens N] [--max-new-tokens 512] [--max-body-bytes N] [--dtype f32|bf16]',
  flags: {
    model: { type: 'string', help: "Hugging Face model folder; requests name it by the folder's name" },
    adapter: {
      type: 'string',
      multiple: true,
      help: 'PEFT LoRA adapter on the model, as NAME=DIR (or DIR: named after the folder); repeatable',
    },
    host: { type: 'string', help: 'Address to bind; anything but loopback needs --api-key', default: '127.0.0.1' },
    'api-key': {
      type: 'string',
      help: 'Require Authorization: Bearer KEY on every request (default: $SFTKIT_API_KEY)',
    },
    ...LIMIT_FLAGS,
  },
  async run(flags) {
    const cmd = 'serve';
    const modelDir = requireString(flags, 'model', cmd);
    const host = typeof flags.host === 'string' ? flags.host : '127.0.0.1';
    const apiKey = typeof flags['api-key'] === 'string' ? flags['api-key'] : (process.env.SFTKIT_API_KEY ?? null);
    if (!isLoopback(host) && !apiKey)
      throw new UserError(
        `sftkit serve: --host ${host} exposes the server beyond this machine; give --api-key KEY (or SFTKIT_API_KEY) too`,
      );
    const port = portFlag(flags, cmd, 8000);
    const limits = limitsFromFlags(flags, cmd, modelDir);
    const adapterFlags = Array.isArray(flags.adapter)
      ? flags.adapter
      : typeof flags.adapter === 'string'
        ? [flags.adapter]
        : [];
    const models = await loadServedModels({
      modelDir,
      adapters: adapterFlags.map(parseAdapterFlag),
      dtype: dtypeFlag(flags.dtype, cmd),
    });
    const app = buildServer({ models, scheduler: schedulerFromFlags(flags, cmd), limits, apiKey });
    process.stderr.write(`sftkit serve: models ${describeModels(models)}\n`);
    await listenUntilSignal(app, host, port, 'sftkit serve');
  },
};
