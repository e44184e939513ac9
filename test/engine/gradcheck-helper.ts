// Finite-difference gradient checking for engine ops on the reference backend.
import assert from 'node:assert/strict';
import { backward, clearTape, noGrad, Tensor } from '../../src/engine/index.js';
import { Rng } from '../../src/util/random.js';

/** A deterministic uniform [0, 1) generator (the shared mulberry32 started at `seed`) so tests are reproducible. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Uniform values in [-scale, scale). */
export function randn(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** A leaf parameter with random values. */
export function param(shape: number[], r: () => number, scale = 1, name?: string): Tensor {
  const t = Tensor.from(
    randn(
      shape.reduce((a, b) => a * b, 1),
      r,
      scale,
    ),
    shape,
  );
  t.requiresGrad = true;
  if (name) t.name = name;
  return t;
}

export interface GradcheckOpts {
  eps?: number;
  /** Largest allowed |analytic - numeric| relative to the largest |numeric| of that input. */
  tol?: number;
  seed?: number;
}

/**
 * Checks the gradients backward() gives for `inputs` against central differences of Σ f(inputs)·R for a
 * fixed random R (f32 forward, float64 sum). Returns the worst relative error seen.
 */
export function gradcheck(f: () => Tensor, inputs: Tensor[], opts: GradcheckOpts = {}): number {
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? 1e-2;
  const r = rng(opts.seed ?? 7);
  clearTape();
  for (const t of inputs) t.grad = null;
  const out = f();
  const proj = randn(out.numel, r);
  const objective = (): number => {
    clearTape(); // restarts per-step counters (dropout offsets) so every evaluation is the same function
    const y = noGrad(f);
    const d = y.toF32();
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]! * proj[i]!;
    y.dispose();
    return s;
  };
  backward(out, proj);
  let worst = 0;
  for (const t of inputs) {
    assert.ok(t.grad, `gradcheck: ${t.name ?? 'input'} got no gradient`);
    const analytic = Float32Array.from(t.grad);
    const x = t.data as Float32Array;
    const numeric = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const orig = x[i]!;
      x[i] = orig + eps;
      const plus = objective();
      x[i] = orig - eps;
      const minus = objective();
      x[i] = orig;
      numeric[i] = (plus - minus) / (2 * eps);
    }
    let maxNum = 1e-3;
    for (const v of numeric) maxNum = Math.max(maxNum, Math.abs(v));
    let maxErr = 0;
    let at = -1;
    for (let i = 0; i < x.length; i++) {
      const e = Math.abs(analytic[i]! - numeric[i]!);
      if (e > maxErr) {
        maxErr = e;
        at = i;
      }
    }
    const rel = maxErr / maxNum;
    worst = Math.max(worst, rel);
    assert.ok(
      rel < tol,
      `gradcheck ${t.name ?? 'input'}: element ${at} analytic ${analytic[at]} numeric ${numeric[at]} (relative error ${rel.toExponential(2)} >= ${tol})`,
    );
  }
  out.dispose();
  clearTape();
  return worst;
}
