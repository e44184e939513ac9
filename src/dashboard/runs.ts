// The training runs a dashboard shows: output folders given on the command line (requests pick them by index,
// never by path). metrics.jsonl is read as it grows; a last line still being written is left for the next read.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { MetricsRecord } from '../train/metrics.js';
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

/** The complete records of metrics.jsonl from record index `from` on (none while the file does not exist). */
export function readMetricsFrom(run: Run, from: number): MetricsRecord[] {
  const path = join(run.dir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  const out: MetricsRecord[] = [];
  complete.split('\n').forEach((line, i) => {
    if (i < from || line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as MetricsRecord);
    } catch {
      throw new UserError(`${path}:${i + 1}: not a JSON object`);
    }
  });
  return out;
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
