// Times the native attention and RMSNorm kernels at SmolLM2-135M shapes (B=2, T=512, H=9, Hkv=3, hd=64, D=576).
// Usage: node --import tsx bench/kernels-attention.ts [--isa avx512|avx2|scalar] [--threads N] [--iters N]
// FLOPs count the causal work only: forward 4·B·H·hd·T(T+1)/2 (QKᵀ and PV), backward 2.5x that (5 products).
import { cpuBackend } from '../src/engine/cpu-backend.js';
import { loadNative } from '../src/engine/native.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const native = loadNative();
if (arg('isa')) native.setIsa(arg('isa'));
if (arg('threads')) native.setThreads(Number(arg('threads')));
const iters = Number(arg('iters') ?? 5);
const cpu = cpuBackend();

const B = 2,
  T = 512,
  H = 9,
  Hkv = 3,
  hd = 64,
  D = 576;
function random(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (((s >>> 8) / 16777216) * 2 - 1) * scale;
  }
  return a;
}

/**
 * Best wall time and best CPU time (all threads, ms) of fn over iters runs, after one warm-up. The machine is
 * shared: the best run is the least disturbed one, and CPU time is what the kernel itself consumed.
 */
function time(fn: () => void): { wall: number; cpu: number } {
  fn();
  let wall = Infinity,
    cpu = Infinity;
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e3);
  }
  return { wall, cpu };
}
const rate = (flops: number, t: { wall: number; cpu: number }) =>
  `${t.wall.toFixed(2)} ms  ${(flops / t.wall / 1e6).toFixed(1)} GFLOP/s  (${(flops / t.cpu / 1e6).toFixed(1)} GFLOP/s per busy core)`;

const q = random(B * T * H * hd, 2),
  k = random(B * T * Hkv * hd, 2),
  v = random(B * T * Hkv * hd);
const out = new Float32Array(q.length),
  lse = new Float32Array(B * H * T),
  dout = random(q.length);
const dq = new Float32Array(q.length),
  dk = new Float32Array(k.length),
  dv = new Float32Array(v.length);
const shape = { batch: B, qLen: T, kvLen: T, heads: H, kvHeads: Hkv, headDim: hd, scale: 1 / Math.sqrt(hd) };
const fwdFlops = (4 * B * H * hd * (T * (T + 1))) / 2;

const tf = time(() => cpu.attentionForward({ ...shape, q, k, v, out, lse }));
const tb = time(() => cpu.attentionBackward({ ...shape, q, k, v, out, lse, dout, dq, dk, dv }));
const cacheLen = 1024,
  kc = random(cacheLen * Hkv * hd, 2),
  vc = random(cacheLen * Hkv * hd),
  q1 = random(H * hd),
  o1 = new Float32Array(H * hd);
const td = time(() =>
  cpu.attentionForward({ ...shape, batch: 1, qLen: 1, kvLen: cacheLen, q: q1, k: kc, v: vc, out: o1, lse: null }),
);
const x = random(B * T * D),
  w = random(D),
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
