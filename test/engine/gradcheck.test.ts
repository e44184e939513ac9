// Finite-difference checks of every op's backward on the reference backend, then of a whole tiny
// transformer block built from them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  add,
  attention,
  backward,
  clearTape,
  cpuBackend,
  dropout,
  embedding,
  linear,
  lmHeadCrossEntropy,
  logits,
  mulScalar,
  referenceBackend,
  reshape,
  rmsnorm,
  rope,
  setBackend,
  swiglu,
  Tensor,
  type Backend,
  type RopeTable,
} from '../../src/engine/index.js';
import { isMissingKernel, skipForMissingNative } from '../helpers/native.js';
import { gradcheck, param, rng } from './gradcheck-helper.js';

before(() => setBackend(referenceBackend));

function ropeTable(rotaryDim: number, maxPositions: number, theta = 10000): RopeTable {
  const half = rotaryDim / 2;
  const cos = new Float32Array(maxPositions * half),
    sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const a = p / theta ** ((2 * i) / rotaryDim);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin, rotaryDim, maxPositions };
}

test('linear (x, w, bias) and logits', () => {
  const r = rng(1);
  const x = param([5, 4], r, 1, 'x'),
    w = param([3, 4], r, 1, 'w'),
    b = param([3], r, 1, 'b');
  gradcheck(() => linear(x, w, b), [x, w, b]);
  gradcheck(() => logits(x, w), [x, w]);
  // 3-d input: leading dimensions flatten
  const x3 = param([2, 3, 4], r, 1, 'x3');
  gradcheck(() => linear(x3, w), [x3, w]);
});

test('add, mulScalar, reshape', () => {
  const r = rng(2);
  const a = param([3, 4], r, 1, 'a'),
    b = param([12], r, 1, 'b');
  gradcheck(() => add(a, reshape(b, [3, 4])), [a, b]);
  gradcheck(() => mulScalar(reshape(a, [4, -1]), -1.7), [a]);
  gradcheck(() => add(a, a), [a]);
});

test('embedding (repeated ids)', () => {
  const r = rng(3);
  const table = param([5, 3], r, 1, 'table');
  gradcheck(() => embedding(table, Int32Array.from([1, 4, 1, 0])), [table]);
});

test('rmsnorm (x, w)', () => {
  const r = rng(4);
  const x = param([3, 6], r, 1, 'x'),
    w = param([6], r, 1, 'w');
  gradcheck(() => rmsnorm(x, w, 1e-5), [x, w]);
});

test('rope (partial rotary dims, [N, H*hd] layout)', () => {
  const r = rng(5);
  const x = param([3, 2 * 6], r, 1, 'x');
  gradcheck(() => rope(x, Int32Array.from([4, 0, 9]), 2, 6, ropeTable(4, 10)), [x]);
});

test('attention (causal, GQA, segment ids)', () => {
  const r = rng(6);
  const B = 2,
    T = 4,
    H = 4,
    Hkv = 2,
    hd = 3;
  const q = param([B * T, H * hd], r, 1, 'q'),
    k = param([B * T, Hkv * hd], r, 1, 'k'),
    v = param([B * T, Hkv * hd], r, 1, 'v');
  const segmentIds = Int32Array.from([0, 0, 1, 1, 2, 2, 2, 2]);
  gradcheck(
    () =>
      attention(q, k, v, {
        batch: B,
        seq: T,
        heads: H,
        kvHeads: Hkv,
        headDim: hd,
        scale: 1 / Math.sqrt(hd),
        segmentIds,
      }),
    [q, k, v],
  );
  gradcheck(() => attention(q, k, v, { batch: B, seq: T, heads: H, kvHeads: Hkv, headDim: hd, scale: 0.7 }), [q, k, v]);
});

test('swiglu (separate and shared inputs)', () => {
  const r = rng(7);
  const g = param([10], r, 3, 'g'),
    u = param([10], r, 1, 'u');
  gradcheck(() => swiglu(g, u), [g, u]);
  gradcheck(() => swiglu(g, g), [g]);
});

test('dropout', () => {
  const r = rng(8);
  const x = param([40], r, 1, 'x');
  gradcheck(() => dropout(mulScalar(dropout(x, 0.3, 5), 1), 0.5, 5), [x]);
});

test('lmHeadCrossEntropy (chunks, ignored targets, seed scaling)', () => {
  const r = rng(9);
  const hidden = param([5, 4], r, 1, 'hidden'),
    w = param([7, 4], r, 1, 'w');
  const targets = Int32Array.from([1, 2, -100, 6, 0]);
  gradcheck(() => lmHeadCrossEntropy(hidden, w, targets, { normalizer: 4, rowsPerChunk: 2 }), [hidden, w]);
  gradcheck(() => lmHeadCrossEntropy(hidden, w, targets, { normalizer: 3 }), [hidden, w]);
});

