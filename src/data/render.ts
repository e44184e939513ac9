// Rendering a record to text plus the character spans to train on (assistant turns, completion, or all).
// Assistant spans are found by rendering twice: once for real, once with a unique sentinel in place of each
// assistant content. The sentinel render shows the text the template puts before each turn, which is then
// matched against the real render in order (templates may trim, rewrite or drop parts of earlier turns).
import { UserError } from '../util/errors.js';
import type { ChatMessage, DataTokenizer, SftRecord } from './types.js';
import { formatRef } from './types.js';

/** A [start, end) UTF-16 range of the rendered text. */
export type CharSpan = [number, number];

export interface RenderedText {
  text: string;
  /** Character ranges whose tokens are trained, sorted and disjoint. */
  spans: CharSpan[];
  /** The end-of-turn marker range of every trained turn (each must end up inside the mask). */
  endMarkers: { span: CharSpan; token: string }[];
  /** Set when a prompt-completion template broke the prefix property and spans were located instead. */
  prefixBroken?: boolean;
}

export type LossMode = 'auto' | 'assistant-only' | 'completion-only' | 'all';

export interface RenderOptions {
  loss?: LossMode;
  /** The token appended after an assistant turn whose template does not end it with an end-of-turn token (default: tokenizer eos). */
  eosToken?: string;
  templateName?: string;
  /** Extra template variables (e.g. enable_thinking). */
  templateExtra?: Record<string, unknown>;
}

const KNOWN_END_MARKERS = [
  '<|im_end|>',
  '<|eot_id|>',
  '<|eom_id|>',
  '<|end|>',
  '<end_of_turn>',
  '<|end_of_text|>',
  '<|endoftext|>',
  '</s>',
];

/** endMarkerTokens per tokenizer, keyed by what they depend on (every conversation asks for them). */
const endMarkerCache = new WeakMap<DataTokenizer, Map<string, string[]>>();

/** The end-of-turn token strings this tokenizer knows (eos, stop tokens, common markers), longest first. */
export function endMarkerTokens(tok: DataTokenizer, eosToken?: string): string[] {
  let perTok = endMarkerCache.get(tok);
  if (!perTok) endMarkerCache.set(tok, (perTok = new Map()));
  const key = `${eosToken ?? ''}\0${tok.eosToken ?? ''}\0${tok.stopTokenIds.join(',')}`;
  let hit = perTok.get(key);
  if (!hit) perTok.set(key, (hit = findEndMarkerTokens(tok, eosToken)));
  return hit;
}

function findEndMarkerTokens(tok: DataTokenizer, eosToken?: string): string[] {
  const set = new Set<string>();
  const add = (t: string | null | undefined) => {
    if (t && tok.tokenToId(t) !== null) set.add(t);
  };
  add(eosToken);
  add(tok.eosToken);
  for (const id of tok.stopTokenIds) add(tok.idToToken(id));
  for (const t of KNOWN_END_MARKERS) add(t);
  return [...set].sort((a, b) => b.length - a.length);
}

function templateLabel(opts: RenderOptions): string {
  return opts.templateName ? `chat template '${opts.templateName}'` : 'the chat template';
}

/** Render a record and find its trained spans according to the loss mode. */
export function renderRecord(tok: DataTokenizer, record: SftRecord, opts: RenderOptions = {}): RenderedText {
  const loss = opts.loss ?? 'auto';
  const eos = opts.eosToken ?? tok.eosToken;
  switch (record.kind) {
    case 'text': {
      const text = eos && !record.text.endsWith(eos) ? record.text + eos : record.text;
      const markers =
        eos && text.endsWith(eos) ? [{ span: [text.length - eos.length, text.length] as CharSpan, token: eos }] : [];
      if (loss === 'assistant-only' || loss === 'completion-only')
        throw new UserError(
          `${formatRef(record.source)}: ${loss} loss needs ${loss === 'assistant-only' ? 'conversational' : 'prompt-completion'} data; this record is plain text`,
        );
      return { text, spans: [[0, text.length]], endMarkers: markers };
    }
    case 'conversation': {
      requireTemplate(tok, record.source);
      const r = locateAssistantSpans(
        tok,
        record.messages,
        record.tools,
        opts,
        formatRef(record.source),
        record.trainFrom ?? 0,
      );
      if (loss === 'all') return { text: r.text, spans: [[0, r.text.length]], endMarkers: r.endMarkers };
      if (loss === 'completion-only')
        throw new UserError(
          `${formatRef(record.source)}: completion-only loss needs prompt-completion data; this record is a conversation (use assistant-only)`,
        );
      return r;
    }
    case 'prompt-completion':
      return renderPromptCompletion(tok, record, opts, loss);
  }
}

