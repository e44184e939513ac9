// NF4/FP4 quantization against (1) golden values from ../shared/reference/nf4_ref.py (an independent PyTorch
// implementation of bitsandbytes' algorithm, generated once into test/fixtures/quant/nf4-golden.json by
// make-nf4-golden.py) and (2) a float64 reference of the algorithm written here, plus the error statistics NF4
// should have on N(0, 1) weights and the 8-bit error bound of double-quantized scales.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { blockScales, dequantize4Bit, quantize4Bit } from '../../src/quant/blockwise.js';
import { DYNAMIC_MAP_SIGNED, FP4_CODE, NF4_CODE } from '../../src/quant/codebook.js';

interface GoldenQuant {
  weight: string;
  absmax: string;
  dequantized: string;
  nested_absmax?: string;
  offset?: number;
}
interface GoldenCase {
  name: string;
  shape: number[];
  input_bf16: string;
  double: GoldenQuant;
  single: GoldenQuant;
}
const golden = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'quant', 'nf4-golden.json'), 'utf8'),
) as { dynamic_map: string; cases: GoldenCase[] };

function bytes(b64: string): Uint8Array {
  const b = Buffer.from(b64, 'base64');
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}
const f32s = (b64: string) => new Float32Array(bytes(b64).buffer);

function bf16Input(c: GoldenCase): Float32Array {
  const bits = new Uint16Array(bytes(c.input_bf16).buffer);
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

function gaussian(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

// ---- the float64 reference (independent of src/quant: nearest code by distance, division by absmax) ----

/** Index of the code nearest to v (ties to the lower index), by exhaustive search. */
function nearest(code: ArrayLike<number>, v: number): number {
  let best = 0;
  for (let i = 1; i < code.length; i++) if (Math.abs(code[i]! - v) < Math.abs(code[best]! - v)) best = i;
  return best;
}

/** Whether v sits within `eps` of the midpoint between two codes (where float32 vs float64 rounding may choose either). */
function nearMidpoint(code: ArrayLike<number>, v: number, eps: number): boolean {
  const sorted = Array.from(code).sort((a, b) => a - b);
  for (let i = 0; i + 1 < sorted.length; i++) if (Math.abs(v - (sorted[i]! + sorted[i + 1]!) / 2) < eps) return true;
  return false;
}

/** bitsandbytes' signed dynamic map in exact arithmetic: per decade i, the means of linspace(0.1, 1, 2^i + 1). */
function dynamicMap64(): number[] {
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const items = 2 ** i + 1;
    const b = Array.from({ length: items }, (_, j) => 0.1 + (0.9 * j) / (items - 1));
    for (let j = 0; j + 1 < items; j++) {
      const mean = ((b[j]! + b[j + 1]!) / 2) * 10 ** (i - 6);
      data.push(mean, -mean);
    }
  }
  data.push(0, 1);
  return data.sort((a, b) => a - b);
}

test('code tables: NF4 and FP4 values, the dynamic map equals PyTorch bit for bit and exact arithmetic to 4 ulp (float32 roundings of linspace, mean and scale)', () => {
  assert.equal(NF4_CODE.length, 16);
  assert.equal(NF4_CODE[7], 0);
  assert.equal(NF4_CODE[0], -1);
  assert.equal(NF4_CODE[15], 1);
  assert.deepEqual(
    Array.from(FP4_CODE.slice(0, 8), (v) => v * 12),
    [0, 0.0625, 8, 12, 4, 6, 2, 3].map((v) => Math.fround(v / 12) * 12),
  );
  assert.deepEqual(Array.from(DYNAMIC_MAP_SIGNED), Array.from(f32s(golden.dynamic_map)));
  const exact = dynamicMap64();
  assert.equal(exact.length, 256);
  for (let i = 0; i < 256; i++)
    assert.ok(
      Math.abs(DYNAMIC_MAP_SIGNED[i]! - exact[i]!) <= 4 * 2 ** -24 * Math.abs(exact[i]!) + 1e-45,
      `map[${i}] ${DYNAMIC_MAP_SIGNED[i]} vs ${exact[i]}`,
    );
});

test('quantize4Bit matches the PyTorch reference bit for bit (codes, scales, nested scales, dequantized values)', () => {
  for (const c of golden.cases) {
    const w = bf16Input(c);
    for (const doubleQuant of [true, false]) {
      const g = doubleQuant ? c.double : c.single;
      const q = quantize4Bit(w, c.shape, { doubleQuant });
      const what = `${c.name} doubleQuant=${doubleQuant}`;
      assert.deepEqual(q.packed, bytes(g.weight), `${what}: packed codes`);
      if (doubleQuant) {
        assert.deepEqual(q.absmax, bytes(g.absmax), `${what}: uint8 scales`);
        assert.equal(q.nested!.offset, g.offset, `${what}: offset`);
        const nested = f32s(g.nested_absmax!);
        // The reference floors a lone partial nested block's absmax at 1e-38; bitsandbytes' kernels store 0.
        for (let i = 0; i < nested.length; i++) {
          if (nested[i]! <= 1e-38) assert.ok(q.nested!.absmax[i]! <= 1e-38, `${what}: nested absmax ${i}`);
          else assert.equal(q.nested!.absmax[i], nested[i], `${what}: nested absmax ${i}`);
        }
      } else {
        assert.deepEqual(q.absmax, f32s(g.absmax), `${what}: f32 scales`);
      }
      assert.deepEqual(dequantize4Bit(q), f32s(g.dequantized), `${what}: dequantized`);
    }
  }
});

test('quantize4Bit agrees with a float64 reference on every element (nf4 and fp4, blocks straddling rows)', () => {
  const shape = [37, 91]; // 3367 elements: odd count, partial last block
  const w64 = gaussian(37 * 91, 3);
  const w = Float32Array.from(w64, (v) => v * 0.03);
  for (const type of ['nf4', 'fp4'] as const) {
    const code = type === 'nf4' ? NF4_CODE : FP4_CODE;
    const q = quantize4Bit(w, shape, { type, doubleQuant: false });
    const deq = dequantize4Bit(q);
    let borderline = 0;
    for (let b = 0; b * 64 < w.length; b++) {
      const block = Array.from(w.subarray(b * 64, (b + 1) * 64));
      const absmax = Math.max(...block.map(Math.abs));
      assert.equal(q.absmax[b], absmax, `${type} absmax of block ${b}`);
      block.forEach((x, j) => {
        const i = b * 64 + j;
        const v = x / absmax;
        const want = nearest(code, v);
        const byte = q.packed[i >> 1]!;
        const got = i & 1 ? byte & 15 : byte >> 4;
        if (code[got] !== code[want]) {
          assert.ok(
            nearMidpoint(code, v, 1e-6),
            `${type} element ${i}: code ${got} (${code[got]}) vs nearest ${want} (${code[want]}) for ${v}`,
          );
          borderline++;
        } else {
          assert.ok(
            Math.abs(deq[i]! - code[want]! * absmax) <= 2 ** -24 * Math.abs(code[want]! * absmax),
            `${type} dequantized ${i}`,
          );
        }
      });
    }
    assert.ok(borderline <= 2, `${type}: ${borderline} elements on a midpoint`);
    if (w.length & 1) assert.equal(q.packed[q.packed.length - 1]! & 15, 0, 'the padding nibble is 0');
  }
});

test('NF4 round-trip error on N(0, 1) weights: ~9% relative RMS, unbiased, every code in use', () => {
  const n = 64 * 1024;
  const w = Float32Array.from(gaussian(n, 11));
  const q = quantize4Bit(w, [256, 256], { doubleQuant: true });
  const d = dequantize4Bit(q);
  let se = 0;
  let ss = 0;
  let bias = 0;
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < n; i++) {
    se += (d[i]! - w[i]!) ** 2;
    ss += w[i]! ** 2;
    bias += d[i]! - w[i]!;
    const byte = q.packed[i >> 1]!;
    counts[i & 1 ? byte & 15 : byte >> 4]!++;
  }
  const rel = Math.sqrt(se / ss);
  assert.ok(rel > 0.07 && rel < 0.11, `relative RMS error ${rel}`);
  assert.ok(Math.abs(bias / n) < 2e-3, `mean error ${bias / n}`);
  // NF4 codes are N(0,1) quantiles: with absmax scaling each is used, none dominates.
  for (let k = 0; k < 16; k++)
    assert.ok(counts[k]! / n > 0.01 && counts[k]! / n < 0.16, `code ${k} used ${counts[k]! / n}`);
  // FP4 is coarser on Gaussian weights (its grid is not matched to the distribution).
  const f = dequantize4Bit(quantize4Bit(w, [256, 256], { type: 'fp4', doubleQuant: false }));
  let fe = 0;
  for (let i = 0; i < n; i++) fe += (f[i]! - w[i]!) ** 2;
  assert.ok(Math.sqrt(fe / ss) > rel, 'fp4 error exceeds nf4 error');
});

