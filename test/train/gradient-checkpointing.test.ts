// gradient_checkpointing: true in the trainer config is effective and changes nothing but memory: the loss
// curve (LoRA with dropout, NEFTune noise and trained token rows) equals the run that keeps every activation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SFTTrainer } from '../../src/train/trainer.js';
import { chatRecords, fastArgs, tempDir, tinyModel } from './helpers.js';

test('gradient_checkpointing: the same loss curve as without it', async () => {
  const model = await tinyModel();
  const { train } = chatRecords(12);
  const curve = async (gradient_checkpointing: boolean) => {
    const trainer = new SFTTrainer({
      model,
      args: fastArgs(tempDir('gc'), { max_steps: 3, gradient_checkpointing, neftune_noise_alpha: 5 }),
      trainDataset: train,
      peftConfig: {
        r: 4,
        lora_alpha: 8,
        lora_dropout: 0.1,
        target_modules: ['all-linear'],
        trainable_token_indices: [2],
      },
      progress: false,
      log: () => {},
    });
    const r = await trainer.train();
    assert.equal(trainer.model!.gradientCheckpointing, gradient_checkpointing);
    return r.stepLosses;
  };
  const plain = await curve(false);
  const checkpointed = await curve(true);
  assert.equal(plain.length, 3);
  assert.deepEqual(checkpointed, plain);
});