function requireTemplate(tok: DataTokenizer, source: { file: string; line: number }): void {
  if (!tok.chatTemplate) {
    throw new UserError(
      `${formatRef(source)}: conversational data needs a chat template, and this tokenizer has none (add chat_template to tokenizer_config.json, or use text / prompt-completion strings)`,
    );
  }
}

function renderPromptCompletion(
  tok: DataTokenizer,
  record: Extract<SftRecord, { kind: 'prompt-completion' }>,
  opts: RenderOptions,
  loss: LossMode,
): RenderedText {
  const eos = opts.eosToken ?? tok.eosToken;
  const ref = formatRef(record.source);
  if (loss === 'assistant-only')
    throw new UserError(
      `${ref}: assistant-only loss needs conversational data; this record is prompt-completion (use completion-only)`,
    );
  if (typeof record.prompt === 'string' && typeof record.completion === 'string') {
    let text = record.prompt + record.completion;
    const markers: RenderedText['endMarkers'] = [];
    if (eos) {
      if (!text.endsWith(eos)) text += eos;
      markers.push({ span: [text.length - eos.length, text.length], token: eos });
    }
    const spans: CharSpan[] = loss === 'all' ? [[0, text.length]] : [[record.prompt.length, text.length]];
    return { text, spans, endMarkers: markers };
  }
  requireTemplate(tok, record.source);
  const prompt = record.prompt as ChatMessage[];
  const completion = record.completion as ChatMessage[];
  const whole = locateAssistantSpans(tok, [...prompt, ...completion], undefined, opts, ref, prompt.length);
  if (loss === 'all') return { text: whole.text, spans: [[0, whole.text.length]], endMarkers: whole.endMarkers };
  const promptText = tok.applyChatTemplate(prompt, {
    addGenerationPrompt: true,
    templateName: opts.templateName,
    ...(opts.templateExtra ? { extra: opts.templateExtra } : {}),
  });
  const last = whole.spans[whole.spans.length - 1]!;
  if (whole.text.startsWith(promptText) && promptText.length <= whole.spans[0]![0]) {
    return { text: whole.text, spans: [[promptText.length, last[1]]], endMarkers: whole.endMarkers };
  }
  // The template renders the prompt differently once the completion follows: train the located turns only.
  return { ...whole, prefixBroken: true };
}

let sentinelCounter = 0;

/** Whether an assistant message carries reasoning (a reasoning field, or Qwen-style inline <think>). */
function reasoningOf(m: ChatMessage): string {
  const r = m.reasoning_content ?? m.thinking;
  return typeof r === 'string' ? r.trim() : '';
}

/**
 * Messages as this template reads reasoning: templates that know `reasoning_content` (Qwen3, DeepSeek) get it,
 * with inline `<think>...</think>` content split into it as they would; templates that read `message.thinking`
 * (gpt-oss) get it there. Other templates do not render reasoning at all.
 */
