// tokenizer.json (+ sftkit's Tokenizer for special ids, flags and chat templates) -> llama.cpp's
// tokenizer.* metadata. Two families are supported, each mapped to the llama.cpp tokenizer that
// reproduces Hugging Face's tokenization:
//  - SentencePiece-style BPE with byte fallback ('llama'): tokens, scores (higher merges first), types;
//  - GPT-2 byte-level BPE ('gpt2'): tokens, merges, types and the pre-tokenizer name (tokenizer.ggml.pre)
//    recognised from tokenizer.json's pre-tokenizer (llama.cpp hard-codes one regex per name).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { UserError } from '../../util/errors.js';
import { TOKEN_TYPE } from './format.js';
import { gv, type GgufValue } from './writer.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface GgufVocab {
  model: 'llama' | 'gpt2';
  pre: string | null;
  tokens: string[];
  tokenTypes: number[];
  scores: Float32Array | null;
  merges: string[] | null;
  addSpacePrefix: boolean | null;
}

// Pre-tokenizer regexes as they appear in tokenizer.json, and the llama.cpp pre-tokenizer that runs the same split.
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

const SUPPORTED_PRE =
  'a ByteLevel pre-tokenizer (GPT-2 regex), Digits(individual) + ByteLevel (SmolLM), or a Split with the Llama-3 or Qwen2 regex followed by ByteLevel';

function readJsonFile(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new UserError(`${path}: cannot read JSON (${(e as Error).message})`, { cause: e });
  }
}

function isByteLevel(p: Json | undefined, useRegex: boolean): boolean {
  return !!p && p.type === 'ByteLevel' && (p.use_regex ?? true) === useRegex && !p.add_prefix_space;
}

function splitRegex(p: Json | undefined): string | null {
  if (!p || p.type !== 'Split' || p.invert === true) return null;
  if (p.behavior !== undefined && p.behavior !== 'Isolated') return null;
  return typeof p.pattern?.Regex === 'string' ? p.pattern.Regex : null;
}

/** The llama.cpp pre-tokenizer name for a byte-level BPE tokenizer.json, or a UserError. */
export function recognisePreTokenizer(tok: Json, source: string): string {
  const pre = tok.pre_tokenizer as Json | null;
  const list: Json[] = !pre ? [] : pre.type === 'Sequence' ? (pre.pretokenizers as Json[]) : [pre];
  const ignoreMerges = tok.model?.ignore_merges === true;
  let name: string | null = null;
  if (list.length === 1 && isByteLevel(list[0], true)) name = 'gpt-2';
  else if (
    list.length === 2 &&
    list[0]!.type === 'Digits' &&
    list[0]!.individual_digits === true &&
    isByteLevel(list[1], true)
  )
    name = 'smollm';
  else if (list.length === 2 && isByteLevel(list[1], false)) {
    const re = splitRegex(list[0]);
    if (re === LLAMA3_REGEX && ignoreMerges) name = 'llama-bpe';
    else if (re === QWEN2_REGEX) name = 'qwen2';
    else if (re === GPT2_REGEX) name = 'gpt-2';
  }
  // llama-bpe is the only one of these llama.cpp runs with ignore_merges; the others merge strictly.
  if (name !== null && name !== 'llama-bpe' && ignoreMerges) name = null;
  if (name === null)
    throw new UserError(
      `${source}: this byte-level BPE pre-tokenizer has no llama.cpp equivalent sftkit can name (supported: ${SUPPORTED_PRE}); exporting it would tokenize differently in llama.cpp`,
    );
  const norm = tok.normalizer as Json | null;
  if (norm && norm.type !== 'NFC')
    throw new UserError(
      `${source}: normalizer '${norm.type}' is not reproduced by llama.cpp's byte-level BPE tokenizer`,
    );
  return name;
}

function idToTokenTable(tok: Json, vocabSize: number, source: string): (string | undefined)[] {
  const vocab = tok.model?.vocab as Record<string, number> | undefined;
  if (!vocab || typeof vocab !== 'object') throw new UserError(`${source}: model.vocab is missing`);
  const table: (string | undefined)[] = new Array(vocabSize);
  const place = (text: string, id: number) => {
    if (!Number.isInteger(id) || id < 0)
      throw new UserError(`${source}: token ${JSON.stringify(text)} has an invalid id ${id}`);
    if (id >= vocabSize)
      throw new UserError(
        `${source}: token ${JSON.stringify(text)} has id ${id}, beyond the model's vocab_size ${vocabSize} (config.json)`,
      );
    table[id] = text;
  };
  for (const [text, id] of Object.entries(vocab)) place(text, id);
  for (const t of (tok.added_tokens as Json[] | undefined) ?? []) place(t.content, t.id);
  return table;
}

