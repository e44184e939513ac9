// linearLora (base + LoRA in one node) against its definition, and the narrow weight-gradient kernel
// (gemmNarrow) against the float64 reference on every ISA this CPU runs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  add,
  backward,
  cpuBackend,
  denseBase,
  dropout,
  getBackend,
  linear,
  linearLora,
  lmHeadCrossEntropy,
  mulScalar,
  referenceBackend,
  setBackend,
  Tensor,
  type LinearBase,
} from '../../src/engine/index.js';
import { loadNative } from '../../src/engine/native.js';
import { gradcheck, param, randn, rng } from './gradcheck-helper.js';
import { KERNEL_TABLE_ISAS } from '../helpers/isa.js';

const native = loadNative();
const initialIsa: string = native.isa();
const initialThreads: number = native.threads();
after(() => {
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
  setBackend(cpuBackend());
});

test('linearLora gradients match finite differences (bias, full fine-tuning under an adapter, dropout input)', () => {
  setBackend(referenceBackend);
  try {
    const r = rng(11);
    const x = param([2, 3, 6], r, 1, 'x'),
      w = param([5, 6], r, 1, 'w'),
      bias = param([5], r, 1, 'bias');
    const a = param([3, 6], r, 1, 'a'),
      b = param([5, 3], r, 1, 'b');
    gradcheck(() => linearLora(x, w, bias, { a, b, scale: 1.7 }), [x, w, bias, a, b]);
    // Frozen base, the low-rank path reading dropout(x): x gets dY·W plus the dropout-masked dH·A.
    gradcheck(() => linearLora(x, w, null, { a, b, scale: 0.5, input: dropout(x, 0.4, 9) }), [x, a, b]);
  } finally {
    setBackend(cpuBackend());
  }
});

test('linearLora equals linear + linear·linear·scale + add (outputs and every gradient)', () => {
  const r = rng(12);
  const rows = 37,
    inF = 40,
    outF = 24,
    rank = 4,
    scale = 2.5;
  const make = () => {
    const x = param([rows, inF], r, 1, 'x'),
      w = param([outF, inF], r, 0.3, 'w');
    const a = param([rank, inF], r, 0.3, 'a'),
      b = param([outF, rank], r, 0.3, 'b');
    return { x, w, a, b };
  };
  const p = make();
  const clone = (t: Tensor) =>
    Object.assign(Tensor.from(Float32Array.from(t.data as Float32Array), t.shape), { requiresGrad: true });
  const q = { x: clone(p.x), w: clone(p.w), a: clone(p.a), b: clone(p.b) };
  const seed = randn(rows * outF, r);

  const fused = linearLora(p.x, p.w, null, { a: p.a, b: p.b, scale }, { compute: 'f32' });
  const yFused = fused.toF32();
  backward(fused, seed);
  const h = linear(q.x, q.a, null, { compute: 'f32' });
  const composite = add(
    linear(q.x, q.w, null, { compute: 'f32' }),
    mulScalar(linear(h, q.b, null, { compute: 'f32' }), scale),
  );
  const yComposite = composite.toF32();
  backward(composite, seed);

  const close = (got: Float32Array, want: Float32Array, label: string) => {
    let scaleMax = 1e-6;
    for (const v of want) scaleMax = Math.max(scaleMax, Math.abs(v));
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * scaleMax, `${label}[${i}]: ${got[i]} vs ${want[i]}`);
    }
  };
  close(yFused, yComposite, 'y');
  for (const k of ['x', 'w', 'a', 'b'] as const) close(p[k].grad!, q[k].grad!, `d${k}`);
});

