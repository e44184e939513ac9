// Native fused kernels (cpuBackend) against the float64 reference backend, for every ISA this CPU
// runs (scalar, avx2, avx512), on random shapes including odd sizes, GQA, segments and qLen < kvLen.
//
// Tolerances (|native - reference| <= atol + rtol·|reference|), all from f32 arithmetic against float64:
//   element-wise (add, axpy, scale, embedding, rope): rtol 1e-6, atol 1e-7 (one or two f32 roundings)
//   exp-based (swiglu, cross-entropy, rmsnorm):       rtol 1e-5, atol 1e-6 (vector exp ~1-2 ulp, f32 row sums)
//   attention out/lse: atol 2e-5; attention grads: atol 1e-4, rtol 1e-3 (f32 sums over keys and heads)
//   adamw: rtol 1e-5 per step (f32 state); dropout masks: exact (shared counter hash, src/engine/counter-rng.ts)
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttentionShape, Backend, Mat } from '../../src/engine/backend.js';
import { cpuBackend } from '../../src/engine/cpu-backend.js';
import { loadNative } from '../../src/engine/native.js';
import { referenceBackend, f32ToBf16Bits } from '../../src/engine/reference-backend.js';
import { rng, randn } from './gradcheck-helper.js';
import { KERNEL_TABLE_ISAS } from '../helpers/isa.js';

const native = loadNative();
const cpu: Backend = cpuBackend();
const ref = referenceBackend;
const initialIsa: string = native.isa();
const initialThreads: number = native.threads();
const supported = KERNEL_TABLE_ISAS;

after(() => {
  native.setIsa(initialIsa);
  native.setThreads(initialThreads);
});

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
  label: string,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!,
      e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) !== Number.isNaN(e)) assert.fail(`${label}[${i}]: ${a} vs ${e}`);
      continue;
    }
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0)
    assert.fail(
      `${label}[${worst}]: native ${actual[worst]} vs reference ${expected[worst]} (rtol ${rtol}, atol ${atol})`,
    );
}

function assertBitEqual(a: Float32Array, b: Float32Array, label: string): void {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length),
    ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.fail(`${label}[${i}]: ${a[i]} !== ${b[i]}`);
}

function toBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToBf16Bits(x[i]!);
  return out;
}

function randomInts(n: number, r: () => number, lo: number, hi: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(r() * (hi - lo));
  return out;
}

const ODD = [1, 7, 63, 65, 129];

