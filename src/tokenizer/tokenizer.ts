// Tokenizer: a Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json, optionally
// special_tokens_map.json, generation_config.json, chat_template.jinja) behind one class.
// Encoding and decoding run in HF's Rust `tokenizers` (exact parity with Python); this wrapper adds
// UTF-16 offsets, the special-token bookkeeping transformers does in Python, and chat templates.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { accessProblem, UserError } from '../util/errors.js';
import { parseChatTemplates, renderChatTemplate } from './chat-template.js';
import { SyncEncoder, type RawEncoding } from './sync-encoder.js';
import { readJsonFile } from '../util/json.js';

export interface ChatMessage {
  role: string;
  content: string | null;
  [k: string]: unknown;
}

export interface Encoding {
  ids: number[];
  /** [start, end) UTF-16 indices into the input string (what String.prototype.slice takes). */
  offsets: [number, number][];
  /** true for special tokens, whether added by the post-processor (BOS) or written in the text. */
  specialMask: boolean[];
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens (BOS for Llama-style tokenizers). Default true. */
  addSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  tools?: unknown[];
  /** Which named template to use when chat_template is a list (default: 'default', or 'tool_use' when tools are given and it exists). */
  templateName?: string;
  /** Extra template variables (e.g. enable_thinking, date_string, documents). */
  extra?: Record<string, unknown>;
}

/** End-of-turn markers of well-known chat formats: generation stops on them when present in the vocab. */
// (<|endoftext|> is not one: in ChatML models it is padding; it stops only as EOS or via generation_config.)
export const END_OF_TURN_TOKENS: readonly string[] = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>', '</s>'];

type Json = Record<string, unknown>;

// A Tokenizer that is garbage-collected without close() still stops its encoder thread.
const encoderCleanup = new FinalizationRegistry<SyncEncoder>((encoder) => encoder.close());

