// The float64 reference backend against PyTorch golden values and against its own definitions, then the
// native CPU backend against the reference, kernel by kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, GemmArgs } from '../../src/engine/index.js';
import { cpuBackend, referenceBackend as ref } from '../../src/engine/index.js';
import { bf16BitsToF32, f32ToBf16Bits, roundToBf16 } from '../../src/engine/reference-backend.js';
import { packageRoot } from '../../src/util/paths.js';
import { isMissingKernel, skipForMissingNative } from '../helpers/native.js';
import { randn, rng } from './gradcheck-helper.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const golden: Record<string, any> = JSON.parse(
  readFileSync(join(packageRoot(), 'test/fixtures/engine/golden.json'), 'utf8'),
);

/** Asserts max|actual - expected| <= atol + rtol·max|expected|. */
function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number | null>,
  rtol: number,
  atol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] ?? -Infinity;
    const a = actual[i]!;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      assert.ok(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `${what}[${i}]: ${a} vs ${e}`);
      continue;
    }
    assert.ok(Math.abs(a - e) <= atol + rtol * scale, `${what}[${i}]: ${a} vs ${e} (scale ${scale})`);
  }
}

const F = (a: number[] | Float32Array) => Float32Array.from(a);

// ---- gemm ---------------------------------------------------------------------------------------------

test('gemm: a known product, alpha and accumulate', () => {
  // [[1,2,3],[4,5,6]] · [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
  const c = F([100, 100, 100, 100]);
  ref.gemm({ transA: false, transB: false, m: 2, n: 2, k: 3, a: F([1, 2, 3, 4, 5, 6]), b: F([1, 0, 0, 1, 1, 1]), c });
  assert.deepEqual([...c], [4, 5, 10, 11]);
  ref.gemm({
    transA: false,
    transB: false,
    m: 2,
    n: 2,
    k: 3,
    a: F([1, 2, 3, 4, 5, 6]),
    b: F([1, 0, 0, 1, 1, 1]),
    c,
    accumulate: true,
    alpha: 0.5,
  });
  assert.deepEqual([...c], [6, 7.5, 15, 16.5]);
});

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

/** Copies [rows, cols] into a [rows, ld] layout padded with NaN (which must never be read). */
function pad(x: Float32Array, rows: number, cols: number, ld: number): Float32Array {
  const out = new Float32Array(rows * ld).fill(NaN);
  for (let i = 0; i < rows; i++) out.set(x.subarray(i * cols, (i + 1) * cols), i * ld);
  return out;
}

test('gemm: transposes, leading dimensions and strided batches agree with the plain product', () => {
  const r = rng(1);
  const m = 3,
    n = 4,
    k = 5;
  const a = randn(m * k, r),
    b = randn(k * n, r);
  const plain = new Float32Array(m * n);
  ref.gemm({ transA: false, transB: false, m, n, k, a, b, c: plain });
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const aS = transA ? transpose(a, m, k) : a;
      const bS = transB ? transpose(b, k, n) : b;
      const [aRows, aCols] = transA ? [k, m] : [m, k];
      const [bRows, bCols] = transB ? [n, k] : [k, n];
      const c = pad(new Float32Array(m * n), m, n, n + 2);
      ref.gemm({
        transA,
        transB,
        m,
        n,
        k,
        a: pad(aS, aRows, aCols, aCols + 3),
        b: pad(bS, bRows, bCols, bCols + 1),
        c,
        lda: aCols + 3,
        ldb: bCols + 1,
        ldc: n + 2,
      });
      for (let i = 0; i < m; i++) {
        close(
          c.subarray(i * (n + 2), i * (n + 2) + n),
          plain.subarray(i * n, (i + 1) * n),
          1e-6,
          0,
          `transA=${transA} transB=${transB} row ${i}`,
        );
        assert.ok(Number.isNaN(c[i * (n + 2) + n]!), 'padding of C untouched');
      }
    }
  }
  // batch of 2 with gaps between items
  const a2 = new Float32Array(2 * (m * k + 1)),
    b2 = new Float32Array(2 * (k * n + 2)),
    c2 = new Float32Array(2 * (m * n + 3));
  const a1 = randn(m * k, r),
    b1 = randn(k * n, r);
  a2.set(a, 0);
  a2.set(a1, m * k + 1);
  b2.set(b, 0);
  b2.set(b1, k * n + 2);
  ref.gemm({
    transA: false,
    transB: false,
    m,
    n,
    k,
    a: a2,
    b: b2,
    c: c2,
    batch: 2,
    strideA: m * k + 1,
    strideB: k * n + 2,
    strideC: m * n + 3,
  });
  const second = new Float32Array(m * n);
  ref.gemm({ transA: false, transB: false, m, n, k, a: a1, b: b1, c: second });
  close(c2.subarray(0, m * n), plain, 1e-6, 0, 'batch item 0');
  close(c2.subarray(m * n + 3, 2 * m * n + 3), second, 1e-6, 0, 'batch item 1');
});

