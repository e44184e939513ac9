// Soak run (issue #17 item 6): a long LoRA training run on a real model that logs memory and throughput per
// optimizer step, so that leaks (RSS growing after warm-up) and throughput drift show up. Checkpoints and evals
// run periodically inside it: they are where leaks hide.
//
// Run:    nice -n 19 node --import tsx bench/soak.ts --minutes 120 --out /work/soak/soak.jsonl
// Report: node --import tsx bench/soak.ts --report /work/soak/soak.jsonl [--warmup-minutes 10] [--window-minutes 10]
//
// Model and data: ../shared/models/stories260K (Karpathy's TinyStories Llama, real weights) and gsm8k train as
// plain text (7,473 rows, packed, so the run goes through many epochs and reshuffles). One JSONL line per step:
// step, wall time (s since start), RSS, heap used, external and arrayBuffers (bytes), tokens seen, wall tokens/s of
// the step, and process CPU seconds of the step (user + system). The machine may be shared: CPU-s per step is the
// stable measure, wall tokens/s shows the load.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SFTTrainer } from '../src/train/trainer.js';
import type { SftRecord } from '../src/data/types.js';
import type { MetricsRecord } from '../src/train/metrics.js';
import { benchArgs, median } from '../src/bench/measure.js';

const MiB = 1024 * 1024;

interface SoakLine {
  step: number;
  wall_s: number;
  rss: number;
  heap_used: number;
  external: number;
  array_buffers: number;
  tokens: number;
  step_tokens: number;
  tokens_per_s: number;
  cpu_s: number;
  loss?: number;
  eval_loss?: number;
}

const args = benchArgs();
const arg = (name: string): string | undefined => args.string(name);

function numArg(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`soak: --${name} must be a positive number, got ${JSON.stringify(v)}`);
    process.exit(1);
  }
  return n;
}

function gsm8kText(path: string, limit = Infinity): SftRecord[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: SftRecord[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '' || out.length >= limit) return;
    const r = JSON.parse(l) as { question: string; answer: string };
    out.push({
      kind: 'text',
      text: `Question: ${r.question}\nAnswer: ${r.answer}`,
      source: { file: path, line: i + 1 },
    });
  });
  return out;
}

