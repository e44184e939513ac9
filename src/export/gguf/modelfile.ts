// An Ollama Modelfile beside an exported GGUF: FROM the file, a Go TEMPLATE when the chat format is one
// sftkit recognises (ChatML, Llama 3), and a stop parameter for every end-of-turn token.
import { basename, dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../../io/atomic.js';
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { endOfTurnTokens } from './vocab.js';

const CHATML_TEMPLATE = `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

const LLAMA3_TEMPLATE = `{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

`;

/** The Go template for the tokenizer's chat format, or null when it is not one sftkit can translate. */
export function ollamaTemplate(tokenizer: Tokenizer): string | null {
  const t = tokenizer.chatTemplate;
  if (!t) return null;
  const has = (s: string) => tokenizer.tokenToId(s) !== null;
  if (t.includes('<|im_start|>') && has('<|im_start|>') && has('<|im_end|>')) return CHATML_TEMPLATE;
  if (t.includes('<|start_header_id|>') && has('<|start_header_id|>') && has('<|eot_id|>')) return LLAMA3_TEMPLATE;
  return null;
}

export function modelfileText(ggufFileName: string, tokenizer: Tokenizer): string {
  const lines = [`FROM ./${ggufFileName}`];
  const template = ollamaTemplate(tokenizer);
  if (template) lines.push(`TEMPLATE """${template}"""`);
  for (const { text } of endOfTurnTokens(tokenizer)) lines.push(`PARAMETER stop ${JSON.stringify(text)}`);
  return lines.join('\n') + '\n';
}

/** Write `Modelfile` in the GGUF's folder; returns its path. */
export function writeModelfile(ggufPath: string, tokenizer: Tokenizer): string {
  const path = join(dirname(ggufPath), 'Modelfile');
  writeFileAtomicSync(path, modelfileText(basename(ggufPath), tokenizer));
  return path;
}
