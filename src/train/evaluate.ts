// The one eval loop: mean cross-entropy over every trained (label != -100) token of prepared examples, dropout
// off, no NEFTune noise, no tape. The trainer's eval_loss and `sftkit eval`'s loss and perplexity both come
// from here.
import { batches } from '../data/batches.js';
import type { PreparedExample } from '../data/types.js';
import { noGrad } from '../engine/index.js';
import type { LlamaModel } from '../model/llama.js';

export interface EvalLoss {
  loss: number;
  perplexity: number;
  /** Trained tokens scored. */
  tokens: number;
  examples: number;
}

/** Mean CE over the trained tokens of `examples` (null when there are none), in batches of `batchSize` rows. */
export function evalLoss(
  model: LlamaModel,
  examples: PreparedExample[],
  opts: { batchSize?: number; padTokenId?: number } = {},
): EvalLoss | null {
  if (examples.length === 0) return null;
  let maxLength = 0;
  for (const e of examples) maxLength = Math.max(maxLength, e.inputIds.length);
  let sum = 0;
  let count = 0;
  for (const b of batches(examples, {
    batchSize: opts.batchSize ?? 8,
    maxLength,
    packing: false,
    seed: 0,
    padTokenId: opts.padTokenId ?? 0,
  })) {
    const { value, targets } = noGrad(() => model.loss(b, { normalizer: 1 }));
    sum += value.toF32()[0]!;
    value.dispose();
    count += targets;
  }
  if (count === 0) return null;
  const loss = sum / count;
  return { loss, perplexity: Math.exp(loss), tokens: count, examples: examples.length };
}
