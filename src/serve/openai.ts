// OpenAI's API shapes: request validation into generation settings, response and stream-chunk bodies, and the
// error JSON ({"error": {"message", "type", "param", "code"}}). Requests name models, never files.
import { randomBytes, randomInt } from 'node:crypto';
import type { FinishReason } from '../generate/batch.js';
import { resolveSampling, type ResolvedSampling } from '../generate/sampling.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status === 429
      ? 'rate_limit_error'
      : status >= 500
        ? 'server_error'
        : status === 401
          ? 'authentication_error'
          : 'invalid_request_error',
  ) {
    super(message);
  }
}

export function errorBody(e: ApiError): {
  error: { message: string; type: string; param: string | null; code: string | null };
} {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

type Body = Record<string, unknown>;

/** The request body as an object (Fastify has parsed the JSON). */
export function bodyObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError(400, 'the request body must be a JSON object');
  return body as Body;
}

function num(b: Body, key: string, min: number, max: number, integer = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new ApiError(
      400,
      `${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`,
      key,
    );
  return v;
}

function bool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ApiError(400, `${key} must be true or false, got ${JSON.stringify(v)}`, key);
  return v;
}

/** Fields with no effect here: refused when set to anything but their neutral value. */
const UNSUPPORTED: [string, (v: unknown) => boolean][] = [
  ['logprobs', (v) => v === false || v === null],
  ['top_logprobs', (v) => v === null || v === 0],
  ['tools', (v) => v === null || (Array.isArray(v) && v.length === 0)],
  ['tool_choice', (v) => v === null || v === 'none' || v === 'auto'],
  ['functions', (v) => v === null],
  ['response_format', (v) => v === null || (v as { type?: unknown })?.type === 'text'],
  ['frequency_penalty', (v) => v === null || v === 0],
  ['presence_penalty', (v) => v === null || v === 0],
  ['logit_bias', (v) => v === null || (typeof v === 'object' && Object.keys(v as object).length === 0)],
  ['echo', (v) => v === false || v === null],
  ['best_of', (v) => v === null || v === 1],
  ['suffix', (v) => v === null || v === ''],
];

/** What every generation request asks for, validated (`model` and the prompt are read by the caller). */
export interface GenerationParams {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** Requested new-token limit, if any. */
  maxTokens: number | undefined;
  sampling: ResolvedSampling;
  seed: number;
  stop: string[];
  /** vLLM's extension: do not end at eos / end-of-turn ids. */
  ignoreEos: boolean;
}

export interface SamplingFallbacks {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
}

/**
 * Common fields of /v1/chat/completions and /v1/completions. Fields a request leaves out fall back to the
 * model's generation_config.json, then OpenAI's defaults (temperature 1, top_p 1, no top-k).
 */
export function parseGenerationParams(b: Body, fallbacks: SamplingFallbacks): GenerationParams {
  const model = b.model;
  if (typeof model !== 'string' || model === '') throw new ApiError(400, 'model must be a non-empty string', 'model');
  for (const [key, neutral] of UNSUPPORTED)
    if (b[key] !== undefined && !neutral(b[key]))
      throw new ApiError(400, `${key} is not supported by sftkit serve`, key, 'unsupported_parameter');
  const n = num(b, 'n', 1, 1, true);
  if (n !== undefined && n !== 1) throw new ApiError(400, 'only n = 1 is supported', 'n');
  const maxTokens = num(b, 'max_completion_tokens', 1, 2 ** 31, true) ?? num(b, 'max_tokens', 1, 2 ** 31, true);
  const temperature = num(b, 'temperature', 0, 2) ?? fallbacks.temperature ?? 1;
  const topP = num(b, 'top_p', 0, 1) ?? fallbacks.topP ?? 1;
  if (topP === 0) throw new ApiError(400, 'top_p must be in (0, 1]', 'top_p');
  const topK = num(b, 'top_k', -1, 2 ** 31, true) ?? fallbacks.topK ?? 0;
  const minP = num(b, 'min_p', 0, 1) ?? fallbacks.minP ?? 0;
  const repetitionPenalty = num(b, 'repetition_penalty', 0.01, 100) ?? fallbacks.repetitionPenalty ?? 1;
  const sampling = resolveSampling({
    doSample: temperature > 0,
    temperature,
    topP,
    topK: topK < 0 ? 0 : topK,
    minP,
    repetitionPenalty,
  });
  const seed = num(b, 'seed', -(2 ** 53), 2 ** 53, true) ?? randomInt(2 ** 47);
  let stop: string[] = [];
  const s = b.stop;
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s)) {
    if (s.length > 4 || !s.every((x) => typeof x === 'string'))
      throw new ApiError(400, 'stop must be a string or an array of at most 4 strings', 'stop');
    stop = s as string[];
  } else if (s !== undefined && s !== null)
    throw new ApiError(400, 'stop must be a string or an array of at most 4 strings', 'stop');
  stop = stop.filter((x) => x.length > 0);
  const stream = bool(b, 'stream') ?? false;
  const so = b.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so))
      throw new ApiError(400, 'stream_options must be an object', 'stream_options');
    const iu = (so as Body).include_usage;
    if (iu !== undefined && iu !== null && typeof iu !== 'boolean')
      throw new ApiError(400, 'stream_options.include_usage must be true or false', 'stream_options');
    includeUsage = iu === true;
  }
  return {
    model,
    stream,
    includeUsage,
    maxTokens,
    sampling,
    seed,
    stop,
    ignoreEos: bool(b, 'ignore_eos') ?? false,
  };
}

/** Chat messages: role + string content (or an array of text parts, concatenated). */
export function parseMessages(b: Body): ChatMessage[] {
  const list = b.messages;
  if (!Array.isArray(list) || list.length === 0)
    throw new ApiError(400, 'messages must be a non-empty array of {"role", "content"}', 'messages');
  return list.map((m: unknown, i) => {
    const o = m as Body;
    if (typeof o !== 'object' || o === null || typeof o.role !== 'string')
      throw new ApiError(400, `messages[${i}] must be an object with a string "role"`, 'messages');
    if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(o.role))
      throw new ApiError(
        400,
        `messages[${i}].role '${o.role}' is not one of system, developer, user, assistant, tool`,
        'messages',
      );
    let content: string | null;
    if (typeof o.content === 'string' || o.content === null) content = o.content;
    else if (Array.isArray(o.content)) {
      content = o.content
        .map((p: unknown, j) => {
          const part = p as Body;
          if (part?.type !== 'text' || typeof part.text !== 'string')
            throw new ApiError(
              400,
              `messages[${i}].content[${j}]: only {"type": "text", "text"} parts are supported`,
              'messages',
            );
          return part.text;
        })
        .join('');
    } else throw new ApiError(400, `messages[${i}].content must be a string or an array of text parts`, 'messages');
    return { role: o.role === 'developer' ? 'system' : o.role, content };
  });
}

/** The prompt of /v1/completions: a string or an array holding one string. */
export function parsePrompt(b: Body): string {
  const p = b.prompt;
  if (typeof p === 'string') return p;
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') return p[0];
  throw new ApiError(400, 'prompt must be a string (or an array of exactly one string)', 'prompt');
}

export function finishReason(f: FinishReason | null): 'stop' | 'length' {
  return f === 'length' ? 'length' : 'stop';
}

export function requestId(prefix: 'chatcmpl' | 'cmpl'): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(promptTokens: number, completionTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}
