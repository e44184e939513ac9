// What happens to the reasoning of earlier turns (reasoning_history): chat templates decide by default (Qwen3
// renders reasoning only after the last user message), 'drop' removes it from every turn before the last user
// message, 'keep' trains every turn's reasoning as the template renders a latest turn: the conversation becomes
// one example per exchange (user message + the assistant turns answering it), each training only its exchange.
import type { ChatMessage, SftRecord } from './types.js';

export type ReasoningHistory = 'template' | 'drop' | 'keep';
export const REASONING_HISTORY: readonly ReasoningHistory[] = ['template', 'drop', 'keep'];

function hasReasoning(m: ChatMessage): boolean {
  return (
    m.role === 'assistant' &&
    ((typeof m.reasoning_content === 'string' && m.reasoning_content.trim() !== '') ||
      (typeof m.thinking === 'string' && m.thinking.trim() !== '') ||
      (typeof m.content === 'string' && m.content.includes('</think>')))
  );
}

function withoutReasoning(m: ChatMessage): ChatMessage {
  const { reasoning_content: _r, thinking: _t, ...rest } = m;
  const content =
    typeof m.content === 'string' && m.content.includes('</think>')
      ? m.content.slice(m.content.lastIndexOf('</think>') + 8).replace(/^\n+/, '')
      : m.content;
  return { ...rest, content };
}

/** The records a conversation becomes under `mode` (other records pass through). */
export function applyReasoningHistory(record: SftRecord, mode: ReasoningHistory = 'template'): SftRecord[] {
  if (mode === 'template' || record.kind !== 'conversation') return [record];
  const msgs = record.messages;
  let lastUser = -1;
  for (let i = msgs.length - 1; i >= 0 && lastUser < 0; i--) if (msgs[i]!.role === 'user') lastUser = i;
  const earlierReasoning = msgs.some((m, i) => i < lastUser && hasReasoning(m));
  if (!earlierReasoning) return [record];
  if (mode === 'drop')
    return [{ ...record, messages: msgs.map((m, i) => (i < lastUser && hasReasoning(m) ? withoutReasoning(m) : m)) }];
  const out: SftRecord[] = [];
  const base = record.trainFrom ?? 0;
  for (let u = 0; u < msgs.length; u++) {
    if (msgs[u]!.role !== 'user') continue;
    let end = u + 1;
    while (end < msgs.length && msgs[end]!.role !== 'user') end++;
    if (end === u + 1 || msgs[end - 1]!.role !== 'assistant' || u + 1 < base) continue;
    out.push({ ...record, messages: msgs.slice(0, end), trainFrom: u + 1 });
  }
  return out.length ? out : [record];
}