for (const isa of supported) {
  describe(`native kernels [${isa}]`, () => {
    const useIsa = () => native.setIsa(isa);

    test('add, axpy, scale, sumSquares', () => {
      useIsa();
      const r = rng(1);
      for (const n of [...ODD, 100_003]) {
        const a = randn(n, r),
          b = randn(n, r);
        const o1 = new Float32Array(n),
          o2 = new Float32Array(n);
        cpu.add(a, b, o1);
        ref.add(a, b, o2);
        assertClose(o1, o2, 0, 0, `add n=${n}`);
        const y1 = b.slice(),
          y2 = b.slice();
        cpu.axpy(-0.75, a, y1);
        ref.axpy(-0.75, a, y2);
        assertClose(y1, y2, 1e-6, 1e-7, `axpy n=${n}`);
        const s1 = a.slice(),
          s2 = a.slice();
        cpu.scale(s1, 1.3);
        ref.scale(s2, 1.3);
        assertClose(s1, s2, 1e-6, 0, `scale n=${n}`);
        const ss = cpu.sumSquares(a),
          sr = ref.sumSquares(a);
        assert.ok(Math.abs(ss - sr) <= 1e-12 * sr, `sumSquares n=${n}: ${ss} vs ${sr}`);
      }
      // out aliasing an input
      const a = randn(65, r),
        b = randn(65, r),
        expect = new Float32Array(65);
      ref.add(a, b, expect);
      cpu.add(a, b, a);
      assertClose(a, expect, 0, 0, 'add in place');
    });

    test('embedding forward (f32 and bf16 tables) and backward with repeated ids', () => {
      useIsa();
      const r = rng(2);
      for (const dim of [1, 7, 65, 300]) {
        const vocab = 11;
        const table = randn(vocab * dim, r);
        const ids = randomInts(37, r, 0, vocab);
        for (const t of [table, toBf16(table)] as Mat[]) {
          const o1 = new Float32Array(ids.length * dim),
            o2 = new Float32Array(ids.length * dim);
          cpu.embeddingForward(t, ids, dim, o1);
          ref.embeddingForward(t, ids, dim, o2);
          assertClose(o1, o2, 0, 0, `embeddingForward dim=${dim}`);
        }
        const dOut = randn(ids.length * dim, r);
        const d1 = randn(vocab * dim, r),
          d2 = d1.slice();
        cpu.embeddingBackward(dOut, ids, dim, d1);
        ref.embeddingBackward(dOut, ids, dim, d2);
        assertClose(d1, d2, 1e-6, 1e-6, `embeddingBackward dim=${dim}`);
      }
      assert.throws(
        () => cpu.embeddingForward(new Float32Array(6), new Int32Array([3]), 2, new Float32Array(2)),
        RangeError,
      );
    });

    test('rmsnorm forward and backward (f32 and bf16 weights, dw accumulation)', () => {
      useIsa();
      const r = rng(3);
      for (const dim of [...ODD, 576]) {
        for (const rows of [1, 3, 33]) {
          const x = randn(rows * dim, r, 2),
            wf = randn(dim, r);
          for (const w of [wf, toBf16(wf)] as Mat[]) {
            const y1 = new Float32Array(rows * dim),
              y2 = new Float32Array(rows * dim);
            const r1 = new Float32Array(rows),
              r2 = new Float32Array(rows);
            cpu.rmsnormForward(x, w, rows, dim, 1e-5, y1, r1);
            ref.rmsnormForward(x, w, rows, dim, 1e-5, y2, r2);
            assertClose(y1, y2, 1e-5, 1e-6, `rmsnorm y dim=${dim} rows=${rows}`);
            assertClose(r1, r2, 1e-5, 0, `rmsnorm rstd dim=${dim} rows=${rows}`);
            const dy = randn(rows * dim, r);
            const dx1 = new Float32Array(rows * dim),
              dx2 = new Float32Array(rows * dim);
            const dw1 = randn(dim, r),
              dw2 = dw1.slice();
            cpu.rmsnormBackward(dy, x, w, r2, rows, dim, dx1, dw1);
            ref.rmsnormBackward(dy, x, w, r2, rows, dim, dx2, dw2);
            assertClose(dx1, dx2, 1e-4, 1e-5, `rmsnorm dx dim=${dim} rows=${rows}`);
            assertClose(dw1, dw2, 1e-4, 1e-5, `rmsnorm dw dim=${dim} rows=${rows}`);
            cpu.rmsnormBackward(dy, x, w, r2, rows, dim, dx1, null);
            assertClose(dx1, dx2, 1e-4, 1e-5, `rmsnorm dx (dw null) dim=${dim} rows=${rows}`);
          }
        }
      }
    });

    test('rmsnorm backward is bit-identical for 1 and 2 threads', () => {
      useIsa();
      const r = rng(4);
      const rows = 300,
        dim = 576;
      const x = randn(rows * dim, r),
        w = randn(dim, r),
        dy = randn(rows * dim, r);
      const y = new Float32Array(rows * dim),
        rstd = new Float32Array(rows);
      cpu.rmsnormForward(x, w, rows, dim, 1e-6, y, rstd);
      const run = (threads: number) => {
        native.setThreads(threads);
        const dx = new Float32Array(rows * dim),
          dw = new Float32Array(dim);
        cpu.rmsnormBackward(dy, x, w, rstd, rows, dim, dx, dw);
        return { dx, dw };
      };
      const one = run(1),
        two = run(2);
      native.setThreads(initialThreads);
      assertBitEqual(one.dx, two.dx, 'dx');
      assertBitEqual(one.dw, two.dw, 'dw');
    });

    test('rope: partial rotary dims, inverse, odd sizes', () => {
      useIsa();
      const r = rng(5);
      for (const [headDim, rot] of [
        [2, 2],
        [10, 6],
        [64, 64],
        [130, 128],
        [65, 32],
      ] as const) {
        const tokens = 9,
          heads = 3,
          maxPos = 40,
          half = rot / 2;
        const cos = new Float32Array(maxPos * half),
          sin = new Float32Array(maxPos * half);
        for (let p = 0; p < maxPos; p++)
          for (let i = 0; i < half; i++) {
            const ang = p / Math.pow(10000, (2 * i) / rot);
            cos[p * half + i] = Math.cos(ang);
            sin[p * half + i] = Math.sin(ang);
          }
        const positions = randomInts(tokens, r, 0, maxPos);
        const x = randn(tokens * heads * headDim, r);
        for (const inverse of [false, true]) {
          const a = x.slice(),
            b = x.slice();
          cpu.rope(a, positions, tokens, heads, headDim, rot, cos, sin, inverse);
          ref.rope(b, positions, tokens, heads, headDim, rot, cos, sin, inverse);
          assertClose(a, b, 1e-6, 1e-6, `rope hd=${headDim} rot=${rot} inverse=${inverse}`);
          for (let t = 0; t < tokens * heads; t++)
            for (let d = rot; d < headDim; d++)
              assert.equal(a[t * headDim + d], x[t * headDim + d], 'dims past rotaryDim untouched');
        }
      }
      assert.throws(
        () =>
          cpu.rope(
            new Float32Array(4),
            new Int32Array([5]),
            1,
            1,
            4,
            4,
            new Float32Array(4),
            new Float32Array(4),
            false,
          ),
        RangeError,
      );
    });

    test('swiglu forward and backward', () => {
      useIsa();
      const r = rng(6);
      for (const n of [...ODD, 70_001]) {
        const g = randn(n, r, 6),
          u = randn(n, r);
        if (n > 2) {
          g[0] = 100;
          g[1] = -100;
        }
        const o1 = new Float32Array(n),
          o2 = new Float32Array(n);
        cpu.swigluForward(g, u, o1);
        ref.swigluForward(g, u, o2);
        assertClose(o1, o2, 1e-5, 1e-6, `swiglu n=${n}`);
        const dout = randn(n, r);
        const dg1 = new Float32Array(n),
          du1 = new Float32Array(n),
          dg2 = new Float32Array(n),
          du2 = new Float32Array(n);
        cpu.swigluBackward(dout, g, u, dg1, du1);
        ref.swigluBackward(dout, g, u, dg2, du2);
        assertClose(dg1, dg2, 1e-5, 1e-6, `swiglu dg n=${n}`);
        assertClose(du1, du2, 1e-5, 1e-6, `swiglu du n=${n}`);
      }
    });

    test('geglu (tanh GELU) forward and backward', () => {
      useIsa();
      const r = rng(16);
      for (const n of [...ODD, 70_001]) {
        const g = randn(n, r, 4),
          u = randn(n, r);
        if (n > 3) {
          g[0] = 100;
          g[1] = -100;
          g[2] = 1e-4;
        }
        const o1 = new Float32Array(n),
          o2 = new Float32Array(n);
        cpu.gegluForward(g, u, o1);
        ref.gegluForward(g, u, o2);
        assertClose(o1, o2, 1e-5, 1e-6, `geglu n=${n}`);
        const dout = randn(n, r);
        const dg1 = new Float32Array(n),
          du1 = new Float32Array(n),
          dg2 = new Float32Array(n),
          du2 = new Float32Array(n);
        cpu.gegluBackward(dout, g, u, dg1, du1);
        ref.gegluBackward(dout, g, u, dg2, du2);
        assertClose(dg1, dg2, 1e-5, 1e-6, `geglu dg n=${n}`);
        assertClose(du1, du2, 1e-5, 1e-6, `geglu du n=${n}`);
      }
    });

    test('crossEntropy: losses, in-place gradient, ignored rows, target validation', () => {
      useIsa();
      const r = rng(7);
      for (const vocab of [1, 7, 65, 1000]) {
        const rows = 6;
        const logits = randn(rows * vocab, r, 20);
        const targets = randomInts(rows, r, 0, vocab);
        targets[2] = -100;
        for (const grad of [false, true]) {
          const l1 = logits.slice(),
            l2 = logits.slice();
          const loss1 = new Float32Array(rows),
            loss2 = new Float32Array(rows);
          cpu.crossEntropy(l1, targets, rows, vocab, loss1, grad, 0.25);
          ref.crossEntropy(l2, targets, rows, vocab, loss2, grad, 0.25);
          assertClose(loss1, loss2, 1e-5, 1e-5, `CE loss vocab=${vocab}`);
          assertClose(l1, l2, 1e-5, 1e-7, `CE ${grad ? 'grad' : 'logits untouched'} vocab=${vocab}`);
          assert.equal(loss1[2], 0);
        }
      }
      const logits = randn(14, r);
      const before = logits.slice();
      assert.throws(
        () => cpu.crossEntropy(logits, new Int32Array([1, 7]), 2, 7, new Float32Array(2), true, 1),
        RangeError,
      );
      assert.throws(
        () => cpu.crossEntropy(logits, new Int32Array([1, -1]), 2, 7, new Float32Array(2), true, 1),
        RangeError,
      );
      assertBitEqual(logits, before, 'logits untouched after a rejected call');
    });

    test('adamw matches PyTorch semantics over several steps', () => {
      useIsa();
      const r = rng(8);
      for (const n of [1, 65, 40_000]) {
        const p1 = randn(n, r),
          p2 = p1.slice();
        const m1 = new Float32Array(n),
          v1 = new Float32Array(n),
          m2 = new Float32Array(n),
          v2 = new Float32Array(n);
        for (let step = 1; step <= 4; step++) {
          const g = randn(n, r, 0.1);
          const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step };
          cpu.adamw(p1, g, m1, v1, args);
          ref.adamw(p2, g, m2, v2, args);
          assertClose(p1, p2, 1e-5, 1e-7, `adamw param n=${n} step=${step}`);
          assertClose(m1, m2, 1e-5, 3e-8, `adamw m n=${n} step=${step}`);
          assertClose(v1, v2, 1e-5, 1e-12, `adamw v n=${n} step=${step}`);
        }
      }
    });

    test('dropout: same mask as the TypeScript counter hash, independent of threads and of splitting', () => {
      useIsa();
      const r = rng(9);
      const n = 100_000;
      const x = randn(n, r);
      for (const [p, seed, offset] of [
        [0.1, 42, 0],
        [0.5, 7, 4294967290],
        [0.9, 2 ** 40 + 3, 123],
        [0, 1, 0],
        [1, 1, 0],
      ] as const) {
        const o1 = new Float32Array(n),
          o2 = new Float32Array(n);
        cpu.dropout(x, o1, p, seed, offset);
        ref.dropout(x, o2, p, seed, offset);
        for (let i = 0; i < n; i++) assert.equal(o1[i] === 0, o2[i] === 0, `mask p=${p} i=${i}`);
        assertClose(o1, o2, 1e-6, 0, `dropout values p=${p}`);
        if (p > 0 && p < 1) {
          const kept = o1.reduce((c, v) => c + (v !== 0 ? 1 : 0), 0) / n;
          assert.ok(Math.abs(kept - (1 - p)) < 0.01, `keep rate ${kept} for p=${p}`);
        }
        native.setThreads(1);
        const single = new Float32Array(n);
        cpu.dropout(x, single, p, seed, offset);
        native.setThreads(initialThreads);
        assertBitEqual(single, o1, 'threads');
        const tail = new Float32Array(n - 1000);
        cpu.dropout(x.subarray(1000), tail, p, seed, offset + 1000);
        assertBitEqual(tail, o1.subarray(1000), 'offset split');
      }
    });

    describe('attention', () => {
      interface Case {
        B: number;
        Tq: number;
        Tk: number;
        H: number;
        Hkv: number;
        hd: number;
        seg?: 'packed' | 'blind';
        stride?: number;
        /** Sliding window (Gemma 3's local layers). */
        window?: number;
      }
      const cases: Case[] = [
        { B: 1, Tq: 1, Tk: 1, H: 1, Hkv: 1, hd: 1 },
        { B: 2, Tq: 7, Tk: 7, H: 3, Hkv: 1, hd: 7 },
        { B: 1, Tq: 65, Tk: 65, H: 4, Hkv: 2, hd: 16 },
        { B: 2, Tq: 63, Tk: 129, H: 3, Hkv: 3, hd: 8, stride: 140 * 3 * 8 },
        { B: 1, Tq: 1, Tk: 70, H: 6, Hkv: 2, hd: 64, stride: 80 * 2 * 64 },
        { B: 2, Tq: 129, Tk: 129, H: 6, Hkv: 2, hd: 24, seg: 'packed' },
        { B: 1, Tq: 20, Tk: 33, H: 2, Hkv: 1, hd: 65, seg: 'blind' },
        { B: 2, Tq: 3, Tk: 40, H: 4, Hkv: 2, hd: 65, seg: 'blind', stride: 50 * 2 * 65 },
        // sliding windows: inside one tile, across tiles, not a multiple of the tile, with segments, decoding
        { B: 2, Tq: 9, Tk: 9, H: 3, Hkv: 1, hd: 7, window: 4 },
        { B: 1, Tq: 200, Tk: 200, H: 4, Hkv: 1, hd: 33, window: 70 },
        { B: 2, Tq: 129, Tk: 129, H: 2, Hkv: 2, hd: 24, seg: 'packed', window: 64 },
        { B: 1, Tq: 63, Tk: 150, H: 3, Hkv: 1, hd: 16, window: 100, stride: 160 * 16 },
        { B: 2, Tq: 1, Tk: 90, H: 4, Hkv: 1, hd: 32, window: 17, stride: 100 * 32 },
        { B: 1, Tq: 5, Tk: 40, H: 2, Hkv: 1, hd: 8, window: 1 },
      ];

      function makeCase(c: Case, seed: number) {
        const r = rng(seed);
        const stride = c.stride ?? c.Tk * c.Hkv * c.hd;
        const kvLenTotal = (c.B - 1) * stride + c.Tk * c.Hkv * c.hd;
        const shape: AttentionShape = {
          batch: c.B,
          qLen: c.Tq,
          kvLen: c.Tk,
          heads: c.H,
          kvHeads: c.Hkv,
          headDim: c.hd,
          scale: 1 / Math.sqrt(c.hd),
          kvBatchStride: c.stride,
          window: c.window,
        };
        if (c.seg === 'packed') {
          // documents of random lengths, then padding (id -1) at the end of each row
          const kSeg = new Int32Array(c.B * c.Tk);
          for (let b = 0; b < c.B; b++) {
            let doc = 0,
              left = 1 + Math.floor(r() * 50);
            for (let j = 0; j < c.Tk; j++) {
              if (left-- === 0) {
                doc++;
                left = Math.floor(r() * 50);
              }
              kSeg[b * c.Tk + j] = j >= c.Tk - 10 ? -1 : doc;
            }
          }
          shape.kSeg = kSeg;
          shape.qSeg = kSeg.slice();
        } else if (c.seg === 'blind') {
          // some queries see no key at all (their id appears only later, or nowhere)
          shape.kSeg = randomInts(c.B * c.Tk, r, 0, 3);
          shape.qSeg = randomInts(c.B * c.Tq, r, 0, 4);
          shape.qSeg[0] = 9;
        }
        return {
          shape,
          q: randn(c.B * c.Tq * c.H * c.hd, r, 2),
          k: randn(kvLenTotal, r, 2),
          v: randn(kvLenTotal, r),
          dout: randn(c.B * c.Tq * c.H * c.hd, r),
        };
      }

      for (const [ci, c] of cases.entries()) {
        test(`forward+backward B=${c.B} Tq=${c.Tq} Tk=${c.Tk} H=${c.H}/${c.Hkv} hd=${c.hd}${c.seg ? ' seg=' + c.seg : ''}${c.stride ? ' kvBatchStride' : ''}${c.window ? ' window=' + c.window : ''}`, () => {
          useIsa();
          const { shape, q, k, v, dout } = makeCase(c, 100 + ci);
          const nq = q.length,
            nlse = c.B * c.H * c.Tq;
          const out1 = new Float32Array(nq),
            out2 = new Float32Array(nq);
          const lse1 = new Float32Array(nlse),
            lse2 = new Float32Array(nlse);
          cpu.attentionForward({ ...shape, q, k, v, out: out1, lse: lse1 });
          ref.attentionForward({ ...shape, q, k, v, out: out2, lse: lse2 });
          assertClose(out1, out2, 1e-4, 2e-5, 'out');
          assertClose(lse1, lse2, 1e-5, 2e-5, 'lse');
          if (c.seg === 'blind') {
            assert.equal(lse1[0], -Infinity);
            for (let d = 0; d < c.hd; d++) assert.equal(out1[d], 0);
          }
          const grads = () => ({
            dq: new Float32Array(nq),
            dk: new Float32Array(k.length).fill(7),
            dv: new Float32Array(v.length).fill(7),
          });
          const g1 = grads(),
            g2 = grads();
          cpu.attentionBackward({ ...shape, q, k, v, out: out2, lse: lse2, dout, ...g1 });
          ref.attentionBackward({ ...shape, q, k, v, out: out2, lse: lse2, dout, ...g2 });
          for (const [name, a] of Object.entries(g1))
            assert.ok(
              a.every((x) => Number.isFinite(x)),
              `${name} finite`,
            );
          assertClose(g1.dq, g2.dq, 1e-3, 1e-4, 'dq');
          assertClose(g1.dk, g2.dk, 1e-3, 1e-4, 'dk');
          assertClose(g1.dv, g2.dv, 1e-3, 1e-4, 'dv');
        });
      }

      test('a window as long as the sequence changes nothing; a shorter one does', () => {
        useIsa();
        const { shape, q, k, v } = makeCase({ B: 1, Tq: 100, Tk: 100, H: 2, Hkv: 1, hd: 16 }, 9);
        const run = (window: number | undefined) => {
          const out = new Float32Array(q.length);
          cpu.attentionForward({ ...shape, window, q, k, v, out, lse: null });
          return out;
        };
        const full = run(undefined);
        assertBitEqual(run(100), full, 'window = Tk');
        assert.notDeepEqual(run(99), full, 'window 99 hides key 0 from the last query');
      });

      test('backward gives the same bits with 1 thread (one pass) and 2 threads (dK/dV and dQ passes)', () => {
        useIsa();
        const { shape, q, k, v, dout } = makeCase({ B: 1, Tq: 130, Tk: 130, H: 6, Hkv: 3, hd: 32, seg: 'packed' }, 7);
        const out = new Float32Array(q.length),
          lse = new Float32Array(6 * 130);
        cpu.attentionForward({ ...shape, q, k, v, out, lse });
        const run = (threads: number) => {
          native.setThreads(threads);
          const g = { dq: new Float32Array(q.length), dk: new Float32Array(k.length), dv: new Float32Array(v.length) };
          cpu.attentionBackward({ ...shape, q, k, v, out, lse, dout, ...g });
          const o = new Float32Array(q.length);
          cpu.attentionForward({ ...shape, q, k, v, out: o, lse: null });
          return { ...g, o };
        };
        const one = run(1),
          two = run(2);
        native.setThreads(initialThreads);
        for (const key of ['dq', 'dk', 'dv', 'o'] as const) assertBitEqual(one[key], two[key], key);
        assertBitEqual(one.o, out, 'forward without lse');
      });
    });
  });
}

