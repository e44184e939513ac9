// The README's library snippets must compile against the real API: each ```ts block is type-checked with the
// project's compiler options ('sftkit' resolved to src/index.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { packageRoot } from '../src/util/paths.js';

function readmeSnippets(): string[] {
  const text = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test('README: every TypeScript snippet type-checks against src/', () => {
  const snippets = readmeSnippets();
  assert.ok(snippets.length >= 1, 'README.md has a ```ts library snippet');
  const root = packageRoot();
  // Inside the package (node_modules/.cache), so the snippets resolve packages such as `openai` as a user's would.
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'sftkit-readme-'));
  const files = snippets.map((code, i) => {
    const file = join(dir, `snippet-${i}.mts`);
    writeFileSync(file, code.replaceAll(/from 'sftkit'/g, `from '${join(root, 'src', 'index.js')}'`));
    return file;
  });
  const cfg = ts.readConfigFile(join(root, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, root);
  const { rootDir: _r, outDir: _o, ...options } = parsed.options;
  const program = ts.createProgram(files, {
    ...options,
    noEmit: true,
    typeRoots: [join(root, 'node_modules', '@types')],
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(problems, []);
});
