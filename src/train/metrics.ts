// metrics.jsonl (a stable contract: one JSON object per logged step) and the end-of-run summary.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/atomic.js';
import { dirname } from 'node:path';
import { formatBytes } from '../util/bytes.js';
import { asDiskFull, UserError } from '../util/errors.js';
import { makeDirs } from '../io/make-dirs.js';

export { formatBytes };

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
    makeDirs(dirname(path));
    if (opts.truncateAfterStep !== undefined && existsSync(path)) {
      // On resume, drop records past the checkpoint so the file reads like one uninterrupted run.
      const kept = readMetrics(path).filter((r) => r.step <= opts.truncateAfterStep!);
      writeFileAtomicSync(path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    } else if (opts.truncateAfterStep === undefined) {
      writeFileAtomicSync(path, '');
    }
  }
  write(record: MetricsRecord): void {
    const line = JSON.stringify(record) + '\n';
    try {
      appendFileSync(this.path, line);
    } catch (e) {
      throw asDiskFull(e, this.path, Buffer.byteLength(line), true);
    }
  }
}

/**
 * Read metrics.jsonl back. A last line without its newline is a record a killed process was appending: it is
 * dropped (the run that resumes writes that step again). Any other unreadable line is an error naming it.
 */
export function readMetrics(path: string): MetricsRecord[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const torn = !text.endsWith('\n') ? lines.length - 1 : -1;
  const out: MetricsRecord[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '' || i === torn) return;
    try {
      out.push(JSON.parse(l) as MetricsRecord);
    } catch (e) {
      throw new UserError(`${path}:${i + 1}: not a JSON metrics record (${(e as Error).message})`);
    }
  });
  return out;
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
