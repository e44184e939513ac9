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
    super(`${formatRef(source)}: ${field ? `field '${field}': ` : ''}${detail} [${reason}]`);
    this.name = 'BadRecordError';
  }
}

export interface FormatOptions {
  /** Field holding the text for language-modelling data (TRL's dataset_text_field). */
  textField?: string;
  /** Renames keys before detection, e.g. { question: 'instruction', answer: 'output' }. */
  fieldMap?: Record<string, string>;
}

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
  if ('prompt' in obj && 'completion' in obj) return 'prompt-completion';
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
  const obj = applyFieldMap(raw as Record<string, unknown>, opts.fieldMap);
  const fmt = format === 'auto' ? detectFormat(obj, opts) : format;
  if (!fmt) {
    throw new BadRecordError(
      source,
      'unknown-format',
      null,
      `cannot detect the format from keys [${Object.keys(obj).join(', ')}]; expected 'messages', 'conversations', 'prompt'+'completion', 'instruction'+'output'|'response', or '${opts.textField ?? 'text'}' (or pass --format / --field-map)`,
    );
  }
  switch (fmt) {
    case 'conversational':
      return { record: conversationRecord(obj, source), format: fmt };
    case 'sharegpt':
      return { record: shareGptRecord(obj, source), format: fmt };
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

/** Validate a message list: known roles, string content, non-empty assistant turns. */
function validateMessages(
  list: unknown,
  field: string,
  source: SourceRef,
  names = { role: 'role', content: 'content' },
): ChatMessage[] {
  if (!Array.isArray(list))
    throw new BadRecordError(source, 'missing-field', field, `expected a list of messages, got ${describe(list)}`);
  if (list.length === 0) throw new BadRecordError(source, 'missing-field', field, 'the message list is empty');
  return list.map((m, i) => {
    const at = `${field}[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m))
      throw new BadRecordError(source, 'not-an-object', at, `expected a message object, got ${describe(m)}`);
    const msg = m as Record<string, unknown>;
    const roleAt = `${at}.${names.role}`;
    const contentAt = `${at}.${names.content}`;
    if (!('role' in msg)) throw new BadRecordError(source, 'missing-field', roleAt, 'missing');
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
      throw new BadRecordError(
        source,
        'unknown-role',
        roleAt,
        `unknown role ${JSON.stringify(msg.role)} (expected system, user, assistant or tool)`,
      );
    }
    if (!('content' in msg)) throw new BadRecordError(source, 'missing-field', contentAt, 'missing');
    const hasToolCalls = msg.role === 'assistant' && Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0;
    if (typeof msg.content !== 'string' && !(msg.content === null && hasToolCalls)) {
      throw new BadRecordError(
        source,
        'non-string-content',
        contentAt,
        `expected a string, got ${describe(msg.content)}`,
      );
    }
    if (msg.role === 'assistant' && !hasToolCalls && (msg.content as string).trim() === '') {
      throw new BadRecordError(source, 'empty-assistant-turn', contentAt, 'the assistant turn is empty');
    }
    return { ...msg, role: msg.role, content: msg.content as string | null };
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

function conversationRecord(obj: Record<string, unknown>, source: SourceRef): SftRecord {
  const messages = validateMessages(requireField(obj, 'messages', source), 'messages', source);
  requireAssistantEnd(messages, 'messages', source);
  const tools = Array.isArray(obj.tools) ? obj.tools : undefined;
  return { kind: 'conversation', messages, ...(tools ? { tools } : {}), source };
}

function shareGptRecord(obj: Record<string, unknown>, source: SourceRef): SftRecord {
  const list = requireField(obj, 'conversations', source);
  if (!Array.isArray(list))
    throw new BadRecordError(
      source,
      'missing-field',
      'conversations',
      `expected a list of turns, got ${describe(list)}`,
    );
  const mapped = list.map((t, i) => {
    const at = `conversations[${i}]`;
    if (typeof t !== 'object' || t === null || Array.isArray(t))
      throw new BadRecordError(source, 'not-an-object', at, `expected a turn object, got ${describe(t)}`);
    const turn = t as Record<string, unknown>;
    if (!('from' in turn)) throw new BadRecordError(source, 'missing-field', `${at}.from`, 'missing');
    const role = typeof turn.from === 'string' ? SHAREGPT_ROLES[turn.from] : undefined;
    if (!role)
      throw new BadRecordError(
        source,
        'unknown-role',
        `${at}.from`,
        `unknown speaker ${JSON.stringify(turn.from)} (expected human, gpt, system or tool)`,
      );
    if (!('value' in turn)) throw new BadRecordError(source, 'missing-field', `${at}.value`, 'missing');
    return { role, content: turn.value };
  });
  const messages = validateMessages(mapped, 'conversations', source, { role: 'from', content: 'value' });
  requireAssistantEnd(messages, 'conversations', source, 'from');
  return { kind: 'conversation', messages, source };
}

function promptCompletionRecord(obj: Record<string, unknown>, source: SourceRef): SftRecord {
  const prompt = requireField(obj, 'prompt', source);
  const completion = requireField(obj, 'completion', source);
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
