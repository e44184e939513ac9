// The OpenAI-compatible HTTP server (Fastify): /v1/models, /v1/chat/completions and /v1/completions, with
// server-sent events in OpenAI's chunk format when `stream` is true. Every request goes through the
// continuous-batching scheduler; a client that goes away frees its row. Errors use OpenAI's error JSON.
// Why Fastify: sftkit runs only on Node (the native addon), where Fastify is at home: body-size limits and
// JSON parsing built in, replies that can be hijacked for SSE with the raw socket's close event, a plugin-free
// core with few dependencies, and an OpenJS Foundation project with a published LTS policy. Hono's strength,
// running on edge runtimes through web-standard Request/Response, buys nothing here.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Sequence, SequenceSpec } from '../generate/batch.js';
import { decoderFor, encodeChat, encodeText, stopTokenIdsFor } from '../generate/load.js';
import { rowSeed } from '../generate/sampling.js';
import { UserError } from '../util/errors.js';
import type { ServedModel } from './models.js';
import {
  ApiError,
  bodyObject,
  errorBody,
  finishReason,
  parseGenerationParams,
  parseMessages,
  parsePrompt,
  requestId,
  usage,
} from './openai.js';
import { QueueFullError, type Scheduler, type Ticket } from './scheduler.js';

export interface ServeLimits {
  /** Longest prompt in tokens (after the chat template). */
  maxPromptTokens: number;
  /** Largest max_tokens a request may ask for (also the default). */
  maxNewTokens: number;
  /** Largest request body in bytes. */
  bodyBytes: number;
}

