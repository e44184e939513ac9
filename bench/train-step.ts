// One LoRA training step on a SmolLM2-135M- or Qwen2.5-0.5B-shaped model (random weights), measured as
// ../shared/reference/torch_speed.py measures PyTorch: forward over B x T tokens, mean cross-entropy over the
// B x (T-1) next-token targets, backward, AdamW step and zero_grad, timed together; --steps counts every step
// run and, as there, the first is left out and the median of the rest (element floor(n/2) of the sorted
// times) is reported. The model folder is created once and cached in /tmp.
// Usage: node --import tsx bench/train-step.ts [--shape smollm2-135m|qwen2.5-0.5b] [--dtype bf16|f32]
//          [--layers 30] [--seq 512] [--batch 2] [--steps 4] [--rank 16] [--profile] [--json] [--compare ROUNDS]
// --shape picks the model shape (default smollm2-135m; --layers defaults to the shape's own: 30 or 24).
// --profile times every backend call (GEMMs by layout and shape) and prints where a step's time goes.
// --compare R runs R interleaved rounds of [PyTorch torch_speed.py lora, this benchmark] as child processes
// with the same shape (SHAPE= for torch_speed.py) and reports tokens/s and peak RSS of both (the machine is
// shared: compare medians of rounds, with the load average beside them).
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchArgs, formatTable, median, runJsonLine } from '../src/bench/measure.js';
import { benchModel } from '../src/bench/models.js';
import { AdamW, backward, getBackend, poolStats, type Backend, type GemmArgs } from '../src/engine/index.js';
import { LlamaModel } from '../src/model/llama.js';
import { sharedDir } from '../test/helpers/shared.js';

const args = benchArgs();
const flag = args.flag;
const num = args.number;

// Each shape: the create-model preset, its layer count, and torch_speed.py's SHAPE (hidden, intermediate, heads,
// kv heads, vocab). The PyTorch model is a plain Llama block stack: no q/k/v biases, which the Qwen2 preset has
// (frozen, a few thousand parameters per layer: negligible time).
const SHAPES = {
  'smollm2-135m': { preset: 'smollm2-135m-shape', layers: 30, torchShape: '576,1536,9,3,49152' },
  'qwen2.5-0.5b': { preset: 'qwen2.5-0.5b-shape', layers: 24, torchShape: '896,4864,14,2,151936' },
} as const;
const shapeName = args.string('shape', 'smollm2-135m');
if (!(shapeName in SHAPES)) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}`);
const shape = SHAPES[shapeName as keyof typeof SHAPES];

const dtype = args.string('dtype', 'bf16') as 'bf16' | 'f32';
const layers = num('layers', shape.layers),
  seq = num('seq', 512),
  batch = num('batch', 2),
  steps = num('steps', 4);
const rank = num('rank', 16),
  warmup = 1;
if (!(steps >= 2)) throw new Error('--steps must be at least 2 (the first step is not timed)');
const profile = flag('profile'),
  json = flag('json');

// ---- --compare: interleaved rounds against PyTorch ---------------------------------------------------
const compareRounds = num('compare', 0);
if (compareRounds > 0) {
  const shared = sharedDir();
  if (!shared) throw new Error('--compare needs ../shared/reference/torch_speed.py');
  const script = join(shared, 'reference', 'torch_speed.py');
  const own = process.argv
    .slice(1)
    .filter((a, i, all) => a !== '--compare' && all[i - 1] !== '--compare' && a !== '--profile');
  const torchTps: number[] = [],
    oursTps: number[] = [],
    ratios: number[] = [],
    torchRss: number[] = [],
    oursRss: number[] = [];
  // torch_speed.py run through runpy, so that its own peak RSS (getrusage: KiB on Linux) is printed after it.
  const torchRun = [
    '-c',
    'import resource, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__"); ' +
      'print("peak_rss_kib=%d" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)',
    script,
  ];
  for (let r = 0; r < compareRounds; r++) {
    const load0 = loadavg()[0]!.toFixed(2);
    const t = spawnSync(
      '/usr/bin/python3',
      [...torchRun, 'lora', dtype, `${layers}`, `${seq}`, `${batch}`, `${steps}`],
      {
        encoding: 'utf8',
        env: { ...process.env, SHAPE: shape.torchShape },
      },
    );
    const tm = /tokens_per_s=([\d.]+)/.exec(t.stdout ?? '');
    const trss = /peak_rss_kib=(\d+)/.exec(t.stdout ?? '');
    if (!tm) process.stderr.write(t.stderr ?? '');
    const o = runJsonLine(process.execPath, [...process.execArgv, ...own, '--json']);
    if (!o.result) process.stderr.write(o.error);
    const ours = typeof o.result?.tokens_per_s === 'number' ? o.result.tokens_per_s : null;
    const oursMiB = typeof o.result?.peak_rss_mib === 'number' ? o.result.peak_rss_mib : null;
    const torchV = tm ? Number(tm[1]) : null;
    const torchMiB = trss ? Number(trss[1]) / 1024 : null;
    if (torchV !== null) torchTps.push(torchV);
    if (ours !== null) oursTps.push(ours);
    if (torchMiB !== null) torchRss.push(torchMiB);
    if (oursMiB !== null) oursRss.push(oursMiB);
    if (torchV !== null && ours !== null) ratios.push(ours / torchV);
    process.stdout.write(
      `round ${r + 1}/${compareRounds}: torch ${torchV ?? 'failed'} tok/s (peak RSS ${torchMiB?.toFixed(0) ?? '?'} MiB), ` +
        `sftkit ${ours ?? 'failed'} tok/s (peak RSS ${oursMiB ?? '?'} MiB)` +
        `${torchV && ours ? ` (${(ours / torchV).toFixed(2)}x)` : ''}; load ${load0} -> ${loadavg()[0]!.toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `${shapeName} shape, ${layers} layers, seq ${seq}, batch ${batch}, LoRA r=${rank}, ${dtype}: median of ${compareRounds} rounds: ` +
      `torch ${median(torchTps).toFixed(1)} tok/s, sftkit ${median(oursTps).toFixed(1)} tok/s, median per-round ratio ${median(ratios).toFixed(2)}x; ` +
      `peak RSS torch ${median(torchRss).toFixed(0)} MiB, sftkit ${median(oursRss).toFixed(0)} MiB (${(median(oursRss) / median(torchRss)).toFixed(2)}x)\n`,
  );
  process.exit(0);
}

