// A character-level tokenizer with the DataTokenizer shape: one token per UTF-16 unit, special tokens parsed
// whole, chat templates rendered by @huggingface/jinja. Makes token positions obvious in unit tests.
import { Template } from '@huggingface/jinja';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatMessage, DataTokenizer, TokenEncoding } from '../../src/data/types.js';

export const TEMPLATE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'data', 'templates');

export function readTemplate(name: string): string {
  return readFileSync(join(TEMPLATE_DIR, `${name}.jinja`), 'utf8');
}

export interface FakeTokenizerOptions {
  specials?: string[];
  bos?: string | null;
  eos?: string | null;
  pad?: string | null;
  addBos?: boolean;
  template?: string | null;
}

const SPECIAL_BASE = 0x110000;

export class FakeTokenizer implements DataTokenizer {
  readonly specials: string[];
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly addBosToken: boolean;
  readonly chatTemplate: string | null;
  private readonly compiled: Template | null;

  constructor(opts: FakeTokenizerOptions = {}) {
    this.bosToken = opts.bos === undefined ? '<s>' : opts.bos;
    this.eosToken = opts.eos === undefined ? '</s>' : opts.eos;
    this.padToken = opts.pad === undefined ? '<pad>' : opts.pad;
    const all = [this.padToken, this.bosToken, this.eosToken, ...(opts.specials ?? [])].filter((s): s is string => !!s);
    this.specials = [...new Set(all)];
    this.addBosToken = opts.addBos ?? false;
    this.chatTemplate = opts.template ?? null;
    this.compiled = this.chatTemplate ? new Template(this.chatTemplate) : null;
  }
  get bosTokenId() {
    return this.bosToken ? this.tokenToId(this.bosToken) : null;
  }
  get eosTokenId() {
    return this.eosToken ? this.tokenToId(this.eosToken) : null;
  }
  get padTokenId() {
    return this.padToken ? this.tokenToId(this.padToken) : null;
  }
  get stopTokenIds() {
    return this.eosTokenId === null ? [] : [this.eosTokenId];
  }
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): TokenEncoding {
    const ids: number[] = [];
    const offsets: [number, number][] = [];
    const specialMask: boolean[] = [];
    if ((opts.addSpecialTokens ?? true) && this.addBosToken && this.bosTokenId !== null) {
      ids.push(this.bosTokenId);
      offsets.push([0, 0]);
      specialMask.push(true);
    }
    const sorted = [...this.specials].sort((a, b) => b.length - a.length);
    for (let i = 0; i < text.length;) {
      const sp = sorted.find((s) => text.startsWith(s, i));
      if (sp) {
        ids.push(this.tokenToId(sp)!);
        offsets.push([i, i + sp.length]);
        specialMask.push(true);
        i += sp.length;
      } else {
        ids.push(text.charCodeAt(i));
        offsets.push([i, i + 1]);
        specialMask.push(false);
        i++;
      }
    }
    return { ids, offsets, specialMask };
  }
  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return ids
      .map((id) =>
        id >= SPECIAL_BASE ? (opts.skipSpecialTokens ? '' : this.specials[id - SPECIAL_BASE]) : String.fromCharCode(id),
      )
      .join('');
  }
  tokenToId(token: string): number | null {
    const i = this.specials.indexOf(token);
    if (i >= 0) return SPECIAL_BASE + i;
    return token.length === 1 ? token.charCodeAt(0) : null;
  }
  idToToken(id: number): string | null {
    return id >= SPECIAL_BASE ? (this.specials[id - SPECIAL_BASE] ?? null) : String.fromCharCode(id);
  }
  applyChatTemplate(
    messages: ChatMessage[],
    opts: { addGenerationPrompt?: boolean; tools?: unknown[]; extra?: Record<string, unknown> } = {},
  ): string {
    if (!this.compiled) throw new Error('no chat template');
    return this.compiled.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      ...(opts.tools ? { tools: opts.tools } : {}),
      ...(opts.extra ?? {}),
    });
  }
}

/** ChatML on the fake tokenizer (eos = <|im_end|>, pad = <|endoftext|>, no BOS). */
export function fakeChatml(): FakeTokenizer {
  return new FakeTokenizer({
    bos: null,
    eos: '<|im_end|>',
    pad: '<|endoftext|>',
    specials: ['<|im_start|>'],
    template: readTemplate('chatml'),
  });
}