export function messagesForTemplate(messages: ChatMessage[], template: string | null): ChatMessage[] {
  const t = template ?? '';
  const knowsReasoning = t.includes('reasoning_content');
  const knowsThinking = !knowsReasoning && /\.thinking\b|\[['"]thinking['"]\]/.test(t);
  return messages.map((m) => {
    if (m.role !== 'assistant') return m;
    if (knowsReasoning && m.reasoning_content === undefined && typeof m.content === 'string') {
      const end = m.content.indexOf('</think>');
      if (end >= 0) {
        const before = m.content.slice(0, end);
        const open = before.indexOf('<think>');
        return {
          ...m,
          reasoning_content: (open >= 0 ? before.slice(open + '<think>'.length) : before).replace(/^\n+|\n+$/g, ''),
          content: m.content.slice(end + '</think>'.length).replace(/^\n+/, ''),
        };
      }
    }
    if (knowsThinking && m.reasoning_content !== undefined) {
      const { reasoning_content: r, ...rest } = m;
      return { ...rest, thinking: r } as ChatMessage;
    }
    return m;
  });
}

/** A turn that is only tool calls: the template renders the calls, not an (empty) content. */
function isToolCallOnly(m: ChatMessage): boolean {
  return hasToolCalls(m) && (m.content ?? '').trim() === '';
}

/**
 * Render `messages` and locate every assistant turn (from message index `firstTrained` on) in the text:
 * each span covers the turn's output as rendered (reasoning and tool calls included) plus the end-of-turn
 * marker right after it (an eos is inserted there when the template ends the turn without one).
 *
 * Content is found with sentinels (see the file header). Where the model's output starts before its content
 * (a reasoning block, or a turn that is only tool calls), the start is where the template's generation
 * prompt for that turn ends: render(messages before the turn, add_generation_prompt=True) is a prefix of the
 * text, and what follows it is what the model generates.
 */
export function locateAssistantSpans(
  tok: DataTokenizer,
  messagesIn: ChatMessage[],
  tools: unknown[] | undefined,
  opts: RenderOptions,
  ref: string,
  firstTrained = 0,
): RenderedText {
  const messages = messagesForTemplate(messagesIn, templateSource(tok, opts, tools));
  const renderOpts = {
    templateName: opts.templateName,
    ...(tools ? { tools } : {}),
    ...(opts.templateExtra ? { extra: opts.templateExtra } : {}),
  };
  const render = (msgs: ChatMessage[], addGenerationPrompt = false) => {
    try {
      return tok.applyChatTemplate(msgs, { ...renderOpts, addGenerationPrompt });
    } catch (e) {
      throw new UserError(`${ref}: ${templateLabel(opts)} failed to render this example: ${(e as Error).message}`, {
        cause: e,
      });
    }
  };
  let text = render(messages);
  /** Where the generation prompt before message i ends in the text, or null when that is not a prefix. */
  const genPromptEnd = (i: number): number | null => {
    const p = render(messages.slice(0, i), true);
    return text.startsWith(p) ? p.length : null;
  };
  const nonce = (++sentinelCounter).toString(36) + Math.floor(Math.random() * 1e9).toString(36);
  // Every assistant turn, in order; a turn of tool calls only is located by its generation prompt instead of a
  // sentinel when that prompt is a prefix of the text (templates may not render such a turn's content at all).
  const turns: { msg: number; sentinel: string | null; promptEnd: number | null }[] = [];
  const withSentinels = messages.map((m, i) => {
    if (m.role !== 'assistant' || (typeof m.content !== 'string' && !hasToolCalls(m))) return m;
    if (isToolCallOnly(m)) {
      const promptEnd = genPromptEnd(i);
      if (promptEnd !== null) {
        turns.push({ msg: i, sentinel: null, promptEnd });
        return m;
      }
    }
    const s = `SFTKITSENTINEL${turns.length}X${nonce}Z`;
    turns.push({ msg: i, sentinel: s, promptEnd: null });
    return { ...m, content: s };
  });
  const sentinelText = render(withSentinels);
  const markers = endMarkerTokens(tok, opts.eosToken);
  const eos = opts.eosToken ?? tok.eosToken;

  const spans: CharSpan[] = [];
  const endMarkers: RenderedText['endMarkers'] = [];
  let realCursor = 0;
  let sentCursor = 0;
  let prevMessage = -1;
  const fail = (k: number, why: string): never => {
    throw new UserError(
      `${ref}: cannot locate assistant turn ${k + 1} (message ${turns[k]!.msg}) in the text rendered by ${templateLabel(opts)}: ${why}`,
    );
  };
  for (let k = 0; k < turns.length; k++) {
    const { msg: msgIndex, sentinel, promptEnd } = turns[k]!;
    const message = messages[msgIndex]!;
    if (sentinel === null) {
      // Tool calls only: from the end of the generation prompt to the first end-of-turn marker.
      if (promptEnd! < realCursor) fail(k, 'its generation prompt overlaps the turn before it');
      const marker = nextMarker(text, promptEnd!, markers);
      if (!marker) fail(k, 'no end-of-turn token follows its tool calls');
      const end = marker!.at + marker!.token.length;
      const same = text.slice(realCursor, end);
      if (sentinelText.slice(sentCursor, sentCursor + same.length) !== same)
        fail(k, 'the text before this turn renders differently with and without the contents of other turns');
      endMarkers.push({ span: [marker!.at, end], token: marker!.token });
      if (msgIndex >= firstTrained) spans.push([promptEnd!, end]);
      sentCursor += same.length;
      realCursor = end;
      prevMessage = msgIndex;
      continue;
    }
    const content = message.content ?? '';
    const toolCalls = hasToolCalls(message);
    const sentPos = sentinelText.indexOf(sentinel, sentCursor);
    if (sentPos < 0) fail(k, "the template does not render this turn's content");
    const glue = sentinelText.slice(sentCursor, sentPos);
    // How much of the template text before this turn is identical in the real render.
    let p = 0;
    const limit = Math.min(glue.length, text.length - realCursor);
    while (p < limit && glue.charCodeAt(p) === text.charCodeAt(realCursor + p)) p++;
    const diverged = p < glue.length;
    if (diverged) {
      // Only the assistant's own preamble may differ (e.g. a reasoning block rewritten by the template),
      // never the content of the messages before it.
      const lastOther = lastNonEmptyContent(messages, prevMessage + 1, msgIndex);
      if (lastOther !== null) {
        const at = glue.lastIndexOf(lastOther);
        if (at >= 0 && at + lastOther.length > p)
          fail(k, 'the text before this turn renders differently with and without its content');
      }
    }
    const searchFrom = realCursor + p;
    // A tool-call turn without text starts where the template's text before it ends.
    const found =
      toolCalls && content.trim() === ''
        ? { start: searchFrom, end: searchFrom }
        : findContent(text, content, searchFrom, !diverged);
    if (!found)
      fail(
        k,
        `its content (${JSON.stringify(content.slice(0, 40))}${content.length > 40 ? '...' : ''}) is not in the rendered text`,
      );
    let start = diverged ? searchFrom : found!.start;
    // Spaces the template writes right before the content (Mistral's '[/INST] ' + content) are generated by the
    // model, not given in the prompt: train them (newlines end role headers and stay untrained).
    while (start > realCursor && (text[start - 1] === ' ' || text[start - 1] === '\t')) start--;
    // Reasoning the template renders before the content is the model's output too: the turn starts where its
    // generation prompt ends (or, when that is not a prefix of the text, at the reasoning itself).
    const reasoning = reasoningOf(message);
    if (reasoning) {
      const at = text.lastIndexOf(reasoning, start);
      if (at >= realCursor) {
        const g = genPromptEnd(msgIndex);
        start = g !== null && g >= realCursor && g <= at ? g : at;
      }
    }
    let end = found!.end;
    // The end-of-turn marker, possibly after whitespace the template inserts (e.g. ' ' + eos); for a turn with
    // tool calls, the first marker after the calls the template renders from the message.
    const marker = toolCalls ? nextMarker(text, end, markers) : markerAt(text, end, markers);
    if (toolCalls && !marker) fail(k, 'no end-of-turn token follows its tool calls');
    if (marker) {
      endMarkers.push({ span: [marker.at, marker.at + marker.token.length], token: marker.token });
      end = marker.at + marker.token.length;
    } else if (eos) {
      text = text.slice(0, end) + eos + text.slice(end);
      endMarkers.push({ span: [end, end + eos.length], token: eos });
      end += eos.length;
    }
    if (msgIndex >= firstTrained) spans.push([start, end]);
    realCursor = end;
    sentCursor = sentPos + sentinel.length;
    const sentMarker = toolCalls
      ? nextMarker(sentinelText, sentCursor, markers)
      : markerAt(sentinelText, sentCursor, markers);
    if (sentMarker) sentCursor = sentMarker.at + sentMarker.token.length;
    prevMessage = msgIndex;
  }
  if (spans.length === 0) throw new UserError(`${ref}: no assistant turn to train on`);
  return {
    text,
    spans,
    endMarkers: endMarkers.filter((m) => spans.some(([a, b]) => m.span[0] >= a && m.span[1] <= b)),
  };
}

/** The template source a render uses (a named template when asked for). */
function templateSource(tok: DataTokenizer, opts: RenderOptions, tools: unknown[] | undefined): string | null {
  const name = opts.templateName ?? (tools && tok.chatTemplates?.has('tool_use') ? 'tool_use' : undefined);
  return (name && tok.chatTemplates?.get(name)) || tok.chatTemplate;
}

function lastNonEmptyContent(messages: ChatMessage[], from: number, to: number): string | null {
  for (let i = to - 1; i >= from; i--) {
    const c = messages[i]!.content;
    if (typeof c === 'string' && c.trim() !== '') return c.trim();
  }
  return null;
}

/** Where the content lands: as given, trimmed, or (for reasoning content) its final answer part. */
function findContent(
  text: string,
  content: string,
  from: number,
  anchored: boolean,
): { start: number; end: number } | null {
  const variants = [content, content.trim(), content.trimStart(), content.trimEnd()];
  const thinkEnd = content.lastIndexOf('</think>');
  if (thinkEnd >= 0) {
    const answer = content.slice(thinkEnd + '</think>'.length);
    variants.push(answer.replace(/^\n+/, ''), answer.trim());
  }
  const candidates = [...new Set(variants)].filter((v) => v.length > 0);
  if (anchored) {
    for (const v of candidates) if (text.startsWith(v, from)) return { start: from, end: from + v.length };
  }
  let best: { start: number; end: number } | null = null;
  for (const v of candidates) {
    const at = text.indexOf(v, from);
    if (at >= 0 && (!best || at < best.start || (at === best.start && at + v.length > best.end)))
      best = { start: at, end: at + v.length };
  }
  return best;
}

function hasToolCalls(m: ChatMessage): boolean {
  return Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
}

/** The earliest end-of-turn marker at or after `pos`. */
function nextMarker(text: string, pos: number, markers: string[]): { at: number; token: string } | null {
  let best: { at: number; token: string } | null = null;
  for (const m of markers) {
    const at = text.indexOf(m, pos);
    if (at >= 0 && (!best || at < best.at)) best = { at, token: m };
  }
  return best;
}

function markerAt(text: string, pos: number, markers: string[]): { at: number; token: string } | null {
  let at = pos;
  while (at < text.length && (text[at] === ' ' || text[at] === '\t')) at++;
  for (const m of markers) if (text.startsWith(m, at)) return { at, token: m };
  return null;
}
