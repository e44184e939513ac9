// checkpoint(fn, x): gradients equal the recorded path's, dropout masks are redrawn identically on
// recompute, the nested segment is freed, and noGrad passes straight through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, backward, checkpoint, dropout, linear, noGrad, rmsnorm, swiglu, Tensor } from '../../src/engine/index.js';
import { tapeLength } from '../../src/engine/tape.js';
import { SplitMix64 } from '../../src/util/random.js';

function randomTensor(shape: number[], seed: number, requiresGrad = false): Tensor {
  const rng = new SplitMix64(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const t = Tensor.from(
    Float32Array.from({ length: n }, () => rng.nextU32() / 2 ** 32 - 0.5),
    shape,
    'f32',
  );
  t.requiresGrad = requiresGrad;
  return t;
}

/** A residual block with a norm, two projections, SwiGLU and dropout. */
function makeBlock(w1: Tensor, w2: Tensor, w3: Tensor, norm: Tensor, p: number) {
  return (x: Tensor): Tensor => {
    const h = rmsnorm(x, norm, 1e-5);
    const act = swiglu(linear(h, w1), linear(h, w2));
    return add(x, dropout(linear(act, w3), p, 1234));
  };
}

function gradsOf(useCheckpoint: boolean, p: number): Float32Array[] {
  const x0 = randomTensor([6, 8], 1, true);
  const w1 = randomTensor([12, 8], 2, true);
  const w2 = randomTensor([12, 8], 3, true);
  const w3 = randomTensor([8, 12], 4, true);
  const norm = randomTensor([8], 5, true);
  const head = randomTensor([3, 8], 6, true);
  const block = makeBlock(w1, w2, w3, norm, p);
  let x = x0;
  for (let layer = 0; layer < 3; layer++) x = useCheckpoint ? checkpoint(block, x) : block(x);
  const y = linear(x, head);
  const seed = Float32Array.from({ length: y.numel }, (_, i) => Math.sin(i + 1));
  backward(y, seed);
  assert.equal(tapeLength(), 0);
  return [x0, w1, w2, w3, norm, head].map((t) => t.grad!);
}

test('checkpoint: gradients equal the recorded path (with dropout masks replayed on recompute)', () => {
  for (const p of [0, 0.3]) {
    const plain = gradsOf(false, p);
    const ckpt = gradsOf(true, p);
    plain.forEach((g, i) => assert.deepEqual(ckpt[i], g, `p=${p}: gradient ${i}`));
  }
  // Dropout really acts: the masks change the gradients.
  assert.notDeepEqual(gradsOf(true, 0.3)[1], gradsOf(true, 0)[1]);
});

test('checkpoint: parameters without an input that needs grad still get gradients; noGrad is a plain call', () => {
  const x = randomTensor([4, 8], 7);
  const w = randomTensor([8, 8], 8, true);
  const y = checkpoint((t) => linear(t, w), x);
  backward(y, new Float32Array(y.numel).fill(1));
  const expected = new Float32Array(64);
  for (let o = 0; o < 8; o++)
    for (let i = 0; i < 8; i++) for (let n = 0; n < 4; n++) expected[o * 8 + i]! += x.data[n * 8 + i]!;
  w.grad!.forEach((g, i) => assert.ok(Math.abs(g - expected[i]!) < 1e-5));
  assert.equal(x.grad, null);
  const z = noGrad(() => checkpoint((t) => linear(t, w), x));
  assert.equal(z.node, null);
  assert.equal(tapeLength(), 0);
});
