// Integration test on real pretrained weights (needs ../shared): LoRA SFT of Karpathy's stories260K
// (a TinyStories base model) on a tiny conversational set written for it, with a plain-text chat template
// whose end of turn is </s>. The base model never trained the </s> row (it is a near-duplicate of unused
// byte rows), so this also checks the untrained-token-row fix: without it the model cannot learn to stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from '../helpers/shared.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { answerPrompts } from '../../src/quickstart/quickstart.js';
import type { SftRecord } from '../../src/data/types.js';
import { Rng } from '../../src/util/random.js';
import { tempDir } from './helpers.js';

const TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}User: {{ m['content'] }}\n{% elif m['role'] == 'assistant' %}Assistant: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

const NAMES = ['Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Anna', 'Tim', 'Mia'];
const THINGS = ['ball', 'dog', 'cat', 'tree', 'car', 'cake', 'bird', 'boat'];
const COLOURS = ['red', 'blue', 'green', 'big', 'little', 'happy'];

function conversations(n: number, seed: number): SftRecord[] {
  const r = new Rng(seed);
  const out: SftRecord[] = [];
  for (let i = 0; i < n; i++) {
    const name = r.pick(NAMES);
    const thing = r.pick(THINGS);
    const adj = r.pick(COLOURS);
    const [q, a] = r.pick([
      [`What does ${name} like?`, `${name} likes the ${adj} ${thing}.`],
      [`Who has a ${thing}?`, `${name} has a ${adj} ${thing}.`],
      [`Where is the ${thing}?`, `The ${thing} is in the park.`],
      [`Is ${name} happy?`, `Yes, ${name} is happy.`],
    ] as const);
    out.push({
      kind: 'conversation',
      messages: [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ],
      source: { file: 'stories-chat', line: i + 1 },
    });
  }
  return out;
}

test(
  'LoRA SFT of stories260K: eval loss falls, answers follow the format and stop at </s>',
  { skip: !sharedDir() && 'needs ../shared (models/stories260K)' },
  async () => {
    const model = join(tempDir('stories260k'), 'model');
    cpSync(join(sharedDir()!, 'models', 'stories260K'), model, { recursive: true });
    const cfgPath = join(model, 'tokenizer_config.json');
    writeFileSync(
      cfgPath,
      JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), chat_template: TEMPLATE }, null, 2),
    );
    const logs: string[] = [];
    const trainer = new SFTTrainer({
      model,
      args: {
        output_dir: tempDir('stories260k-out'),
        max_steps: 150,
        per_device_train_batch_size: 8,
        learning_rate: 5e-3,
        lr_scheduler_type: 'constant',
        logging_steps: 50,
        save_strategy: 'no',
        assistant_only_loss: true,
        max_length: 128,
      },
      trainDataset: conversations(96, 1),
      evalDataset: conversations(16, 2),
      peftConfig: { r: 8, lora_alpha: 16, lora_dropout: 0, target_modules: ['all-linear'] },
      log: (l) => logs.push(l),
      progress: false,
    });
    await trainer.prepare();
    assert.ok(
      logs.some((l) => /untrained token row: <\/s> \(id 2\)/.test(l)),
      `the </s> row should be detected as untrained:\n${logs.join('\n')}`,
    );
    const prompts = [
      'What does Lily like?',
      'Who has a dog?',
      'Is Tom happy?',
      'Where is the cake?',
      'What does Mia like?',
      'Who has a bird?',
    ];
    const tok = trainer.tokenizer!;
    const before = await trainer.evaluate();
    const answersBefore = answerPrompts(trainer.model!, tok, prompts, 24);
    const result = await trainer.train();
    const answersAfter = answerPrompts(trainer.model!, tok, prompts, 24);
    assert.ok(result.finalEvalLoss! < before! * 0.6, `eval loss ${before} -> ${result.finalEvalLoss}`);
    assert.ok(
      answersAfter.filter((a) => a.stopped).length >= 5,
      `answers after SFT should stop at </s>: ${JSON.stringify(answersAfter)}`,
    );
    assert.ok(answersAfter.filter((a) => a.stopped).length > answersBefore.filter((a) => a.stopped).length);
    if (process.env.SFTKIT_TEST_VERBOSE)
      console.log(JSON.stringify({ before, after: result.finalEvalLoss, answersBefore, answersAfter }, null, 1));
    for (const a of answersAfter)
      assert.match(a.answer, /^ ?[A-Z][a-z]+[ ,]/, `answer should be a sentence: ${JSON.stringify(a)}`);
  },
);
