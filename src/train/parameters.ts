// Step 2 of a run: the parameters the optimizer updates (LoRA or every weight, plus token rows), the AdamW
// over them, and the counts the log line and the memory estimate use.
import { AdamW, type Tensor } from '../engine/index.js';
import type { LlamaModel, NamedParameter } from '../model/llama.js';
import { formatTrainableParameters } from '../model/params.js';
import type { TokenRowsAdapter } from '../model/token-rows.js';
import type { SFTConfig } from './config.js';

export interface TrainableSet {
  /** By checkpoint name, in checkpoint order. */
  named: NamedParameter[];
  params: Tensor[];
  optimizer: AdamW;
  /** 'LoRA r=8 alpha=16 + 1 token rows' / 'full fine-tuning'. */
  method: string;
  /** 'trainable params: ... || all params: ... || trainable%: ...'. */
  trainableReport: string;
  /** Every parameter of the model, 4-bit base weights included. */
  allCount: number;
  trainableCount: number;
  /** Elements of the whole tables that carry a gradient when only some of their rows train. */
  rowTableGradients: number;
}

export function trainableSet(model: LlamaModel, tokenRows: TokenRowsAdapter | null, c: SFTConfig): TrainableSet {
  const rowTables = new Set(tokenRows?.tables() ?? []);
  const named = [
    ...model.trainableParameters().filter((p) => !rowTables.has(p.tensor)),
    ...(tokenRows?.parameters() ?? []),
  ];
  for (const p of named) p.tensor.name = p.name;
  const params = named.map((p) => p.tensor);
  const noDecay = named.filter((p) => /norm\.weight$|\.bias$/.test(p.name)).map((p) => p.tensor);
  const optimizer = new AdamW(params, {
    lr: c.learning_rate,
    beta1: c.adam_beta1,
    beta2: c.adam_beta2,
    eps: c.adam_epsilon,
    weightDecay: c.weight_decay,
    noDecay,
  });
  const method = c.full_finetune
    ? 'full fine-tuning'
    : `LoRA r=${c.peft.r} alpha=${c.peft.lora_alpha}${tokenRows ? ` + ${tokenRows.ids.length} token rows` : ''}`;
  // Counted here, not from requiresGrad: with token rows the whole embedding carries a gradient but only the
  // selected rows train (PEFT counts trainable_tokens_delta the same way).
  let allCount = 0;
  for (const p of model.allParameters()) allCount += p.tensor.numel;
  for (const m of model.linears()) allCount += m.quantized?.numel ?? 0; // 4-bit base weights (their `weight` is empty)
  const trainableCount = params.reduce((s, p) => s + p.numel, 0);
  return {
    named,
    params,
    optimizer,
    method,
    trainableReport: formatTrainableParameters({ trainable: trainableCount, all: allCount }),
    allCount,
    trainableCount,
    rowTableGradients: [...rowTables].reduce((s, t) => s + t.numel, 0),
  };
}
