// The eval prompt file (JSONL): one prompt per line, either
//   {"instruction": "...", "input"?: "...", "system"?: "...", "reference"?: "..."}   (the seed's evaluate_sft_model items)
//   {"messages": [{"role", "content"}, ...]}   (a trailing assistant message is the reference, not part of the prompt)
// "expected", "output", "response" and "answer" are accepted as the reference too.
import { readFileSync } from 'node:fs';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';

export interface EvalPrompt {
  /** 1-based line in the prompts file. */
  line: number;
  /** The (last) user message, for display and the results file. */
  instruction: string;
  /** The conversation to answer (rendered with the chat template + generation prompt). */
  messages: ChatMessage[];
  reference: string | null;
}

const REFERENCE_KEYS = ['reference', 'expected', 'output', 'response', 'answer'] as const;

export function parseEvalPrompt(value: unknown, where: string, line: number): EvalPrompt {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UserError(`${where}: expected a JSON object with "instruction" or "messages"`);
  const o = value as Record<string, unknown>;
  let reference: string | null = null;
  for (const k of REFERENCE_KEYS) {
    if (o[k] === undefined || o[k] === null) continue;
    if (typeof o[k] !== 'string') throw new UserError(`${where}: "${k}" must be a string`);
    reference = o[k] as string;
    break;
  }
  if (Array.isArray(o.messages)) {
    const msgs = o.messages.map((m: unknown, i: number) => {
      const x = m as Record<string, unknown>;
      if (typeof x !== 'object' || x === null || typeof x.role !== 'string' || typeof x.content !== 'string') {
        throw new UserError(`${where}: messages[${i}] must be {"role": string, "content": string}`);
      }
      return { role: x.role, content: x.content } as ChatMessage;
    });
    if (msgs.length && msgs[msgs.length - 1]!.role === 'assistant') {
      const last = msgs.pop()!;
      reference ??= last.content as string;
    }
    const user = [...msgs].reverse().find((m) => m.role === 'user');
    if (!user) throw new UserError(`${where}: messages has no user message to answer`);
    return { line, instruction: user.content as string, messages: msgs, reference };
  }
  if (typeof o.instruction !== 'string' || o.instruction.length === 0)
    throw new UserError(`${where}: "instruction" must be a non-empty string (or give "messages")`);
  if (o.input !== undefined && o.input !== null && typeof o.input !== 'string')
    throw new UserError(`${where}: "input" must be a string`);
  if (o.system !== undefined && o.system !== null && typeof o.system !== 'string')
    throw new UserError(`${where}: "system" must be a string`);
  const content = typeof o.input === 'string' && o.input.length > 0 ? `${o.instruction}\n\n${o.input}` : o.instruction;
  const messages: ChatMessage[] = [
    ...(typeof o.system === 'string' ? [{ role: 'system', content: o.system }] : []),
    { role: 'user', content },
  ];
  return { line, instruction: o.instruction, messages, reference };
}

/** Read a prompts JSONL file; errors name the file and line. */
export function readEvalPrompts(path: string): EvalPrompt[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`${path}: cannot read the prompts file: ${(e as Error).message}`);
  }
  const out: EvalPrompt[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new UserError(`${path}:${i + 1}: invalid JSON: ${(e as Error).message}`);
    }
    out.push(parseEvalPrompt(v, `${path}:${i + 1}`, i + 1));
  });
  if (out.length === 0)
    throw new UserError(`${path}: no prompts (expected JSON lines with "instruction" or "messages")`);
  return out;
}
