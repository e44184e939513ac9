// Regenerates examples/quickstart/{chat,eval}.jsonl: `npx tsx src/quickstart/corpus/write-quickstart-data.ts`.
// The files are committed (they are the documented example data); a test checks they match this generator.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../util/paths.js';
import { generateChatData, toJsonl } from './chat-data.js';
import { makeDirs } from '../../io/make-dirs.js';

export function quickstartDataFiles(): { 'chat.jsonl': string; 'eval.jsonl': string } {
  const { train, eval: evalSet } = generateChatData();
  return { 'chat.jsonl': toJsonl(train), 'eval.jsonl': toJsonl(evalSet) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const dir = join(packageRoot(), 'examples', 'quickstart');
  makeDirs(dir);
  for (const [name, text] of Object.entries(quickstartDataFiles())) writeFileSync(join(dir, name), text);
  console.log(`wrote ${dir}/chat.jsonl and eval.jsonl`);
}
