// A minimal greedy generator for the quickstart's before/after answers (no KV cache: the whole sequence is
// re-run per token, fine for tiny models and short answers). src/generate/ is the real generation module.
import type { LlamaModel } from '../model/llama.js';

export interface GreedyOptions {
  maxNewTokens: number;
  /** Generation stops after emitting one of these ids (included in the result). */
  stopIds: readonly number[];
}

/** Greedy continuation of `promptIds`; returns the new ids and whether a stop id ended it. */
export function greedyGenerate(model: LlamaModel, promptIds: readonly number[], opts: GreedyOptions): { ids: number[]; stopped: boolean } {
  const ids = [...promptIds];
  const out: number[] = [];
  const V = model.config.vocabSize;
  const maxLen = model.config.maxPositionEmbeddings;
  for (let n = 0; n < opts.maxNewTokens && ids.length < maxLen; n++) {
    const logits = model.logits({ batch: 1, seq: ids.length, inputIds: Int32Array.from(ids) });
    const all = logits.data as Float32Array;
    const row = all.subarray((ids.length - 1) * V, ids.length * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
    logits.dispose();
    ids.push(best);
    out.push(best);
    if (opts.stopIds.includes(best)) return { ids: out, stopped: true };
  }
  return { ids: out, stopped: false };
}