function readJson(path: string, required: boolean): Json | null {
  if (!existsSync(path)) {
    const denied = accessProblem(path);
    if (denied) throw new UserError(`${path}: cannot read: ${denied}`);
    if (required)
      throw new UserError(
        `${path}: not found (a tokenizer folder needs tokenizer.json; slow-only sentencepiece tokenizers are not supported)`,
      );
    return null;
  }
  const v = readJsonFile(path, 'tokenizer file');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${path}: expected a JSON object`);
  return v as Json;
}

/** A special token entry of tokenizer_config / special_tokens_map: a string or an AddedToken object. */
function tokenContent(v: unknown, source: string, key: string): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  throw new UserError(`${source}: "${key}" must be a string, {"content": ...} or null`);
}

function idList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isSafeInteger(x));
  return [];
}

/**
 * Code point offsets -> UTF-16 offsets, clamped to the string and made monotonic: starts never go
 * back, and tokens the post-processor appends (EOS, reported by Rust at [0,0]) sit at the end of
 * the previous token. Byte tokens that split one character all report that character's range.
 */
function toUtf16Offsets(
  text: string,
  cpOffsets: number[][],
  addedMask: number[] | (() => number[]),
): [number, number][] {
  let map: Int32Array | null = null; // code point index -> UTF-16 index, only when the text has surrogate pairs
  if (/[\ud800-\udbff]/.test(text)) {
    map = new Int32Array(text.length + 1);
    let cp = 0;
    for (let j = 0; j < text.length; cp++) {
      map[cp] = j;
      const c = text.charCodeAt(j);
      j += c >= 0xd800 && c <= 0xdbff && j + 1 < text.length ? 2 : 1;
    }
    map[cp] = text.length;
    map = map.subarray(0, cp + 1);
  }
  const len = text.length;
  const conv = (cp: number) => (map ? map[Math.max(0, Math.min(cp, map.length - 1))]! : Math.max(0, Math.min(cp, len)));
  // The special-tokens mask is only read for tokens at [0, 0] (fetching it costs a copy of the whole encoding).
  let added: number[] | null = typeof addedMask === 'function' ? null : addedMask;
  const out: [number, number][] = new Array(cpOffsets.length);
  let prevStart = 0;
  let prevEnd = 0;
  for (let i = 0; i < cpOffsets.length; i++) {
    const o = cpOffsets[i]!;
    let start: number;
    let end: number;
    if (o[0] === 0 && o[1] === 0 && (added ??= (addedMask as () => number[])())[i] === 1) {
      start = end = prevEnd; // post-processor token: zero width at the current position
    } else {
      start = Math.max(conv(o[0] ?? 0), prevStart);
      end = Math.max(conv(o[1] ?? 0), start);
    }
    // The Rust pairs are fresh arrays owned here: reuse one when it already holds the answer.
    out[i] = o.length === 2 && o[0] === start && o[1] === end ? (o as [number, number]) : [start, end];
    prevStart = start;
    prevEnd = Math.max(prevEnd, end);
  }
  return out;
}

/** transformers' clean_up_tokenization (applied to decoded text when the config asks for it). */
function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

interface TemplateItem {
  SpecialToken?: { id: string; type_id: number };
  Sequence?: { id: string; type_id: number };
}

/**
 * transformers' LlamaTokenizerFast rebuilds the post-processor from add_bos_token/add_eos_token in
 * tokenizer_config.json; do the same when those flags disagree with tokenizer.json's post-processor.
 */
function applyBosEosFlags(
  tokJson: Json,
  addBos: boolean,
  addEos: boolean,
  bos: [string, number] | null,
  eos: [string, number] | null,
): void {
  const single: TemplateItem[] = [];
  const pair: TemplateItem[] = [];
  const specials: Record<string, { id: string; ids: number[]; tokens: string[] }> = {};
  const sp = (t: [string, number], typeId: number): TemplateItem => {
    specials[t[0]] = { id: t[0], ids: [t[1]], tokens: [t[0]] };
    return { SpecialToken: { id: t[0], type_id: typeId } };
  };
  if (addBos && bos) single.push(sp(bos, 0));
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (addEos && eos) single.push(sp(eos, 0));
  if (addBos && bos) pair.push(sp(bos, 0));
  pair.push({ Sequence: { id: 'A', type_id: 0 } });
  if (addEos && eos) pair.push(sp(eos, 0));
  if (addBos && bos) pair.push(sp(bos, 1));
  pair.push({ Sequence: { id: 'B', type_id: 1 } });
  if (addEos && eos) pair.push(sp(eos, 1));
  const template = { type: 'TemplateProcessing', single, pair, special_tokens: specials };
  const pp = tokJson.post_processor as Json | null | undefined;
  if (pp && pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    const rest = (pp.processors as Json[]).filter((p) => p.type !== 'TemplateProcessing');
    tokJson.post_processor = { type: 'Sequence', processors: [...rest, template] };
  } else if (pp && pp.type !== 'TemplateProcessing') {
    tokJson.post_processor = { type: 'Sequence', processors: [pp, template] };
  } else {
    tokJson.post_processor = template;
  }
}

export class Tokenizer {
  readonly dir: string;
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly unkToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  /** The default chat template (the 'default' entry when tokenizer_config has named templates). */
  readonly chatTemplate: string | null;
  /** All chat templates by name ('default' for the plain string form). */
  readonly chatTemplates: ReadonlyMap<string, string>;
  readonly stopTokenIds: number[];
  /** Ids of every special added token (special: true in tokenizer.json). */
  readonly specialTokenIds: ReadonlySet<number>;

  private readonly rust: RustTokenizer;
  private readonly syncEncoder: SyncEncoder;
  private readonly cleanUpSpaces: boolean;

  private constructor(init: {
    dir: string;
    rust: RustTokenizer;
    syncEncoder: SyncEncoder;
    vocabSize: number;
    tokens: { bos: string | null; eos: string | null; pad: string | null; unk: string | null };
    addBosToken: boolean;
    addEosToken: boolean;
    templates: Map<string, string>;
    stopTokenIds: number[];
    specialIds: Set<number>;
    cleanUpSpaces: boolean;
  }) {
    this.dir = init.dir;
    this.rust = init.rust;
    this.syncEncoder = init.syncEncoder;
    encoderCleanup.register(this, this.syncEncoder, this);
    this.vocabSize = init.vocabSize;
    this.bosToken = init.tokens.bos;
    this.eosToken = init.tokens.eos;
    this.padToken = init.tokens.pad;
    this.unkToken = init.tokens.unk;
    this.bosTokenId = this.bosToken === null ? null : this.tokenToId(this.bosToken);
    this.eosTokenId = this.eosToken === null ? null : this.tokenToId(this.eosToken);
    this.padTokenId = this.padToken === null ? null : this.tokenToId(this.padToken);
    this.unkTokenId = this.unkToken === null ? null : this.tokenToId(this.unkToken);
    this.addBosToken = init.addBosToken;
    this.addEosToken = init.addEosToken;
    this.chatTemplates = init.templates;
    this.chatTemplate = init.templates.get('default') ?? null;
    this.stopTokenIds = init.stopTokenIds;
    this.specialTokenIds = init.specialIds;
    this.cleanUpSpaces = init.cleanUpSpaces;
  }

  static async fromDir(dir: string): Promise<Tokenizer> {
    const tokPath = join(dir, 'tokenizer.json');
    const cfgPath = join(dir, 'tokenizer_config.json');
    const tokJson = readJson(tokPath, true)!;
    // transformers disables truncation and padding stored in tokenizer.json unless asked for; so do we.
    tokJson.truncation = null;
    tokJson.padding = null;
    const cfg = readJson(cfgPath, false) ?? {};
    const stm = readJson(join(dir, 'special_tokens_map.json'), false) ?? {};
    const gen = readJson(join(dir, 'generation_config.json'), false) ?? {};

    const pick = (key: string): string | null => {
      const fromCfg = tokenContent(cfg[key], cfgPath, key);
      if (fromCfg !== undefined) return fromCfg;
      return tokenContent(stm[key], join(dir, 'special_tokens_map.json'), key) ?? null;
    };
    const tokens = { bos: pick('bos_token'), eos: pick('eos_token'), pad: pick('pad_token'), unk: pick('unk_token') };

    let json = JSON.stringify(tokJson);
    let rust = Tokenizer.build(json, tokPath);
    const idOf = (t: string | null): number | null => (t === null ? null : (rust.tokenToId(t) ?? null));
    for (const [k, t] of Object.entries(tokens)) {
      if (t !== null && idOf(t) === null)
        throw new UserError(`${cfgPath}: ${k}_token ${JSON.stringify(t)} is not in the vocabulary of ${tokPath}`);
    }
    const bosId = idOf(tokens.bos);
    const eosId = idOf(tokens.eos);

    // What the post-processor does now, and what tokenizer_config asks for.
    const probe = async (r: RustTokenizer) => (await r.encode('', null, { addSpecialTokens: true })).getIds();
    let empty = await probe(rust);
    const wantBos = typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : null;
    const wantEos = typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : null;
    const hasBos = bosId !== null && empty[0] === bosId;
    const hasEos =
      eosId !== null &&
      empty.length > 0 &&
      empty[empty.length - 1] === eosId &&
      !(hasBos && empty.length === 1 && bosId !== eosId);
    if (
      (wantBos !== null && wantBos !== hasBos && bosId !== null) ||
      (wantEos !== null && wantEos !== hasEos && eosId !== null)
    ) {
      applyBosEosFlags(
        tokJson,
        wantBos ?? hasBos,
        wantEos ?? hasEos,
        bosId === null ? null : [tokens.bos!, bosId],
        eosId === null ? null : [tokens.eos!, eosId],
      );
      json = JSON.stringify(tokJson);
      rust = Tokenizer.build(json, tokPath);
      empty = await probe(rust);
    }
    const addBosToken = bosId !== null && empty[0] === bosId;
    const addEosToken = eosId !== null && empty.length > (addBosToken ? 1 : 0) && empty[empty.length - 1] === eosId;

    const specialIds = new Set<number>();
    let maxId = -1;
    for (const t of (tokJson.added_tokens as Json[] | undefined) ?? []) {
      if (typeof t.id === 'number') {
        maxId = Math.max(maxId, t.id);
        if (t.special === true) specialIds.add(t.id);
      }
    }

    // Chat templates: chat_template.jinja (the newer save format) wins over tokenizer_config.
    let templates = parseChatTemplates(cfg.chat_template, cfgPath);
    const jinjaPath = join(dir, 'chat_template.jinja');
    if (existsSync(jinjaPath)) templates = new Map([...templates, ['default', readFileSync(jinjaPath, 'utf8')]]);
    else if (templates.size === 0 && existsSync(join(dir, 'chat_template.json'))) {
      templates = parseChatTemplates(
        readJson(join(dir, 'chat_template.json'), false)?.chat_template,
        join(dir, 'chat_template.json'),
      );
    }

    const stop: number[] = [];
    const addStop = (id: number | null | undefined) => {
      if (typeof id === 'number' && !stop.includes(id)) stop.push(id);
    };
    for (const id of idList(gen.eos_token_id)) addStop(id);
    addStop(eosId);
    for (const t of END_OF_TURN_TOKENS) addStop(rust.tokenToId(t));

    let syncEncoder: SyncEncoder;
    try {
      syncEncoder = await SyncEncoder.start(json);
    } catch (e) {
      throw new Error(`${tokPath}: ${(e as Error).message}`, { cause: e });
    }
    return new Tokenizer({
      dir,
      rust,
      syncEncoder,
      vocabSize: Math.max(rust.getVocabSize(true), maxId + 1),
      tokens,
      addBosToken,
      addEosToken,
      templates,
      stopTokenIds: stop,
      specialIds,
      cleanUpSpaces: cfg.clean_up_tokenization_spaces === true,
    });
  }

  private static build(json: string, source: string): RustTokenizer {
    try {
      return RustTokenizer.fromString(json);
    } catch (e) {
      throw new UserError(`${source}: cannot load the tokenizer (${(e as Error).message})`, { cause: e });
    }
  }

  private finish(text: string, raw: RawEncoding): Encoding {
    const specialMask = raw.ids.map((id, i) => raw.specialMask[i] === 1 || this.specialTokenIds.has(id));
    return { ids: raw.ids, offsets: toUtf16Offsets(text, raw.offsets, raw.specialMask), specialMask };
  }

  /** Encode one string. Special tokens written in the text (e.g. "<|im_end|>") become their ids. */
  encode(text: string, opts: EncodeOptions = {}): Encoding {
    if (typeof text !== 'string') throw new TypeError('Tokenizer.encode expects a string');
    return this.finish(text, this.syncEncoder.encode(text, opts.addSpecialTokens ?? true));
  }

  /** Encode many strings in parallel (Rust threads, in-process): the fast path for datasets. */
  async encodeBatch(texts: string[], opts: EncodeOptions = {}): Promise<Encoding[]> {
    if (texts.length === 0) return [];
    const encs = await this.rust.encodeBatch(texts, { addSpecialTokens: opts.addSpecialTokens ?? true });
    return encs.map((e, i) => {
      // specialMask is built when it is first read: the data pipeline never reads it, and building it for every
      // token of a dataset costs as much as a third of the conversion from the Rust encoding.
      const ids = e.getIds();
      let rawMask: number[] | null = null;
      const raw = () => (rawMask ??= e.getSpecialTokensMask());
      const offsets = toUtf16Offsets(texts[i]!, e.getOffsets(), raw);
      let specialMask: boolean[] | null = null;
      const specialIds = this.specialTokenIds;
      return {
        ids,
        offsets,
        get specialMask(): boolean[] {
          return (specialMask ??= ids.map((id, k) => raw()[k] === 1 || specialIds.has(id)));
        },
      };
    });
  }

  /** Decode ids to text (what the Rust tokenizer's decode gives, plus transformers' optional space clean-up). */
  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      if (opts.skipSpecialTokens && this.specialTokenIds.has(id)) continue;
      const t = this.rust.idToToken(id);
      if (t !== null && t !== undefined) tokens.push(t);
    }
    const decoder = this.rust.getDecoder();
    const text = decoder ? decoder.decode(tokens) : tokens.join(' ');
    return this.cleanUpSpaces ? cleanUpTokenization(text) : text;
  }

  tokenToId(token: string): number | null {
    return this.rust.tokenToId(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.rust.idToToken(id) ?? null;
  }

  /** Render the model's chat template the way transformers' apply_chat_template(tokenize=False) does. */
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    let name = opts.templateName;
    if (name === undefined) name = opts.tools && this.chatTemplates.has('tool_use') ? 'tool_use' : 'default';
    const source = this.chatTemplates.get(name);
    if (source === undefined) {
      if (this.chatTemplates.size === 0)
        throw new UserError(
          `${this.dir}: this tokenizer has no chat_template (a base model?); pass a template or use a completion/text dataset format`,
        );
      throw new UserError(
        `${this.dir}: no chat template named '${name}' (available: ${[...this.chatTemplates.keys()].join(', ')})`,
      );
    }
    const vars: Record<string, unknown> = {
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      // transformers passes only the special tokens that are set, so `bos_token is defined` works.
      ...(this.bosToken !== null ? { bos_token: this.bosToken } : {}),
      ...(this.eosToken !== null ? { eos_token: this.eosToken } : {}),
      ...(this.padToken !== null ? { pad_token: this.padToken } : {}),
      ...(this.unkToken !== null ? { unk_token: this.unkToken } : {}),
      tools: opts.tools ?? null,
      documents: null,
      ...opts.extra,
    };
    return renderChatTemplate(source, vars, `${this.dir} (chat template '${name}')`);
  }

  /** Stop the background encoder thread (optional: it never keeps the process alive). */
  close(): void {
    encoderCleanup.unregister(this);
    this.syncEncoder.close();
  }
}
