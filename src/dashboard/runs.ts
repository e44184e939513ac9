// The training runs a dashboard shows: output folders given on the command line (requests pick them by index,
// never by path). metrics.jsonl is read as it grows.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readMetrics, type MetricsRecord } from '../train/metrics.js';
import { UserError } from '../util/errors.js';

export interface Run {
  name: string;
  dir: string;
}

export function openRuns(dirs: string[]): Run[] {
  const used = new Set<string>();
  return dirs.map((d) => {
    const dir = resolve(d);
    if (!existsSync(dir)) throw new UserError(`sftkit dashboard: ${d}: no such folder`);
    let name = basename(dir);
    for (let i = 2; used.has(name); i++) name = `${basename(dir)}-${i}`;
    used.add(name);
    return { name, dir };
  });
}

/** The records of metrics.jsonl from record index `from` on (a line still being written waits for the next read). */
export function readMetricsFrom(run: Run, from: number): MetricsRecord[] {
  const path = join(run.dir, 'metrics.jsonl');
  return existsSync(path) ? readMetrics(path).slice(from) : [];
}

/** training_args.json of a finished run (model, dataset, loss settings), or null. */
export function trainingArgs(run: Run): Record<string, unknown> | null {
  const path = join(run.dir, 'training_args.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** A run whose folder holds a LoRA adapter can answer in the playground. */
export function hasAdapter(run: Run): boolean {
  return existsSync(join(run.dir, 'adapter_model.safetensors'));
}
