// Parquet decoding never hangs: the fuzz cases on which hyparquet loops synchronously over a corrupt run length
// (seed 17, cases 142, 294, 488) end in a one-line error naming the file and row group once the decoding
// worker's time limit passes (a small one here), the worker is terminated, and a reader closed early leaves no
// worker behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { parquetWorkersAlive, readParquetRows } from '../../src/data/readers/parquet.js';
import { UserError } from '../../src/util/errors.js';
import { makeCase, writeDataSeeds } from './fuzz-lib.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../train/helpers.js';
import { MESSAGES_SCHEMA } from '../helpers/parquet.js';

const HANGING = [142, 294, 488];

async function readAll(file: string, decodeLimitS?: number): Promise<number> {
  let n = 0;
  for await (const r of readParquetRows(file, { decodeLimitS })) if ('value' in r) n++;
  return n;
}

function writeChat(file: string, rows: number, rowGroupSize: number): void {
  parquetWriteFile({
    filename: file,
    columnData: [
      {
        name: 'messages',
        data: Array.from({ length: rows }, (_, i) => [
          { role: 'user', content: `question ${i}` },
          { role: 'assistant', content: `answer ${i}` },
        ]),
      },
      { name: 'id', data: Array.from({ length: rows }, (_, i) => BigInt(i)) },
    ],
    schema: [
      { name: 'root', num_children: 2 },
      ...MESSAGES_SCHEMA,
      { name: 'id', type: 'INT64', repetition_type: 'OPTIONAL' },
    ],
    rowGroupSize,
  } as Parameters<typeof parquetWriteFile>[0]);
}

test('corrupt run lengths (fuzz seed 17, parquet #142, #294, #488): one line naming file and row group, in bounded time', async () => {
  const seedRoot = tempDir('pq-hang');
  writeDataSeeds(join(seedRoot, 'data'));
  for (const index of HANGING) {
    const c = makeCase(seedRoot, join(seedRoot, 'cases'), 'parquet', index, 17);
    const t0 = Date.now();
    let err: unknown = null;
    try {
      await readAll(c.file, 1);
    } catch (e) {
      err = e;
    }
    const s = (Date.now() - t0) / 1000;
    assert.ok(err instanceof UserError, `#${index} (${c.mutation}): ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/);
    assert.match(
      err.message,
      /train\.parquet: row group \d+ \(rows \d+-\d+\): decoding did not finish in 1 s \(corrupt file\?/,
      `#${index}`,
    );
    assert.ok(err.message.startsWith(c.file), err.message);
    assert.ok(s < 15, `#${index} took ${s.toFixed(1)} s`);
    assert.equal(parquetWorkersAlive(), 0, 'the looping worker is terminated');
  }
  // Through the CLI, with the limit from the environment: exit 1, one line, no stack trace.
  const c = makeCase(seedRoot, join(seedRoot, 'cli'), 'parquet', HANGING[0]!, 17);
  const out = join(seedRoot, 'out.jsonl');
  const r = runCli(['data', 'convert', '--data', c.file, '--out', out], {
    env: { SFTKIT_PARQUET_DECODE_LIMIT_S: '1' },
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr.trim(),
    /^[^\n]*train\.parquet: row group \d+ \(rows \d+-\d+\): decoding did not finish in 1 s/,
  );
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  assert.equal(existsSync(out), false, 'nothing written as if complete');
});

test('a Parquet reader closed early terminates its worker; one idle worker is kept after a full read', async () => {
  const dir = tempDir('pq-close');
  const file = join(dir, 'chat.parquet');
  writeChat(file, 40, 5);
  assert.equal(await readAll(file), 40);
  assert.equal(parquetWorkersAlive(), 1, 'the idle worker is kept for the next file');
  assert.equal(await readAll(file), 40);
  assert.equal(parquetWorkersAlive(), 1, 'and reused');
  // Stop after one row: the next group is being decoded, so the worker is terminated.
  for await (const r of readParquetRows(file)) {
    assert.ok('value' in r);
    break;
  }
  assert.equal(parquetWorkersAlive(), 0);
  // A process that stops reading early, or reads to the end, exits at once by itself.
  const script = (stop: boolean) =>
    `import { readParquetRows } from ${JSON.stringify(new URL('../../src/data/readers/parquet.ts', import.meta.url).href)};
     let n = 0; for await (const r of readParquetRows(${JSON.stringify(file)})) { n++; if (${stop}) break; }
     console.log(n);`;
  for (const stop of [true, false]) {
    const t0 = Date.now();
    const p = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(stop)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(p.status, 0, p.stderr);
    assert.equal(p.stdout.trim(), stop ? '1' : '40');
    assert.ok(Date.now() - t0 < 30_000);
  }
});
