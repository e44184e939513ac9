// The `sftkit dump` computation as a library call: logits, loss and the gradient of every trainable tensor for
// one batch, with LoRA dropout off. Tests compare it with golden reference dumps; the CLI writes it to a file.
import { noGrad } from '../engine/index.js';
import type { ModelBatch } from './batch.js';
import type { LlamaModel } from './llama.js';

export interface DumpTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** `logits` [B,T,V], `loss` [1], then `grad.<name>` per trainable tensor (PEFT names for LoRA, HF names for full). */
export function computeDump(model: LlamaModel, batch: ModelBatch): DumpTensor[] {
  const V = model.config.vocabSize;
  const logits = model.logits(batch);
  const trainable = model.trainableParameters();
  let loss: number;
  if (trainable.length > 0) {
    model.zeroGrad();
    loss = model.lossAndBackward(batch, { training: false }).loss;
  } else {
    loss = noGrad(() => model.loss(batch).value.toF32()[0]!);
  }
  const out: DumpTensor[] = [
    { name: 'logits', shape: [batch.batch, batch.seq, V], data: logits.toF32() },
    { name: 'loss', shape: [1], data: new Float32Array([loss]) },
  ];
  logits.dispose();
  for (const { name, tensor } of trainable) {
    out.push({
      name: `grad.${name}`,
      shape: [...tensor.shape],
      data: tensor.grad ? Float32Array.from(tensor.grad) : new Float32Array(tensor.numel),
    });
  }
  return out;
}

export interface DumpError {
  name: string;
  /** logits: max|Δ| / max|ref|; loss: |Δ| / |ref|; grads: ‖Δ‖ / ‖ref‖. */
  relError: number;
  tolerance: number;
  ok: boolean;
}

export interface Tolerances {
  logits: number;
  loss: number;
  grad: number;
}

export const FP32_TOLERANCES: Tolerances = { logits: 1e-5, loss: 1e-6, grad: 1e-4 };

function relError(name: string, ref: Float32Array, ours: Float32Array): number {
  if (name === 'logits') {
    let maxDiff = 0;
    let maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - ref[i]!));
      maxRef = Math.max(maxRef, Math.abs(ref[i]!));
    }
    return maxDiff / (maxRef || 1);
  }
  let d2 = 0;
  let r2 = 0;
  for (let i = 0; i < ref.length; i++) {
    d2 += (ours[i]! - ref[i]!) ** 2;
    r2 += ref[i]! ** 2;
  }
  return Math.sqrt(d2) / (Math.sqrt(r2) || 1);
}

/**
 * Compare a dump with a reference dump (name -> data). Every reference tensor must be present with the same
 * size (a missing one is reported with relError Infinity), and every dumped gradient must exist in the reference.
 */
export function compareDumps(
  ref: Map<string, Float32Array>,
  ours: Map<string, Float32Array>,
  tol: Tolerances = FP32_TOLERANCES,
): DumpError[] {
  const rows: DumpError[] = [];
  const names = [...new Set([...ref.keys(), ...ours.keys()])];
  for (const name of names) {
    const tolerance = name === 'logits' ? tol.logits : name === 'loss' ? tol.loss : tol.grad;
    const r = ref.get(name);
    const o = ours.get(name);
    const err = !r || !o || r.length !== o.length ? Infinity : relError(name, r, o);
    rows.push({ name, relError: err, tolerance, ok: err <= tolerance });
  }
  return rows;
}
