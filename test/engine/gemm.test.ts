// Native GEMM and bf16 conversions against a float64 reference written here, on every ISA path the
// machine supports (switched in-process with setIsa), and the products on the AMX path's packing and tile
// addressing with the tile instructions emulated (forEachGemmPath), which runs on any CPU.
//
// Tolerance: each C element is compared with |c - ref| <= 2·(k + 2)·2⁻²⁴·Σₚ|a_ip·b_pj| + 1e-30, the classic
// worst-case bound for a length-k f32 dot product (γ_k) doubled for the alpha scaling, the accumulate add and
// the different summation orders of blocking and of vdpbf16ps pairs. For bf16 compute the reference runs on
// the bf16-rounded operands (bf16 x bf16 products are exact in f32, so the same bound holds). A wrong
// element, a missed k step or a transposed read breaks it by orders of magnitude.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative } from '../../src/engine/native.js';
import { cpuBackend } from '../../src/engine/cpu-backend.js';
import type { GemmArgs } from '../../src/engine/backend.js';
import { ALL_ISAS, FOREIGN_ISAS, forEachGemmPath, forEachIsa, NO_AMX, SUPPORTED_ISAS } from '../helpers/isa.js';

const addon = loadNative();
const backend = cpuBackend();

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function randomF32(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, r);
}

// Scalar reference conversions (the spec the native code must match bit for bit).
function refF32ToBf16(x: number): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
function refBf16ToF32(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
}
const toBf16 = (x: Float32Array) => Uint16Array.from(x, refF32ToBf16);
const widen = (h: Uint16Array) => Float32Array.from(h, refBf16ToF32);
const roundBf16 = (x: Float32Array) => widen(toBf16(x));

interface RefCase {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  lda: number;
  ldb: number;
}

/** float64 op(A)·op(B) and Σ|a·b| per element (for the error bound). */
function reference(r: RefCase): { c: Float64Array; mag: Float64Array } {
  const c = new Float64Array(r.m * r.n),
    mag = new Float64Array(r.m * r.n);
  for (let i = 0; i < r.m; i++) {
    for (let j = 0; j < r.n; j++) {
      let s = 0,
        g = 0;
      for (let p = 0; p < r.k; p++) {
        const av = r.transA ? r.a[p * r.lda + i]! : r.a[i * r.lda + p]!;
        const bv = r.transB ? r.b[j * r.ldb + p]! : r.b[p * r.ldb + j]!;
        s += av * bv;
        g += Math.abs(av * bv);
      }
      c[i * r.n + j] = s;
      mag[i * r.n + j] = g;
    }
  }
  return { c, mag };
}

function assertClose(
  got: Float32Array,
  ldc: number,
  want: Float64Array,
  mag: Float64Array,
  m: number,
  n: number,
  k: number,
  alpha: number,
  base: Float32Array | null,
  label: string,
): void {
  const unit = 2 * (k + 2) * 2 ** -24;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const expect = alpha * want[i * n + j]! + (base ? base[i * ldc + j]! : 0);
      const tol = unit * (Math.abs(alpha) * mag[i * n + j]! + (base ? Math.abs(base[i * ldc + j]!) : 0)) + 1e-30;
      const g = got[i * ldc + j]!;
      if (!(Math.abs(g - expect) <= tol)) {
        assert.fail(`${label}: C[${i},${j}] = ${g}, expected ${expect} (tolerance ${tol.toExponential(2)})`);
      }
    }
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 63, 65],
  [65, 129, 7],
  [129, 7, 63],
  [63, 65, 129],
  [1, 300, 33],
  [300, 17, 1],
  [33, 64, 300],
  [2, 2100, 3],
  [700, 3, 5], // several column panels (NC) and row blocks (MC)
];
const LAYOUTS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