test('gemm: bf16 compute rounds both operands first; a bf16 operand widens exactly under f32 compute', () => {
  const r = rng(2);
  const m = 2,
    n = 3,
    k = 4;
  const a = randn(m * k, r),
    b = randn(k * n, r);
  const aR = a.map(roundToBf16),
    bR = b.map(roundToBf16);
  const want = new Float32Array(m * n),
    got = new Float32Array(m * n);
  ref.gemm({ transA: false, transB: false, m, n, k, a: aR, b: bR, c: want });
  ref.gemm({ transA: false, transB: false, m, n, k, a, b, c: got, compute: 'bf16' });
  assert.deepEqual(got, want);
  const bBits = new Uint16Array(b.length);
  ref.f32ToBf16(b, bBits);
  ref.gemm({ transA: false, transB: false, m, n, k, a: aR, b: bBits, c: got, compute: 'f32' });
  assert.deepEqual(got, want);
  // default compute with a bf16 operand is bf16: a is rounded too
  ref.gemm({ transA: false, transB: false, m, n, k, a, b: bBits, c: got });
  assert.deepEqual(got, want);
});

// ---- conversions --------------------------------------------------------------------------------------

function bitsToF32(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

test('bf16 conversion: round-to-nearest-even, NaN kept, overflow to Inf', () => {
  assert.equal(f32ToBf16Bits(bitsToF32(0x3f808000)), 0x3f80); // tie, even stays
  assert.equal(f32ToBf16Bits(bitsToF32(0x3f818000)), 0x3f82); // tie, odd rounds up
  assert.equal(f32ToBf16Bits(bitsToF32(0x3f808001)), 0x3f81); // above the tie
  assert.equal(f32ToBf16Bits(bitsToF32(0x3f807fff)), 0x3f80);
  assert.equal(f32ToBf16Bits(-0), 0x8000);
  assert.equal(f32ToBf16Bits(Infinity), 0x7f80);
  assert.equal(f32ToBf16Bits(-Infinity), 0xff80);
  assert.equal(f32ToBf16Bits(bitsToF32(0x7f7fffff)), 0x7f80); // FLT_MAX rounds to Inf
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(bitsToF32(0x7f800001))))); // NaN with only low payload bits
  assert.equal(f32ToBf16Bits(bitsToF32(0x00018000)), 0x0002); // subnormal tie to even
  const bits = new Uint16Array(3);
  ref.f32ToBf16(F([1, -2.5, 3.140625]), bits);
  const back = new Float32Array(3);
  ref.bf16ToF32(bits, back);
  assert.deepEqual([...back], [1, -2.5, 3.140625]);
});

// ---- golden values from PyTorch -----------------------------------------------------------------------

