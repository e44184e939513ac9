// Runs benchmarks in two checkouts side by side: each round runs every command in the before and then the after
// checkout, so all of them see the same machine load, and the table shows each numeric field's median with the
// after/before ratio. Every command prints a JSON line last (bench/qlora.ts --variant V, bench/train-step.ts
// --json).
//   node --import tsx bench/ab.ts --before DIR [--after DIR] [--rounds 3] [--metric tokensPerS] -- BENCH.ts ARGS...
//        [-- BENCH.ts ARGS...]
// e.g. bench/ab.ts --before ../sftkit-main -- bench/qlora.ts --variant lora-bf16 -- bench/qlora.ts --variant
// qlora-prequantized (the before checkout needs its own built addon; commands run with the checkout as cwd).
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { benchArgs, formatTable, median, runJsonLine } from '../src/bench/measure.js';

const args = benchArgs();
const before = args.string('before');
if (args.rest.length === 0 || !before) {
  console.error('usage: bench/ab.ts --before DIR [--after DIR] [--rounds N] [--metric KEY] -- BENCH.ts ARGS...');
  process.exit(2);
}
const commands: string[][] = [[]];
for (const a of args.rest) {
  if (a === '--') commands.push([]);
  else commands[commands.length - 1]!.push(a);
}
const trees = { before: resolve(before), after: resolve(args.string('after', process.cwd())) };
const rounds = args.number('rounds', 3);
const metric = args.string('metric', 'tokensPerS');

type Result = Record<string, unknown>;
const results = commands.map(() => ({ before: [] as Result[], after: [] as Result[] }));

for (let r = 0; r < rounds; r++) {
  commands.forEach((command, c) => {
    for (const side of ['before', 'after'] as const) {
      const load = loadavg()[0]!.toFixed(1);
      const run = runJsonLine(process.execPath, ['--import', 'tsx', ...command], { cwd: trees[side] });
      if (!run.result) {
        process.stderr.write(run.error);
        throw new Error(`${side} (${trees[side]}) failed: ${command.join(' ')}`);
      }
      results[c]![side].push(run.result);
      console.log(
        `round ${r + 1}/${rounds} ${command.join(' ')} ${side}: ${metric} ${String(run.result[metric])} (load ${load})`,
      );
    }
  });
}

commands.forEach((command, c) => {
  const { before, after } = results[c]!;
  const keys = Object.keys(after[0]!).filter((k) => typeof after[0]![k] === 'number');
  console.log(`\n${command.join(' ')}: median of ${rounds} rounds (before ${trees.before}, after ${trees.after})\n`);
  const rows = keys.map((k) => {
    const b = median(before.map((x) => Number(x[k])));
    const a = median(after.map((x) => Number(x[k])));
    return [k, b, a, (a / b).toFixed(3)];
  });
  process.stdout.write(formatTable(['field', 'before', 'after', 'after/before'], rows, { markdown: true }));
});