test('gemm matches the float64 reference: layouts x compute x ISA x odd shapes x accumulate', () => {
  let seed = 1;
  for (const [m, n, k] of SHAPES) {
    for (const [transA, transB] of LAYOUTS) {
      for (const compute of ['f32', 'bf16'] as const) {
        for (const accumulate of [false, true]) {
          // Padded leading dimensions on odd cases exercise lda/ldb/ldc.
          const pad = (m + n + k) % 2;
          const lda = (transA ? m : k) + pad,
            ldb = (transB ? k : n) + pad,
            ldc = n + pad;
          const a = randomF32((transA ? k : m) * lda, seed++),
            b = randomF32((transB ? n : k) * ldb, seed++);
          const ra = compute === 'bf16' ? roundBf16(a) : a,
            rb = compute === 'bf16' ? roundBf16(b) : b;
          const { c: want, mag } = reference({ transA, transB, m, n, k, a: ra, b: rb, lda, ldb });
          const alpha = accumulate ? 0.5 : 1;
          const base = randomF32(m * ldc, seed++);
          forEachGemmPath((isa) => {
            const c = accumulate ? base.slice() : new Float32Array(m * ldc).fill(NaN);
            backend.gemm({ transA, transB, m, n, k, a, b, c, lda, ldb, ldc, accumulate, alpha, compute });
            assertClose(
              c,
              ldc,
              want,
              mag,
              m,
              n,
              k,
              alpha,
              accumulate ? base : null,
              `${isa} ${compute} trans=${+transA}${+transB} m=${m} n=${n} k=${k} acc=${accumulate}`,
            );
            // Padding columns of C are never written.
            for (let i = 0; i < m; i++)
              for (let j = n; j < ldc; j++) {
                const v = c[i * ldc + j];
                assert.ok(
                  accumulate ? v === base[i * ldc + j] : Number.isNaN(v),
                  `${isa}: C padding [${i},${j}] was written`,
                );
              }
          });
        }
      }
    }
  }
});

test('gemm takes bf16 operands (Uint16Array) in both compute modes, mixed with f32', () => {
  const [m, n, k] = [37, 70, 129];
  const x = randomF32(m * k, 11),
    w = toBf16(randomF32(n * k, 12));
  const wf = widen(w);
  forEachGemmPath((isa) => {
    // x·Wᵀ: f32 activations, bf16 weight; the default compute is bf16 (x gets rounded).
    const c = new Float32Array(m * n);
    backend.gemm({ transA: false, transB: true, m, n, k, a: x, b: w, c });
    const r = reference({ transA: false, transB: true, m, n, k, a: roundBf16(x), b: wf, lda: k, ldb: k });
    assertClose(c, n, r.c, r.mag, m, n, k, 1, null, `${isa} mixed bf16`);
    // compute 'f32' widens the bf16 weight exactly and keeps x in f32.
    const c32 = new Float32Array(m * n);
    backend.gemm({ transA: false, transB: true, m, n, k, a: x, b: w, c: c32, compute: 'f32' });
    const r32 = reference({ transA: false, transB: true, m, n, k, a: x, b: wf, lda: k, ldb: k });
    assertClose(c32, n, r32.c, r32.mag, m, n, k, 1, null, `${isa} mixed f32`);
    // Both bf16, A transposed.
    const aT = toBf16(randomF32(k * m, 13));
    const cT = new Float32Array(m * n);
    backend.gemm({ transA: true, transB: true, m, n, k, a: aT, b: w, c: cT });
    const rT = reference({ transA: true, transB: true, m, n, k, a: widen(aT), b: wf, lda: m, ldb: k });
    assertClose(cT, n, rT.c, rT.mag, m, n, k, 1, null, `${isa} bf16 x bf16`);
  });
});

test('few-row x·Wᵀ (the decode path: m <= 4, dot products over W rows) with f32 and bf16 weights', () => {
  let seed = 61;
  for (const m of [1, 2, 4, 5]) {
    for (const k of [1, 15, 17, 65, 129]) {
      const n = 37;
      for (const transA of [false, true]) {
        const a = randomF32(m * k, seed++),
          wf = randomF32(n * (k + 1), seed++),
          wh = toBf16(wf);
        const base = randomF32(m * n, seed++);
        const cases: [string, Float32Array | Uint16Array, 'f32' | 'bf16'][] = [
          ['f32 W', wf, 'f32'],
          ['bf16 W', wh, 'bf16'],
          ['bf16 W, f32 compute', wh, 'f32'],
        ];
        for (const [label, w, compute] of cases) {
          const wv = w instanceof Uint16Array ? widen(w) : w;
          const av = compute === 'bf16' ? roundBf16(a) : a;
          const r = reference({ transA, transB: true, m, n, k, a: av, b: wv, lda: transA ? m : k, ldb: k + 1 });
          forEachGemmPath((isa) => {
            const c = base.slice();
            backend.gemm({
              transA,
              transB: true,
              m,
              n,
              k,
              a,
              b: w,
              c,
              ldb: k + 1,
              compute,
              accumulate: true,
              alpha: -2,
            });
            assertClose(c, n, r.c, r.mag, m, n, k, -2, base, `${isa} ${label} m=${m} k=${k} transA=${transA}`);
          });
        }
      }
    }
  }
});

