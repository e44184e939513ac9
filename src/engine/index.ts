// The engine's public surface: tensors, autograd, ops, backends, optimizer.
export type * from './backend.js';
export { IGNORE_INDEX } from './backend.js';
export { Tensor, type DType, type TensorData } from './tensor.js';
export { noGrad, backward, clearTape, isGradEnabled } from './tape.js';
export { checkpoint } from './checkpoint.js';
export { getBackend, setBackend } from './current-backend.js';
export { referenceBackend } from './reference-backend.js';
export { cpuBackend } from './cpu-backend.js';
export { capacityFor, poolStats, resetPoolPeak, trimPool, type PoolStats } from './pool.js';
export { AdamW, clipGradNorm, type AdamWOptions, type AdamWState } from './optim.js';
export * as ops from './ops.js';
export {
  linear,
  linearLora,
  denseBase,
  reshape,
  add,
  mulScalar,
  embedding,
  rmsnorm,
  rope,
  attention,
  swiglu,
  geglu,
  softcap,
  dropout,
  lmHeadCrossEntropy,
  logits,
  type LoraPath,
  type LinearBase,
  type BaseInputGrad,
  type LinearOpts,
  type RopeTable,
  type AttentionOpts,
  type LmHeadCrossEntropyOpts,
} from './ops.js';