// ---- the model (cached per layer count) ----------------------------------------------------------
const dir = await benchModel(shape.preset, { layers });
const model = LlamaModel.load(dir, { dtype });
model.attachLora({ r: rank, loraAlpha: 2 * rank, loraDropout: 0, targetModules: 'all-linear', useRslora: false }, 0);
const params = model.trainableParameters().map((p) => p.tensor);
const opt = new AdamW(params, { lr: 1e-4 });
const vocab = model.config.vocabSize;

// Random ids; labels = ids (every next-token position trained), as torch_speed.py.
let s = 12345;
const inputIds = new Int32Array(batch * seq).map(() => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % vocab);
const modelBatch = { batch, seq, inputIds };

// ---- profiling: wrap every backend method with a timer -------------------------------------------
interface Stat {
  calls: number;
  ms: number;
  flops: number;
}
const stats = new Map<string, Stat>();
let profiling = false;
function gemmKey(a: GemmArgs): string {
  const lay = `${a.transA ? 't' : 'n'}${a.transB ? 't' : 'n'}`;
  const ty = (x: unknown) => (x instanceof Uint16Array ? 'h' : 'f');
  return `gemm ${lay} ${ty(a.a)}${ty(a.b)} m${a.m} n${a.n} k${a.k}${a.accumulate ? ' +=' : ''}`;
}
if (profile) {
  const be = getBackend() as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(be)) {
    if (typeof fn !== 'function' || name === 'isa' || name === 'threads') continue;
    be[name] = (...args: unknown[]) => {
      if (!profiling) return (fn as (...a: unknown[]) => unknown)(...args);
      const t0 = performance.now();
      const r = (fn as (...a: unknown[]) => unknown)(...args);
      const ms = performance.now() - t0;
      let key = name;
      let flops = 0;
      if (name === 'gemm') {
        const g = args[0] as GemmArgs;
        key = gemmKey(g);
        flops = 2 * g.m * g.n * g.k * (g.batch ?? 1);
      } else if (name === 'gemmNarrow') {
        const [transA, , , , m, n, k] = args as [boolean, unknown, unknown, unknown, number, number, number];
        key = `gemmNarrow ${transA ? 'tn' : 'nn'} m${m} n${n} k${k}`;
        flops = 2 * m * n * k;
      }
      const st = stats.get(key) ?? { calls: 0, ms: 0, flops: 0 };
      st.calls++;
      st.ms += ms;
      st.flops += flops;
      stats.set(key, st);
      return r;
    };
  }
}