test('bf16 compute rounds f32 operands (RNE) while f32 compute keeps them exact', () => {
  const a = new Float32Array([1 + 2 ** -10]); // not a bf16 value; rounds to 1
  const b = new Float32Array([1 + 2 ** -8 + 2 ** -9]); // above the tie between 1 and 1 + 2⁻⁷: rounds up
  forEachGemmPath((isa) => {
    const c = new Float32Array(1);
    backend.gemm({ transA: false, transB: false, m: 1, n: 1, k: 1, a, b, c, compute: 'bf16' });
    assert.equal(c[0], 1 + 2 ** -7, `${isa} bf16`);
    backend.gemm({ transA: false, transB: false, m: 1, n: 1, k: 1, a, b, c, compute: 'f32' });
    assert.equal(c[0], Math.fround((1 + 2 ** -10) * (1 + 2 ** -8 + 2 ** -9)), `${isa} f32`);
  });
});

test('strided batch, including a shared B (strideB 0), on 1 and 3 threads', () => {
  const [batch, m, n, k] = [5, 19, 33, 65];
  const strideA = m * k + 3,
    strideC = m * n + 1;
  const a = randomF32(batch * strideA, 21),
    b = randomF32(k * n, 22);
  const threadsBefore = backend.threads();
  try {
    for (const threads of [1, 3]) {
      addon.setThreads(threads);
      forEachGemmPath((isa) => {
        for (const compute of ['f32', 'bf16'] as const) {
          const c = new Float32Array(batch * strideC);
          backend.gemm({
            transA: false,
            transB: false,
            m,
            n,
            k,
            a,
            b,
            c,
            batch,
            strideA,
            strideB: 0,
            strideC,
            compute,
          });
          for (let bi = 0; bi < batch; bi++) {
            const ai = a.subarray(bi * strideA, bi * strideA + m * k);
            const r = reference({
              transA: false,
              transB: false,
              m,
              n,
              k,
              a: compute === 'bf16' ? roundBf16(ai) : ai,
              b: compute === 'bf16' ? roundBf16(b) : b,
              lda: k,
              ldb: n,
            });
            assertClose(
              c.subarray(bi * strideC),
              n,
              r.c,
              r.mag,
              m,
              n,
              k,
              1,
              null,
              `${isa} ${compute} threads=${threads} item ${bi}`,
            );
          }
        }
      });
    }
  } finally {
    addon.setThreads(threadsBefore);
  }
});

test('a large layer-shaped product is right on every thread count (exercises the thread grid and k blocking)', () => {
  const [m, n, k] = [70, 120, 1100];
  const a = randomF32(m * k, 31),
    b = randomF32(n * k, 32);
  const r = reference({ transA: false, transB: true, m, n, k, a, b, lda: k, ldb: k });
  const rb = reference({ transA: false, transB: true, m, n, k, a: roundBf16(a), b: roundBf16(b), lda: k, ldb: k });
  const threadsBefore = backend.threads();
  try {
    for (const threads of [1, 2, 5]) {
      addon.setThreads(threads);
      forEachGemmPath((isa) => {
        const c = new Float32Array(m * n);
        backend.gemm({ transA: false, transB: true, m, n, k, a, b, c, compute: 'f32' });
        assertClose(c, n, r.c, r.mag, m, n, k, 1, null, `${isa} f32 threads=${threads}`);
        backend.gemm({ transA: false, transB: true, m, n, k, a, b, c, compute: 'bf16' });
        assertClose(c, n, rb.c, rb.mag, m, n, k, 1, null, `${isa} bf16 threads=${threads}`);
      });
    }
  } finally {
    addon.setThreads(threadsBefore);
  }
});

