// Format detection and validation: raw JSON records -> SftRecord, with errors naming file:line and the field.
import { UserError } from '../util/errors.js';
import type { ChatMessage, SftRecord, SourceRef } from './types.js';
import { formatRef } from './types.js';

export type DataFormat = 'auto' | 'conversational' | 'sharegpt' | 'prompt-completion' | 'instruction' | 'text';
export const DATA_FORMATS: DataFormat[] = [
  'auto',
  'conversational',
  'sharegpt',
  'prompt-completion',
  'instruction',
  'text',
];

export type BadRecordReason =
  | 'invalid-json'
  | 'not-an-object'
  | 'unknown-format'
  | 'missing-field'
  | 'non-string-content'
  | 'unknown-role'
  | 'empty-assistant-turn'
  | 'no-assistant-turn'
  | 'not-ending-with-assistant'
  | 'too-large'
  | 'invalid-utf8';

/**
 * The largest record (one JSONL line or JSON array item, in characters) sftkit reads: ~500k tokens, far past any
 * max_length. A bigger one is refused before it is parsed and tokenised (a 10 MB line would take minutes and GBs).
 */
export const MAX_RECORD_CHARS = 2 * 1024 * 1024;

/** A record that cannot be trained on; `reason` is the counted category, `field` the offending path. */
export class BadRecordError extends UserError {
  constructor(
    readonly source: SourceRef,
    readonly reason: BadRecordReason,
    readonly field: string | null,
    detail: string,
  ) {
    // One line whatever the data holds (column names and values quoted in the detail may contain newlines).
    const one = (s: string) => s.replace(/\r\n|\r|\n/g, '\\n');
    super(`${formatRef(source)}: ${field ? `field '${one(field)}': ` : ''}${one(detail)} [${reason}]`);
    this.name = 'BadRecordError';
  }
}

export interface FormatOptions {
  /** Field holding the text for language-modelling data (TRL's dataset_text_field). */
  textField?: string;
  /** Renames keys before detection, e.g. { question: 'instruction', answer: 'output' }. */
  fieldMap?: Record<string, string>;
  /** The column holding the conversation when it is not `messages` / `conversations` (role/content or from/value turns). */
  messagesField?: string;
  /** The columns holding the prompt and the completion when they are not `prompt` / `completion`. */
  promptField?: string;
  completionField?: string;
  /** The column holding the tool schemas when it is not `tools`. */
  toolsField?: string;
}

/** The renames a FormatOptions asks for: the explicit field map plus the named column options. */
export function columnRenames(opts: FormatOptions): Record<string, string> | undefined {
  if (renameCache.has(opts)) return renameCache.get(opts);
  const map: Record<string, string> = { ...opts.fieldMap };
  if (opts.messagesField && opts.messagesField !== 'messages') map[opts.messagesField] = 'messages';
  if (opts.promptField && opts.promptField !== 'prompt') map[opts.promptField] = 'prompt';
  if (opts.completionField && opts.completionField !== 'completion') map[opts.completionField] = 'completion';
  if (opts.toolsField && opts.toolsField !== 'tools') map[opts.toolsField] = 'tools';
  const out = Object.keys(map).length ? map : undefined;
  renameCache.set(opts, out);
  return out;
}
const renameCache = new WeakMap<FormatOptions, Record<string, string> | undefined>();

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const SHAREGPT_ROLES: Record<string, string> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  chatgpt: 'assistant',
  model: 'assistant',
  system: 'system',
  tool: 'tool',
  function: 'tool',
  observation: 'tool',
};

/** Which format a raw object looks like, or null. */
export function detectFormat(
  obj: Record<string, unknown>,
  opts: FormatOptions = {},
): Exclude<DataFormat, 'auto'> | null {
  if ('messages' in obj) return 'conversational';
  if ('conversations' in obj) return 'sharegpt';
  if ('prompt' in obj && ('completion' in obj || 'response' in obj)) return 'prompt-completion';
  if ('instruction' in obj && ('output' in obj || 'response' in obj)) return 'instruction';
  if ((opts.textField ?? 'text') in obj) return 'text';
  return null;
}

function applyFieldMap(obj: Record<string, unknown>, map: Record<string, string> | undefined): Record<string, unknown> {
  if (!map) return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[map[k] ?? k] = v;
  return out;
}

/**
 * Validate one raw record against `format` ('auto' detects it) and normalise it. Throws BadRecordError.
 * `detected` returns the format that was applied so a loader can insist all records share it.
 */
