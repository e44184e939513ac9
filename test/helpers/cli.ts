// Runs the sftkit CLI from source in a child process (so tests see its real stdout, stderr and exit code).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to start this node in a child process: [command, ...leading args]. Under user-mode emulation
 * (npm run test:arm64 sets SFTKIT_TEST_EXEC_WRAPPER) the node binary is started through the emulator. */
export function nodeCommand(): [string, ...string[]] {
  const wrapper = process.env.SFTKIT_TEST_EXEC_WRAPPER?.split(' ').filter(Boolean) ?? [];
  const [cmd = process.execPath, ...rest] = [...wrapper, process.execPath];
  return [cmd, ...rest];
}

/** Scales child-process timeouts: SFTKIT_TEST_TIMEOUT_FACTOR (test:arm64 sets 10, as emulated children run 10-30x
 * slower), else 1. Only time limits scale; no assertion is loosened. */
export function testTimeoutFactor(): number {
  const f = Number(process.env.SFTKIT_TEST_TIMEOUT_FACTOR ?? 1);
  return Number.isFinite(f) && f >= 1 ? f : 1;
}

export function runCli(
  args: string[],
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number; as?: string[] } = {},
): CliResult {
  const root = packageRoot();
  // `as`: a command that runs the rest as another user (test/faults/permissions.test.ts)
  const [cmd, ...pre]: [string, ...string[]] = [...(opts.as ?? []), ...nodeCommand()] as [string, ...string[]];
  const r = spawnSync(cmd, [...pre, '--import', 'tsx', join(root, 'src', 'cli', 'bin.ts'), ...args], {
    cwd: root,
    input: opts.input,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: (opts.timeoutMs ?? 120_000) * testTimeoutFactor(),
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