test('tiny cache blocks (SFTKIT_GEMM_BLOCKS) make small products cross every k, row and column block edge', () => {
  const threadsBefore = backend.threads();
  try {
    process.env.SFTKIT_GEMM_BLOCKS = '6,28,64'; // kc, mc, nc in elements (rounded to the micro-tile)
    for (const threads of [1, 3]) {
      addon.setThreads(threads);
      let seed = 71;
      for (const [m, n, k] of [
        [45, 150, 31],
        [5, 7, 13],
      ] as const) {
        for (const [transA, transB] of LAYOUTS) {
          const a = randomF32(m * k, seed++),
            b = randomF32(n * k, seed++),
            base = randomF32(m * n, seed++);
          for (const compute of ['f32', 'bf16'] as const) {
            const ra = compute === 'bf16' ? roundBf16(a) : a,
              rb = compute === 'bf16' ? roundBf16(b) : b;
            const r = reference({ transA, transB, m, n, k, a: ra, b: rb, lda: transA ? m : k, ldb: transB ? k : n });
            forEachGemmPath((isa) => {
              const c = base.slice();
              backend.gemm({ transA, transB, m, n, k, a, b, c, compute, accumulate: true });
              assertClose(
                c,
                n,
                r.c,
                r.mag,
                m,
                n,
                k,
                1,
                base,
                `${isa} ${compute} blocks trans=${+transA}${+transB} threads=${threads}`,
              );
            });
          }
        }
      }
    }
  } finally {
    delete process.env.SFTKIT_GEMM_BLOCKS;
    addon.setThreads(threadsBefore);
  }
});

test('k = 0 writes zeros (or leaves C when accumulating); m or n = 0 is a no-op', () => {
  const c = new Float32Array([1, 2, 3, 4]);
  backend.gemm({
    transA: false,
    transB: false,
    m: 2,
    n: 2,
    k: 0,
    a: new Float32Array(0),
    b: new Float32Array(0),
    c,
    accumulate: true,
  });
  assert.deepEqual([...c], [1, 2, 3, 4]);
  backend.gemm({ transA: false, transB: false, m: 2, n: 2, k: 0, a: new Float32Array(0), b: new Float32Array(0), c });
  assert.deepEqual([...c], [0, 0, 0, 0]);
  backend.gemm({
    transA: true,
    transB: true,
    m: 0,
    n: 3,
    k: 4,
    a: new Float32Array(0),
    b: new Float32Array(12),
    c: new Float32Array(0),
  });
});

test('gemm validates its arguments before touching memory', () => {
  const a = new Float32Array(6),
    b = new Float32Array(6),
    c = new Float32Array(4);
  const ok: GemmArgs = { transA: false, transB: false, m: 2, n: 2, k: 3, a, b, c };
  backend.gemm(ok);
  const bad = (
    patch: Partial<GemmArgs> | Record<string, unknown>,
    err: typeof TypeError | typeof RangeError,
    re: RegExp,
  ) =>
    assert.throws(
      () => backend.gemm({ ...ok, ...patch } as GemmArgs),
      (e: unknown) => e instanceof err && re.test((e as Error).message),
    );
  bad({ a: new Float32Array(5) }, RangeError, /A needs 6 elements/);
  bad({ b: new Float32Array(5), transB: true }, RangeError, /B needs 6/);
  bad({ c: new Float32Array(3) }, RangeError, /C needs 4/);
  bad({ ldc: 1 }, RangeError, /ldC = 1 is smaller/);
  bad({ lda: 4 }, RangeError, /A needs 7 elements/);
  bad({ batch: 2 }, RangeError, /A needs 12/);
  bad({ batch: 2, strideA: 0, strideB: 0, strideC: 1 }, RangeError, /C needs 5/);
  bad({ m: -1 }, RangeError, /'m' must be a non-negative integer/);
  bad({ k: 1.5 }, RangeError, /'k'/);
  bad({ n: Number.NaN }, RangeError, /'n'/);
  bad({ m: 1e300 }, RangeError, /'m'/);
  bad({ a: new Float64Array(6) as unknown as Float32Array }, TypeError, /'a' must be a Float32Array or a Uint16Array/);
  bad({ c: new Uint16Array(4) as unknown as Float32Array }, TypeError, /'c' must be a Float32Array/);
  bad({ transA: 1 as unknown as boolean }, TypeError, /'transA' must be a boolean/);
  bad({ compute: 'f16' as 'f32' }, RangeError, /'compute'/);
  assert.throws(() => backend.gemm(undefined as unknown as GemmArgs), TypeError);
  const shared = new Float32Array(16);
  bad({ c: shared.subarray(0, 4), a: shared.subarray(2, 8) }, RangeError, /must not share memory/);
  backend.gemm({ ...ok, c: shared.subarray(0, 4), a: shared.subarray(4, 10), b: shared.subarray(10, 16) }); // adjacent is fine
});