/**
 * Every golden attention case through `be`: forward to 1e-5, backward to `backwardRtol`. With `poisonGrads`, the
 * gradient buffers start as NaN so an element the kernel never writes fails.
 */
function checkAttentionGolden(be: Backend, backwardRtol: number, poisonGrads: boolean): void {
  for (const [ci, g] of (golden.attention as (typeof golden)[]).entries()) {
    const shape = {
      batch: g.batch,
      qLen: g.qLen,
      kvLen: g.kvLen,
      heads: g.heads,
      kvHeads: g.kvHeads,
      headDim: g.headDim,
      scale: g.scale,
      kvBatchStride: g.kvBatchStride,
      qSeg: g.qSeg ? Int32Array.from(g.qSeg) : null,
      kSeg: g.kSeg ? Int32Array.from(g.kSeg) : null,
    };
    const q = F(g.q),
      k = F(g.k),
      v = F(g.v);
    const out = new Float32Array(q.length),
      lse = new Float32Array(g.batch * g.heads * g.qLen);
    be.attentionForward({ ...shape, q, k, v, out, lse });
    close(out, g.out, 1e-5, 1e-6, `case ${ci} out`);
    close(lse, g.lse, 1e-5, 1e-6, `case ${ci} lse`);
    const grad = (n: number) => (poisonGrads ? new Float32Array(n).fill(NaN) : new Float32Array(n));
    const dq = grad(q.length),
      dk = grad(k.length),
      dv = grad(v.length);
    be.attentionBackward({ ...shape, q, k, v, out, lse, dout: F(g.dout), dq, dk, dv });
    close(dq, g.dq, backwardRtol, 1e-6, `case ${ci} dq`);
    close(dk, g.dk, backwardRtol, 1e-6, `case ${ci} dk`);
    close(dv, g.dv, backwardRtol, 1e-6, `case ${ci} dv`);
  }
}

test('attention forward/backward match PyTorch (causal, GQA, segments, qLen < kvLen, kv batch stride, empty rows)', () => {
  checkAttentionGolden(ref, 1e-5, true);
  // case 1 has a query that sees no key: zeros and lse = -Infinity
  assert.ok((golden.attention[1].lse as (number | null)[]).includes(null));
});

test('rmsnorm forward/backward match PyTorch; dw accumulates', () => {
  const g = golden.rmsnorm;
  const y = new Float32Array(g.rows * g.dim),
    rstd = new Float32Array(g.rows);
  ref.rmsnormForward(F(g.x), F(g.w), g.rows, g.dim, g.eps, y, rstd);
  close(y, g.y, 1e-6, 0, 'y');
  close(rstd, g.rstd, 1e-6, 0, 'rstd');
  const dx = new Float32Array(y.length).fill(NaN),
    dw = new Float32Array(g.dim).fill(1);
  ref.rmsnormBackward(F(g.dy), F(g.x), F(g.w), rstd, g.rows, g.dim, dx, dw);
  close(dx, g.dx, 1e-5, 0, 'dx');
  close(
    dw,
    (g.dw as number[]).map((d) => d + 1),
    1e-5,
    0,
    'dw',
  );
  // a bf16 weight reads as its widened value
  const wBits = new Uint16Array(g.dim);
  ref.f32ToBf16(F(g.w), wBits);
  const yb = new Float32Array(y.length),
    yw = new Float32Array(y.length);
  ref.rmsnormForward(F(g.x), wBits, g.rows, g.dim, g.eps, yb, rstd);
  ref.rmsnormForward(F(g.x), F(g.w).map(roundToBf16), g.rows, g.dim, g.eps, yw, rstd);
  assert.deepEqual(yb, yw);
});

test('rope matches HF rotate-half (partial rotary dims); inverse undoes it', () => {
  const g = golden.rope;
  const x = F(g.x);
  ref.rope(x, Int32Array.from(g.positions), g.tokens, g.heads, g.headDim, g.rotaryDim, F(g.cos), F(g.sin), false);
  close(x, g.y, 1e-6, 0, 'rope');
  ref.rope(x, Int32Array.from(g.positions), g.tokens, g.heads, g.headDim, g.rotaryDim, F(g.cos), F(g.sin), true);
  close(x, g.x, 1e-6, 0, 'inverse');
});