test('double-quantized scales stay within the 8-bit dynamic map error of the float32 absmax', () => {
  const n = 64 * 700; // 700 blocks: 2 full nested blocks and a partial one
  const g = gaussian(n, 5);
  // Scales spread over a decade, as real layers' are.
  const w = Float32Array.from(g, (v, i) => v * 0.01 * (1 + (9 * ((i >> 6) % 17)) / 16));
  const single = quantize4Bit(w, [n], { doubleQuant: false });
  const dq = quantize4Bit(w, [n], { doubleQuant: true });
  assert.ok(dq.absmax instanceof Uint8Array && dq.nested);
  const scales = blockScales(dq);
  const exact = single.absmax as Float32Array;
  let sum = 0;
  for (const a of exact) sum += a;
  assert.ok(Math.abs(dq.nested.offset - sum / exact.length) <= 2 ** -23 * dq.nested.offset, 'offset = mean absmax');
  // Largest gap between adjacent dynamic-map values: the half gap bounds the rounding error (relative to nested absmax).
  let gap = 0;
  for (let i = 0; i + 1 < 256; i++) gap = Math.max(gap, DYNAMIC_MAP_SIGNED[i + 1]! - DYNAMIC_MAP_SIGNED[i]!);
  for (let b = 0; b < exact.length; b++) {
    const a2 = dq.nested.absmax[Math.floor(b / 256)]!;
    const bound = (gap / 2) * a2 + 4 * 2 ** -24 * exact[b]!;
    assert.ok(Math.abs(scales[b]! - exact[b]!) <= bound, `block ${b}: ${scales[b]} vs ${exact[b]} (bound ${bound})`);
  }
  // Bytes per parameter: 4-bit codes + 1 byte per 64 + nested floats.
  const perParam = (dq.packed.byteLength + dq.absmax.byteLength + dq.nested.absmax.byteLength * 1) / n;
  assert.ok(perParam < 0.52, `${perParam} bytes/param`);
});
