// Which files of a Hugging Face model folder are weights and which are tokenizer files, and copying the rest
// along when a command writes a new folder (merge, quantize, training artefacts).
import { copyFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { asDiskFull } from '../util/errors.js';
import { tempSiblingPath, fsyncDirSync } from './atomic.js';
import { join } from 'node:path';
import { makeDirs } from './make-dirs.js';

/** Weight files (any format) and their shard indexes. */
export const WEIGHT_FILE =
  /(\.safetensors|\.bin|\.pt|\.pth|\.gguf)$|^model\.safetensors\.index\.json$|^pytorch_model\.bin\.index\.json$/;

/** Tokenizer files a folder may hold (fast and slow tokenizers, chat templates). */
export const TOKENIZER_FILE =
  /^(tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab\.json|merges\.txt|chat_template\.(jinja|json))$/;

/** Copies the plain files of `from` whose names `keep` accepts into `to` (created if missing); returns their names. */
export function copyFolderFiles(from: string, to: string, keep: (name: string) => boolean): string[] {
  makeDirs(to);
  const copied: string[] = [];
  for (const name of readdirSync(from)) {
    const p = join(from, name);
    const st = statSync(p);
    if (!st.isFile() || !keep(name)) continue;
    // Copied under a temporary name and renamed, so a full disk never leaves half a tokenizer file.
    const target = join(to, name);
    const tmp = tempSiblingPath(target);
    try {
      copyFileSync(p, tmp);
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw asDiskFull(e, target, st.size);
    }
    copied.push(name);
  }
  if (copied.length > 0) fsyncDirSync(to);
  return copied;
}
