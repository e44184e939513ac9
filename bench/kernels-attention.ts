// Times the native attention and RMSNorm kernels at SmolLM2-135M shapes (B=2, T=512, H=9, Hkv=3, hd=64, D=576).
// Usage: node --import tsx bench/kernels-attention.ts [--isa avx512|avx2|scalar] [--threads N] [--iters N]
// FLOPs count the causal work only: forward 4·B·H·hd·T(T+1)/2 (QKᵀ and PV), backward 2.5x that (5 products).
// Reported: the best wall time of --iters runs (the least disturbed on a shared machine) and the rate per busy
// core from the best CPU time.
import { attentionFlops, SMOLLM2_LAYER } from '../src/bench/layer.js';
import { benchArgs, bestMs, randomF32 } from '../src/bench/measure.js';
import { cpuBackend } from '../src/engine/cpu-backend.js';
import { loadNative } from '../src/engine/native.js';

const args = benchArgs();
const native = loadNative();
const isaFlag = args.string('isa');
if (isaFlag) native.setIsa(isaFlag);
if (args.string('threads')) native.setThreads(args.number('threads', 0));
const iters = args.number('iters', 5);
const cpu = cpuBackend();
const time = (fn: () => void) => bestMs(fn, iters);

const B = 2,
  T = 512,
  { heads: H, kvHeads: Hkv, headDim: hd, hidden: D } = SMOLLM2_LAYER;
const rate = (flops: number, t: { wall: number; cpu: number }) =>
  `${t.wall.toFixed(2)} ms  ${(flops / t.wall / 1e6).toFixed(1)} GFLOP/s  (${(flops / t.cpu / 1e6).toFixed(1)} GFLOP/s per busy core)`;

const q = randomF32(B * T * H * hd, 1, 2),
  k = randomF32(B * T * Hkv * hd, 2, 2),
  v = randomF32(B * T * Hkv * hd, 3);
const out = new Float32Array(q.length),
  lse = new Float32Array(B * H * T),
  dout = randomF32(q.length, 4);
const dq = new Float32Array(q.length),
  dk = new Float32Array(k.length),
  dv = new Float32Array(v.length);
const shape = { batch: B, qLen: T, kvLen: T, heads: H, kvHeads: Hkv, headDim: hd, scale: 1 / Math.sqrt(hd) };
const fwdFlops = attentionFlops(B, H, hd, T);

const tf = time(() => cpu.attentionForward({ ...shape, q, k, v, out, lse }));
const tb = time(() => cpu.attentionBackward({ ...shape, q, k, v, out, lse, dout, dq, dk, dv }));
const cacheLen = 1024,
  kc = randomF32(cacheLen * Hkv * hd, 5, 2),
  vc = randomF32(cacheLen * Hkv * hd, 6),
  q1 = randomF32(H * hd, 7),
  o1 = new Float32Array(H * hd);
const td = time(() =>
  cpu.attentionForward({ ...shape, batch: 1, qLen: 1, kvLen: cacheLen, q: q1, k: kc, v: vc, out: o1, lse: null }),
);
const x = randomF32(B * T * D, 8),
  w = randomF32(D, 9),
  y = new Float32Array(x.length),
  rstd = new Float32Array(B * T);
const dx = new Float32Array(x.length),
  dw = new Float32Array(D);
const tn = time(() => cpu.rmsnormForward(x, w, B * T, D, 1e-5, y, rstd));
const tnb = time(() => cpu.rmsnormBackward(x, x, w, rstd, B * T, D, dx, dw));
const gbs = (bytes: number, ms: number) => (bytes / ms / 1e6).toFixed(1);

console.log(
  `isa=${cpu.isa()} threads=${cpu.threads()} B=${B} T=${T} H=${H} Hkv=${Hkv} hd=${hd} D=${D} (best of ${iters})`,
);
console.log(`attention forward : ${rate(fwdFlops, tf)}`);
console.log(`attention backward: ${rate(2.5 * fwdFlops, tb)}`);
console.log(`decode step (Tq=1, kvLen=${cacheLen}, 1 layer): ${(td.wall * 1000).toFixed(0)} us`);
console.log(`rmsnorm forward   : ${(tn.wall * 1000).toFixed(0)} us  ${gbs(x.length * 8, tn.wall)} GB/s`);
console.log(`rmsnorm backward  : ${(tnb.wall * 1000).toFixed(0)} us  ${gbs(x.length * 12, tnb.wall)} GB/s`);
