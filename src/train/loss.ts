// The training loss, computed only where it counts: the LM head and cross-entropy run on the rows whose
// next-token target is trained (TRL's chunked_nll does the same). With assistant-only loss most positions are
// masked, so this skips most of the [tokens x vocab] head work. The rows are gathered from the final hidden
// states with the engine's differentiable row gather (embedding() over the hidden states), and the head is
// chunked by the engine, so [tokens x vocab] logits never exist at once.
import { backward, embedding, noGrad, type Tensor } from '../engine/index.js';
import { IGNORE_INDEX, shiftedTargets, type ModelBatch } from '../model/batch.js';
import type { LlamaModel } from '../model/llama.js';

/** Row indices with a trained target, and those targets. */
export function trainedRows(b: ModelBatch): { rows: Int32Array; targets: Int32Array } {
  const all = shiftedTargets(b);
  let n = 0;
  for (const t of all) if (t !== IGNORE_INDEX) n++;
  const rows = new Int32Array(n);
  const targets = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i] !== IGNORE_INDEX) {
      rows[k] = i;
      targets[k++] = all[i]!;
    }
  }
  return { rows, targets };
}

function lossTensor(
  model: LlamaModel,
  b: ModelBatch,
  normalizer: number,
  training: boolean,
): { value: Tensor | null; targets: number } {
  const { rows, targets } = trainedRows(b);
  if (rows.length === 0) return { value: null, targets: 0 };
  const hidden = model.hidden(b, model.forwardContext(training));
  const picked = rows.length === b.batch * b.seq ? hidden : embedding(hidden, rows);
  return {
    value: model.headLoss(picked, targets, normalizer),
    targets: rows.length,
  };
}

/**
 * Forward (dropout on) + backward of Σ CE over trained targets / normalizer; gradients accumulate into the
 * trainable tensors' .grad. Returns the loss as normalised and the number of trained targets.
 */
export function trainStep(model: LlamaModel, b: ModelBatch, normalizer: number): { loss: number; targets: number } {
  const { value, targets } = lossTensor(model, b, normalizer, true);
  if (!value) return { loss: 0, targets: 0 };
  const loss = value.toF32()[0]!;
  backward(value);
  value.dispose();
  return { loss, targets };
}

/** Σ CE over the trained targets (no dropout, no tape) and their count. */
export function evalLossSum(model: LlamaModel, b: ModelBatch): { sum: number; targets: number } {
  return noGrad(() => {
    const { value, targets } = lossTensor(model, b, 1, false);
    if (!value) return { sum: 0, targets: 0 };
    const sum = value.toF32()[0]!;
    value.dispose();
    return { sum, targets };
  });
}
