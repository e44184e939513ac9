// Autograd semantics: accumulation, noGrad, views, shared inputs, frozen bf16 weights, release of
// intermediates, and the optimizer helpers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdamW,
  add,
  backward,
  clearTape,
  clipGradNorm,
  dropout,
  linear,
  lmHeadCrossEntropy,
  mulScalar,
  noGrad,
  poolStats,
  referenceBackend,
  reshape,
  setBackend,
  swiglu,
  Tensor,
} from '../../src/engine/index.js';
import { f32ToBf16Bits, bf16BitsToF32 } from '../../src/engine/reference-backend.js';
import { tapeLength } from '../../src/engine/tape.js';
import { param, randn, rng } from './gradcheck-helper.js';

before(() => setBackend(referenceBackend));

function sum(t: Tensor): Tensor {
  // Σ t via a linear with a ones row: keeps the test on public ops
  const ones = Tensor.from(new Float32Array(t.shape[t.shape.length - 1]!).fill(1), [1, t.shape[t.shape.length - 1]!]);
  const rowSums = linear(t, ones);
  return reshape(
    linear(
      reshape(rowSums, [1, rowSums.numel]),
      Tensor.from(new Float32Array(rowSums.numel).fill(1), [1, rowSums.numel]),
    ),
    [],
  );
}

function near(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5, what = ''): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('gradients accumulate into leaves across backward calls until zeroGrad', () => {
  const r = rng(1);
  const x = param([4, 3], r),
    w = param([2, 3], r);
  backward(sum(linear(x, w)));
  const once = Float32Array.from(w.grad!);
  backward(sum(linear(x, w)));
  near(
    w.grad!,
    once.map((g) => 2 * g),
  );
  w.zeroGrad();
  assert.ok(w.grad!.every((g) => g === 0));
  // d(Σ x·wᵀ)/dw[j, :] = Σ_rows x
  const colSums = [0, 1, 2].map((c) => [0, 1, 2, 3].reduce((s, rr) => s + (x.data as Float32Array)[rr * 3 + c]!, 0));
  near(once, [...colSums, ...colSums]);
});

test('micro-batch accumulation through lmHeadCrossEntropy equals one big batch; seeds scale', () => {
  const r = rng(2);
  const h = param([6, 4], r),
    w = param([9, 4], r);
  const targets = Int32Array.from([1, 8, -100, 3, 0, 5]);
  backward(lmHeadCrossEntropy(h, w, targets, { normalizer: 5, rowsPerChunk: 4 }));
  const fullW = Float32Array.from(w.grad!),
    fullH = Float32Array.from(h.grad!);
  h.grad = null;
  w.grad = null;
  // two micro-batches of 3 rows; each normalised by the whole batch's 5 targets
  for (const [a, b] of [
    [0, 3],
    [3, 6],
  ] as const) {
    const part = Tensor.from((h.data as Float32Array).slice(a * 4, b * 4), [b - a, 4]);
    part.requiresGrad = true;
    backward(lmHeadCrossEntropy(part, w, targets.subarray(a, b), { normalizer: 5, rowsPerChunk: 2 }));
  }
  near(w.grad!, fullW, 1e-5, 'dW');
  w.grad = null;
  backward(lmHeadCrossEntropy(h, w, targets, { normalizer: 5 }), Float32Array.of(0.5));
  near(
    w.grad!,
    fullW.map((g) => g / 2),
    1e-5,
    'seeded dW',
  );
  near(
    h.grad!,
    fullH.map((g) => g * 0.5),
    1e-5,
    'seeded dH',
  );
});

test("noGrad records nothing and its outputs are the caller's", () => {
  const r = rng(3);
  const x = param([2, 3], r),
    w = param([2, 3], r);
  const y = noGrad(() => linear(x, w));
  assert.equal(tapeLength(), 0);
  assert.equal(y.node, null);
  assert.throws(() => backward(sum(y)), /does not depend/);
  // a later step does not dispose it
  backward(sum(linear(x, w)));
  assert.equal(y.disposed, false);
  assert.equal(y.numel, 4);
});

