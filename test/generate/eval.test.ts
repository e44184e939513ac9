// Eval pieces without generation: prompt-file parsing, answer scoring, the summary, generation_config.json
// defaults, and loading a model with an adapter (unmerged / merged, f32 / bf16).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generate } from '../../src/generate/generate.js';
import { normalizeAnswer, scoreAnswer, summarize } from '../../src/generate/eval.js';
import { parseEvalPrompt, readEvalPrompts } from '../../src/generate/eval-prompts.js';
import { readGenerationConfig } from '../../src/generate/generation-config.js';
import { encodeChat, loadForGeneration } from '../../src/generate/load.js';
import { LlamaModel } from '../../src/model/llama.js';
import { saveAdapter } from '../../src/model/peft.js';
import { UserError } from '../../src/util/errors.js';
import { useBestBackend } from '../model/helpers.js';
import { randomLora, tinyModelDir } from './helpers.js';

useBestBackend();
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-evalunit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('eval prompts: instruction/input/system/reference items and message lists with a trailing assistant reference', () => {
  const a = parseEvalPrompt(
    { instruction: 'Translate.', input: 'bonjour', system: 'Be brief.', reference: 'hello' },
    'p.jsonl:1',
    1,
  );
  assert.deepEqual(a.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Translate.\n\nbonjour' },
  ]);
  assert.equal(a.instruction, 'Translate.');
  assert.equal(a.reference, 'hello');
  const b = parseEvalPrompt(
    {
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Colour?' },
        { role: 'assistant', content: 'Red.' },
      ],
    },
    'p',
    2,
  );
  assert.equal(b.instruction, 'Colour?');
  assert.equal(b.reference, 'Red.');
  assert.equal(b.messages.length, 3);
  assert.equal(parseEvalPrompt({ instruction: 'x', output: 'y' }, 'p', 3).reference, 'y');
  assert.equal(parseEvalPrompt({ instruction: 'x' }, 'p', 3).reference, null);
  assert.throws(
    () => parseEvalPrompt({ messages: [{ role: 'assistant', content: 'a' }] }, 'p.jsonl:4', 4),
    /p.jsonl:4: messages has no user message/,
  );
  const path = join(tmp, 'bad.jsonl');
  writeFileSync(path, '{"instruction": "a"}\n\n{"instruction": 3}\n');
  assert.throws(
    () => readEvalPrompts(path),
    (e) => e instanceof UserError && e.message.includes('bad.jsonl:3'),
  );
  writeFileSync(path, '{"instruction": "a"}\nnot json\n');
  assert.throws(() => readEvalPrompts(path), /bad.jsonl:2: invalid JSON/);
});

test('scoring: exact match and contains-reference after normalisation; summary counts endings', () => {
  assert.equal(normalizeAnswer('  The SKY, is blue!\n'), 'the sky is blue');
  assert.deepEqual(scoreAnswer('The sky is blue.', 'the sky is blue'), { exactMatch: true, containsReference: true });
  assert.deepEqual(scoreAnswer('I think the sky is blue today', 'The sky is blue.'), {
    exactMatch: false,
    containsReference: true,
  });
  assert.deepEqual(scoreAnswer('green', 'blue'), { exactMatch: false, containsReference: false });
  assert.deepEqual(scoreAnswer('anything', null), { exactMatch: null, containsReference: null });
  const answer = (finishReason: 'eos' | 'length', ref: boolean | null) => ({
    generated: '',
    finishReason,
    generatedTokens: finishReason === 'eos' ? 4 : 10,
    promptTokens: 5,
    exactMatch: ref,
    containsReference: ref,
  });
  const s = summarize(
    { answers: [answer('eos', true), answer('length', false), answer('eos', null)], generatedTokens: 18, seconds: 2 },
    1.5,
  );
  assert.deepEqual(
    { ...s },
    {
      prompts: 3,
      meanGeneratedTokens: 6,
      endedWithStopToken: 2,
      hitMaxTokens: 1,
      endedWithStopString: 0,
      withReference: 2,
      exactMatch: 1,
      containsReference: 1,
      tokensPerSecond: 9,
      evalLoss: 1.5,
    },
  );
});

test('generation_config.json: sampling defaults and eos ids; wrong types fail naming the field', () => {
  const dir = mkdtempSync(join(tmp, 'gc-'));
  assert.deepEqual(readGenerationConfig(dir), { eosTokenIds: [] });
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({
      do_sample: true,
      temperature: 0.6,
      top_p: 0.9,
      top_k: 20,
      max_new_tokens: 99,
      eos_token_id: [2, 7],
      repetition_penalty: 1.1,
    }),
  );
  assert.deepEqual(readGenerationConfig(dir), {
    eosTokenIds: [2, 7],
    doSample: true,
    temperature: 0.6,
    topP: 0.9,
    topK: 20,
    maxNewTokens: 99,
    repetitionPenalty: 1.1,
  });
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ top_p: 'high' }));
  assert.throws(() => readGenerationConfig(dir), /generation_config.json: top_p must be a number/);
});

test('loadForGeneration: adapter unmerged or merged, f32 or bf16, all giving the same greedy answer', async () => {
  const dir = await tinyModelDir(tmp);
  const m = LlamaModel.load(dir);
  randomLora(m);
  const adapterDir = join(tmp, 'adapter');
  await saveAdapter(m, adapterDir);
  const unmerged = await loadForGeneration({ modelDir: dir, adapterDir, dtype: 'f32' });
  assert.equal(unmerged.model.linears().filter((l) => l.lora).length, 14);
  const merged = await loadForGeneration({ modelDir: dir, adapterDir, dtype: 'f32', merge: true });
  assert.ok(merged.model.linears().every((l) => !l.lora));
  const bf16 = await loadForGeneration({ modelDir: dir, adapterDir, dtype: 'bf16' });
  assert.equal(bf16.model.linears()[0]!.weight.dtype, 'bf16');
  assert.ok(bf16.model.linears()[0]!.lora);
  const ids = encodeChat(unmerged.tokenizer, [{ role: 'user', content: 'Hello there, how are you?' }]);
  const answer = (l: typeof merged) =>
    generate(l.model, [ids], { maxNewTokens: 8, doSample: false }).generations[0]!.tokenIds;
  assert.deepEqual(answer(merged), answer(unmerged));
  assert.equal(answer(bf16).length, 8);
});