describe('native kernel argument checks', () => {
  test('wrong types throw TypeError, wrong lengths RangeError', () => {
    assert.throws(
      () => cpu.add(new Float32Array(3), new Float64Array(3) as unknown as Float32Array, new Float32Array(3)),
      TypeError,
    );
    assert.throws(() => cpu.add(new Float32Array(3), new Float32Array(4), new Float32Array(3)), RangeError);
    assert.throws(
      () =>
        cpu.rmsnormForward(
          new Float32Array(6),
          new Float32Array(3),
          2,
          3,
          1e-5,
          new Float32Array(6),
          new Float32Array(1),
        ),
      RangeError,
    );
    assert.throws(
      () =>
        cpu.swigluBackward(
          new Float32Array(2),
          new Float32Array(2),
          new Float32Array(2),
          new Float32Array(1),
          new Float32Array(2),
        ),
      RangeError,
    );
    assert.throws(() => cpu.dropout(new Float32Array(2), new Float32Array(2), 1.5, 0, 0), RangeError);
    const shape = { batch: 1, qLen: 2, kvLen: 2, heads: 3, kvHeads: 2, headDim: 4, scale: 0.5 };
    const mk = (n: number) => new Float32Array(n);
    assert.throws(
      () => cpu.attentionForward({ ...shape, q: mk(24), k: mk(16), v: mk(16), out: mk(24), lse: null }),
      RangeError,
    );
    const ok = { ...shape, heads: 4 };
    assert.throws(
      () => cpu.attentionForward({ ...ok, q: mk(32), k: mk(15), v: mk(16), out: mk(32), lse: null }),
      RangeError,
    );
    assert.throws(
      () => cpu.attentionForward({ ...ok, qLen: 3, q: mk(48), k: mk(16), v: mk(16), out: mk(48), lse: null }),
      RangeError,
    );
    assert.throws(
      () => cpu.attentionForward({ ...ok, q: mk(32), k: mk(16), v: mk(16), out: mk(32), lse: mk(3) }),
      RangeError,
    );
    assert.throws(
      () =>
        cpu.attentionForward({
          ...ok,
          q: mk(32),
          k: mk(16),
          v: mk(16),
          out: mk(32),
          lse: null,
          qSeg: new Int32Array(2),
        }),
      RangeError,
    );
    cpu.attentionForward({ ...ok, q: mk(32), k: mk(16), v: mk(16), out: mk(32), lse: mk(8) });
  });
});
