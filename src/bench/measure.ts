// How every benchmark measures and reports (the `sftkit bench` command and the scripts in bench/ alike): medians
// of timed runs after warm-up, seeded operands, tables, a bench script's own options, and child runs that print
// one JSON line last (a process per run keeps each run's peak RSS and JIT state its own).
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

/** Element floor(n/2) of the sorted values (the upper median, as torch_speed.py reports); NaN when empty. */
export function median(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Median wall time in ms of fn over `reps` runs after `warmup` runs. */
export function medianMs(fn: () => void, reps: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

/**
 * Best wall time and best CPU time (all threads) in ms of fn over `reps` runs after `warmup` runs. On a shared
 * machine the best run is the least disturbed one, and CPU time is what the kernel itself consumed.
 */
export function bestMs(fn: () => void, reps: number, warmup = 1): { wall: number; cpu: number } {
  for (let i = 0; i < warmup; i++) fn();
  let wall = Infinity,
    cpu = Infinity;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e3);
  }
  return { wall, cpu };
}

/** Deterministic values in [-scale, scale) so runs are comparable. */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * Rows as a table: `markdown` gives `| a | b |` rows under a `|---|` rule (for README tables), otherwise columns
 * padded to their widest cell. `align` has one 'l' or 'r' per column (default: left).
 */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  opts: { markdown?: boolean; align?: readonly ('l' | 'r')[] } = {},
): string {
  const cells = rows.map((r) => r.map(String));
  const right = (c: number) => opts.align?.[c] === 'r';
  if (opts.markdown) {
    const line = (r: readonly string[]) => `| ${r.join(' | ')} |`;
    const rule = `|${header.map((_, c) => (right(c) ? '---:' : '---')).join('|')}|`;
    return [line(header), rule, ...cells.map(line)].join('\n') + '\n';
  }
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((x, c) => (right(c) ? x.padStart(widths[c]!) : x.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}

/** A bench script's `--name value` options and `--flag`s, read up to a lone `--` (what follows is `rest`). */
export interface BenchArgs {
  flag(name: string): boolean;
  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  number(name: string, fallback: number): number;
  /** The arguments that are neither `--name` nor the value of one of `valueOptions`. */
  positionals(valueOptions: readonly string[]): string[];
  /** The arguments after a lone `--`. */
  rest: string[];
}

export function benchArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const end = argv.indexOf('--');
  const own = end < 0 ? argv : argv.slice(0, end);
  const value = (name: string): string | undefined => {
    const i = own.indexOf(`--${name}`);
    return i >= 0 && i + 1 < own.length ? own[i + 1] : undefined;
  };
  function string(name: string): string | undefined;
  function string(name: string, fallback: string): string;
  function string(name: string, fallback?: string): string | undefined {
    return value(name) ?? fallback;
  }
  return {
    flag: (name) => own.includes(`--${name}`),
    string,
    number(name, fallback) {
      const v = value(name);
      const n = v === undefined ? fallback : Number(v);
      if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got '${v}'`);
      return n;
    },
    positionals(valueOptions) {
      const out: string[] = [];
      for (let i = 0; i < own.length; i++) {
        const a = own[i]!;
        if (!a.startsWith('--')) out.push(a);
        else if (valueOptions.includes(a.slice(2))) i++;
      }
      return out;
    },
    rest: end < 0 ? [] : argv.slice(end + 1),
  };
}

/**
 * Runs a command that prints a JSON object as its last stdout line; the object, or null (with the reason in
 * `error`) when it failed or printed none.
 */
export function runJsonLine(
  cmd: string,
  args: readonly string[],
  opts: SpawnSyncOptions = {},
): { result: Record<string, unknown> | null; error: string } {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 26, ...opts, encoding: 'utf8' });
  const line = String(r.stdout ?? '')
    .trim()
    .split('\n')
    .pop();
  if (r.status === 0 && line?.startsWith('{')) {
    try {
      return { result: JSON.parse(line) as Record<string, unknown>, error: '' };
    } catch {
      // reported below
    }
  }
  const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
  return { result: null, error: `${[cmd, ...args].join(' ')}: ${why}\n${String(r.stderr ?? '')}` };
}
