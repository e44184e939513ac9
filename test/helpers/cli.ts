// Runs the sftkit CLI from source in a child process (so tests see its real stdout, stderr and exit code).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): CliResult {
  const root = packageRoot();
  // Under user-mode emulation (npm run test:arm64) the node binary is started through the emulator.
  const [cmd, ...pre] = [...(process.env.SFTKIT_TEST_EXEC_WRAPPER?.split(' ').filter(Boolean) ?? []), process.execPath];
  const r = spawnSync(cmd!, [...pre, '--import', 'tsx', join(root, 'src', 'cli', 'bin.ts'), ...args], {
    cwd: root,
    input: opts.input,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