function mergePairs(tok: Json, source: string): [string, string][] {
  const merges = (tok.model?.merges ?? []) as (string | [string, string])[];
  return merges.map((m) => {
    if (Array.isArray(m) && m.length === 2) return [m[0], m[1]];
    if (typeof m === 'string') {
      const i = m.indexOf(' ', 1);
      if (i > 0) return [m.slice(0, i), m.slice(i + 1)];
    }
    throw new UserError(`${source}: malformed merge ${JSON.stringify(m)}`);
  });
}

/**
 * Read the vocabulary of `dir`/tokenizer.json for llama.cpp, padded to the model's `vocabSize` rows
 * with unused '[PADn]' tokens (llama.cpp needs one token per embedding row).
 */
export function convertVocab(dir: string, tokenizer: Tokenizer, vocabSize: number): GgufVocab {
  const source = join(dir, 'tokenizer.json');
  const tok = readJsonFile(source);
  const model = tok.model as Json | undefined;
  if (model?.type !== 'BPE')
    throw new UserError(
      `${source}: tokenizer model '${model?.type}' is not supported for GGUF export (supported: BPE, SentencePiece-style with byte_fallback or GPT-2 byte-level)`,
    );
  const table = idToTokenTable(tok, vocabSize, source);
  const added = new Map<number, Json>();
  for (const t of (tok.added_tokens as Json[] | undefined) ?? []) added.set(t.id, t);
  const merges = mergePairs(tok, source);

  const tokens: string[] = new Array(vocabSize);
  const tokenTypes: number[] = new Array(vocabSize);
  const typeOf = (id: number, text: string, byteFallback: boolean): number => {
    const a = added.get(id);
    if (id === tokenizer.unkTokenId && byteFallback) return TOKEN_TYPE.UNKNOWN;
    if (a) return a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
    if (byteFallback && /^<0x[0-9A-Fa-f]{2}>$/.test(text)) return TOKEN_TYPE.BYTE;
    return TOKEN_TYPE.NORMAL;
  };

  if (model.byte_fallback === true) {
    // SentencePiece-style: llama.cpp merges adjacent pieces by the score of their concatenation, highest
    // first; HF merges by rank, lowest first. A score of -rank for each merge result gives the same order.
    const norm = tok.normalizer as Json | null;
    const normalizers: Json[] = !norm ? [] : norm.type === 'Sequence' ? norm.normalizers : [norm];
    const prepends = normalizers.some((n) => n.type === 'Prepend' && n.prepend === '\u2581');
    const replacesSpace = normalizers.some(
      (n) => n.type === 'Replace' && n.pattern?.String === ' ' && n.content === '\u2581',
    );
    const pre = tok.pre_tokenizer as Json | null;
    const metaspace = pre?.type === 'Metaspace' && pre.replacement === '\u2581' && pre.split === false;
    // Gemma 3: a Split on ' ' after a normalizer that replaced every ' ' with '▁' never splits (a no-op).
    const noopSplit = replacesSpace && pre?.type === 'Split' && pre.pattern?.String === ' ';
    if (!(replacesSpace || metaspace) || (pre && !metaspace && !noopSplit)) {
      throw new UserError(
        `${source}: a byte-fallback BPE tokenizer must use SentencePiece's '\u2581' space handling (Prepend/Replace normalizers or a non-splitting Metaspace) for llama.cpp's SentencePiece tokenizer to match it`,
      );
    }
    const addSpacePrefix =
      prepends || (metaspace && pre!.prepend_scheme !== 'never' && pre!.add_prefix_space !== false);
    const scoreOf = new Map<string, number>();
    merges.forEach(([a, b], rank) => {
      const t = a + b;
      if (!scoreOf.has(t)) scoreOf.set(t, -rank);
    });
    const scores = new Float32Array(vocabSize);
    for (let id = 0; id < vocabSize; id++) {
      const text = table[id];
      if (text === undefined) {
        tokens[id] = `[PAD${id}]`;
        tokenTypes[id] = TOKEN_TYPE.UNUSED;
        scores[id] = -1e9;
        continue;
      }
      tokens[id] = text;
      tokenTypes[id] = typeOf(id, text, true);
      // Pieces no merge produces are never merge targets in HF; rank them below every merge.
      scores[id] = scoreOf.get(text) ?? -(merges.length + id);
    }
    return { model: 'llama', pre: null, tokens, tokenTypes, scores, merges: null, addSpacePrefix };
  }

  const pre = recognisePreTokenizer(tok, source);
  const decoder = tok.decoder as Json | null;
  if (decoder?.type !== 'ByteLevel')
    throw new UserError(
      `${source}: a BPE tokenizer without byte_fallback must be byte-level (ByteLevel decoder), got decoder '${decoder?.type}'`,
    );
  for (let id = 0; id < vocabSize; id++) {
    const text = table[id];
    if (text === undefined) {
      tokens[id] = `[PAD${id}]`;
      tokenTypes[id] = TOKEN_TYPE.UNUSED;
      continue;
    }
    tokens[id] = text;
    tokenTypes[id] = typeOf(id, text, false);
  }
  return {
    model: 'gpt2',
    pre,
    tokens,
    tokenTypes,
    scores: null,
    merges: merges.map(([a, b]) => `${a} ${b}`),
    addSpacePrefix: null,
  };
}

