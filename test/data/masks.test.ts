// Masks on a character-level fake tokenizer, where every character is one token, so expected positions are obvious.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTokenizer, fakeChatml, readTemplate } from './fake-tokenizer.js';
import {
  prepareRecord,
  prepareRecords,
  tokenizeRecord,
  buildLabels,
  spansToTokenMask,
  emptyPrepareReport,
} from '../../src/data/prepare.js';
import { IGNORE_INDEX } from '../../src/engine/backend.js';
import type { ChatMessage, SftRecord } from '../../src/data/types.js';

const src = { file: 'mem.jsonl', line: 1 };
const conv = (messages: ChatMessage[]): SftRecord => ({ kind: 'conversation', messages, source: src });
const THREE_TURNS: ChatMessage[] = [
  { role: 'system', content: 'SYS' },
  { role: 'user', content: 'u1' },
  { role: 'assistant', content: 'A-one' },
  { role: 'user', content: 'u2' },
  { role: 'assistant', content: 'A-two' },
  { role: 'user', content: 'u3' },
  { role: 'assistant', content: 'A-three' },
];

/** The trained text as contiguous runs of decoded tokens. */
function trainedRuns(tok: FakeTokenizer, ids: ArrayLike<number>, mask: ArrayLike<number>): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (let i = 0; i <= ids.length; i++) {
    if (i < ids.length && mask[i]) cur.push(ids[i]!);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}

test('every assistant turn is trained, with its end marker; system, user and headers are not', () => {
  const tok = fakeChatml();
  const ex = prepareRecord(tok, conv(THREE_TURNS))!;
  assert.deepEqual(trainedRuns(tok, ex.inputIds, ex.assistantMask), [
    'A-one<|im_end|>',
    'A-two<|im_end|>',
    'A-three<|im_end|>',
  ]);
  assert.equal(ex.numTrained, 'A-one'.length + 'A-two'.length + 'A-three'.length + 3);
});

test("earlier assistant turns are trained (the seed's last-user-prefix mask drops them; ours must not)", () => {
  const tok = fakeChatml();
  const ex = prepareRecord(tok, conv(THREE_TURNS))!;
  // The seed's snippet: for every non-assistant message i, mask the tokens of render(messages[:i+1], gen prompt).
  const full = tok.encode(tok.applyChatTemplate(THREE_TURNS)).ids;
  const seedLabels = full.slice();
  THREE_TURNS.forEach((m, i) => {
    if (m.role === 'assistant') return;
    const prefix = tok.encode(tok.applyChatTemplate(THREE_TURNS.slice(0, i + 1), { addGenerationPrompt: true })).ids;
    for (let t = 0; t < prefix.length; t++) seedLabels[t] = IGNORE_INDEX;
  });
  const seedTrained = tok.decode(seedLabels.filter((x) => x !== IGNORE_INDEX));
  assert.ok(!seedTrained.includes('A-one'), 'the seed approach should have masked the first turn');
  const ours = tok.decode(Array.from(buildLabels(ex.inputIds, ex.assistantMask)).filter((x) => x !== IGNORE_INDEX));
  assert.ok(ours.includes('A-one') && ours.includes('A-two') && ours.includes('A-three'), ours);
});

test('eos is inserted after assistant turns the template does not end, and trained', () => {
  const tok = new FakeTokenizer({ template: readTemplate('plain-no-eos') });
  const t = tokenizeRecord(tok, conv(THREE_TURNS));
  assert.deepEqual(trainedRuns(tok, t.inputIds, t.assistantMask), ['A-one</s>', 'A-two</s>', 'A-three</s>']);
  assert.ok(t.text.includes('### Answer:\nA-one</s>\n\n### Question:'));
  // a configurable eos token
  const custom = new FakeTokenizer({ template: readTemplate('plain-no-eos'), specials: ['<|stop|>'] });
  const c = tokenizeRecord(custom, conv(THREE_TURNS), { eosToken: '<|stop|>' });
  assert.deepEqual(trainedRuns(custom, c.inputIds, c.assistantMask), [
    'A-one<|stop|>',
    'A-two<|stop|>',
    'A-three<|stop|>',
  ]);
});

