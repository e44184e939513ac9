// Training progress: a one-line bar redrawn in place on a TTY, plain log lines otherwise (CI, files).
import { formatDuration } from './metrics.js';

export interface ProgressUpdate {
  step: number;
  loss?: number;
  lr?: number;
  tokensPerSecond?: number;
}

export interface ProgressOptions {
  total: number;
  /** Defaults to process.stderr. */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Steps done before this process started (resume): excluded from the ETA rate. */
  startStep?: number;
  /** Print a plain line every N steps when not a TTY (the trainer passes logging_steps). */
  plainEvery?: number;
  quiet?: boolean;
}

export class ProgressBar {
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;
  private last: ProgressUpdate = { step: 0 };

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && !process.env.CI;
  }

  private eta(step: number): number {
    const done = step - (this.opts.startStep ?? 0);
    if (done <= 0) return NaN;
    const perStep = (Date.now() - this.started) / 1000 / done;
    return perStep * (this.opts.total - step);
  }

  private text(u: ProgressUpdate): string {
    const parts = [`step ${u.step}/${this.opts.total}`];
    if (u.loss !== undefined) parts.push(`loss ${u.loss.toFixed(4)}`);
    if (u.lr !== undefined) parts.push(`lr ${u.lr.toExponential(2)}`);
    if (u.tokensPerSecond !== undefined) parts.push(`${u.tokensPerSecond.toFixed(0)} tok/s`);
    parts.push(`ETA ${formatDuration(this.eta(u.step))}`);
    return parts.join(' | ');
  }

  update(u: ProgressUpdate): void {
    if (this.opts.quiet) return;
    this.last = { ...this.last, ...u };
    if (this.tty) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && u.step < this.opts.total) return;
      this.lastDraw = now;
      const width = Math.max(10, Math.min(30, ((this.stream as { columns?: number }).columns ?? 80) - 70));
      const filled = Math.round((width * u.step) / Math.max(1, this.opts.total));
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.stream.write(`\r\x1b[2K${bar} ${this.text(this.last)}`);
      this.drawn = true;
    } else if (u.step === this.opts.total || u.step % (this.opts.plainEvery ?? 1) === 0) {
      this.stream.write(this.text(this.last) + '\n');
    }
  }

  /** Print a message line without tearing the bar. */
  log(line: string): void {
    if (this.opts.quiet) return;
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(line + '\n');
    if (this.tty && this.drawn) this.stream.write(this.text(this.last));
  }

  finish(): void {
    if (this.opts.quiet) return;
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