test('lmHeadCrossEntropy loss equals CE over full logits', () => {
  const r = rng(10);
  const hidden = param([4, 3], r, 2),
    w = param([6, 3], r, 2);
  const targets = Int32Array.from([5, -100, 0, 2]);
  const loss = lmHeadCrossEntropy(hidden, w, targets, { normalizer: 2, rowsPerChunk: 3 }).item();
  const lg = logits(hidden, w).toF32();
  let want = 0;
  for (let i = 0; i < 4; i++) {
    if (targets[i] === -100) continue;
    const row = lg.subarray(i * 6, i * 6 + 6);
    const lse = Math.log(row.reduce((s, z) => s + Math.exp(z), 0));
    want += lse - row[targets[i]!]!;
  }
  assert.ok(Math.abs(loss - want / 2) < 1e-5, `${loss} vs ${want / 2}`);
});

/** A tiny transformer block (every op) ending in the fused LM-head loss; returns its params and forward. */
function tinyBlock(seed: number): { params: Tensor[]; forward: () => Tensor } {
  const r = rng(seed);
  const V = 7,
    D = 8,
    H = 2,
    Hkv = 1,
    hd = 4,
    Fh = 6,
    B = 2,
    T = 3;
  const emb = param([V, D], r, 1, 'emb');
  const n1 = param([D], r, 1, 'n1'),
    n2 = param([D], r, 1, 'n2');
  const wq = param([H * hd, D], r, 0.5, 'wq'),
    wk = param([Hkv * hd, D], r, 0.5, 'wk'),
    wv = param([Hkv * hd, D], r, 0.5, 'wv');
  const wo = param([D, H * hd], r, 0.5, 'wo');
  const wg = param([Fh, D], r, 0.5, 'wg'),
    wu = param([Fh, D], r, 0.5, 'wu'),
    wd = param([D, Fh], r, 0.5, 'wd');
  const head = param([V, D], r, 0.5, 'head');
  const ids = Int32Array.from([1, 3, 5, 6, 0, 2]);
  const positions = Int32Array.from([0, 1, 2, 0, 1, 2]);
  const targets = Int32Array.from([3, 5, -100, 0, 2, 4]);
  const segmentIds = Int32Array.from([0, 0, 0, 4, 5, 5]);
  const table = ropeTable(hd, 4);
  const forward = (): Tensor => {
    const x = embedding(emb, ids);
    const h = rmsnorm(x, n1, 1e-5);
    const q = rope(linear(h, wq), positions, H, hd, table);
    const k = rope(linear(h, wk), positions, Hkv, hd, table);
    const a = attention(q, k, linear(h, wv), {
      batch: B,
      seq: T,
      heads: H,
      kvHeads: Hkv,
      headDim: hd,
      scale: 1 / Math.sqrt(hd),
      segmentIds,
    });
    const x2 = add(x, linear(a, wo));
    const h2 = rmsnorm(x2, n2, 1e-5);
    const x3 = add(x2, linear(dropout(swiglu(linear(h2, wg), linear(h2, wu)), 0.2, 3), wd));
    return lmHeadCrossEntropy(x3, head, targets, { normalizer: 5, rowsPerChunk: 4 });
  };
  return { params: [emb, n1, n2, wq, wk, wv, wo, wg, wu, wd, head], forward };
}

test('a tiny transformer block end to end (every parameter)', () => {
  const { params, forward } = tinyBlock(11);
  gradcheck(forward, params, { tol: 2e-2 });
});

let native: Backend | null = null;
let nativeMissing = '';
try {
  native = cpuBackend();
} catch (e) {
  nativeMissing = (e as Error).message;
}

test('the native backend gives the reference loss and gradients on the tiny block', (t) => {
  if (!native) return t.skip(skipForMissingNative(`native addon unavailable: ${nativeMissing}`));
  const run = (be: Backend) => {
    setBackend(be);
    clearTape(); // dropout offsets restart, so both runs draw the same masks
    const { params, forward } = tinyBlock(12);
    const loss = forward();
    const value = loss.item();
    backward(loss);
    return { value, grads: params.map((p) => p.grad!) };
  };
  const want = run(referenceBackend);
  let got;
  try {
    got = run(native!);
  } catch (e) {
    setBackend(referenceBackend);
    clearTape();
    if (isMissingKernel(e)) return t.skip(skipForMissingNative((e as Error).message));
    throw e;
  }
  setBackend(referenceBackend);
  assert.ok(Math.abs(got.value - want.value) < 1e-5 * Math.abs(want.value), `loss ${got.value} vs ${want.value}`);
  want.grads.forEach((g, i) => {
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    g.forEach((v, j) =>
      assert.ok(
        Math.abs(got.grads[i]![j]! - v) <= 1e-4 * scale,
        `param ${i} element ${j}: ${got.grads[i]![j]} vs ${v}`,
      ),
    );
  });
});
