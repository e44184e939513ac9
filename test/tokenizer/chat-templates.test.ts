// Real chat templates (Llama-3, Llama-3.1, Qwen2.5, SmolLM2, Mistral v0.3) rendered through
// Tokenizer.applyChatTemplate; expected strings in the fixture were derived by hand from the
// template semantics (what Python transformers' apply_chat_template(tokenize=False) returns).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, type ChatMessage } from '../../src/tokenizer/tokenizer.js';
import { chatmlTokenizerFiles } from '../../src/tokenizer/chatml-files.js';
import { packageRoot } from '../../src/util/paths.js';
import { UserError } from '../../src/util/errors.js';

const fixtures = join(packageRoot(), 'test', 'fixtures', 'tokenizer', 'chat-templates');
const root = mkdtempSync(join(tmpdir(), 'sftkit-tpl-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Case {
  name: string;
  template: string;
  bos_token: string | null;
  eos_token: string;
  conversation: string;
  add_generation_prompt: boolean;
  tools?: unknown[];
  expected: string;
}
const { conversations, cases } = JSON.parse(readFileSync(join(fixtures, 'cases.json'), 'utf8')) as {
  conversations: Record<string, ChatMessage[]>;
  cases: Case[];
};

/** A tokenizer folder with the model's template and its special tokens added to create-model's vocabulary. */
function folderFor(c: Case, index: number): string {
  const files = chatmlTokenizerFiles();
  const tj = files['tokenizer.json'] as { added_tokens: { id: number; content: string }[] };
  for (const t of [c.bos_token, c.eos_token]) {
    if (t && !tj.added_tokens.some((a) => a.content === t)) {
      tj.added_tokens.push({
        id: 259 + tj.added_tokens.length - 3,
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      } as never);
    }
  }
  Object.assign(files['tokenizer_config.json'], {
    bos_token: c.bos_token,
    eos_token: c.eos_token,
    chat_template: readFileSync(join(fixtures, c.template), 'utf8'),
  });
  const dir = join(root, `case-${index}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(content));
  return dir;
}

for (const [i, c] of cases.entries()) {
  test(`chat template: ${c.name}`, async () => {
    const tok = await Tokenizer.fromDir(folderFor(c, i));
    try {
      assert.equal(
        tok.applyChatTemplate(conversations[c.conversation]!, {
          addGenerationPrompt: c.add_generation_prompt,
          ...(c.tools ? { tools: c.tools } : {}),
        }),
        c.expected,
      );
    } finally {
      tok.close();
    }
  });
}

test("Mistral v0.3 raise_exception becomes a UserError with the template's message", async () => {
  const c = cases.find((x) => x.template === 'mistral-v0.3.jinja')!;
  const dir = folderFor(c, 100);
  const tok = await Tokenizer.fromDir(dir);
  try {
    assert.throws(
      () =>
        tok.applyChatTemplate([
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
        ]),
      (e: Error) =>
        e instanceof UserError &&
        e.message.includes(dir) &&
        e.message.includes(
          'After the optional system message, conversation roles must alternate user/assistant/user/assistant/...',
        ),
    );
  } finally {
    tok.close();
  }
});

test('Llama-3.1 honours date_string passed through extra, and tools render in the first user turn', async () => {
  const c = cases.find((x) => x.template === 'llama-3.1.jinja')!;
  const tok = await Tokenizer.fromDir(folderFor(c, 101));
  try {
    const out = tok.applyChatTemplate([{ role: 'user', content: 'Weather?' }], {
      extra: { date_string: '01 Jan 2025' },
      tools: [{ type: 'function', function: { name: 'w' } }],
    });
    assert.ok(
      out.startsWith(
        '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\n<|eot_id|>',
      ),
      out,
    );
    assert.ok(out.includes('<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions'), out);
    assert.ok(out.endsWith('"name": "w"\n    }\n}\n\nWeather?<|eot_id|>'), out);
  } finally {
    tok.close();
  }
});
