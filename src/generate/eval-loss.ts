// Eval-set loss and perplexity: mean cross-entropy over every trained (label != -100) token of prepared
// examples, no dropout, as the trainer's evaluate().
import { batches } from '../data/batches.js';
import type { PreparedExample } from '../data/types.js';
import { noGrad } from '../engine/index.js';
import type { LlamaModel } from '../model/llama.js';

export interface EvalLoss {
  loss: number;
  perplexity: number;
  tokens: number;
  examples: number;
}

export function evalLoss(
  model: LlamaModel,
  examples: PreparedExample[],
  opts: { batchSize?: number; padTokenId?: number } = {},
): EvalLoss | null {
  if (examples.length === 0) return null;
  const maxLength = Math.max(...examples.map((e) => e.inputIds.length));
  let sum = 0;
  let count = 0;
  for (const b of batches(examples, {
    batchSize: opts.batchSize ?? 8,
    maxLength,
    packing: false,
    seed: 0,
    padTokenId: opts.padTokenId ?? 0,
  })) {
    const { value, targets } = noGrad(() => model.loss(b, { normalizer: 1, training: false }));
    sum += value.toF32()[0]!;
    value.dispose();
    count += targets;
  }
  if (count === 0) return null;
  const loss = sum / count;
  return { loss, perplexity: Math.exp(loss), tokens: count, examples: examples.length };
}