export function normalizeRecord(
  raw: unknown,
  format: DataFormat,
  source: SourceRef,
  opts: FormatOptions = {},
): { record: SftRecord; format: Exclude<DataFormat, 'auto'> } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BadRecordError(
      source,
      'not-an-object',
      null,
      `expected a JSON object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`,
    );
  }
  const obj = applyFieldMap(raw as Record<string, unknown>, columnRenames(opts));
  const fmt = format === 'auto' ? detectFormat(obj, opts) : format;
  if (!fmt) {
    throw new BadRecordError(
      source,
      'unknown-format',
      null,
      `cannot detect the format from keys [${Object.keys(obj)
        .map((k) => (k.length > 40 ? `${k.slice(0, 40)}...` : k))
        .join(
          ', ',
        )}]; expected 'messages', 'conversations', 'prompt'+'completion', 'instruction'+'output'|'response', or '${opts.textField ?? 'text'}' (or pass --format / --field-map)`,
    );
  }
  switch (fmt) {
    case 'conversational':
      return { record: conversationRecord(obj, 'messages', source), format: fmt };
    case 'sharegpt':
      return { record: conversationRecord(obj, 'conversations', source), format: fmt };
    case 'prompt-completion':
      return { record: promptCompletionRecord(obj, source), format: fmt };
    case 'instruction':
      return { record: instructionRecord(obj, source), format: fmt };
    case 'text':
      return { record: textRecord(obj, source, opts.textField ?? 'text'), format: fmt };
  }
}

function requireField(obj: Record<string, unknown>, name: string, source: SourceRef): unknown {
  if (!(name in obj) || obj[name] === undefined) throw new BadRecordError(source, 'missing-field', name, 'missing');
  return obj[name];
}

