// Runs fuzz cases in a child process (test/faults/fuzz-runner.ts) with a time limit per case: a hang, a crash
// (signal or exit), an internal error, a multi-line message or a message that names no file is a failure.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUZZ_KINDS, makeCase, type FuzzKind } from './fuzz-lib.js';
import type { CaseReply, CaseRequest } from './fuzz-runner.js';

export interface FuzzFailure {
  kind: FuzzKind;
  index: number;
  what: string;
  mutation: string;
}

export interface FuzzReport {
  perKind: Record<string, { cases: number; accepted: number; refused: number; failures: number }>;
  failures: FuzzFailure[];
  seconds: number;
}

const RUNNER = join(fileURLToPath(new URL('.', import.meta.url)), 'fuzz-runner.ts');

class Runner {
  private child: ChildProcess | null = null;

  private async start(): Promise<ChildProcess> {
    const child = fork(RUNNER, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=3072'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.stderr?.resume();
    await new Promise<void>((res, rej) => {
      child.once('message', () => res());
      child.once('exit', (code, sig) => rej(new Error(`fuzz runner exited at start (${code ?? sig})`)));
    });
    this.child = child;
    return child;
  }

  kill(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }

  async run(req: CaseRequest, timeoutMs: number): Promise<CaseReply | { failure: string }> {
    const child = this.child ?? (await this.start());
    return new Promise((res) => {
      const done = (v: CaseReply | { failure: string }) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        res(v);
      };
      const onMessage = (m: CaseReply) => done(m);
      const onExit = (code: number | null, sig: string | null) => {
        this.child = null;
        done({ failure: `the process died (${sig ? `signal ${sig}` : `exit code ${code}`})` });
      };
      const timer = setTimeout(() => {
        this.kill();
        done({ failure: `hang: no answer within ${timeoutMs / 1000} s` });
      }, timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(req);
    });
  }
}

export async function runFuzz(opts: {
  casesPerKind: number | Partial<Record<FuzzKind, number>>;
  seed: number;
  kinds?: readonly FuzzKind[];
  first?: number;
  timeoutMs?: number;
  maxRssBytes?: number;
  seedRoot?: string;
  log?: (line: string) => void;
}): Promise<FuzzReport> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'sftkit-fuzz-'));
  const seedRoot = opts.seedRoot ?? join(work, 'seeds');
  const runner = new Runner();
  const report: FuzzReport = { perKind: {}, failures: [], seconds: 0 };
  const maxRss = opts.maxRssBytes ?? 2.5 * 2 ** 30;
  try {
    for (const kind of opts.kinds ?? FUZZ_KINDS) {
      const n = typeof opts.casesPerKind === 'number' ? opts.casesPerKind : (opts.casesPerKind[kind] ?? 0);
      const k = (report.perKind[kind] = { cases: 0, accepted: 0, refused: 0, failures: 0 });
      for (let i = opts.first ?? 0; i < (opts.first ?? 0) + n; i++) {
        const req: CaseRequest = { seedRoot, workRoot: join(work, 'cases'), kind, index: i, seed: opts.seed };
        const r = await runner.run(req, opts.timeoutMs ?? 60_000);
        k.cases++;
        let failure: string | null = null;
        let mutation = '?';
        if ('failure' in r) {
          failure = r.failure;
          // the case is deterministic: rebuild it here to say what it was
          mutation = makeCase(seedRoot, join(work, 'scratch'), kind, i, opts.seed).mutation;
        } else {
          mutation = r.mutation;
          if (r.outcome === 'accepted') k.accepted++;
          else if (r.outcome === 'refused') k.refused++;
          else failure = `${r.outcome}: ${r.message}`;
          if (r.rssBytes > maxRss) {
            failure ??= `memory: the reader left the process at ${(r.rssBytes / 2 ** 30).toFixed(2)} GiB RSS`;
            runner.kill();
          }
        }
        if (failure !== null) {
          k.failures++;
          report.failures.push({ kind, index: i, what: failure, mutation });
          opts.log?.(`FAIL ${kind} #${i} (${mutation}): ${failure}`);
        }
      }
      opts.log?.(`${kind}: ${k.cases} cases, ${k.accepted} accepted, ${k.refused} refused, ${k.failures} failures`);
    }
  } finally {
    runner.kill();
    rmSync(work, { recursive: true, force: true });
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}
