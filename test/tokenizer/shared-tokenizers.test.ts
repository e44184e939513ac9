// Real tokenizers from ../shared: minimind2 (byte-level BPE, ChatML + Qwen2.5-style template) and
// stories260K (SentencePiece-style BPE with byte fallback and a BOS post-processor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { sharedDir } from '../helpers/shared.js';

const shared = sharedDir();
const skip = !shared && 'needs ../shared';

test('minimind2: ChatML specials, ids, offsets and its chat template', { skip }, async () => {
  const dir = join(shared!, 'tokenizers', 'minimind2');
  const tok = await Tokenizer.fromDir(dir);
  try {
    assert.equal(tok.vocabSize, 6400);
    assert.equal(tok.eosToken, '<|im_end|>');
    assert.equal(tok.eosTokenId, 2);
    assert.equal(tok.padTokenId, 0);
    assert.equal(tok.addBosToken, false);
    assert.deepEqual(tok.stopTokenIds, [2]);
    const s = 'Hello 😀 world<|im_end|>';
    const e = tok.encode(s);
    assert.deepEqual(e.ids, [42, 392, 338, 223, 175, 256, 249, 225, 1636, 2]);
    assert.deepEqual(e.offsets, [
      [0, 1],
      [1, 3],
      [3, 5],
      [5, 6],
      [6, 8],
      [6, 8],
      [6, 8],
      [6, 8],
      [8, 14],
      [14, 24],
    ]);
    assert.equal(e.specialMask.at(-1), true);
    assert.equal(tok.decode(e.ids), s);
    const rendered = tok.applyChatTemplate(
      [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: 'Bye' },
      ],
      { addGenerationPrompt: true },
    );
    assert.equal(
      rendered,
      '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    );
    const withSystem = tok.applyChatTemplate([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'Q' },
    ]);
    assert.equal(withSystem, '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n');
    const ids = tok.encode(rendered).ids;
    assert.equal(
      ids.filter((id) => id === 1).length,
      5,
      'system, 3 turns and the generation prompt each start with <|im_start|>',
    );
  } finally {
    tok.close();
  }
});

test('stories260K: BOS added by the post-processor, byte fallback, offsets, decode parity', { skip }, async () => {
  const dir = join(shared!, 'models', 'stories260K');
  const tok = await Tokenizer.fromDir(dir);
  const rust = RustTokenizer.fromFile(join(dir, 'tokenizer.json'));
  try {
    assert.equal(tok.vocabSize, 512);
    assert.equal(tok.bosToken, '<s>');
    assert.equal(tok.bosTokenId, 1);
    assert.equal(tok.eosTokenId, 2);
    assert.equal(tok.unkToken, '<unk>');
    assert.equal(tok.addBosToken, true);
    assert.deepEqual(tok.stopTokenIds, [2]);
    const s = 'Hello 😀 中';
    const e = tok.encode(s);
    assert.deepEqual(e.ids, [1, 346, 306, 414, 410, 243, 162, 155, 131, 410, 231, 187, 176]);
    assert.deepEqual(e.offsets, [
      [0, 0],
      [0, 2],
      [2, 4],
      [4, 5],
      [5, 6],
      [6, 8],
      [6, 8],
      [6, 8],
      [6, 8],
      [8, 9],
      [9, 10],
      [9, 10],
      [9, 10],
    ]);
    assert.deepEqual(e.specialMask, [true, ...new Array(12).fill(false)]);
    assert.deepEqual(tok.encode(s, { addSpecialTokens: false }).ids, e.ids.slice(1));
    for (const text of ['Once upon a time, there was a little girl named Lily.', s, 'x</s>y']) {
      const ids = tok.encode(text).ids;
      for (const skipSpecialTokens of [false, true])
        assert.equal(tok.decode(ids, { skipSpecialTokens }), await rust.decode(ids, skipSpecialTokens));
    }
    assert.equal(tok.decode(tok.encode('Once upon a time').ids, { skipSpecialTokens: true }), 'Once upon a time');
    assert.equal(tok.chatTemplate, null);
  } finally {
    tok.close();
  }
});
