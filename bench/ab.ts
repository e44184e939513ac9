// Runs benchmarks in two checkouts side by side: each round runs every command in the before and then the after
// checkout, so all of them see the same machine load, and the table shows each numeric field's median with the
// after/before ratio. Every command prints a JSON line last (bench/qlora.ts --variant V, bench/train-step.ts
// --json).
//   node --import tsx bench/ab.ts --before DIR [--after DIR] [--rounds 3] [--metric tokensPerS] -- BENCH.ts ARGS...
//        [-- BENCH.ts ARGS...]
// e.g. bench/ab.ts --before ../sftkit-main -- bench/qlora.ts --variant lora-bf16 -- bench/qlora.ts --variant
// qlora-prequantized (the before checkout needs its own built addon; commands run with the checkout as cwd).
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

function option(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  const sep = process.argv.indexOf('--');
  return i >= 0 && (sep < 0 || i < sep) ? process.argv[i + 1] : fallback;
}

const sep = process.argv.indexOf('--');
if (sep < 0 || !option('before')) {
  console.error('usage: bench/ab.ts --before DIR [--after DIR] [--rounds N] [--metric KEY] -- BENCH.ts ARGS...');
  process.exit(2);
}
const commands: string[][] = [];
for (const a of process.argv.slice(sep + 1)) {
  if (a === '--' || commands.length === 0) commands.push([]);
  if (a !== '--') commands[commands.length - 1]!.push(a);
}
const trees = { before: resolve(option('before')!), after: resolve(option('after', process.cwd())!) };
const rounds = Number(option('rounds', '3'));
const metric = option('metric', 'tokensPerS')!;

type Result = Record<string, unknown>;
const results = commands.map(() => ({ before: [] as Result[], after: [] as Result[] }));

for (let r = 0; r < rounds; r++) {
  commands.forEach((command, c) => {
    for (const side of ['before', 'after'] as const) {
      const load = loadavg()[0]!.toFixed(1);
      const run = spawnSync(process.execPath, ['--import', 'tsx', ...command], { cwd: trees[side], encoding: 'utf8' });
      const line = (run.stdout ?? '').trim().split('\n').pop() ?? '';
      if (run.status !== 0 || !line.startsWith('{')) {
        process.stderr.write(run.stderr ?? '');
        throw new Error(`${side} (${trees[side]}) failed: ${command.join(' ')}`);
      }
      const res = JSON.parse(line) as Result;
      results[c]![side].push(res);
      console.log(
        `round ${r + 1}/${rounds} ${command.join(' ')} ${side}: ${metric} ${String(res[metric])} (load ${load})`,
      );
    }
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
commands.forEach((command, c) => {
  const { before, after } = results[c]!;
  const keys = Object.keys(after[0]!).filter((k) => typeof after[0]![k] === 'number');
  console.log(`\n${command.join(' ')}: median of ${rounds} rounds (before ${trees.before}, after ${trees.after})\n`);
  console.log('| field | before | after | after/before |');
  console.log('|---|---|---|---|');
  for (const k of keys) {
    const b = median(before.map((x) => Number(x[k])));
    const a = median(after.map((x) => Number(x[k])));
    console.log(`| ${k} | ${b} | ${a} | ${(a / b).toFixed(3)} |`);
  }
});