test('f32ToBf16 / bf16ToF32: RNE ties, NaN, Inf, denormals, on every ISA and array tail', () => {
  const specials = [
    0,
    -0,
    1,
    -1,
    1 + 2 ** -8,
    1 + 3 * 2 ** -8,
    1 + 2 ** -8 + 2 ** -20, // ties to even (down, up) and just above a tie
    Infinity,
    -Infinity,
    NaN,
    3.4e38,
    -3.4e38, // the last two round to ±Inf
    1e-40,
    -1e-40,
    2 ** -149,
    2 ** -126,
    1.1754942e-38, // denormals and the denormal/normal edge
    65504,
    1 / 3,
    Math.PI,
  ];
  const nanPayload = new Float32Array(new Uint32Array([0x7f800001, 0xff810000, 0x7fc00000]).buffer); // NaNs that truncate to Inf
  const random = randomF32(1000, 41).map((x, i) => x * 2 ** ((i % 60) - 30));
  const src = Float32Array.from([...specials, ...nanPayload, ...random]);
  const want = Array.from(src, refF32ToBf16);
  forEachIsa((isa) => {
    for (const len of [src.length, 17, 16, 15, 1, 0]) {
      const s = src.subarray(0, len),
        h = new Uint16Array(len);
      backend.f32ToBf16(s, h);
      assert.deepEqual([...h], want.slice(0, len), `${isa} f32ToBf16 len ${len}`);
      const back = new Float32Array(len);
      backend.bf16ToF32(h, back);
      assert.deepEqual(
        [...new Uint32Array(back.buffer)],
        [...h].map((x) => (x << 16) >>> 0),
        `${isa} bf16ToF32 len ${len}`,
      );
    }
  });
  // Spot values: ties go to even, NaNs stay NaN, overflow is Inf, denormals survive.
  const h = new Uint16Array(src.length);
  backend.f32ToBf16(src, h);
  assert.equal(h[4], 0x3f80); // 1 + 2⁻⁸ ties down to 1
  assert.equal(h[5], 0x3f82); // 1 + 3·2⁻⁸ ties up to even
  assert.equal(h[6], 0x3f81);
  assert.equal(h[9]! & 0x7fc0, 0x7fc0);
  assert.equal(h[10], 0x7f80);
  assert.equal(h[12], 0x0001); // 1e-40 → smallest nonzero bf16 denormal region
  for (let i = 0; i < 3; i++) assert.ok(Number.isNaN(refBf16ToF32(h[specials.length + i]!)), 'NaN payload stays NaN');
});

test('conversions are threaded for large arrays and reject short destinations', () => {
  const n = 1 << 20;
  const src = randomF32(n, 51);
  const h = new Uint16Array(n);
  backend.f32ToBf16(src, h);
  for (let i = 0; i < n; i += 4099) assert.equal(h[i], refF32ToBf16(src[i]!));
  const back = new Float32Array(n);
  backend.bf16ToF32(h, back);
  for (let i = 0; i < n; i += 4099) assert.equal(back[i], refBf16ToF32(h[i]!));
  assert.throws(() => backend.f32ToBf16(src, new Uint16Array(n - 1)), RangeError);
  assert.throws(() => backend.bf16ToF32(h, new Float32Array(3)), RangeError);
  assert.throws(() => backend.f32ToBf16(h as unknown as Float32Array, new Uint16Array(n)), TypeError);
});