test('outputs made with grad enabled but nothing trainable are step-scoped, and tracking is bounded', () => {
  const w = Tensor.from(new Float32Array(4).fill(0.5), [2, 2]);
  const x = Tensor.from(new Float32Array(2048).fill(1), [1024, 2]);
  const y = linear(x, w);
  assert.equal(tapeLength(), 1);
  clearTape();
  assert.equal(y.disposed, true);
  const outs = Array.from({ length: 1500 }, () => mulScalar(x, 2));
  assert.ok(tapeLength() <= 1024, `tape holds ${tapeLength()} entries`);
  clearTape();
  assert.equal(outs[0]!.disposed, false, 'untracked outputs are left to the GC');
  assert.equal(outs[1499]!.disposed, true);
});

test('reshape is a view (shared storage) and passes gradients', () => {
  const r = rng(4);
  const x = param([2, 6], r);
  const v = reshape(x, [3, -1]);
  assert.deepEqual(v.shape, [3, 4]);
  (x.data as Float32Array)[5] = 42;
  assert.equal((v.data as Float32Array)[5], 42);
  assert.throws(() => reshape(x, [5, 2]), /cannot view/);
  const w = param([1, 4], r);
  backward(sum(linear(v, w)));
  // dΣ/dx[i] = w[i mod 4]
  const wd = w.data as Float32Array;
  near(
    x.grad!,
    Array.from({ length: 12 }, (_, i) => wd[i % 4]!),
  );
  assert.equal(x.disposed, false, 'the parameter survives the disposal of its view');
  assert.equal(v.disposed, true);
});

test('an input used twice gets both contributions', () => {
  const x = Tensor.from(Float32Array.of(0.5, -1, 2), [3]);
  x.requiresGrad = true;
  backward(sum(reshape(add(x, x), [1, 3])));
  near(x.grad!, [2, 2, 2]);
  x.grad = null;
  backward(sum(reshape(swiglu(x, x), [1, 3])));
  // d/dx (x·silu(x)) = silu(x) + x·σ(x)(1 + x(1 - σ(x)))
  const want = [0.5, -1, 2].map((z) => {
    const s = 1 / (1 + Math.exp(-z));
    return z * s + z * s * (1 + z * (1 - s));
  });
  near(x.grad!, want, 1e-5);
});

test('bf16 weights stay frozen: dX flows through the widened weight, no weight grad', () => {
  const r = rng(5);
  const wf = randn(6, r);
  const bits = Uint16Array.from(wf, (v) => f32ToBf16Bits(v));
  const w = Tensor.from(bits, [2, 3]);
  assert.equal(w.dtype, 'bf16');
  const x = param([4, 3], r);
  backward(sum(linear(x, w, null, { compute: 'f32' })));
  assert.equal(w.grad, null);
  const wWide = Array.from(bits, bf16BitsToF32);
  near(
    x.grad!,
    Array.from({ length: 12 }, (_, i) => wWide[i % 3]! + wWide[3 + (i % 3)]!),
  );
  assert.throws(() => new AdamW([w]), /only f32/);
});

test("backward disposes the step's intermediates (not the loss, nor kept tensors); clearTape too", () => {
  const r = rng(6);
  const x = Tensor.from(randn(64 * 32, r), [64, 32]);
  const w1 = param([64, 32], r, 0.2),
    w2 = param([64, 32], r, 0.2),
    head = param([50, 64], r, 0.2);
  const targets = Int32Array.from({ length: 64 }, (_, i) => (i % 7 === 0 ? -100 : i % 50));
  const step = (keep: boolean) => {
    const h = linear(x, w1);
    const a = swiglu(h, linear(x, w2));
    if (keep) a.keep();
    const loss = lmHeadCrossEntropy(a, head, targets, { normalizer: 64, rowsPerChunk: 16 });
    return { h, a, loss };
  };
  const warm = step(false);
  backward(warm.loss);
  warm.loss.dispose();
  const base = poolStats().liveBytes;
  const { h, a, loss } = step(true);
  assert.ok(poolStats().liveBytes > base);
  backward(loss);
  assert.equal(h.disposed, true);
  assert.equal(a.disposed, false);
  assert.equal(loss.disposed, false);
  assert.ok(Number.isFinite(loss.item()));
  a.dispose();
  loss.dispose();
  assert.equal(poolStats().liveBytes, base, 'every pooled buffer of the step came back');
  const s2 = step(false);
  clearTape();
  assert.equal(s2.h.disposed, true);
  assert.equal(poolStats().liveBytes, base);
  assert.throws(() => linear(s2.h, head), /disposed/);
});

