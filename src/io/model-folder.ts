// Which files of a Hugging Face model folder are weights and which are tokenizer files, and copying the rest
// along when a command writes a new folder (merge, quantize, training artefacts).
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Weight files (any format) and their shard indexes. */
export const WEIGHT_FILE =
  /(\.safetensors|\.bin|\.pt|\.pth|\.gguf)$|^model\.safetensors\.index\.json$|^pytorch_model\.bin\.index\.json$/;

/** Tokenizer files a folder may hold (fast and slow tokenizers, chat templates). */
export const TOKENIZER_FILE =
  /^(tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab\.json|merges\.txt|chat_template\.(jinja|json))$/;

/** Copies the plain files of `from` whose names `keep` accepts into `to` (created if missing); returns their names. */
export function copyFolderFiles(from: string, to: string, keep: (name: string) => boolean): string[] {
  mkdirSync(to, { recursive: true });
  const copied: string[] = [];
  for (const name of readdirSync(from)) {
    const p = join(from, name);
    if (!statSync(p).isFile() || !keep(name)) continue;
    copyFileSync(p, join(to, name));
    copied.push(name);
  }
  return copied;
}
