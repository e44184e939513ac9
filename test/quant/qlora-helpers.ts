// What the QLoRA trainer tests share: the bitsandbytes options, and a 12-step LoRA run on a 4-bit base that checks
// the base is NF4 (bf16 compute) under every linear and that the loss falls.
import assert from 'node:assert/strict';
import { QuantizedLinearWeight } from '../../src/quant/weight.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { chatRecords, fastArgs } from '../train/helpers.js';

export const NF4 = { quantType: 'nf4', doubleQuant: true, compute: 'bf16' } as const;
export const QLORA = {
  load_in_4bit: true,
  bnb_4bit_quant_type: 'nf4',
  bnb_4bit_use_double_quant: true,
  bnb_4bit_compute_dtype: 'bf16',
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Train LoRA r=4 on every linear of `model` loaded in 4 bits for 12 steps into `out`; returns the trainer. */
export async function trainQloraChecked(model: string, out: string, what: string): Promise<SFTTrainer> {
  const logs: string[] = [];
  const trainer = new SFTTrainer({
    model,
    args: fastArgs(out, { max_steps: 12, learning_rate: 1e-2, ...QLORA }),
    trainDataset: chatRecords(32).train,
    peftConfig: { r: 4, lora_alpha: 8, target_modules: ['all-linear'] },
    progress: false,
    log: (l: string) => logs.push(l),
  });
  const r = await trainer.train();
  assert.ok(
    logs.some((l) => /^4-bit base: 14 linears, .* \(0\.\d+ bytes\/param\)$/.test(l)),
    logs.join('\n'),
  );
  assert.ok(
    trainer
      .model!.linears()
      .every((l) => l.lora !== null && l.quantized instanceof QuantizedLinearWeight && l.quantized.compute === 'bf16'),
  );
  assert.ok(
    mean(r.stepLosses.slice(-3)) < mean(r.stepLosses.slice(0, 3)) - 0.1,
    `QLoRA ${what}: ${r.stepLosses.map((l) => l.toFixed(3))}`,
  );
  return trainer;
}