test('swiglu forward/backward match PyTorch', () => {
  const g = golden.swiglu;
  const out = new Float32Array(g.g.length),
    dg = new Float32Array(out.length),
    du = new Float32Array(out.length);
  ref.swigluForward(F(g.g), F(g.u), out);
  close(out, g.out, 1e-6, 0, 'out');
  ref.swigluBackward(F(g.dout), F(g.g), F(g.u), dg, du);
  close(dg, g.dg, 1e-6, 0, 'dg');
  close(du, g.du, 1e-6, 0, 'du');
});

test('crossEntropy matches PyTorch (ignore -100, grad in place, gradScale)', () => {
  const g = golden.crossEntropy;
  const logits = F(g.logits),
    losses = new Float32Array(g.rows).fill(NaN);
  ref.crossEntropy(logits, Int32Array.from(g.targets), g.rows, g.vocab, losses, false, 1);
  close(losses, g.losses, 1e-6, 0, 'losses');
  assert.deepEqual(logits, F(g.logits), 'grad=false leaves logits alone');
  ref.crossEntropy(logits, Int32Array.from(g.targets), g.rows, g.vocab, losses, true, 0.25);
  close(
    logits,
    (g.grad as number[]).map((x) => x * 0.25),
    1e-6,
    0,
    'grad',
  );
  assert.throws(
    () => ref.crossEntropy(F(g.logits), Int32Array.from([0, 0, 0, 6]), g.rows, g.vocab, losses, false, 1),
    /outside/,
  );
});

test('adamw matches torch.optim.AdamW over three steps', () => {
  const g = golden.adamw;
  const p = F(g.param),
    m = new Float32Array(p.length),
    v = new Float32Array(p.length);
  for (let s = 0; s < 3; s++) {
    ref.adamw(p, F(g.grads[s]), m, v, {
      lr: g.lr,
      beta1: g.beta1,
      beta2: g.beta2,
      eps: g.eps,
      weightDecay: g.weightDecay,
      step: s + 1,
    });
    close(p, g.params[s], 1e-6, 0, `step ${s + 1}`);
  }
});

// ---- the rest by definition ---------------------------------------------------------------------------

test('dropout: inverted scaling, reproducible from (seed, offset), offsets shift the stream', () => {
  const n = 4000,
    p = 0.25;
  const x = new Float32Array(n).fill(2);
  const a = new Float32Array(n),
    b = new Float32Array(n),
    shifted = new Float32Array(n - 100);
  ref.dropout(x, a, p, 42, 0);
  ref.dropout(x, b, p, 42, 0);
  assert.deepEqual(a, b);
  let kept = 0;
  for (const y of a) {
    assert.ok(y === 0 || Math.abs(y - 2 / (1 - p)) < 1e-6);
    if (y) kept++;
  }
  assert.ok(Math.abs(kept / n - (1 - p)) < 0.03, `kept fraction ${kept / n}`);
  ref.dropout(x.subarray(100), shifted, p, 42, 100);
  assert.deepEqual(shifted, a.subarray(100));
  ref.dropout(x, b, p, 43, 0);
  assert.notDeepEqual(a, b);
  ref.dropout(x, b, 0, 43, 0);
  assert.deepEqual(b, x);
});