test('a pluggable LinearBase runs the same LoRA path as a dense weight: outputs and gradients bit for bit', () => {
  // A frozen base that computes x·Wᵀ and dY·W itself, as src/quant's 4-bit weight does, against the same frozen W
  // given as a tensor: the adapter half (rank-wide products on gemmNarrow included) must not depend on the base.
  const r = rng(14);
  const rows = 96,
    inF = 48,
    outF = 40,
    rank = 8;
  const w = param([outF, inF], r, 0.3, 'w');
  w.requiresGrad = false;
  const bias = param([outF], r, 0.3, 'bias');
  const run = (base: Tensor | LinearBase, input: 'x' | 'dropout') => {
    const rr = rng(15);
    const x = param([rows, inF], rr, 1, 'x');
    const a = param([rank, inF], rr, 0.3, 'a'),
      b = param([outF, rank], rr, 0.3, 'b');
    bias.grad = null;
    const xl = input === 'dropout' ? dropout(x, 0.25, 3) : null;
    const y = linear(x, base, bias, { compute: 'bf16', lora: { a, b, scale: 1.5, input: xl } });
    const out = y.toF32();
    backward(y, randn(rows * outF, rng(16)));
    return [out, x.grad!, a.grad!, b.grad!, bias.grad!];
  };
  const frozen: LinearBase = { ...denseBase(w), weight: null };
  for (const input of ['x', 'dropout'] as const) {
    const want = run(w, input);
    const got = run(frozen, input);
    ['y', 'dx', 'da', 'db', 'dbias'].forEach((label, i) =>
      assert.deepEqual(new Uint32Array(got[i]!.buffer), new Uint32Array(want[i]!.buffer), `${label} (${input})`),
    );
  }
});

test('gemmNarrow matches the reference on every ISA, odd shapes, both layouts, alpha and accumulate; threads give the same bits', () => {
  const isas = KERNEL_TABLE_ISAS;
  const be = cpuBackend();
  assert.ok(be.gemmNarrow, 'the native backend has gemmNarrow');
  const r = rng(13);
  // [m, n, k]: LoRA dA (m = rank) and dB (n = rank) shapes, partial vectors, a lone partial vector, k = 0.
  const shapes: [number, number, number][] = [
    [16, 96, 37],
    [45, 16, 33],
    [8, 8, 5],
    [3, 21, 70],
    [13, 40, 9],
    [5, 7, 0],
    [70, 3, 300],
    [24, 112, 160],
  ];
  for (const isa of isas) {
    native.setIsa(isa);
    for (const [m, n, k] of shapes) {
      for (const [transA, accumulate] of [
        [true, false],
        [true, true],
        [false, false],
        [false, true],
      ] as const) {
        const a = randn(k * m, r),
          b = randn(k * n, r),
          c0 = randn(m * n, r);
        const want = Float32Array.from(c0);
        referenceBackend.gemmNarrow!(transA, a, b, want, m, n, k, 0.75, accumulate);
        const got = Float32Array.from(c0);
        native.setThreads(2);
        be.gemmNarrow!(transA, a, b, got, m, n, k, 0.75, accumulate);
        for (let i = 0; i < want.length; i++) {
          assert.ok(
            Math.abs(got[i]! - want[i]!) <= 1e-5 + 1e-5 * Math.abs(want[i]!) * Math.sqrt(k + 1),
            `${isa} [${m},${n},${k}] transA=${transA} acc=${accumulate} c[${i}]: ${got[i]} vs ${want[i]}`,
          );
        }
        const one = Float32Array.from(c0);
        native.setThreads(1);
        be.gemmNarrow!(transA, a, b, one, m, n, k, 0.75, accumulate);
        assert.deepEqual(
          new Uint32Array(one.buffer),
          new Uint32Array(got.buffer),
          `${isa} [${m},${n},${k}] transA=${transA}: 1 and 2 threads differ`,
        );
      }
    }
  }
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
  assert.throws(
    () => be.gemmNarrow!(true, new Float32Array(4), new Float32Array(4), new Float32Array(3), 2, 2, 2, 1, false),
    /'c' has 3 elements, expected 4/,
  );
  const shared = new Float32Array(8);
  assert.throws(
    () => be.gemmNarrow!(false, shared.subarray(0, 4), new Float32Array(4), shared.subarray(2, 6), 2, 2, 2, 1, false),
    /must not share memory/,
  );
  assert.equal(getBackend().name, 'cpu');
});

test('lmHeadCrossEntropy skips ignored rows: all ignored gives loss 0 and zero gradients', () => {
  const r = rng(14);
  const hidden = param([3, 4], r, 1, 'hidden'),
    w = param([5, 4], r, 1, 'w');
  const loss = lmHeadCrossEntropy(hidden, w, Int32Array.from([-100, -100, -100]), { normalizer: 1 });
  assert.equal(loss.item(), 0);
  backward(loss);
  assert.deepEqual([...hidden.grad!], new Array(12).fill(0));
  assert.deepEqual([...w.grad!], new Array(20).fill(0));
});
