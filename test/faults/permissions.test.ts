// Permission denied, through the real CLI: an unreadable data file, an unreadable model folder or config.json, an
// output_dir or `data convert --out` in a folder that may not be written. Each is one line naming the path and
// saying permission denied, exit code 1, no stack trace, nothing written. Root may read and write anything, so as
// root the CLI runs as `nobody` (setpriv); the test skips with a message where privileges cannot be dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/paths.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir, tinyModel } from '../train/helpers.js';

/** The command prefix that runs the CLI without root's privileges ([] when not root), or why there is none. */
function unprivileged(): string[] | string {
  if (process.getuid?.() !== 0) return [];
  const as = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
  const probe = spawnSync(
    as[0]!,
    [...as.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(packageRoot())}, 5)`],
    { encoding: 'utf8' },
  );
  if (probe.error || probe.status !== 0)
    return `running as root and cannot drop privileges (setpriv to nobody, or nobody cannot read ${packageRoot()}): ${probe.error?.message ?? probe.stderr.trim()}`;
  return as;
}

const as = unprivileged();

test(
  'permission denied: one line naming the path, exit 1, no stack trace',
  { skip: typeof as === 'string' && as },
  async () => {
    const prefix = as as string[];
    const dir = tempDir('perm');
    chmodSync(dir, 0o777); // the unprivileged CLI writes its outputs here
    const model = join(dir, 'model');
    cpSync(await tinyModel(), model, { recursive: true });
    chmodSync(model, 0o755);
    for (const f of readdirSync(model)) chmodSync(join(model, f), 0o644);
    const conv = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello there' },
      ],
    };
    const data = join(dir, 'chat.jsonl');
    writeFileSync(data, `${JSON.stringify(conv)}\n`.repeat(8), { mode: 0o644 });
    const secret = join(dir, 'secret.jsonl');
    writeFileSync(secret, `${JSON.stringify(conv)}\n`.repeat(8), { mode: 0o000 });
    chmodSync(secret, 0o000);
    const closedModel = join(dir, 'closed-model');
    cpSync(model, closedModel, { recursive: true });
    chmodSync(closedModel, 0o000);
    const closedConfig = join(dir, 'closed-config');
    cpSync(model, closedConfig, { recursive: true });
    chmodSync(join(closedConfig, 'config.json'), 0o000);
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);

    const cli = (args: string[]) => runCli(args, { as: prefix, env: { HOME: dir }, timeoutMs: 120_000 });
    const train = (m: string, d: string, out: string) =>
      cli(['train', '--model', m, '--dataset', d, '--output_dir', out, '--max_steps', '1']);
    const denied = (r: CliResult, path: string) => {
      assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
      const last = r.stderr.trim().split('\n').at(-1)!;
      assert.ok(last.includes(path), `does not name ${path}: ${r.stderr}`);
      assert.match(last, /permission denied/, r.stderr);
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, r.stderr);
    };

    denied(cli(['data', 'convert', '--data', secret, '--out', join(dir, 'o.jsonl')]), secret);
    assert.equal(existsSync(join(dir, 'o.jsonl')), false);
    denied(train(model, secret, join(dir, 'out-a')), secret);
    denied(train(closedModel, data, join(dir, 'out-b')), closedModel);
    denied(cli(['generate', '--model', closedModel, '--prompt', 'hi', '--max-new-tokens', '2']), closedModel);
    denied(train(closedConfig, data, join(dir, 'out-c')), join(closedConfig, 'config.json'));
    denied(train(model, data, join(readOnly, 'out')), join(readOnly, 'out'));
    denied(train(model, data, readOnly), readOnly);
    for (const out of ['o.jsonl', 'o.parquet']) {
      denied(cli(['data', 'convert', '--data', data, '--out', join(readOnly, out)]), join(readOnly, out));
    }
    assert.deepEqual(readdirSync(readOnly), [], 'nothing written');
  },
);