test('embedding gathers (bf16 table widened) and scatter-adds; elementwise helpers', () => {
  const table = F([0, 1, 10, 11, 20, 21]);
  const ids = Int32Array.from([2, 0, 2]);
  const out = new Float32Array(6);
  ref.embeddingForward(table, ids, 2, out);
  assert.deepEqual([...out], [20, 21, 0, 1, 20, 21]);
  const bits = new Uint16Array(6);
  ref.f32ToBf16(table, bits);
  ref.embeddingForward(bits, ids, 2, out);
  assert.deepEqual([...out], [20, 21, 0, 1, 20, 21]);
  const dt = new Float32Array(6).fill(1);
  ref.embeddingBackward(F([1, 2, 3, 4, 5, 6]), ids, 2, dt);
  assert.deepEqual([...dt], [4, 5, 1, 1, 7, 9]);
  assert.throws(() => ref.embeddingForward(table, Int32Array.from([3]), 2, out), /outside/);
  const y = F([1, 2]);
  ref.axpy(2, F([1, 1]), y);
  assert.deepEqual([...y], [3, 4]);
  ref.scale(y, 0.5);
  assert.deepEqual([...y], [1.5, 2]);
  ref.add(y, F([1, 1]), y);
  assert.deepEqual([...y], [2.5, 3]);
  assert.equal(ref.sumSquares(F([3, 4])), 25);
});

// ---- native vs reference ------------------------------------------------------------------------------

let native: Backend | null = null;
let nativeMissing = '';
try {
  native = cpuBackend();
} catch (e) {
  nativeMissing = (e as Error).message;
}

/** Runs a comparison; a missing addon or kernel skips it (fails it under SFTKIT_REQUIRE_NATIVE=1). */
function nativeTest(name: string, body: (nb: Backend) => void): void {
  test(`native vs reference: ${name}`, (t) => {
    if (!native) return t.skip(skipForMissingNative(`native addon unavailable: ${nativeMissing}`));
    try {
      body(native);
    } catch (e) {
      if (isMissingKernel(e)) return t.skip(skipForMissingNative((e as Error).message));
      throw e;
    }
  });
}

function gemmBoth(nb: Backend, args: Omit<GemmArgs, 'c'> & { cLen: number }, rtol: number): void {
  const { cLen, ...rest } = args;
  const cr = randn(cLen, rng(9)),
    cn = Float32Array.from(cr);
  ref.gemm({ ...rest, c: cr });
  nb.gemm({ ...rest, c: cn });
  close(cn, cr, rtol, 1e-6, `gemm ${JSON.stringify({ ...rest, a: undefined, b: undefined })}`);
}

nativeTest('gemm (transposes, ld, batch, alpha/accumulate, bf16)', (nb) => {
  const r = rng(3);
  for (const [m, n, k] of [
    [1, 1, 1],
    [7, 5, 3],
    [33, 17, 65],
    [64, 64, 64],
  ] as const) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        gemmBoth(nb, { transA, transB, m, n, k, a: randn(m * k, r), b: randn(k * n, r), cLen: m * n }, 1e-4);
      }
    }
    gemmBoth(
      nb,
      {
        transA: false,
        transB: true,
        m,
        n,
        k,
        a: randn(m * k, r),
        b: randn(k * n, r),
        cLen: m * n,
        accumulate: true,
        alpha: -0.5,
      },
      1e-4,
    );
    const lda = k + 3,
      ldb = k + 1,
      ldc = n + 2;
    gemmBoth(
      nb,
      {
        transA: false,
        transB: true,
        m,
        n,
        k,
        a: randn(m * lda, r),
        b: randn(n * ldb, r),
        cLen: m * ldc,
        lda,
        ldb,
        ldc,
      },
      1e-4,
    );
    gemmBoth(
      nb,
      { transA: false, transB: false, m, n, k, a: randn(m * k, r), b: randn(k * n, r), cLen: m * n, compute: 'bf16' },
      1e-3,
    );
    const bBits = new Uint16Array(k * n);
    ref.f32ToBf16(randn(k * n, r), bBits);
    gemmBoth(nb, { transA: false, transB: true, m, n, k, a: randn(m * k, r), b: bBits, cLen: m * n }, 1e-3);
    gemmBoth(
      nb,
      { transA: false, transB: true, m, n, k, a: randn(m * k, r), b: bBits, cLen: m * n, compute: 'f32' },
      1e-4,
    );
    gemmBoth(
      nb,
      {
        transA: false,
        transB: false,
        m,
        n,
        k,
        a: randn(3 * m * k, r),
        b: randn(3 * k * n, r),
        cLen: 3 * m * n,
        batch: 3,
      },
      1e-4,
    );
  }
});