// ---- the steps ---------------------------------------------------------------------------------
const times: number[] = [],
  fwdTimes: number[] = [],
  bwdTimes: number[] = [],
  optTimes: number[] = [];
let loss = NaN;
for (let i = 0; i < steps; i++) {
  profiling = profile && i >= warmup;
  const t0 = performance.now();
  const l = model.loss(modelBatch, { training: true });
  const t1 = performance.now();
  loss = l.value.toF32()[0]!;
  backward(l.value);
  l.value.dispose();
  const t2 = performance.now();
  opt.step();
  opt.zeroGrad();
  const t3 = performance.now();
  if (i >= warmup) {
    times.push(t3 - t0);
    fwdTimes.push(t1 - t0);
    bwdTimes.push(t2 - t1);
    optTimes.push(t3 - t2);
  }
  if (!json)
    process.stderr.write(
      `step ${i + 1}/${steps}: ${((t3 - t0) / 1000).toFixed(3)} s (fwd ${(t1 - t0).toFixed(0)} ms, bwd ${(t2 - t1).toFixed(0)} ms, opt ${(t3 - t2).toFixed(0)} ms) loss ${loss.toFixed(4)}\n`,
    );
}
profiling = false;

const stepMs = median(times);
const tokensPerS = (batch * seq) / (stepMs / 1000);
const peakRssMiB = process.resourceUsage().maxRSS / 1024;
const be = getBackend() as Backend;
const result = {
  shape: shapeName,
  dtype,
  layers,
  seq,
  batch,
  rank,
  steps,
  threads: be.threads(),
  isa: be.isa(),
  step_s: +(stepMs / 1000).toFixed(3),
  tokens_per_s: +tokensPerS.toFixed(1),
  fwd_ms: +median(fwdTimes).toFixed(0),
  bwd_ms: +median(bwdTimes).toFixed(0),
  opt_ms: +median(optTimes).toFixed(1),
  loss: +loss.toFixed(4),
  peak_rss_mib: +peakRssMiB.toFixed(0),
  pool_free_mib: +(poolStats().freeBytes / 2 ** 20).toFixed(0),
};
if (json) process.stdout.write(JSON.stringify(result) + '\n');
else {
  process.stdout.write(
    `sftkit ${shapeName} shape ${dtype} layers=${layers} seq=${seq} batch=${batch} lora r=${rank} (${be.threads()} threads, ${be.isa()})\n`,
  );
  process.stdout.write(
    `step_s=${result.step_s} tokens_per_s=${result.tokens_per_s} fwd=${result.fwd_ms}ms bwd=${result.bwd_ms}ms opt=${result.opt_ms}ms peak_rss=${result.peak_rss_mib}MiB\n`,
  );
}

if (profile) {
  const total = times.reduce((a, b) => a + b, 0);
  const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const kernelMs = rows.reduce((a, [, st]) => a + st.ms, 0);
  const out = process.stdout;
  const timed = steps - warmup;
  out.write(
    `\nprofile over ${timed} steps: ${(total / timed).toFixed(0)} ms/step, backend calls ${(kernelMs / timed).toFixed(0)} ms/step, other (JS) ${((total - kernelMs) / timed).toFixed(0)} ms/step\n`,
  );
  // Aggregate by op family too (gemm layouts collapsed).
  const fam = new Map<string, number>();
  const opRows: string[][] = [];
  for (const [key, st] of rows) {
    const f = key.startsWith('gemmNarrow')
      ? key.split(' ').slice(0, 2).join(' ')
      : key.startsWith('gemm')
        ? key.split(' ').slice(0, 3).join(' ')
        : key;
    fam.set(f, (fam.get(f) ?? 0) + st.ms);
    if (st.ms / timed < 1) continue;
    const gf = st.flops ? (st.flops / (st.ms / 1000) / 1e9).toFixed(1) : '';
    opRows.push([
      key,
      (st.calls / timed).toFixed(0),
      (st.ms / timed).toFixed(1),
      ((100 * st.ms) / total).toFixed(1),
      gf,
    ]);
  }
  out.write(formatTable(['op', 'calls/step', 'ms/step', '%', 'GFLOP/s'], opRows, { align: ['l', 'r', 'r', 'r', 'r'] }));
  out.write('\nby family:\n');
  const famRows = [...fam.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([f, ms]) => [f, (ms / timed).toFixed(1), ((100 * ms) / total).toFixed(1)]);
  out.write(formatTable(['family', 'ms/step', '%'], famRows, { align: ['l', 'r', 'r'] }));
}
