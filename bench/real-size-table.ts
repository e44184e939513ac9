// The real-size table of bench/README.md from bench/real-size.ts's JSON lines: tokens/s, peak RSS, the trainer's
// estimate (recomputed with the current estimator from the preset's config.json, so older lines are compared
// with it too), estimate / peak, and whether the run fits in the memory limit.
// Usage: node --import tsx bench/real-size-table.ts results.jsonl [--limit-gib 24]
import { readFileSync } from 'node:fs';
import { modelConfigJson, presetArch, type ModelPreset } from '../src/model/create-model.js';
import { parseLlamaConfig } from '../src/io/hf-config.js';
import { estimateRunMemory } from '../src/train/memory.js';

interface Run {
  preset: ModelPreset;
  mode: 'lora' | 'qlora' | 'full';
  seq: number;
  batch: number;
  rank?: number;
  dropout?: number;
  refused?: boolean;
  tokens_per_s?: number;
  step_s?: number;
  peak_rss_gib?: number;
  load_avg?: number;
}

const file = process.argv[2];
if (!file) throw new Error('usage: bench/real-size-table.ts results.jsonl [--limit-gib 24]');
const li = process.argv.indexOf('--limit-gib');
const limitGiB = li > 0 ? Number(process.argv[li + 1]) : 24;
const GiB = 2 ** 30;
// The last line for each (preset, mode) wins.
const runs = new Map<string, Run>();
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim().startsWith('{')) continue;
  const r = JSON.parse(line) as Run;
  runs.set(`${r.preset} ${r.mode}`, r);
}
const rows = [
  '| preset | mode | tokens/s | step s | load avg | peak RSS GiB | estimate GiB | estimate / peak | fits in 24 GiB |',
  '|---|---|---:|---:|---:|---:|---:|---:|---|',
];
for (const r of runs.values()) {
  const config = parseLlamaConfig(modelConfigJson(r.preset, presetArch(r.preset), 0), r.preset);
  const e = estimateRunMemory({
    config,
    method: r.mode,
    bf16: true,
    lora: r.mode === 'full' ? null : { r: r.rank ?? 16, targetModules: 'all-linear', dropout: r.dropout ?? 0 },
    tokenRows: 0,
    batch: r.batch,
    seq: r.seq,
    gradientCheckpointing: false,
  });
  const est = e.total / GiB;
  const fits = est <= limitGiB;
  if (r.refused || r.peak_rss_gib === undefined) {
    rows.push(
      `| ${r.preset} | ${r.mode} | refused | - | - | ${est.toFixed(2)} | - | no: refused before loading the weights |`,
    );
    continue;
  }
  const ratio = est / r.peak_rss_gib;
  rows.push(
    `| ${r.preset} | ${r.mode} | ${r.tokens_per_s} | ${r.step_s} | ${r.load_avg ?? '-'} | ${r.peak_rss_gib.toFixed(2)} | ${est.toFixed(2)} | ${ratio.toFixed(2)} | ${fits ? 'yes' : 'no'} |`,
  );
}
console.log(rows.join('\n'));
