// metrics.jsonl (a stable contract: one JSON object per logged step) and the end-of-run summary.
import { appendFileSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface MetricsRecord {
  step: number;
  epoch: number;
  loss?: number;
  grad_norm?: number;
  lr?: number;
  /** Input tokens (padding excluded) seen so far. */
  tokens?: number;
  /** Trained (label != -100) tokens seen so far. */
  trained_tokens?: number;
  tokens_per_s?: number;
  eval_loss?: number;
}

export class MetricsWriter {
  constructor(
    readonly path: string,
    opts: { truncateAfterStep?: number } = {},
  ) {
    mkdirSync(dirname(path), { recursive: true });
    if (opts.truncateAfterStep !== undefined && existsSync(path)) {
      // On resume, drop records past the checkpoint so the file reads like one uninterrupted run.
      const kept = readMetrics(path).filter((r) => r.step <= opts.truncateAfterStep!);
      writeFileSync(path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    } else if (opts.truncateAfterStep === undefined) {
      writeFileSync(path, '');
    }
  }
  write(record: MetricsRecord): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }
}

export function readMetrics(path: string): MetricsRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricsRecord);
}

export interface RunSummary {
  seconds: number;
  steps: number;
  tokens: number;
  tokensPerSecond: number;
  peakRssBytes: number;
  finalTrainLoss: number | null;
  finalEvalLoss: number | null;
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatSummary(s: RunSummary): string {
  const lines = [
    `trained ${s.steps} steps in ${formatDuration(s.seconds)}: ${s.tokens.toLocaleString('en-US')} tokens, ${s.tokensPerSecond.toFixed(0)} tokens/s`,
    `peak memory (RSS): ${formatBytes(s.peakRssBytes)}`,
    `final train loss: ${s.finalTrainLoss === null ? '-' : s.finalTrainLoss.toFixed(4)}` +
      (s.finalEvalLoss === null ? '' : `, final eval loss: ${s.finalEvalLoss.toFixed(4)}`),
  ];
  return lines.join('\n');
}