async function soak(): Promise<void> {
  const minutes = numArg('minutes', 120);
  const out = resolve(arg('out') ?? 'soak.jsonl');
  const shared = resolve(arg('shared') ?? '../shared');
  const model = join(shared, 'models/stories260K');
  const data = join(shared, 'data/gsm8k');
  if (!existsSync(join(model, 'model.safetensors')) || !existsSync(join(data, 'train.jsonl'))) {
    console.error(`soak: needs ${model} and ${data} (the shared folder; pass --shared DIR)`);
    process.exit(1);
  }
  const runDir = arg('run-dir') ?? join(dirname(out), 'soak-run');
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, '');

  const saveSteps = numArg('save-steps', 100);
  const evalSteps = numArg('eval-steps', 100);
  const started = performance.now();
  let lastWall = started;
  let lastCpu = process.cpuUsage();
  let lastTokens = 0;
  const deadline = started + minutes * 60_000;
  const onLog = (r: MetricsRecord): void => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const mem = process.memoryUsage();
    const tokens = r.tokens ?? lastTokens;
    const stepTokens = tokens - lastTokens;
    const line: SoakLine = {
      step: r.step,
      wall_s: Number(((now - started) / 1000).toFixed(3)),
      rss: mem.rss,
      heap_used: mem.heapUsed,
      external: mem.external,
      array_buffers: mem.arrayBuffers,
      tokens,
      step_tokens: stepTokens,
      tokens_per_s: Math.round(stepTokens / Math.max((now - lastWall) / 1000, 1e-9)),
      cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(4)),
      ...(r.loss !== undefined ? { loss: Number(r.loss.toFixed(5)) } : {}),
      ...(r.eval_loss !== undefined ? { eval_loss: Number(r.eval_loss.toFixed(5)) } : {}),
    };
    appendFileSync(out, JSON.stringify(line) + '\n');
    lastWall = now;
    lastCpu = process.cpuUsage();
    lastTokens = tokens;
    if (now >= deadline && !trainer.stopping) trainer.requestStop();
  };
  const trainer = new SFTTrainer({
    model,
    args: {
      output_dir: runDir,
      max_steps: 10_000_000,
      per_device_train_batch_size: numArg('batch', 8),
      max_length: numArg('max-length', 256),
      packing: true,
      logging_steps: 1,
      eval_strategy: 'steps',
      eval_steps: evalSteps,
      per_device_eval_batch_size: 8,
      save_strategy: 'steps',
      save_steps: saveSteps,
      save_total_limit: 2,
      learning_rate: 1e-3,
      lr_scheduler_type: 'constant',
      seed: 0,
    },
    peftConfig: { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['all-linear'] },
    trainDataset: gsm8kText(join(data, 'train.jsonl')),
    evalDataset: gsm8kText(join(data, 'test.jsonl'), 64),
    progress: false,
    onLog,
  });
  await trainer.prepare();
  // Start the clocks after loading: the first line is the first step.
  lastWall = performance.now();
  lastCpu = process.cpuUsage();
  const result = await trainer.train();
  console.log(
    `soak: ${result.steps} steps in ${((performance.now() - started) / 60000).toFixed(1)} min, ` +
      `final loss ${result.finalTrainLoss?.toFixed(4)}; per-step log ${out}; report: ` +
      `node --import tsx bench/soak.ts --report ${out}`,
  );
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function report(path: string): void {
  const warmup = numArg('warmup-minutes', 10) * 60;
  const windowS = numArg('window-minutes', 10) * 60;
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as SoakLine];
      } catch {
        return []; // a line cut short by a running or killed soak
      }
    });
  if (lines.length === 0) {
    console.error(`soak: ${path} has no steps`);
    process.exit(1);
  }
  const last = lines.at(-1)!;
  console.log(`${path}: ${lines.length} steps, ${(last.wall_s / 60).toFixed(1)} min`);
  const steady = lines.filter((l) => l.wall_s >= warmup);
  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  if (steady.length >= 2) {
    const hours = steady.map((l) => l.wall_s / 3600);
    const steps = steady.map((l) => l.step / 1000);
    for (const [name, key] of [
      ['RSS', 'rss'],
      ['heap used', 'heap_used'],
      ['external', 'external'],
      ['arrayBuffers', 'array_buffers'],
    ] as const) {
      const ys = steady.map((l) => l[key] / MiB);
      console.log(
        `${name.padEnd(12)} after ${warmup / 60} min warm-up: ${f(ys[0]!, 1)} -> ${f(ys.at(-1)!, 1)} MiB ` +
          `(max ${f(Math.max(...ys), 1)}); slope ${f(slope(hours, ys))} MiB/hour, ${f(slope(steps, ys), 3)} MiB per 1000 steps`,
      );
    }
  } else {
    console.log(`fewer than 2 steps after the ${warmup / 60} min warm-up: no slope`);
  }
  console.log('window (min)   steps  tok/s median [p10..p90]   CPU-s/step median [p10..p90]   RSS MiB (end)');
  for (let w0 = 0; w0 <= last.wall_s; w0 += windowS) {
    const win = lines.filter((l) => l.wall_s >= w0 && l.wall_s < w0 + windowS && l.step_tokens > 0);
    if (win.length === 0) continue;
    const tps = win.map((l) => l.tokens_per_s);
    const cpu = win.map((l) => l.cpu_s);
    console.log(
      `${`${w0 / 60}-${(w0 + windowS) / 60}`.padEnd(14)} ${String(win.length).padStart(6)}  ` +
        `${f(median(tps), 0).padStart(6)} [${f(quantile(tps, 0.1), 0)}..${f(quantile(tps, 0.9), 0)}]`.padEnd(27) +
        `${f(median(cpu), 4).padStart(8)} [${f(quantile(cpu, 0.1), 4)}..${f(quantile(cpu, 0.9), 4)}]`.padEnd(33) +
        `${f(win.at(-1)!.rss / MiB, 1)}`,
    );
  }
  const evals = lines.filter((l) => l.eval_loss !== undefined);
  if (evals.length > 0)
    console.log(`evals: ${evals.length}, eval loss first ${evals[0]!.eval_loss} last ${evals.at(-1)!.eval_loss}`);
}

const reportPath = arg('report');
if (reportPath !== undefined) report(reportPath);
else await soak();
