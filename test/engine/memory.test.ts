// 1000 training steps of a small MLP (linear -> swiglu -> linear -> lmHeadCrossEntropy, AdamW) must run
// in constant memory: the pool serves every step from the buffers of the first ones, and RSS stays flat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdamW,
  backward,
  clipGradNorm,
  cpuBackend,
  getBackend,
  linear,
  lmHeadCrossEntropy,
  poolStats,
  referenceBackend,
  setBackend,
  swiglu,
  Tensor,
  type Backend,
} from '../../src/engine/index.js';
import { skipForMissingNative } from '../helpers/native.js';
import { param, randn, rng } from './gradcheck-helper.js';

/** The native backend when every kernel this test uses is built, else null (an error under SFTKIT_REQUIRE_NATIVE=1). */
function nativeIfComplete(): Backend | null {
  try {
    const nb = cpuBackend();
    const one = Float32Array.of(1),
      z = Float32Array.of(0);
    nb.gemm({ transA: false, transB: true, m: 1, n: 1, k: 1, a: one, b: one, c: Float32Array.of(0) });
    nb.swigluForward(one, one, Float32Array.of(0));
    nb.swigluBackward(one, one, one, Float32Array.of(0), Float32Array.of(0));
    nb.crossEntropy(Float32Array.of(1, 2), Int32Array.of(0), 1, 2, Float32Array.of(0), true, 1);
    nb.adamw(Float32Array.of(1), one, Float32Array.of(0), Float32Array.of(0), {
      lr: 0,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weightDecay: 0,
      step: 1,
    });
    nb.add(one, z, Float32Array.of(0));
    nb.scale(Float32Array.of(1), 1);
    nb.sumSquares(one);
    return nb;
  } catch (e) {
    // the reference backend stands in, unless SFTKIT_REQUIRE_NATIVE=1
    skipForMissingNative(`native backend incomplete: ${(e as Error).message}`);
    return null;
  }
}

test(
  '1000 MLP training steps keep the pool and RSS flat',
  {
    skip:
      process.env.SFTKIT_ASAN === '1' &&
      'RSS growth is meaningless under AddressSanitizer (its allocator quarantines freed memory)',
  },
  (t) => {
    const native = process.env.SFTKIT_BACKEND === 'reference' ? null : nativeIfComplete();
    setBackend(native ?? referenceBackend);
    // the native backend affords a bigger model; the reference one stays small so the test stays fast
    const [N, D, F, V] = native ? [128, 128, 256, 512] : [32, 32, 64, 64];
    t.diagnostic(`backend ${getBackend().name}, N=${N} D=${D} F=${F} V=${V}`);
    const r = rng(1);
    const x = Tensor.from(randn(N * D, r), [N, D]);
    const targets = Int32Array.from({ length: N }, (_, i) => (i % 9 === 0 ? -100 : (i * 7) % V));
    const normalizer = targets.filter((v) => v !== -100).length;
    const w1 = param([F, D], r, 0.1),
      w3 = param([F, D], r, 0.1),
      w2 = param([D, F], r, 0.1),
      head = param([V, D], r, 0.1);
    const params = [w1, w3, w2, head];
    const opt = new AdamW(params, { lr: 3e-3, weightDecay: 0.01 });
    const step = (): number => {
      const h = linear(swiglu(linear(x, w1), linear(x, w3)), w2);
      const loss = lmHeadCrossEntropy(h, head, targets, { normalizer, rowsPerChunk: N / 4 });
      const value = loss.item();
      backward(loss);
      loss.dispose();
      clipGradNorm(params, 1);
      opt.step();
      opt.zeroGrad();
      return value;
    };
    const first = step();
    for (let i = 0; i < 99; i++) step();
    const rss0 = process.memoryUsage().rss;
    const pool0 = poolStats();
    let last = first;
    for (let i = 0; i < 1000; i++) last = step();
    const rss1 = process.memoryUsage().rss;
    const pool1 = poolStats();
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    t.diagnostic(
      `loss ${first.toFixed(4)} -> ${last.toFixed(4)}; RSS after warm-up ${mb(rss0)} MiB, after 1000 more steps ${mb(rss1)} MiB (${mb(rss1 - rss0)} MiB)`,
    );
    t.diagnostic(
      `pool: live ${pool1.liveBytes} B, free ${pool1.freeBytes} B, hits ${pool1.hits - pool0.hits}, misses ${pool1.misses - pool0.misses} during the 1000 steps`,
    );
    assert.ok(last < first * 0.5, `training makes progress (${first} -> ${last})`);
    assert.equal(pool1.misses, pool0.misses, 'after warm-up every pooled buffer is reused');
    assert.equal(pool1.liveBytes, pool0.liveBytes, 'no pooled buffer leaks');
    assert.ok(pool1.hits > pool0.hits, 'the pool is in use');
    assert.ok(rss1 - rss0 < 48 * 2 ** 20, `RSS grew by ${mb(rss1 - rss0)} MiB`);
    for (const p of params) p.dispose();
    x.dispose();
  },
);
