// A progress line for data preparation: redrawn in place on a TTY (rows, percent when the total is known from
// Parquet footers, rows/s), one summary line per split otherwise.
import type { DataPipelineOptions } from './pipeline.js';

type Stream = { write(s: string): unknown; isTTY?: boolean };

export function dataProgress(stream: Stream = process.stderr): NonNullable<DataPipelineOptions['onProgress']> {
  const tty = Boolean(stream.isTTY) && !process.env.CI;
  const started = new Map<string, number>();
  let lastDraw = 0;
  return ({ what, rows, total, done }) => {
    const now = Date.now();
    if (!started.has(what)) started.set(what, now);
    const secs = Math.max(1e-3, (now - started.get(what)!) / 1000);
    const rate = Math.round(rows / secs).toLocaleString('en-US');
    if (!tty) {
      if (done && rows >= 10_000)
        stream.write(
          `${what}: prepared ${rows.toLocaleString('en-US')} rows in ${secs.toFixed(1)} s (${rate} rows/s)\n`,
        );
      return;
    }
    if (!done && now - lastDraw < 100) return;
    lastDraw = now;
    let bar = '';
    if (total) {
      const frac = Math.min(1, rows / total);
      const width = 24;
      const fill = Math.round(frac * width);
      bar = ` [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(100 * frac).toFixed(0)}%`;
    }
    const count = `${rows.toLocaleString('en-US')}${total ? ` / ${total.toLocaleString('en-US')}` : ''} rows`;
    stream.write(`\r\x1b[K${what}: preparing ${count}${bar} ${rate} rows/s${done ? '\n' : ''}`);
  };
}