test('BOS: never duplicated when the template writes it; prepended when the tokenizer adds it and the text lacks it', () => {
  const withBosInTemplate = new FakeTokenizer({ template: readTemplate('mistral'), addBos: true });
  const a = tokenizeRecord(withBosInTemplate, conv(THREE_TURNS));
  assert.equal(a.inputIds[0], withBosInTemplate.bosTokenId);
  assert.notEqual(a.inputIds[1], withBosInTemplate.bosTokenId);
  assert.equal(Array.from(a.inputIds).filter((x) => x === withBosInTemplate.bosTokenId).length, 1);
  const noBosInTemplate = new FakeTokenizer({ template: readTemplate('plain-no-eos'), addBos: true });
  const b = tokenizeRecord(noBosInTemplate, conv(THREE_TURNS));
  assert.equal(b.inputIds[0], noBosInTemplate.bosTokenId);
  assert.equal(b.assistantMask[0], 0);
  assert.deepEqual(trainedRuns(noBosInTemplate, b.inputIds, b.assistantMask), [
    'A-one</s>',
    'A-two</s>',
    'A-three</s>',
  ]);
  const noBos = new FakeTokenizer({ template: readTemplate('plain-no-eos'), addBos: false });
  assert.notEqual(tokenizeRecord(noBos, conv(THREE_TURNS)).inputIds[0], noBos.bosTokenId);
});

test('templates that trim content: the trimmed content is located', () => {
  const tok = new FakeTokenizer({ template: readTemplate('mistral') });
  const t = tokenizeRecord(
    tok,
    conv([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '  padded answer \n' },
    ]),
  );
  // The template writes ' ' + content | trim: the content's own spaces are gone, the template's leading space is
  // generated by the model (no generation prompt covers it), so it is trained.
  assert.deepEqual(trainedRuns(tok, t.inputIds, t.assistantMask), [' padded answer</s>']);
});

test('assistant content that also appears in a user turn is located in its own turn', () => {
  const tok = fakeChatml();
  const t = tokenizeRecord(
    tok,
    conv([
      { role: 'user', content: 'Say yes' },
      { role: 'assistant', content: 'yes' },
      { role: 'user', content: 'yes' },
      { role: 'assistant', content: 'yes' },
    ]),
  );
  const idx = Array.from(t.assistantMask).flatMap((m, i) => (m ? [i] : []));
  // Both trained runs sit right after an assistant header.
  for (const run of [idx.slice(0, 4), idx.slice(4)]) {
    const before = t.text.slice(0, t.offsets[run[0]!]![0]);
    assert.ok(before.endsWith('<|im_start|>assistant\n'), before);
  }
});

test('a span the template does not render fails naming the template and the example', () => {
  const upper = new FakeTokenizer({
    template: "{% for m in messages %}{{ m.role + ': ' + (m.content | upper) + '</s>' }}{% endfor %}",
  });
  assert.throws(
    () =>
      tokenizeRecord(
        upper,
        conv([
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'answer' },
        ]),
        { templateName: 'shouty' },
      ),
    /mem\.jsonl:1: cannot locate assistant turn 1 \(message 1\) in the text rendered by chat template 'shouty'/,
  );
  const dropsFirst = new FakeTokenizer({
    template:
      "{% for m in messages %}{% if m.role != 'assistant' or loop.last %}{{ m.content + '</s>' }}{% endif %}{% endfor %}",
  });
  assert.throws(
    () => tokenizeRecord(dropsFirst, conv(THREE_TURNS)),
    /cannot locate assistant turn 1 .*does not render/,
  );
});

test('template errors (e.g. role alternation) name the example', () => {
  const tok = new FakeTokenizer({ template: readTemplate('mistral') });
  assert.throws(
    () => tokenizeRecord(tok, conv([{ role: 'assistant', content: 'x' }])),
    /mem\.jsonl:1: the chat template failed to render this example: .*alternate/,
  );
});

test('completion-only loss for prompt-completion strings; eos appended once', () => {
  const tok = fakeChatml();
  const rec: SftRecord = {
    kind: 'prompt-completion',
    prompt: 'The capital of France is',
    completion: ' Paris.',
    source: src,
  };
  const t = tokenizeRecord(tok, rec);
  assert.equal(t.text, 'The capital of France is Paris.<|im_end|>');
  assert.deepEqual(trainedRuns(tok, t.inputIds, t.assistantMask), [' Paris.<|im_end|>']);
  const already = tokenizeRecord(tok, { ...rec, completion: ' Paris.<|im_end|>' });
  assert.equal(already.text, 'The capital of France is Paris.<|im_end|>');
});

test('completion-only loss for conversational prompt-completion: everything after the generation prompt', () => {
  const tok = fakeChatml();
  const rec: SftRecord = {
    kind: 'prompt-completion',
    prompt: [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'Q' },
    ],
    completion: [{ role: 'assistant', content: 'Ans' }],
    source: src,
  };
  const t = tokenizeRecord(tok, rec);
  assert.deepEqual(trainedRuns(tok, t.inputIds, t.assistantMask), ['Ans<|im_end|>']);
  assert.equal(t.prefixBroken, false);
});

