// generation_config.json: the model's own generation defaults (HF GenerationConfig fields we honour).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import type { SamplingOptions } from './sampling.js';

export interface GenerationDefaults extends SamplingOptions {
  maxNewTokens?: number;
  /** eos_token_id as a list (the tokenizer already adds these to its stop ids). */
  eosTokenIds: number[];
}

/** Read DIR/generation_config.json (absent file: no defaults). Wrong types fail naming the field. */
export function readGenerationConfig(dir: string): GenerationDefaults {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return { eosTokenIds: [] };
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${path}: expected a JSON object`);
  const num = (key: string): number | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new UserError(`${path}: ${key} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const eos = o.eos_token_id;
  const eosTokenIds =
    typeof eos === 'number' ? [eos] : Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : [];
  const out: GenerationDefaults = { eosTokenIds };
  if (typeof o.do_sample === 'boolean') out.doSample = o.do_sample;
  const fields: [keyof GenerationDefaults, string][] = [
    ['maxNewTokens', 'max_new_tokens'],
    ['temperature', 'temperature'],
    ['topK', 'top_k'],
    ['topP', 'top_p'],
    ['minP', 'min_p'],
    ['repetitionPenalty', 'repetition_penalty'],
  ];
  for (const [name, key] of fields) {
    const v = num(key);
    if (v !== undefined) (out as unknown as Record<string, number>)[name] = v;
  }
  return out;
}