function requireString(obj: Record<string, unknown>, name: string, source: SourceRef, fieldPath = name): string {
  const v = requireField(obj, name, source);
  if (typeof v !== 'string')
    throw new BadRecordError(source, 'non-string-content', fieldPath, `expected a string, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** A list-valued column stored as JSON text (CSV cells, LLaMA-Factory's `tools` strings) is parsed. */
function parseJsonList(v: unknown, field: string, source: SourceRef): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (t === '') return [];
  if (!t.startsWith('[') && !t.startsWith('{')) return v;
  try {
    return JSON.parse(t) as unknown;
  } catch (e) {
    throw new BadRecordError(
      source,
      'invalid-json',
      field,
      `holds text that is not valid JSON: ${(e as Error).message}`,
    );
  }
}

/**
 * Tool schemas as templates expect them: OpenAI's {"type": "function", "function": {...}}; a bare
 * {name, description, parameters} (LLaMA-Factory, glaive) is wrapped. An empty list is no tools.
 */
export function normalizeTools(v: unknown, field: string, source: SourceRef): unknown[] | undefined {
  const list = parseJsonList(v, field, source);
  if (list === null || list === undefined) return undefined;
  if (!Array.isArray(list))
    throw new BadRecordError(
      source,
      'non-string-content',
      field,
      `expected a list of tool schemas, got ${describe(list)}`,
    );
  if (list.length === 0) return undefined;
  return list.map((t, i) => {
    if (typeof t !== 'object' || t === null || Array.isArray(t))
      throw new BadRecordError(
        source,
        'not-an-object',
        `${field}[${i}]`,
        `expected a tool schema object, got ${describe(t)}`,
      );
    const o = t as Record<string, unknown>;
    if ('function' in o || 'type' in o) return o;
    if (typeof o.name !== 'string')
      throw new BadRecordError(source, 'missing-field', `${field}[${i}].name`, 'a tool schema needs a name');
    return { type: 'function', function: o };
  });
}

/** One tool call as templates expect it: {"type": "function", "function": {"name", "arguments": {...}}}. */
function normalizeToolCall(v: unknown, at: string, source: SourceRef): Record<string, unknown> {
  const parsed = typeof v === 'string' ? parseJsonList(v, at, source) : v;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new BadRecordError(source, 'not-an-object', at, `expected a tool call object, got ${describe(parsed)}`);
  const o = parsed as Record<string, unknown>;
  const fn = (typeof o.function === 'object' && o.function !== null ? o.function : o) as Record<string, unknown>;
  if (typeof fn.name !== 'string')
    throw new BadRecordError(source, 'missing-field', `${at}.name`, 'a tool call needs a name');
  let args: unknown = fn.arguments ?? fn.parameters ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args) as unknown;
    } catch {
      // Arguments that are not JSON stay text; templates print strings as they are.
    }
  }
  const out: Record<string, unknown> = { type: 'function', function: { name: fn.name, arguments: args } };
  if (typeof o.id === 'string') out.id = o.id;
  return out;
}

/** A ShareGPT speaker that is a tool call by the assistant (LLaMA-Factory's `function_call`). */
const TOOL_CALL_SPEAKERS = new Set(['function_call', 'tool_call', 'tool_calls']);

/**
 * Validate and normalise a message list. Accepts {role, content} and ShareGPT {from, value} turns; content as
 * a string or a list of parts ({type: text|reasoning|thinking|tool_call, text|value}); `thinking` as a synonym
 * of `reasoning_content`; `tool_calls` in OpenAI or bare {name, arguments} form. Errors name the field.
 */
function validateMessages(list: unknown, field: string, source: SourceRef): ChatMessage[] {
  list = parseJsonList(list, field, source);
  if (!Array.isArray(list))
    throw new BadRecordError(source, 'missing-field', field, `expected a list of messages, got ${describe(list)}`);
  if (list.length === 0) throw new BadRecordError(source, 'missing-field', field, 'the message list is empty');
  return list.map((m, i) => {
    const at = `${field}[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m))
      throw new BadRecordError(source, 'not-an-object', at, `expected a message object, got ${describe(m)}`);
    const msg = m as Record<string, unknown>;
    const shareGpt = !('role' in msg) && 'from' in msg;
    const roleKey = shareGpt ? 'from' : 'role';
    const contentKey = shareGpt ? 'value' : 'content';
    const roleAt = `${at}.${roleKey}`;
    const contentAt = `${at}.${contentKey}`;
    if (!(roleKey in msg)) throw new BadRecordError(source, 'missing-field', roleAt, 'missing');
    const speaker = msg[roleKey];
    const toolCallTurn = typeof speaker === 'string' && TOOL_CALL_SPEAKERS.has(speaker);
    const role = toolCallTurn
      ? 'assistant'
      : typeof speaker === 'string'
        ? shareGpt
          ? SHAREGPT_ROLES[speaker]
          : ROLES.has(speaker)
            ? speaker
            : undefined
        : undefined;
    if (!role) {
      throw new BadRecordError(
        source,
        'unknown-role',
        roleAt,
        shareGpt
          ? `unknown speaker ${JSON.stringify(speaker)} (expected human, gpt, system, function_call or observation)`
          : `unknown role ${JSON.stringify(speaker)} (expected system, user, assistant or tool)`,
      );
    }
    if (!(contentKey in msg) && !(role === 'assistant' && 'tool_calls' in msg))
      throw new BadRecordError(source, 'missing-field', contentAt, 'missing');
    const out: ChatMessage = { role, content: null };
    for (const [k, v] of Object.entries(msg))
      if (k !== roleKey && k !== contentKey && k !== 'thinking' && k !== 'tool_calls' && v !== null && v !== undefined)
        (out as Record<string, unknown>)[k] = v;
    let content: unknown = msg[contentKey];
    const toolCalls: unknown[] = [];
    let reasoning: string | undefined =
      typeof msg.reasoning_content === 'string'
        ? msg.reasoning_content
        : typeof msg.thinking === 'string'
          ? msg.thinking
          : undefined;
    if (toolCallTurn) {
      toolCalls.push(normalizeToolCall(content, contentAt, source));
      content = '';
    } else if (Array.isArray(content)) {
      // Content parts: text joins, reasoning and tool calls move to their fields.
      const texts: string[] = [];
      const thoughts: string[] = [];
      content.forEach((part, j) => {
        const pat = `${contentAt}[${j}]`;
        if (typeof part === 'string') return void texts.push(part);
        if (typeof part !== 'object' || part === null)
          throw new BadRecordError(source, 'non-string-content', pat, `expected a content part, got ${describe(part)}`);
        const p = part as Record<string, unknown>;
        const value = p.text ?? p.value ?? p.content ?? p[String(p.type)];
        if (p.type === 'text' && typeof value === 'string') texts.push(value);
        else if ((p.type === 'reasoning' || p.type === 'thinking') && typeof value === 'string') thoughts.push(value);
        else if (p.type === 'tool_call' || p.type === 'function_call')
          toolCalls.push(normalizeToolCall(value, pat, source));
        else
          throw new BadRecordError(
            source,
            'non-string-content',
            pat,
            `unsupported content part type ${JSON.stringify(p.type)} (expected text, reasoning or tool_call)`,
          );
      });
      content = texts.join('');
      if (thoughts.length) reasoning = (reasoning ? reasoning + '\n' : '') + thoughts.join('\n');
    } else if (role === 'tool' && content !== null && typeof content === 'object') {
      content = JSON.stringify(content);
    }
    const calls = parseJsonList(msg.tool_calls, `${at}.tool_calls`, source);
    if (Array.isArray(calls))
      calls.forEach((c, j) => toolCalls.push(normalizeToolCall(c, `${at}.tool_calls[${j}]`, source)));
    if (role === 'assistant' && toolCalls.length > 0) {
      out.tool_calls = toolCalls;
      if (content === null || content === undefined) content = '';
    }
    if (reasoning !== undefined && role === 'assistant') out.reasoning_content = reasoning;
    if (typeof content !== 'string')
      throw new BadRecordError(source, 'non-string-content', contentAt, `expected a string, got ${describe(content)}`);
    if (role === 'assistant' && toolCalls.length === 0 && content.trim() === '' && !reasoning?.trim())
      throw new BadRecordError(source, 'empty-assistant-turn', contentAt, 'the assistant turn is empty');
    out.content = content;
    return out;
  });
}