nativeTest('bf16 conversions (bit exact)', (nb) => {
  const src = randn(1000, rng(4), 1e3);
  src.set([
    NaN,
    Infinity,
    -Infinity,
    -0,
    bitsToF32(0x3f808000),
    bitsToF32(0x3f818000),
    bitsToF32(0x7f7fffff),
    bitsToF32(0x00018000),
  ]);
  const a = new Uint16Array(src.length),
    b = new Uint16Array(src.length);
  ref.f32ToBf16(src, a);
  nb.f32ToBf16(src, b);
  for (let i = 0; i < a.length; i++) {
    const nanA = (a[i]! & 0x7fff) > 0x7f80,
      nanB = (b[i]! & 0x7fff) > 0x7f80;
    if (nanA || nanB) assert.ok(nanA && nanB, `NaN at ${i}`);
    else assert.equal(b[i], a[i], `element ${i}`);
  }
  const fa = new Float32Array(a.length),
    fb = new Float32Array(a.length);
  ref.bf16ToF32(a, fa);
  nb.bf16ToF32(a, fb);
  assert.deepEqual(fb, fa);
});

nativeTest('elementwise: add, axpy, scale, sumSquares', (nb) => {
  const r = rng(5);
  const a = randn(1001, r),
    b = randn(1001, r);
  const oa = new Float32Array(1001),
    ob = new Float32Array(1001);
  ref.add(a, b, oa);
  nb.add(a, b, ob);
  close(ob, oa, 1e-7, 0, 'add');
  ref.axpy(0.3, a, oa);
  nb.axpy(0.3, a, ob);
  close(ob, oa, 1e-6, 0, 'axpy');
  ref.scale(oa, -2);
  nb.scale(ob, -2);
  close(ob, oa, 1e-6, 0, 'scale');
  assert.ok(Math.abs(nb.sumSquares(a) - ref.sumSquares(a)) < 1e-9 * ref.sumSquares(a));
});

nativeTest('embedding forward/backward', (nb) => {
  const r = rng(6);
  const table = randn(11 * 8, r),
    ids = Int32Array.from([3, 0, 10, 3, 7]);
  const o1 = new Float32Array(40),
    o2 = new Float32Array(40);
  ref.embeddingForward(table, ids, 8, o1);
  nb.embeddingForward(table, ids, 8, o2);
  assert.deepEqual(o2, o1);
  const d1 = randn(88, r),
    d2 = Float32Array.from(d1),
    dOut = randn(40, r);
  ref.embeddingBackward(dOut, ids, 8, d1);
  nb.embeddingBackward(dOut, ids, 8, d2);
  close(d2, d1, 1e-6, 0, 'dTable');
});

nativeTest('rmsnorm forward/backward', (nb) => {
  const r = rng(7);
  const rows = 5,
    dim = 40;
  const x = randn(rows * dim, r),
    w = randn(dim, r),
    dy = randn(rows * dim, r);
  const y1 = new Float32Array(rows * dim),
    y2 = new Float32Array(rows * dim),
    s1 = new Float32Array(rows),
    s2 = new Float32Array(rows);
  ref.rmsnormForward(x, w, rows, dim, 1e-6, y1, s1);
  nb.rmsnormForward(x, w, rows, dim, 1e-6, y2, s2);
  close(y2, y1, 1e-5, 0, 'y');
  close(s2, s1, 1e-5, 0, 'rstd');
  const dx1 = new Float32Array(rows * dim),
    dx2 = new Float32Array(rows * dim),
    dw1 = randn(dim, r),
    dw2 = Float32Array.from(dw1);
  ref.rmsnormBackward(dy, x, w, s1, rows, dim, dx1, dw1);
  nb.rmsnormBackward(dy, x, w, s1, rows, dim, dx2, dw2);
  close(dx2, dx1, 1e-5, 0, 'dx');
  close(dw2, dw1, 1e-5, 0, 'dw');
});