/** End-of-turn markers llama.cpp and Ollama should stop on, as present in the vocabulary. */
export function endOfTurnTokens(tokenizer: Tokenizer): { id: number; text: string }[] {
  const out: { id: number; text: string }[] = [];
  for (const id of tokenizer.stopTokenIds) {
    const text = tokenizer.idToToken(id);
    if (text !== null) out.push({ id, text });
  }
  return out;
}

/** tokenizer.* metadata entries for llama.cpp. */
export function vocabMetadata(vocab: GgufVocab, tokenizer: Tokenizer): [string, GgufValue][] {
  const kv: [string, GgufValue][] = [['tokenizer.ggml.model', gv.str(vocab.model)]];
  if (vocab.pre !== null) kv.push(['tokenizer.ggml.pre', gv.str(vocab.pre)]);
  kv.push(['tokenizer.ggml.tokens', gv.arr('string', vocab.tokens)]);
  if (vocab.scores) kv.push(['tokenizer.ggml.scores', gv.arr('f32', vocab.scores)]);
  kv.push(['tokenizer.ggml.token_type', gv.arr('i32', vocab.tokenTypes)]);
  if (vocab.merges) kv.push(['tokenizer.ggml.merges', gv.arr('string', vocab.merges)]);
  const id = (key: string, v: number | null) => {
    if (v !== null && v < vocab.tokens.length) kv.push([`tokenizer.ggml.${key}`, gv.u32(v)]);
  };
  id('bos_token_id', tokenizer.bosTokenId);
  id('eos_token_id', tokenizer.eosTokenId);
  id('unknown_token_id', tokenizer.unkTokenId);
  id('padding_token_id', tokenizer.padTokenId);
  // An explicit end-of-turn token (ChatML <|im_end|>, Llama-3 <|eot_id|>) when it differs from EOS.
  const eot = endOfTurnTokens(tokenizer).find(
    (t) => t.id !== tokenizer.eosTokenId && /^<\|(im_end|eot_id|end)\|>$|^<end_of_turn>$/.test(t.text),
  );
  if (eot) id('eot_token_id', eot.id);
  kv.push(['tokenizer.ggml.add_bos_token', gv.bool(tokenizer.addBosToken)]);
  kv.push(['tokenizer.ggml.add_eos_token', gv.bool(tokenizer.addEosToken)]);
  if (vocab.addSpacePrefix !== null) kv.push(['tokenizer.ggml.add_space_prefix', gv.bool(vocab.addSpacePrefix)]);
  const named = [...tokenizer.chatTemplates.keys()].filter((n) => n !== 'default');
  const defaultTemplate = tokenizer.chatTemplates.get('default');
  if (defaultTemplate !== undefined) kv.push(['tokenizer.chat_template', gv.str(defaultTemplate)]);
  if (named.length > 0) {
    kv.push(['tokenizer.chat_templates', gv.arr('string', named)]);
    for (const n of named) kv.push([`tokenizer.chat_template.${n}`, gv.str(tokenizer.chatTemplates.get(n)!)]);
  }
  return kv;
}
