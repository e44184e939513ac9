// One optimizer step: forward + backward of each micro-batch with its loss normalised by the trained tokens of
// the whole step (count first, then each micro-batch's loss is Σ CE / total, so the gradient is that of the mean
// over all its tokens, as transformers now does), then clipping, a finite check and AdamW.
import { clipGradNorm, getBackend, type AdamW, type Tensor } from '../engine/index.js';
import type { Batch } from '../data/batches.js';
import type { LlamaModel } from '../model/llama.js';
import type { TokenRowsAdapter } from '../model/token-rows.js';
import { UserError } from '../util/errors.js';
import { formatRefs } from '../data/types.js';
import { firstNonFinite, firstNonFiniteBits16 } from '../io/finite.js';
import { trainingForward } from './noise.js';

export interface StepInputs {
  model: LlamaModel;
  params: Tensor[];
  optimizer: AdamW;
  tokenRows: TokenRowsAdapter | null;
  seed: number;
  neftuneAlpha: number | null;
  maxGradNorm: number;
  lr: number;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  /** Trained tokens of the step. */
  trainedTokens: number;
}

/**
 * Runs micro-batches `batches` (micro-steps firstMicroStep, firstMicroStep+1, ...) and updates the weights.
 * `step` (1-based) and `lastCheckpoint` only name things in the error when the loss or gradient is not finite.
 */
export function optimizerStep(
  s: StepInputs,
  batches: Batch[],
  firstMicroStep: number,
  step: number,
  lastCheckpoint: string | null,
): StepResult {
  const total = batches.reduce((n, b) => n + b.numTrainedTokens, 0);
  let loss = 0;
  let badBatch: Batch | null = null; // the first micro-batch whose loss is not finite
  batches.forEach((b, k) => {
    if (b.numTrainedTokens === 0) return;
    const { ctx, inputEmbeddings } = trainingForward(s.model, b, s.seed, firstMicroStep + k, s.neftuneAlpha);
    const l = s.model.lossAndBackward(b, { normalizer: Math.max(1, total), ctx, inputEmbeddings }).loss;
    if (!Number.isFinite(l)) badBatch ??= b;
    loss += l;
  });
  s.tokenRows?.gather();
  const gradNorm =
    s.maxGradNorm > 0
      ? clipGradNorm(s.params, s.maxGradNorm)
      : Math.sqrt(s.params.reduce((n, p) => n + (p.grad ? getBackend().sumSquares(p.grad) : 0), 0));
  const advice = lastCheckpoint
    ? `Last good checkpoint: ${lastCheckpoint} (resume with --resume_from_checkpoint ${lastCheckpoint} and a lower learning_rate)`
    : 'No checkpoint was saved yet; try a lower learning_rate or max_grad_norm.';
  const batchRefs = (bs: Batch[]) => {
    const sources = bs.flatMap((b) => b.sources ?? []);
    return sources.length > 0 ? `Batch: ${formatRefs(sources)}. ` : '';
  };
  if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
    const what = !Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm}`;
    throw new UserError(
      `step ${step}: ${what}; stopped before updating the weights. ${batchRefs(badBatch ? [badBatch] : batches)}${advice}`,
    );
  }
  s.optimizer.step(s.lr);
  s.tokenRows?.scatter();
  // An update can overflow (a learning rate that diverges) even from finite gradients: stop at this step, before
  // any checkpoint holds the result.
  for (const p of s.params) {
    const i = p.dtype === 'bf16' ? firstNonFiniteBits16(p.data as Uint16Array) : firstNonFinite(p.data as Float32Array);
    if (i >= 0)
      throw new UserError(
        `step ${step}: the update made ${p.name ?? 'a trainable weight'} non-finite at index ${i} (learning_rate ${s.lr} is too high?). ${batchRefs(batches)}${advice}`,
      );
  }
  s.optimizer.zeroGrad();
  s.model.zeroGrad();
  return { loss, gradNorm, trainedTokens: total };
}