test('a template that is not prefix-stable for prompt-completion is counted and warned once; spans still located', () => {
  // Always renders a trailing header, with or without the generation prompt (like the early Llama-3 template),
  // and puts a marker before the last message only.
  const tok = new FakeTokenizer({
    template:
      "{% for m in messages %}{% if loop.last %}>{% endif %}{{ m.role + ':' + m.content + '</s>' }}{% endfor %}{{ 'assistant:' }}",
  });
  const rec: SftRecord = {
    kind: 'prompt-completion',
    prompt: [{ role: 'user', content: 'Q' }],
    completion: [{ role: 'assistant', content: 'Ans' }],
    source: src,
  };
  const report = emptyPrepareReport();
  const ex = prepareRecord(tok, rec, {}, report)!;
  prepareRecord(tok, { ...rec, source: { file: 'mem.jsonl', line: 2 } }, {}, report);
  assert.equal(report.prefixBroken, 2);
  assert.equal(report.warnings.length, 1);
  assert.deepEqual(trainedRuns(tok, ex.inputIds, ex.assistantMask), ['Ans</s>']);
});

test('text data trains on everything (except the first token, which nothing predicts), eos appended', () => {
  const tok = new FakeTokenizer({ addBos: true });
  const ex = prepareRecord(tok, { kind: 'text', text: 'abc', source: src })!;
  assert.equal(tok.decode(Array.from(ex.inputIds)), '<s>abc</s>');
  assert.deepEqual(Array.from(ex.assistantMask), [0, 1, 1, 1, 1]);
});

test('truncation keeps the head and counts; drop policy skips; zero-trained examples are dropped and counted', () => {
  const tok = fakeChatml();
  const rec = conv(THREE_TURNS);
  const full = tokenizeRecord(tok, rec).inputIds.length;
  const report = emptyPrepareReport();
  const cut = prepareRecord(tok, rec, { maxLength: full - 3 }, report)!;
  assert.equal(cut.inputIds.length, full - 3);
  assert.ok(cut.truncated);
  assert.equal(report.truncated, 1);
  assert.equal(prepareRecord(tok, rec, { maxLength: full - 3, truncation: 'drop' }, report), null);
  assert.equal(report.droppedTooLong, 1);
  // Cut before the first assistant content: nothing left to train.
  const firstTrained = tokenizeRecord(tok, rec).assistantMask.indexOf(1);
  assert.equal(prepareRecord(tok, rec, { maxLength: firstTrained }, report), null);
  assert.equal(report.droppedNoTrainedTokens, 1);
  const many = prepareRecords(tok, [rec, rec], { maxLength: firstTrained });
  assert.equal(many.examples.length, 0);
  assert.equal(many.report.droppedNoTrainedTokens, 2);
});

test('buildLabels: -100 where the mask is 0, the id where it is 1', () => {
  assert.deepEqual(Array.from(buildLabels([5, 6, 7, 8], [0, 1, 0, 1])), [-100, 6, -100, 8]);
  assert.throws(() => buildLabels([1, 2], [1]));
});

test('spansToTokenMask: a token straddling the span start belongs to the span; zero-width tokens never do', () => {
  const offsets: [number, number][] = [
    [0, 0],
    [0, 3],
    [3, 7],
    [7, 9],
    [9, 12],
  ];
  assert.deepEqual(Array.from(spansToTokenMask(offsets, [[4, 9]])), [0, 0, 1, 1, 0]);
  assert.deepEqual(
    Array.from(
      spansToTokenMask(offsets, [
        [0, 3],
        [9, 12],
      ]),
    ),
    [0, 1, 0, 0, 1],
  );
});

test('invariants: an end-of-turn token that is not one token, and a doubled BOS, fail loudly with the example', () => {
  const tok = new FakeTokenizer({ template: readTemplate('plain-no-eos') });
  assert.throws(
    () => tokenizeRecord(tok, conv(THREE_TURNS), { eosToken: 'END' }),
    /mem\.jsonl:1: the end-of-turn marker END at character \d+ does not encode as its own token/,
  );
  const doubled = new FakeTokenizer({
    template: '{{ bos_token + bos_token }}{% for m in messages %}{{ m.content + eos_token }}{% endfor %}',
  });
  assert.throws(() => tokenizeRecord(doubled, conv(THREE_TURNS)), /mem\.jsonl:1: BOS appears twice/);
});