test('setIsa rejects unknown names and reports the active path', () => {
  assert.equal(backend.isa(), process.env.SFTKIT_ISA || addon.detectedIsa());
  assert.throws(() => addon.setIsa('sse9'), RangeError);
  if (SUPPORTED_ISAS.length < ALL_ISAS.length)
    assert.throws(() => addon.setIsa(ALL_ISAS[SUPPORTED_ISAS.length]), /not supported/);
  for (const isa of FOREIGN_ISAS) assert.throws(() => addon.setIsa(isa), /not supported/, isa);
  // The features behind the detected path are reported (neon-bf16 needs FEAT_BF16, avx512bf16 AVX512_BF16).
  const features: string[] = addon.cpuFeatures().split(' ');
  const need: Record<string, string[]> = {
    scalar: [],
    avx2: ['avx2', 'fma'],
    avx512: ['avx512f'],
    avx512bf16: ['avx512f', 'avx512bf16'],
    amx: ['avx512bf16', 'amx-tile', 'amx-bf16'],
    neon: ['neon'],
    'neon-bf16': ['neon', 'bf16'],
  };
  for (const f of need[addon.detectedIsa() as string] ?? ['?']) assert.ok(features.includes(f), `${f} in ${features}`);
  forEachIsa((isa) => assert.equal(backend.isa(), isa));
  assert.ok(backend.threads() >= 1);
  // The AMX path is on exactly when detection says so, and otherwise says why.
  const amx: string = addon.amxStatus();
  assert.equal(amx === 'available', SUPPORTED_ISAS.includes('amx'), amx);
  if (amx !== 'available') {
    assert.match(amx, /^unavailable: /);
    assert.throws(() => addon.setIsa('amx'), /not supported by this CPU .*AMX unavailable/);
  }
});

test(
  'AMX tiles: the three layouts, accumulate and a strided batch against float64, forced with setIsa',
  { skip: NO_AMX },
  () => {
    const before = addon.isa();
    try {
      addon.setIsa('amx');
      let seed = 301;
      for (const [transA, transB] of [
        [false, true],
        [false, false],
        [true, false],
      ] as const) {
        for (const [m, n, k] of [
          [33, 47, 75],
          [96, 64, 64],
          [5, 130, 600],
        ] as const) {
          const a = toBf16(randomF32(m * k, seed++)),
            b = toBf16(randomF32(n * k, seed++)),
            base = randomF32(m * n, seed++);
          const r = reference({
            transA,
            transB,
            m,
            n,
            k,
            a: widen(a),
            b: widen(b),
            lda: transA ? m : k,
            ldb: transB ? k : n,
          });
          for (const accumulate of [false, true]) {
            const c = accumulate ? base.slice() : new Float32Array(m * n);
            backend.gemm({ transA, transB, m, n, k, a, b, c, accumulate });
            assertClose(
              c,
              n,
              r.c,
              r.mag,
              m,
              n,
              k,
              1,
              accumulate ? base : null,
              `amx trans=${+transA}${+transB} ${m}x${n}x${k}`,
            );
          }
        }
      }
      const [batch, m, n, k] = [3, 40, 33, 70];
      const a = toBf16(randomF32(batch * m * k, 401)),
        b = toBf16(randomF32(batch * k * n, 402));
      const c = new Float32Array(batch * m * n);
      backend.gemm({ transA: false, transB: false, m, n, k, a, b, c, batch });
      for (let bi = 0; bi < batch; bi++) {
        const ai = widen(a.subarray(bi * m * k, (bi + 1) * m * k)),
          bb = widen(b.subarray(bi * k * n, (bi + 1) * k * n));
        const r = reference({ transA: false, transB: false, m, n, k, a: ai, b: bb, lda: k, ldb: n });
        assertClose(c.subarray(bi * m * n), n, r.c, r.mag, m, n, k, 1, null, `amx batch item ${bi}`);
      }
      assert.equal(backend.isa(), 'amx');
    } finally {
      addon.setIsa(before);
    }
  },
);
