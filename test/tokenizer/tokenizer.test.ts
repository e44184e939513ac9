import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { chatmlTokenizerFiles, CHATML_TEMPLATE } from '../../src/tokenizer/chatml-files.js';
import { createModel } from '../../src/model/create-model.js';
import { trainByteLevelBpe } from '../../src/tokenizer/bpe-trainer.js';
import { SyncEncoder } from '../../src/tokenizer/sync-encoder.js';
import { UserError } from '../../src/util/errors.js';

const root = mkdtempSync(join(tmpdir(), 'sftkit-tok-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Write a tokenizer folder: create-model's byte-level ChatML files, with optional edits. */
function tokenizerDir(
  name: string,
  edit: (files: ReturnType<typeof chatmlTokenizerFiles> & Record<string, unknown>) => void = () => {},
): string {
  const files = chatmlTokenizerFiles() as ReturnType<typeof chatmlTokenizerFiles> & Record<string, unknown>;
  edit(files);
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    writeFileSync(join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

const byteId = (b: number) => 3 + b; // create-model's byte tokenizer: specials 0..2, then byte b at 3 + b

const base = tokenizerDir('base');
const tok = await Tokenizer.fromDir(base);
after(() => tok.close());

test('byte tokenizer: vocabulary and special tokens', () => {
  assert.equal(tok.vocabSize, 259);
  assert.equal(tok.bosToken, null);
  assert.equal(tok.bosTokenId, null);
  assert.equal(tok.eosToken, '<|im_end|>');
  assert.equal(tok.eosTokenId, 2);
  assert.equal(tok.padToken, '<|endoftext|>');
  assert.equal(tok.padTokenId, 0);
  assert.equal(tok.unkToken, null);
  assert.equal(tok.addBosToken, false);
  assert.deepEqual(tok.stopTokenIds, [2]);
  assert.equal(tok.tokenToId('<|im_start|>'), 1);
  assert.equal(tok.idToToken(3 + 0x41), 'A');
  assert.equal(tok.idToToken(3 + 0x20), 'Ġ');
  assert.equal(tok.tokenToId('no-such-token'), null);
  assert.equal(tok.idToToken(100000), null);
  assert.equal(tok.chatTemplate, CHATML_TEMPLATE);
});

test('byte tokenizer: known ids for fixed strings', () => {
  assert.deepEqual(tok.encode('Hi there!').ids, [75, 108, 35, 119, 107, 104, 117, 104, 36]);
  assert.deepEqual(tok.encode('é😀').ids, [
    byteId(0xc3),
    byteId(0xa9),
    byteId(0xf0),
    byteId(0x9f),
    byteId(0x98),
    byteId(0x80),
  ]);
  // Special tokens written in the text are parsed as special.
  const e = tok.encode('<|im_start|>user\nHi<|im_end|>\n');
  assert.deepEqual(e.ids, [
    1,
    byteId(0x75),
    byteId(0x73),
    byteId(0x65),
    byteId(0x72),
    byteId(0x0a),
    75,
    108,
    2,
    byteId(0x0a),
  ]);
  assert.deepEqual(e.specialMask, [true, false, false, false, false, false, false, false, true, false]);
  assert.deepEqual(tok.encode('').ids, []);
});

test('encode with and without special tokens: no BOS either way for ChatML', () => {
  assert.deepEqual(tok.encode('ab', { addSpecialTokens: false }).ids, tok.encode('ab').ids);
});

test('decode round-trips text, including emoji, CJK and whitespace', () => {
  for (const s of [
    'Hello, world!',
    '  leading and trailing  ',
    'tabs\tand\nnewlines\r\n',
    '中文字符 and 日本語',
    'emoji 😀👍🏽 mix',
    'é è ê',
    '<|im_start|>user\nx<|im_end|>',
  ]) {
    assert.equal(tok.decode(tok.encode(s).ids), s, JSON.stringify(s));
  }
  assert.equal(tok.decode(tok.encode('<|im_start|>user\nHi<|im_end|>').ids, { skipSpecialTokens: true }), 'user\nHi');
});

test('decode matches the Rust tokenizer decode', async () => {
  const rust = RustTokenizer.fromFile(join(base, 'tokenizer.json'));
  for (const s of ['plain', 'a 😀 b', '<|im_end|>x<|endoftext|>']) {
    const ids = tok.encode(s).ids;
    for (const skip of [false, true])
      assert.equal(tok.decode(ids, { skipSpecialTokens: skip }), await rust.decode(ids, skip));
  }
});

test('offsets are UTF-16 indices: emoji, CJK, spaces', () => {
  const s = 'a 😀中 b';
  const e = tok.encode(s);
  // bytes: a, space, F0 9F 98 80 (😀 = UTF-16 [2,4]), E4 B8 AD (中 = [4,5]), space, b
  assert.deepEqual(e.offsets, [
    [0, 1],
    [1, 2],
    [2, 4],
    [2, 4],
    [2, 4],
    [2, 4],
    [4, 5],
    [4, 5],
    [4, 5],
    [5, 6],
    [6, 7],
  ]);
  for (const [start, end] of e.offsets) assert.ok(0 <= start && start <= end && end <= s.length);
  const starts = e.offsets.map((o) => o[0]);
  assert.deepEqual(
    starts,
    [...starts].sort((x, y) => x - y),
    'starts are non-decreasing',
  );
  const sp = tok.encode('x<|im_end|>y');
  assert.deepEqual(sp.offsets, [
    [0, 1],
    [1, 11],
    [11, 12],
  ]);
});

test('encodeBatch equals encode', async () => {
  const texts = ['one', 'two 😀', '<|im_start|>three'];
  const batch = await tok.encodeBatch(texts);
  assert.deepEqual(
    batch,
    texts.map((t) => tok.encode(t)),
  );
  assert.deepEqual(await tok.encodeBatch([]), []);
});

test("applyChatTemplate renders create-model's ChatML template", () => {
  const out = tok.applyChatTemplate(
    [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
    ],
    { addGenerationPrompt: false },
  );
  assert.equal(
    out,
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n',
  );
  assert.equal(
    tok.applyChatTemplate([{ role: 'user', content: 'Q' }], { addGenerationPrompt: true }),
    '<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n',
  );
});

test('bpe tokenizer from create-model: known ids and round trip', async () => {
  const dir = join(root, 'bpe-model');
  await createModel({ preset: 'tiny', out: dir, tokenizer: 'bpe' });
  const bpe = await Tokenizer.fromDir(dir);
  try {
    assert.equal(bpe.vocabSize, 709);
    const s = 'The model learned to answer the question.';
    const e = bpe.encode(s);
    assert.deepEqual(e.ids, [290, 352, 516, 300, 282, 350, 262, 329, 49]);
    assert.deepEqual(
      e.offsets.map(([a, b]) => s.slice(a, b)),
      ['The', ' model', ' learn', 'ed', ' to', ' answer', ' the', ' question', '.'],
    );
    for (const t of ['unseen words: zyzzyva qwerty', 'emoji 😀 and 中文'])
      assert.equal(bpe.decode(bpe.encode(t).ids), t);
  } finally {
    bpe.close();
  }
});

test('BPE trainer: most frequent pair first, ties by string order, stops below two occurrences', () => {
  // pieces: low, Ġlow x2, Ġlower, Ġlowest -> (l,o)=5 ties (o,w)=5 and wins by order; then lo+w, Ġ+low, Ġlow+e.
  assert.deepEqual(trainByteLevelBpe('low low low lower lowest', 300), [
    ['l', 'o'],
    ['lo', 'w'],
    ['Ġ', 'low'],
    ['Ġlow', 'e'],
  ]);
  assert.deepEqual(trainByteLevelBpe('low low low lower lowest', 261), [
    ['l', 'o'],
    ['lo', 'w'],
  ]);
});

test('add_bos_token in tokenizer_config rebuilds the post-processor (as LlamaTokenizerFast does)', async () => {
  const dir = tokenizerDir('with-bos', (f) => {
    Object.assign(f['tokenizer_config.json'], { bos_token: '<|endoftext|>', add_bos_token: true });
  });
  const t = await Tokenizer.fromDir(dir);
  try {
    assert.equal(t.addBosToken, true);
    assert.equal(t.bosTokenId, 0);
    const e = t.encode('ab');
    assert.deepEqual(e.ids, [0, byteId(0x61), byteId(0x62)]);
    assert.deepEqual(e.offsets, [
      [0, 0],
      [0, 1],
      [1, 2],
    ]);
    assert.deepEqual(e.specialMask, [true, false, false]);
    assert.deepEqual(t.encode('ab', { addSpecialTokens: false }).ids, [byteId(0x61), byteId(0x62)]);
    assert.deepEqual((await t.encodeBatch(['ab']))[0]!.ids, [0, byteId(0x61), byteId(0x62)]);
  } finally {
    t.close();
  }
});

test('special tokens as AddedToken objects; special_tokens_map fallback; generation_config stop ids', async () => {
  const dir = tokenizerDir('objects', (f) => {
    const cfg = f['tokenizer_config.json'] as Record<string, unknown>;
    cfg.eos_token = { content: '<|im_end|>', lstrip: false, normalized: false, rstrip: false, single_word: false };
    delete cfg.pad_token;
    f['special_tokens_map.json'] = { pad_token: { content: '<|endoftext|>' } };
    f['generation_config.json'] = { eos_token_id: [0, 2] };
  });
  const t = await Tokenizer.fromDir(dir);
  try {
    assert.equal(t.eosTokenId, 2);
    assert.equal(t.padToken, '<|endoftext|>');
    assert.deepEqual(t.stopTokenIds, [0, 2]);
  } finally {
    t.close();
  }
});

test('well-known end-of-turn tokens join stopTokenIds', async () => {
  const dir = tokenizerDir('eot', (f) => {
    const tj = f['tokenizer.json'] as { added_tokens: object[] };
    tj.added_tokens.push({
      id: 259,
      content: '<|eot_id|>',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
  });
  const t = await Tokenizer.fromDir(dir);
  try {
    assert.deepEqual(t.stopTokenIds, [2, 259]);
    assert.equal(t.vocabSize, 260);
    assert.deepEqual(t.encode('a<|eot_id|>').ids, [byteId(0x61), 259]);
  } finally {
    t.close();
  }
});

test('named chat templates, chat_template.jinja, and template errors', async () => {
  const named = tokenizerDir('named', (f) => {
    (f['tokenizer_config.json'] as Record<string, unknown>).chat_template = [
      { name: 'default', template: 'D{{ messages | length }}' },
      { name: 'tool_use', template: 'T{{ tools | length }}' },
    ];
  });
  const t = await Tokenizer.fromDir(named);
  try {
    assert.equal(t.chatTemplate, 'D{{ messages | length }}');
    assert.equal(t.applyChatTemplate([{ role: 'user', content: 'x' }]), 'D1');
    assert.equal(t.applyChatTemplate([], { tools: [{}, {}] }), 'T2');
    assert.equal(t.applyChatTemplate([], { templateName: 'default', tools: [{}] }), 'D0');
    assert.throws(
      () => t.applyChatTemplate([], { templateName: 'rag' }),
      (e: Error) =>
        e instanceof UserError && /no chat template named 'rag' \(available: default, tool_use\)/.test(e.message),
    );
  } finally {
    t.close();
  }

  const file = tokenizerDir('jinja-file', (f) => {
    f['chat_template.jinja'] =
      "{% for m in messages %}{% if m.role == 'bad' %}{{ raise_exception('Role bad is not allowed!') }}{% endif %}[{{ m.role }}]{{ m.content }}{% endfor %}{{ extra_var }}{{ eos_token }}";
  });
  const tj = await Tokenizer.fromDir(file);
  try {
    assert.equal(
      tj.applyChatTemplate([{ role: 'user', content: 'x' }], { extra: { extra_var: '!' } }),
      '[user]x!<|im_end|>',
    );
    assert.throws(
      () => tj.applyChatTemplate([{ role: 'bad', content: 'x' }]),
      (e: Error) => e instanceof UserError && e.message.includes(file) && /Role bad is not allowed!/.test(e.message),
    );
  } finally {
    tj.close();
  }

  const broken = tokenizerDir('broken-template', (f) => {
    (f['tokenizer_config.json'] as Record<string, unknown>).chat_template = '{% for m in messages %}';
  });
  const tb = await Tokenizer.fromDir(broken);
  try {
    assert.throws(
      () => tb.applyChatTemplate([]),
      (e: Error) => e instanceof UserError && e.message.includes(broken),
    );
  } finally {
    tb.close();
  }

  const none = tokenizerDir('no-template', (f) => {
    delete (f['tokenizer_config.json'] as Record<string, unknown>).chat_template;
  });
  const tn = await Tokenizer.fromDir(none);
  try {
    assert.equal(tn.chatTemplate, null);
    assert.throws(() => tn.applyChatTemplate([]), /has no chat_template/);
  } finally {
    tn.close();
  }
});

test('missing or broken tokenizer files are UserErrors naming the file', async () => {
  const empty = join(root, 'empty');
  mkdirSync(empty);
  await assert.rejects(
    Tokenizer.fromDir(empty),
    (e: Error) => e instanceof UserError && e.message.includes(join(empty, 'tokenizer.json')),
  );
  const bad = tokenizerDir('bad-eos', (f) => {
    (f['tokenizer_config.json'] as Record<string, unknown>).eos_token = '<nope>';
  });
  await assert.rejects(Tokenizer.fromDir(bad), /eos_token "<nope>" is not in the vocabulary/);
  const badJson = tokenizerDir('bad-json');
  writeFileSync(join(badJson, 'tokenizer_config.json'), '{');
  await assert.rejects(Tokenizer.fromDir(badJson), /tokenizer_config\.json(:\d+:\d+)?: invalid JSON/);
});

test('a tokenizer.json the Rust library rejects is a UserError; a failing encoder worker rejects instead of hanging', async () => {
  const dir = tokenizerDir('bad-model', (f) => {
    (f['tokenizer.json'] as { model: Record<string, unknown> }).model.type = 'NoSuchModel';
  });
  await assert.rejects(
    Tokenizer.fromDir(dir),
    (e: Error) =>
      e instanceof UserError &&
      e.message.includes(join(dir, 'tokenizer.json')) &&
      /cannot load the tokenizer/.test(e.message),
  );
  await assert.rejects(SyncEncoder.start('{not json'), Error);
});