function requireAssistantEnd(messages: ChatMessage[], field: string, source: SourceRef, roleKey = 'role'): void {
  if (!messages.some((m) => m.role === 'assistant'))
    throw new BadRecordError(source, 'no-assistant-turn', field, 'the conversation has no assistant turn to train on');
  const last = messages[messages.length - 1]!;
  if (last.role !== 'assistant') {
    throw new BadRecordError(
      source,
      'not-ending-with-assistant',
      `${field}[${messages.length - 1}].${roleKey}`,
      `the conversation ends with a '${last.role}' turn; training needs it to end with an assistant turn`,
    );
  }
}

function conversationRecord(obj: Record<string, unknown>, field: string, source: SourceRef): SftRecord {
  const raw = parseJsonList(requireField(obj, field, source), field, source);
  const messages = validateMessages(raw, field, source);
  const firstTurn = Array.isArray(raw) ? (raw[0] as Record<string, unknown> | undefined) : undefined;
  requireAssistantEnd(
    messages,
    field,
    source,
    firstTurn && !('role' in firstTurn) && 'from' in firstTurn ? 'from' : 'role',
  );
  // A `system` column (or `system_prompt`) becomes the system turn when the messages have none.
  const system =
    typeof obj.system === 'string' ? obj.system : typeof obj.system_prompt === 'string' ? obj.system_prompt : '';
  if (system.trim() !== '' && messages[0]!.role !== 'system') messages.unshift({ role: 'system', content: system });
  const tools = 'tools' in obj ? normalizeTools(obj.tools, 'tools', source) : undefined;
  return { kind: 'conversation', messages, ...(tools ? { tools } : {}), source };
}

function promptCompletionRecord(obj: Record<string, unknown>, source: SourceRef): SftRecord {
  const prompt = requireField(obj, 'prompt', source);
  const completion = requireField(obj, 'completion' in obj || !('response' in obj) ? 'completion' : 'response', source);
  if (typeof prompt === 'string' && typeof completion === 'string') {
    if (completion.trim() === '')
      throw new BadRecordError(source, 'empty-assistant-turn', 'completion', 'the completion is empty');
    return { kind: 'prompt-completion', prompt, completion, source };
  }
  if (Array.isArray(prompt) && Array.isArray(completion)) {
    const p = validateMessages(prompt, 'prompt', source);
    const c = validateMessages(completion, 'completion', source);
    requireAssistantEnd(c, 'completion', source);
    return { kind: 'prompt-completion', prompt: p, completion: c, source };
  }
  const bad = typeof prompt === 'string' || Array.isArray(prompt) ? 'completion' : 'prompt';
  throw new BadRecordError(
    source,
    'non-string-content',
    bad,
    `prompt and completion must both be strings or both be message lists (got ${describe(prompt)} and ${describe(completion)})`,
  );
}

function instructionRecord(obj: Record<string, unknown>, source: SourceRef): SftRecord {
  const instruction = requireString(obj, 'instruction', source);
  const outField = 'output' in obj ? 'output' : 'response';
  const output = requireString(obj, outField, source);
  let input = '';
  if ('input' in obj && obj.input !== null && obj.input !== undefined) {
    if (typeof obj.input !== 'string')
      throw new BadRecordError(source, 'non-string-content', 'input', `expected a string, got ${describe(obj.input)}`);
    input = obj.input;
  }
  if (output.trim() === '') throw new BadRecordError(source, 'empty-assistant-turn', outField, 'the response is empty');
  const user = input.trim() === '' ? instruction : `${instruction}\n\n${input}`;
  const messages: ChatMessage[] = [];
  if (typeof obj.system === 'string' && obj.system.trim() !== '')
    messages.push({ role: 'system', content: obj.system });
  messages.push({ role: 'user', content: user }, { role: 'assistant', content: output });
  return { kind: 'conversation', messages, source };
}

function textRecord(obj: Record<string, unknown>, source: SourceRef, field: string): SftRecord {
  const text = requireString(obj, field, source);
  if (text.trim() === '') throw new BadRecordError(source, 'missing-field', field, 'the text is empty');
  return { kind: 'text', text, source };
}
