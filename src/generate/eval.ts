// Answer a set of eval prompts with a model (batched, KV-cached) and score the answers against references:
// exact match and contains-reference after light normalisation, answer length, and how generation ended.
import type { LlamaModel } from '../model/llama.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { EvalPrompt } from './eval-prompts.js';
import { generate, type FinishReason, type GenerateOptions } from './generate.js';
import { encodeChat } from './load.js';

export interface EvalAnswer {
  generated: string;
  finishReason: FinishReason;
  generatedTokens: number;
  promptTokens: number;
  exactMatch: boolean | null;
  containsReference: boolean | null;
}

export interface EvalRun {
  answers: EvalAnswer[];
  generatedTokens: number;
  seconds: number;
}

/** Lower case, punctuation dropped, whitespace collapsed: "The sky is blue." ~ "the sky is blue". */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export function scoreAnswer(
  generated: string,
  reference: string | null,
): { exactMatch: boolean | null; containsReference: boolean | null } {
  if (reference === null) return { exactMatch: null, containsReference: null };
  const g = normalizeAnswer(generated);
  const r = normalizeAnswer(reference);
  return { exactMatch: g === r, containsReference: r.length > 0 && g.includes(r) };
}

/** Answer every prompt (in batches of `batchSize`); `opts` are generate's options without callbacks. */
export function answerPrompts(
  model: LlamaModel,
  tok: Tokenizer,
  prompts: EvalPrompt[],
  opts: GenerateOptions & { batchSize?: number; onProgress?: (done: number) => void },
): EvalRun {
  const bs = Math.max(1, opts.batchSize ?? 8);
  const answers: EvalAnswer[] = [];
  let generatedTokens = 0;
  let seconds = 0;
  for (let i = 0; i < prompts.length; i += bs) {
    const chunk = prompts.slice(i, i + bs);
    const ids = chunk.map((p) => encodeChat(tok, p.messages));
    // rowOffset: prompt k always samples from the stream of row k, whatever the batch size.
    const { generations, stats } = generate(model, ids, { ...opts, rowOffset: i, onToken: undefined });
    generations.forEach((g, j) => {
      answers.push({
        generated: g.text,
        finishReason: g.finishReason,
        generatedTokens: g.tokenIds.length,
        promptTokens: g.promptTokenIds.length,
        ...scoreAnswer(g.text, chunk[j]!.reference),
      });
    });
    generatedTokens += stats.generatedTokens;
    seconds += stats.totalSeconds;
    opts.onProgress?.(Math.min(prompts.length, i + bs));
  }
  return { answers, generatedTokens, seconds };
}

export interface EvalSummary {
  prompts: number;
  meanGeneratedTokens: number;
  endedWithStopToken: number;
  hitMaxTokens: number;
  endedWithStopString: number;
  withReference: number;
  exactMatch: number;
  containsReference: number;
  tokensPerSecond: number;
  evalLoss: number | null;
}

export function summarize(run: EvalRun, evalLoss: number | null = null): EvalSummary {
  const a = run.answers;
  const scored = a.filter((x) => x.exactMatch !== null);
  return {
    prompts: a.length,
    meanGeneratedTokens: a.length ? a.reduce((s, x) => s + x.generatedTokens, 0) / a.length : 0,
    endedWithStopToken: a.filter((x) => x.finishReason === 'eos').length,
    hitMaxTokens: a.filter((x) => x.finishReason === 'length').length,
    endedWithStopString: a.filter((x) => x.finishReason === 'stop_string').length,
    withReference: scored.length,
    exactMatch: scored.filter((x) => x.exactMatch).length,
    containsReference: scored.filter((x) => x.containsReference).length,
    tokensPerSecond: run.seconds > 0 ? run.generatedTokens / run.seconds : 0,
    evalLoss,
  };
}

/** One results-file line: the seed's {instruction, expected, generated} plus how the answer ended and scored. */
export function resultRecord(p: EvalPrompt, a: EvalAnswer, base: EvalAnswer | null): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    instruction: p.instruction,
    expected: p.reference,
    generated: a.generated,
    finish_reason: a.finishReason,
    generated_tokens: a.generatedTokens,
    prompt_tokens: a.promptTokens,
    exact_match: a.exactMatch,
    contains_reference: a.containsReference,
  };
  if (base) {
    rec.base_generated = base.generated;
    rec.base_finish_reason = base.finishReason;
    rec.base_generated_tokens = base.generatedTokens;
    rec.base_exact_match = base.exactMatch;
    rec.base_contains_reference = base.containsReference;
  }
  return rec;
}