export interface ServeOptions {
  models: ServedModel[];
  scheduler: Scheduler;
  limits: ServeLimits;
  /** When set, every request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string | null;
}

/** A Fastify app answering the OpenAI routes (more routes may be added before listen(), as the dashboard does). */
export function buildServer(o: ServeOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: o.limits.bodyBytes, logger: false });
  const byName = new Map(o.models.map((m) => [m.name, m]));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err instanceof QueueFullError) e = new ApiError(429, err.message, null, 'queue_full');
    else if (err instanceof UserError) e = new ApiError(400, err.message);
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new ApiError(413, `the request body is larger than ${o.limits.bodyBytes} bytes`, null, 'request_too_large');
    else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
      e = new ApiError(err.statusCode, err.message);
    else e = new ApiError(500, `internal error: ${err.message}`);
    void reply.code(e.status).send(errorBody(e));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(new ApiError(404, `no route ${req.method} ${req.url.split('?')[0]}`)));
  });
  if (o.apiKey) {
    const want = Buffer.from(`Bearer ${o.apiKey}`);
    app.addHook('onRequest', async (req) => {
      const got = Buffer.from(req.headers.authorization ?? '');
      if (got.length !== want.length || !timingSafeEqual(got, want))
        throw new ApiError(401, 'missing or wrong API key (send Authorization: Bearer KEY)', null, 'invalid_api_key');
    });
  }

  const modelCard = (m: ServedModel) => ({
    id: m.name,
    object: 'model',
    created: m.created,
    owned_by: 'sftkit',
    root: m.parent ?? m.name,
    parent: m.parent,
  });
  app.get('/v1/models', async () => ({ object: 'list', data: o.models.map(modelCard) }));
  app.get('/v1/models/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    return modelCard(find(id));
  });
  app.get('/sftkit/stats', async () => o.scheduler.stats());

  function find(name: string): ServedModel {
    const m = byName.get(name);
    if (!m)
      throw new ApiError(
        404,
        `the model '${name}' does not exist (served: ${[...byName.keys()].join(', ')})`,
        'model',
        'model_not_found',
      );
    return m;
  }

  app.post('/v1/chat/completions', (req, reply) => complete(req, reply, 'chat'));
  app.post('/v1/completions', (req, reply) => complete(req, reply, 'text'));

  async function complete(req: FastifyRequest, reply: FastifyReply, kind: 'chat' | 'text'): Promise<unknown> {
    const b = bodyObject(req.body);
    const served = find(typeof b.model === 'string' ? b.model : '');
    const p = parseGenerationParams(b, served.defaults);
    const tok = served.tokenizer;
    let prompt: number[];
    if (kind === 'chat') {
      const messages = parseMessages(b);
      if (tok.chatTemplates.size === 0)
        throw new ApiError(400, `the model '${served.name}' has no chat template; use /v1/completions`, 'model');
      try {
        prompt = encodeChat(tok, messages);
      } catch (e) {
        throw new ApiError(400, `the chat template failed on these messages: ${(e as Error).message}`, 'messages');
      }
    } else prompt = encodeText(tok, parsePrompt(b));
    const promptParam = kind === 'chat' ? 'messages' : 'prompt';
    const L = o.limits;
    if (prompt.length === 0) throw new ApiError(400, 'the prompt has no tokens', promptParam);
    if (prompt.length > L.maxPromptTokens)
      throw new ApiError(
        400,
        `the prompt has ${prompt.length} tokens; this server takes at most ${L.maxPromptTokens}`,
        promptParam,
        'context_length_exceeded',
      );
    if (p.maxTokens !== undefined && p.maxTokens > L.maxNewTokens)
      throw new ApiError(
        400,
        `max_tokens is ${p.maxTokens}; this server generates at most ${L.maxNewTokens} tokens per request`,
        'max_tokens',
      );
    const room = served.model.config.maxPositionEmbeddings - prompt.length;
    if (p.maxTokens !== undefined ? p.maxTokens > room : room < 1)
      throw new ApiError(
        400,
        `the prompt (${prompt.length} tokens) and max_tokens (${p.maxTokens ?? 1}) exceed the model's context of ${served.model.config.maxPositionEmbeddings} tokens`,
        promptParam,
        'context_length_exceeded',
      );
    const spec: Omit<SequenceSpec, 'onToken'> = {
      prompt,
      maxNewTokens: p.maxTokens ?? Math.min(L.maxNewTokens, room),
      sampling: p.sampling,
      seed: rowSeed(p.seed, 0),
      stopTokenIds: p.ignoreEos ? [] : stopTokenIdsFor(served),
      stopStrings: p.stop,
      decode: decoderFor(tok),
    };
    const id = requestId(kind === 'chat' ? 'chatcmpl' : 'cmpl');
    const created = Math.floor(Date.now() / 1000);
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    const head = {
      id,
      object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      created,
      model: served.name,
    };
    const choice = (text: string | null, finish: 'stop' | 'length' | null, first = false) =>
      kind === 'chat'
        ? {
            index: 0,
            delta: text === null ? {} : first ? { role: 'assistant', content: text } : { content: text },
            logprobs: null,
            finish_reason: finish,
          }
        : { index: 0, text: text ?? '', logprobs: null, finish_reason: finish };
    const usageOf = (seq: Sequence) => usage(prompt.length, seq.generated.length);

    if (!p.stream) {
      return new Promise((resolve, reject) => {
        const ticket = o.scheduler.submit(served, spec, {
          onToken: () => {},
          onDone: (seq) => {
            const text = seq.text();
            const fr = finishReason(seq.finish);
            resolve({
              id,
              object,
              created,
              model: served.name,
              choices: [
                kind === 'chat'
                  ? {
                      index: 0,
                      message: { role: 'assistant', content: text, refusal: null },
                      logprobs: null,
                      finish_reason: fr,
                    }
                  : { index: 0, text, logprobs: null, finish_reason: fr },
              ],
              usage: usageOf(seq),
            });
          },
          onError: (e) => reject(new ApiError(500, `generation failed: ${e.message}`)),
        });
        cancelOnClose(reply, ticket, () => reject(new ApiError(400, 'the client closed the request')));
      });
    }

    const res = reply.raw;
    const send = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    const extra = p.includeUsage ? { usage: null } : {};
    const ticket = o.scheduler.submit(served, spec, {
      onToken: (text) => {
        if (text) send({ ...head, choices: [choice(text, null)], ...extra });
      },
      onDone: (seq) => {
        send({ ...head, choices: [choice(kind === 'chat' ? null : '', finishReason(seq.finish))], ...extra });
        if (p.includeUsage) send({ ...head, choices: [], usage: usageOf(seq) });
        res.end('data: [DONE]\n\n');
      },
      onError: (e) => {
        send(errorBody(new ApiError(500, `generation failed: ${e.message}`)));
        res.end();
      },
    });
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders(); // the client sees the stream open even while the request still waits for a row
    if (kind === 'chat') send({ ...head, choices: [choice('', null, true)], ...extra });
    cancelOnClose(reply, ticket);
    return reply;
  }

  /** A client that closes the connection before its answer is done frees its row (or queue place). */
  function cancelOnClose(reply: FastifyReply, ticket: Ticket, onCancel?: () => void): void {
    reply.raw.on('close', () => {
      if (ticket.state === 'done') return;
      o.scheduler.cancel(ticket);
      onCancel?.();
    });
  }

  return app;
}

/** Loopback addresses: anything else must be guarded by an API key. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}