test('dropout: distinct masks per call within a step, the same masks when a step repeats', () => {
  const x = Tensor.from(new Float32Array(64).fill(1), [64]);
  x.requiresGrad = true;
  const run = () => {
    const a = dropout(x, 0.5, 9),
      b = dropout(x, 0.5, 9);
    const out = [a.toF32(), b.toF32()];
    clearTape();
    return out;
  };
  const [a1, b1] = run();
  const [a2, b2] = run();
  assert.notDeepEqual(a1, b1);
  assert.deepEqual(a1, a2);
  assert.deepEqual(b1, b2);
  const same = dropout(x, 0, 1);
  assert.equal(same.data, x.data, 'p = 0 is a view');
  clearTape();
});

test('AdamW: matches the backend kernel, excludes no-decay params, state round-trips', () => {
  const r = rng(7);
  const mk = () => {
    const rr = rng(8);
    const a = param([5], rr),
      b = param([3], rr);
    return [a, b] as const;
  };
  const grads = [randn(5, r), randn(3, r), randn(5, r), randn(3, r)];
  const [a, b] = mk();
  const opt = new AdamW([a, b], { lr: 0.1, weightDecay: 0.5, noDecay: [b] });
  a.grad = Float32Array.from(grads[0]!);
  b.grad = Float32Array.from(grads[1]!);
  opt.step();
  // by hand with the reference kernel
  const [ea, eb] = mk();
  const m = [new Float32Array(5), new Float32Array(3)],
    v = [new Float32Array(5), new Float32Array(3)];
  referenceBackend.adamw(ea.data as Float32Array, grads[0]!, m[0]!, v[0]!, {
    lr: 0.1,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0.5,
    step: 1,
  });
  referenceBackend.adamw(eb.data as Float32Array, grads[1]!, m[1]!, v[1]!, {
    lr: 0.1,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    step: 1,
  });
  assert.deepEqual(a.data, ea.data);
  assert.deepEqual(b.data, eb.data);
  // save, step, restore into a fresh optimizer over copies, step again: identical
  const saved = opt.state();
  const snapshot = { steps: saved.steps, m: saved.m.map((x) => x.slice()), v: saved.v.map((x) => x.slice()) };
  const [c, d] = [
    Tensor.from((a.data as Float32Array).slice(), [5]),
    Tensor.from((b.data as Float32Array).slice(), [3]),
  ];
  a.grad = Float32Array.from(grads[2]!);
  b.grad = Float32Array.from(grads[3]!);
  opt.step(0.05);
  const opt2 = new AdamW([c, d], { lr: 0.1, weightDecay: 0.5, noDecay: (p) => p === d });
  opt2.loadState(snapshot);
  c.grad = Float32Array.from(grads[2]!);
  d.grad = Float32Array.from(grads[3]!);
  opt2.step(0.05);
  assert.deepEqual(c.data, a.data);
  assert.deepEqual(d.data, b.data);
  opt.zeroGrad();
  assert.ok(a.grad!.every((g) => g === 0));
  assert.throws(() => opt2.loadState({ steps: [1], m: [new Float32Array(5)], v: [new Float32Array(5)] }), /parameters/);
});

test('clipGradNorm returns the pre-clip norm and scales only when above the limit', () => {
  const a = Tensor.from(new Float32Array(2), [2]),
    b = Tensor.from(new Float32Array(1), [1]);
  a.grad = Float32Array.of(3, 0);
  b.grad = Float32Array.of(4);
  assert.equal(clipGradNorm([a, b], 10), 5);
  assert.deepEqual([...a.grad, ...b.grad], [3, 0, 4]);
  assert.equal(clipGradNorm([a, b], 1), 5);
  near([...a.grad, ...b.grad], [0.6, 0, 0.8], 1e-6);
});

test('shape and dtype errors name the op', () => {
  const r = rng(9);
  const x = param([2, 3], r),
    w = param([4, 5], r);
  assert.throws(() => linear(x, w), /linear: x \[2, 3\] does not match w \[4, 5\]/);
  assert.throws(() => add(x, w), /add: shapes/);
  assert.throws(() => mulScalar(Tensor.zeros([2], 'i32'), 2), /mulScalar: x must be f32/);
  assert.throws(() => lmHeadCrossEntropy(x, param([7, 3], r), Int32Array.of(0, 1), { normalizer: 0 }), /normalizer/);
  clearTape();
});
