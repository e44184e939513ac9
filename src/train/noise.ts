// The randomness of one training micro-batch, passed to the model explicitly: dropout seeds and NEFTune noise
// on the input embeddings (uniform in ±alpha/sqrt(seq·D), Jain et al. 2023, as TRL). Both are pure functions of
// (seed, micro-step), so a resumed run draws the very same masks and noise.
import { add, Tensor } from '../engine/index.js';
import type { ModelBatch } from '../model/batch.js';
import type { ForwardContext } from '../model/linear.js';
import type { LlamaModel } from '../model/llama.js';
import { deriveSeed, Rng } from '../util/random.js';

export interface TrainingForward {
  ctx: ForwardContext;
  /** Token embeddings plus NEFTune noise; undefined without NEFTune (the model embeds the ids itself). */
  inputEmbeddings?: Tensor;
}

export function trainingForward(
  model: LlamaModel,
  b: ModelBatch,
  seed: number,
  microStep: number,
  neftuneAlpha: number | null,
): TrainingForward {
  const dropout = new Rng(deriveSeed(seed, 0xd0, microStep));
  const ctx: ForwardContext = { ...model.forwardContext(true), nextSeed: () => dropout.nextU32() };
  if (neftuneAlpha === null || !(neftuneAlpha > 0)) return { ctx };
  const noiseRng = new Rng(deriveSeed(seed, 0x4e, microStep));
  const D = model.config.hiddenSize;
  const mag = neftuneAlpha / Math.sqrt(b.seq * D);
  const n = b.inputIds.length;
  const noise = new Float32Array(n * D);
  for (let i = 0; i < noise.length; i++) noise[i] = (noiseRng.next() * 2 - 1) * mag;
  return { ctx, inputEmbeddings: add(model.embed(b.inputIds), Tensor.from(noise, [n, D], 'f32')) };
}