nativeTest('rope (partial rotary, inverse)', (nb) => {
  const g = golden.rope;
  for (const inverse of [false, true]) {
    const x1 = F(g.x),
      x2 = F(g.x);
    ref.rope(x1, Int32Array.from(g.positions), g.tokens, g.heads, g.headDim, g.rotaryDim, F(g.cos), F(g.sin), inverse);
    nb.rope(x2, Int32Array.from(g.positions), g.tokens, g.heads, g.headDim, g.rotaryDim, F(g.cos), F(g.sin), inverse);
    close(x2, x1, 1e-6, 0, `inverse=${inverse}`);
  }
});

nativeTest('attention forward/backward (golden cases)', (nb) => {
  checkAttentionGolden(nb, 1e-4, false);
});

nativeTest('swiglu forward/backward', (nb) => {
  const r = rng(8);
  const g = randn(777, r, 4),
    u = randn(777, r),
    d = randn(777, r);
  const o1 = new Float32Array(777),
    o2 = new Float32Array(777);
  ref.swigluForward(g, u, o1);
  nb.swigluForward(g, u, o2);
  close(o2, o1, 1e-6, 0, 'out');
  const dg1 = new Float32Array(777),
    du1 = new Float32Array(777),
    dg2 = new Float32Array(777),
    du2 = new Float32Array(777);
  ref.swigluBackward(d, g, u, dg1, du1);
  nb.swigluBackward(d, g, u, dg2, du2);
  close(dg2, dg1, 1e-6, 0, 'dg');
  close(du2, du1, 1e-6, 0, 'du');
});

nativeTest('crossEntropy', (nb) => {
  const r = rng(9);
  const rows = 6,
    vocab = 300;
  const logits = randn(rows * vocab, r, 8),
    targets = Int32Array.from([0, 299, -100, 17, 150, 3]);
  const l1 = new Float32Array(rows),
    l2 = new Float32Array(rows),
    g1 = Float32Array.from(logits),
    g2 = Float32Array.from(logits);
  ref.crossEntropy(g1, targets, rows, vocab, l1, true, 0.5);
  nb.crossEntropy(g2, targets, rows, vocab, l2, true, 0.5);
  close(l2, l1, 1e-5, 0, 'losses');
  close(g2, g1, 1e-5, 1e-8, 'grad');
});

nativeTest('adamw', (nb) => {
  const r = rng(10);
  const p1 = randn(1003, r),
    p2 = Float32Array.from(p1),
    m1 = new Float32Array(1003),
    m2 = new Float32Array(1003),
    v1 = new Float32Array(1003),
    v2 = new Float32Array(1003);
  for (let step = 1; step <= 3; step++) {
    const g = randn(1003, r);
    const args = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step };
    ref.adamw(p1, g, m1, v1, args);
    nb.adamw(p2, g, m2, v2, args);
  }
  close(p2, p1, 1e-5, 0, 'param');
  close(m2, m1, 1e-5, 0, 'm');
  close(v2, v1, 1e-5, 0, 'v');
});

nativeTest('dropout (same mask as the TS counter RNG twin)', (nb) => {
  const x = randn(5000, rng(11));
  const o1 = new Float32Array(5000),
    o2 = new Float32Array(5000);
  ref.dropout(x, o1, 0.3, 1234, 777);
  nb.dropout(x, o2, 0.3, 1234, 777);
  assert.deepEqual(o2, o1);
});
