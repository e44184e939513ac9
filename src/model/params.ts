// The trainable-parameter report, formatted exactly like PEFT's print_trainable_parameters().
import type { LlamaModel } from './llama.js';

export interface ParameterCounts {
  trainable: number;
  all: number;
}

/** Counts every parameter once (a tied LM head is the embedding), LoRA matrices included. */
export function countParameters(model: LlamaModel): ParameterCounts {
  let trainable = 0;
  let all = 0;
  for (const { tensor } of model.allParameters()) {
    all += tensor.numel;
    if (tensor.requiresGrad) trainable += tensor.numel;
  }
  for (const m of model.linears()) all += m.quantized?.numel ?? 0; // 4-bit base weights (their `weight` is empty)
  return { trainable, all };
}

/** `trainable params: 4,884,480 || all params: 139,399,488 || trainable%: 3.5039` */
export function formatTrainableParameters(c: ParameterCounts): string {
  const fmt = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const pct = c.all === 0 ? 0 : (100 * c.trainable) / c.all;
  return `trainable params: ${fmt(c.trainable)} || all params: ${fmt(c.all)} || trainable%: ${pct.toFixed(4)}`;
}

export function trainableParametersReport(model: LlamaModel): string {
  return formatTrainableParameters(countParameters(model));
}
