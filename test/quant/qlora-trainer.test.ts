// QLoRA through SFTTrainer: load_in_4bit and the bnb_4bit_* keys reach model loading, the 4-bit memory report is
// logged, the loss falls, and the saved PEFT adapter reproduces the trained logits on a freshly quantized base.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { quantizeFolder } from '../../src/quant/save.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';
import { chatRecords, fastArgs, tempDir, tinyModel } from '../train/helpers.js';
import { NF4, QLORA, trainQloraChecked } from './qlora-helpers.js';

test('SFTTrainer with load_in_4bit trains LoRA on an NF4 base and saves an adapter that reproduces it', async () => {
  const model = await tinyModel();
  const out = tempDir('qlora');
  const m = (await trainQloraChecked(model, out, 'llama')).model!;
  const ids = Int32Array.from([3, 50, 60, 70, 80, 90, 100, 110, 2, 5]);
  const batch = { batch: 1, seq: ids.length, inputIds: ids };
  const trained = m.logits(batch).toF32();
  const fresh = LlamaModel.load(model, { quantize: NF4 });
  loadAdapter(fresh, out);
  assert.deepEqual(fresh.logits(batch).toF32(), trained);
});

test('full fine-tuning is refused with load_in_4bit and on a pre-quantized folder', async () => {
  const model = await tinyModel();
  const { train } = chatRecords(4);
  assert.throws(
    () =>
      new SFTTrainer({
        model,
        args: fastArgs(tempDir('qlora-full'), { max_steps: 1, full_finetune: true, ...QLORA }),
        trainDataset: train,
        progress: false,
        log: () => {},
      }),
    UserError,
  );
  const quantized = join(tempDir('qlora-pre'), 'nf4');
  await quantizeFolder(model, quantized);
  await assert.rejects(
    new SFTTrainer({
      model: quantized,
      args: fastArgs(tempDir('qlora-full2'), { max_steps: 1, full_finetune: true }),
      trainDataset: train,
      progress: false,
      log: () => {},
    }).train(),
    /4-bit quantized/,
  );
});
