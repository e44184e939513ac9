// AdamW over a list of f32 parameter tensors (PyTorch semantics, run by the backend's fused kernel),
// and global gradient-norm clipping.
import { getBackend } from './current-backend.js';
import type { Tensor } from './tensor.js';

export interface AdamWOptions {
  /** Default learning rate when step() gets none. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Parameters that get no weight decay (norm weights, biases...): a list or a predicate. */
  noDecay?: readonly Tensor[] | ((p: Tensor) => boolean);
}

/** Optimizer state for checkpoints: per parameter, in the order of the params list. */
export interface AdamWState {
  /** Update count of each parameter (PyTorch keeps one per parameter too). */
  steps: number[];
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly params: readonly Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decays: boolean[];
  private m: Float32Array[];
  private v: Float32Array[];
  private steps: number[];

  constructor(params: readonly Tensor[], opts: AdamWOptions = {}) {
    for (const p of params) {
      if (p.dtype !== 'f32')
        throw new Error(`AdamW: parameter ${p.name ?? ''} is ${p.dtype}; only f32 parameters can be trained`);
    }
    this.params = [...params];
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    const nd = opts.noDecay;
    const excluded =
      typeof nd === 'function'
        ? nd
        : (
            (set) => (p: Tensor) =>
              set.has(p)
          )(new Set(nd ?? []));
    this.decays = this.params.map((p) => !excluded(p));
    this.m = this.params.map((p) => new Float32Array(p.numel));
    this.v = this.params.map((p) => new Float32Array(p.numel));
    this.steps = this.params.map(() => 0);
  }

  /** One update of every parameter that has a gradient (parameters without one are skipped, like PyTorch). */
  step(lr: number = this.lr): void {
    const be = getBackend();
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      this.steps[i]!++;
      be.adamw(p.data as Float32Array, p.grad, this.m[i]!, this.v[i]!, {
        lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.decays[i] ? this.weightDecay : 0,
        step: this.steps[i]!,
      });
    });
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The live state arrays (not copies): serialize them before the next step. */
  state(): AdamWState {
    return { steps: [...this.steps], m: this.m, v: this.v };
  }

  loadState(s: AdamWState): void {
    const n = this.params.length;
    if (s.steps.length !== n || s.m.length !== n || s.v.length !== n) {
      throw new Error(`AdamW.loadState: state has ${s.m.length} parameters, optimizer ${n}`);
    }
    this.params.forEach((p, i) => {
      if (s.m[i]!.length !== p.numel || s.v[i]!.length !== p.numel) {
        throw new Error(
          `AdamW.loadState: parameter ${i}${p.name ? ` (${p.name})` : ''} has ${p.numel} elements, state ${s.m[i]!.length}`,
        );
      }
      this.m[i]!.set(s.m[i]!);
      this.v[i]!.set(s.v[i]!);
      this.steps[i] = s.steps[i]!;
    });
  }
}

/**
 * Scales all gradients so their global L2 norm is at most maxNorm (PyTorch clip_grad_norm_:
 * coefficient maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  const be = getBackend();
  let sum = 0;
  for (const p of params) if (p.grad) sum += be.sumSquares(p.grad);
  const norm = Math.sqrt(sum);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const p of params) if (p.grad) be.scale(p.grad, coef);
  return norm;
}
