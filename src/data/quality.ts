// Quality signals: the seed's LIMA-style heuristic scorer (defaults reproduce `score_sft_example` exactly),
// encoding problems, and per-record length/turn figures. Duplicates live in dedup.ts.
import type { SftRecord } from './types.js';

/** Every knob of the heuristic scorer; SEED_QUALITY_CONFIG holds the seed's values. */
export interface QualityConfig {
  /** A response with fewer words than this is "too short". */
  minResponseWords: number;
  shortPenalty: number;
  /** A response with more than instructionWords * verboseRatio words is "suspiciously verbose". */
  verboseRatio: number;
  verbosePenalty: number;
  /** Openers that mark sycophantic data (checked with startsWith, case-sensitive). */
  sycophanticOpeners: string[];
  sycophancyPenalty: number;
  /** Substrings anywhere in the response that mark likely hallucination. */
  hallucinationMarkers: string[];
  /** Hedges that count only within the first `hedgeWindow` characters (code points) of the response. */
  hedgePhrases: string[];
  hedgeWindow: number;
  hallucinationPenalty: number;
  /** filter keeps records scoring >= threshold. */
  threshold: number;
}

/** The seed's `score_sft_example` / `filter_sft_dataset` (shared/seed/sft-for-llms.txt), exactly. */
export const SEED_QUALITY_CONFIG: Readonly<QualityConfig> = Object.freeze({
  minResponseWords: 5,
  shortPenalty: 0.5,
  verboseRatio: 50,
  verbosePenalty: 0.2,
  sycophanticOpeners: ['Sure!', 'Certainly!', 'Of course!', 'Great question!'],
  sycophancyPenalty: 0.3,
  hallucinationMarkers: ['[CITATION NEEDED]'],
  hedgePhrases: ['I believe'],
  hedgeWindow: 50,
  hallucinationPenalty: 0.1,
  threshold: 0.7,
});

export type QualityReason =
  'response-too-short' | 'suspiciously-verbose' | 'sycophantic-opener' | 'hallucination-marker';

// Python's str.split() separators (str.isspace), which JavaScript's \s does not match exactly.
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** len(s.split()) in Python. */
export function pythonWordCount(s: string): number {
  let n = 0;
  for (const w of s.split(PY_WHITESPACE)) if (w.length > 0) n++;
  return n;
}

/** s[:n] in Python (code points, not UTF-16 units). */
function pythonPrefix(s: string, n: number): string {
  let out = '';
  let k = 0;
  for (const ch of s) {
    if (k++ >= n) break;
    out += ch;
  }
  return out;
}

/**
 * The seed's heuristic for one (instruction, response) pair. `instruction` null (plain text data) skips the
 * verbosity rule, which needs an instruction to compare with.
 */
export function scorePair(
  instruction: string | null,
  response: string,
  cfg: QualityConfig = SEED_QUALITY_CONFIG,
): { score: number; reasons: QualityReason[] } {
  let score = 1.0;
  const reasons: QualityReason[] = [];
  const responseWords = pythonWordCount(response);
  if (responseWords < cfg.minResponseWords) {
    score -= cfg.shortPenalty;
    reasons.push('response-too-short');
  }
  if (instruction !== null && responseWords > pythonWordCount(instruction) * cfg.verboseRatio) {
    score -= cfg.verbosePenalty;
    reasons.push('suspiciously-verbose');
  }
  if (cfg.sycophanticOpeners.some((o) => response.startsWith(o))) {
    score -= cfg.sycophancyPenalty;
    reasons.push('sycophantic-opener');
  }
  const head = pythonPrefix(response, cfg.hedgeWindow);
  if (cfg.hallucinationMarkers.some((m) => response.includes(m)) || cfg.hedgePhrases.some((h) => head.includes(h))) {
    score -= cfg.hallucinationPenalty;
    reasons.push('hallucination-marker');
  }
  return { score: Math.max(0.0, score), reasons };
}

/** The (instruction, response) pairs of a record: each assistant turn against the user turn before it. */
export function instructionResponsePairs(
  record: SftRecord,
  raw?: unknown,
): { instruction: string | null; response: string }[] {
  // Alpaca-style rows are scored on their own fields, as the seed does (instruction without input).
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    const response = typeof o.response === 'string' ? o.response : typeof o.output === 'string' ? o.output : null;
    if (typeof o.instruction === 'string' && response !== null) return [{ instruction: o.instruction, response }];
  }
  if (record.kind === 'text') return [{ instruction: null, response: record.text }];
  const messages =
    record.kind === 'conversation'
      ? record.messages
      : typeof record.prompt === 'string'
        ? [
            { role: 'user', content: record.prompt },
            { role: 'assistant', content: record.completion as string },
          ]
        : [...record.prompt, ...(record.completion as { role: string; content: string | null }[])];
  const pairs: { instruction: string | null; response: string }[] = [];
  let lastUser = '';
  for (const m of messages) {
    if (m.role === 'user' && typeof m.content === 'string') lastUser = m.content;
    else if (m.role === 'assistant' && typeof m.content === 'string')
      pairs.push({ instruction: lastUser, response: m.content });
  }
  return pairs;
}

/** A record's score is its worst turn's score; reasons are the union over turns. */
export function scoreRecord(
  record: SftRecord,
  raw?: unknown,
  cfg: QualityConfig = SEED_QUALITY_CONFIG,
): { score: number; reasons: QualityReason[] } {
  let score = 1.0;
  const reasons = new Set<QualityReason>();
  for (const p of instructionResponsePairs(record, raw)) {
    const r = scorePair(p.instruction, p.response, cfg);
    score = Math.min(score, r.score);
    for (const x of r.reasons) reasons.add(x);
  }
  return { score, reasons: [...reasons] };
}

export type EncodingIssue = 'replacement-character' | 'mojibake' | 'control-character' | 'lone-surrogate';

const MOJIBAKE = /Ã[\u0080-\u00bf]|â€[\u0080-\u00bf\u2018-\u201e\u2122\u0153\u02dc]|Â[\u00a0-\u00bf]|Ã¢â‚¬/;
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Encoding problems in a string: U+FFFD, UTF-8 read as Latin-1/CP1252 ("Ã©", "â€™"), control characters, broken surrogates. */
export function encodingIssues(text: string): EncodingIssue[] {
  const out: EncodingIssue[] = [];
  if (text.includes('\ufffd')) out.push('replacement-character');
  if (MOJIBAKE.test(text)) out.push('mojibake');
  if (CONTROL.test(text)) out.push('control-character');
  if (LONE_SURROGATE.test(text)) out.push('lone-surrogate');
  return out;
}

/** All the text a record trains on or conditions on, joined (for hashing, encoding checks, statistics). */
export function recordText(record: SftRecord): string {
  if (record.kind === 'text') return record.text;
  if (record.kind === 'conversation') return record.messages.map((m) => m.content ?? '').join('\n');
  const part = (x: string | { content: string | null }[]) =>
    typeof x === 'string' ? x : x.map((m) => m.content ?? '').join('\n');
  return part(record.prompt) + '\n' + part(record.completion);
}

/** Turn count and word counts of a record, for statistics. */
export function recordShape(record: SftRecord): { turns: number; assistantTurns: number; words: number } {
  const pairs = instructionResponsePairs(record);
  const turns =
    record.kind === 'conversation'
      ? record.messages.length
      : record.kind === 'text'
        ? 1
        : (typeof record.prompt === 'string' ? 1 : record.prompt.length) +
          (typeof record.completion === 'string' ? 1 : record.completion.length);
  return { turns, assistantTurns: pairs.length, words: pythonWordCount(recordText(record)) };
}
