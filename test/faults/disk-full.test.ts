// Disk full (ENOSPC) on a small tmpfs, for every writer: each fails with one line saying the disk is full and
// how much was needed, removes its temporary, and leaves the earlier checkpoint / output byte-identical.
// Needs root (mount -t tmpfs); skipped with a message elsewhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { chatRecords, tempDir, tinyModel } from '../train/helpers.js';
import { SFTTrainer } from '../../src/train/trainer.js';
import { mergeAdapter } from '../../src/export/merge.js';
import { quantizeFolder } from '../../src/quant/save.js';
import { exportGguf } from '../../src/export/gguf/export.js';
import { AtomicFileWriter, atomicDir, writeFileAtomic, writeFileAtomicSync } from '../../src/io/atomic.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { writeCache } from '../../src/data/cache.js';
import { DiskFullError } from '../../src/util/errors.js';

const mounted = mountTmpfs('24m');
const skip = typeof mounted === 'string' ? `skipped: ${mounted}` : false;
const fs = mounted as Tmpfs;

/** sha256 of every file under `dir` by relative path (what must stay intact). */
function snapshot(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string) => {
    if (statSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n), rel ? `${rel}/${n}` : n);
    else out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
  };
  walk(path, '');
  return out;
}

/** Temporaries (`.NAME.tmp-PID-HEX`, `.old-`, `.data-`) anywhere under `dir`. */
function temporaries(dir: string): string[] {
  const found: string[] = [];
  const walk = (p: string) => {
    for (const n of readdirSync(p)) {
      if (/\.(tmp|old|data)-\d+-[0-9a-f]{8}$/.test(n)) found.push(join(p, n));
      else if (statSync(join(p, n)).isDirectory()) walk(join(p, n));
    }
  };
  walk(dir);
  return found;
}

function assertDiskFullLine(r: CliResult): void {
  assert.equal(r.code, 1, `exit code ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const last = lines.at(-1)!;
  assert.match(last, /disk full/, r.stderr);
  assert.match(last, /needed (at least )?[\d.]+ [KMG]?i?B/, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, r.stderr);
}

describe('disk full (tmpfs)', { skip }, () => {
  let model = '';
  let data = '';
  before(async () => {
    model = await tinyModel();
    data = join(tempDir('diskfull-data'), 'train.jsonl');
    writeFileSync(
      data,
      chatRecords(48)
        .train.map((r) => JSON.stringify({ messages: r.kind === 'conversation' ? r.messages : [] }))
        .join('\n') + '\n',
    );
  });
  after(() => fs.unmount());

  const trainArgs = (out: string, extra: string[]) => [
    'train',
    '--model',
    model,
    '--dataset',
    data,
    '--output_dir',
    out,
    '--max_length',
    '96',
    '--per_device_train_batch_size',
    '4',
    '--logging_steps',
    '1',
    ...extra,
  ];

  test('train: a checkpoint write and the final save fail cleanly; the earlier checkpoint and adapter stay', async () => {
    fs.unfill();
    const out = join(fs.dir, 'train');
    await new SFTTrainer({
      model,
      args: {
        output_dir: out,
        dataset: data,
        max_length: 96,
        per_device_train_batch_size: 4,
        max_steps: 2,
        save_steps: 1,
        logging_steps: 1,
      },
      quiet: true,
    }).train();
    const ck1 = snapshot(join(out, 'checkpoint-1'));
    const adapter = snapshot(join(out, 'adapter_model.safetensors'));
    fs.fill(32 * 1024); // a checkpoint needs ~60 KB
    const r = runCli(trainArgs(out, ['--max_steps', '4', '--save_steps', '1', '--resume_from_checkpoint', 'true']));
    assertDiskFullLine(r);
    assert.match(r.stderr, /checkpoint-2/);
    assert.deepEqual(snapshot(join(out, 'checkpoint-1')), ck1);
    assert.deepEqual(snapshot(join(out, 'adapter_model.safetensors')), adapter);
    assert.equal(existsSync(join(out, 'checkpoint-2')), false);
    assert.deepEqual(temporaries(fs.dir), []);

    fs.fill(8 * 1024); // the final adapter needs ~15 KB
    const f = runCli(trainArgs(out, ['--max_steps', '1', '--save_strategy', 'no']));
    assertDiskFullLine(f);
    assert.deepEqual(snapshot(join(out, 'adapter_model.safetensors')), adapter);
    assert.deepEqual(snapshot(join(out, 'checkpoint-1')), ck1);
    assert.deepEqual(temporaries(fs.dir), []);
  });

  test('merge, quantize and export gguf: nothing half-written, earlier outputs intact', async () => {
    fs.unfill();
    const adapterRun = join(fs.dir, 'adapter-run');
    await new SFTTrainer({
      model,
      args: { output_dir: adapterRun, dataset: data, max_length: 96, max_steps: 1, save_strategy: 'no' },
      quiet: true,
    }).train();
    const merged = join(fs.dir, 'merged-1');
    await mergeAdapter(model, adapterRun, merged);
    const quant = join(fs.dir, 'quant-1');
    await quantizeFolder(model, quant);
    const gguf = join(fs.dir, 'model.gguf');
    await exportGguf({ modelDir: model, outFile: gguf, outType: 'f32' });
    const before = { merged: snapshot(merged), quant: snapshot(quant), gguf: snapshot(gguf) };
    fs.fill(64 * 1024);

    const m = runCli(['merge', '--model', model, '--adapter', adapterRun, '--out', join(fs.dir, 'merged-2')]);
    assertDiskFullLine(m);
    assert.equal(existsSync(join(fs.dir, 'merged-2')), false, 'no merged-2 folder that looks complete');
    const q = runCli(['quantize', '--model', model, '--out', join(fs.dir, 'quant-2')]);
    assertDiskFullLine(q);
    assert.equal(existsSync(join(fs.dir, 'quant-2')), false);
    const g = runCli(['export', 'gguf', '--model', model, '--out', gguf, '--outtype', 'f32']);
    assertDiskFullLine(g);
    assert.deepEqual({ merged: snapshot(merged), quant: snapshot(quant), gguf: snapshot(gguf) }, before);
    assert.deepEqual(temporaries(fs.dir), []);
  });

  test('data tokenize: the earlier output file stays', () => {
    fs.unfill();
    const out = join(fs.dir, 'tokens.jsonl');
    const ok = runCli(['data', 'tokenize', '--model', model, '--data', data, '--out', out]);
    assert.equal(ok.code, 0, ok.stderr);
    const earlier = snapshot(out);
    fs.fill(8 * 1024);
    const r = runCli(['data', 'tokenize', '--model', model, '--data', data, '--out', out]);
    assertDiskFullLine(r);
    assert.deepEqual(snapshot(out), earlier);
    assert.deepEqual(temporaries(fs.dir), []);
  });

  test('data filter, data score and data convert (.jsonl, .parquet): one line, earlier outputs intact', () => {
    fs.unfill();
    // Big enough that no output fits in what is left free: 400 conversations (~100 KB as JSONL).
    const big = join(fs.dir, 'big.jsonl');
    const rows = readFileSync(data, 'utf8').trim().split('\n');
    writeFileSync(big, Array.from({ length: 400 }, (_, i) => rows[i % rows.length]).join('\n') + '\n');
    const outs = {
      filter: ['data', 'filter', '--data', big, '--out', join(fs.dir, 'kept.jsonl'), '--threshold', '0'],
      report: [
        'data',
        'filter',
        '--data',
        big,
        '--out',
        join(fs.dir, 'kept2.jsonl'),
        '--report',
        join(fs.dir, 'report.json'),
      ],
      score: ['data', 'score', '--data', big, '--out', join(fs.dir, 'scores.jsonl')],
      jsonl: ['data', 'convert', '--data', big, '--out', join(fs.dir, 'converted.jsonl')],
      parquet: ['data', 'convert', '--data', big, '--out', join(fs.dir, 'converted.parquet')],
    };
    const files = ['kept.jsonl', 'scores.jsonl', 'converted.jsonl', 'converted.parquet'].map((f) => join(fs.dir, f));
    for (const args of Object.values(outs)) {
      const ok = runCli(args);
      assert.equal(ok.code, 0, ok.stderr);
    }
    const earlier = files.map(snapshot);
    fs.fill(4 * 1024);
    for (const [name, args] of Object.entries(outs)) {
      const r = runCli(args);
      assertDiskFullLine(r);
      assert.match(r.stderr.trim().split('\n').at(-1)!, /kept|scores|converted|report/, name);
    }
    assert.deepEqual(files.map(snapshot), earlier);
    assert.deepEqual(temporaries(fs.dir), []);
  });

  test('atomic writers, safetensors, the data cache and the model card: DiskFullError, old file intact', async () => {
    fs.unfill();
    const file = join(fs.dir, 'README.md');
    writeFileAtomicSync(file, 'earlier model card\n');
    fs.fill(8 * 1024);
    const big = 'x'.repeat(256 * 1024);
    const expectFull = (e: unknown) => {
      assert.ok(e instanceof DiskFullError, String(e));
      assert.match((e as Error).message, /disk full: could not write .+ \(needed (at least )?[\d.]+ [KMG]iB/);
      assert.doesNotMatch((e as Error).message, /\n/);
      return true;
    };
    assert.throws(() => writeFileAtomicSync(file, big), expectFull);
    await assert.rejects(writeFileAtomic(file, big), expectFull);
    const w = await AtomicFileWriter.open(file);
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 64; i++) await w.write(big);
        await w.commit();
      })(),
      expectFull,
    );
    await assert.rejects(
      writeSafetensors(join(fs.dir, 'w.safetensors'), [
        { name: 'w', dtype: 'F32', shape: [65536], data: new Float32Array(65536) },
      ]),
      expectFull,
    );
    await assert.rejects(
      atomicDir(join(fs.dir, 'folder'), async (d) => writeFileSync(join(d, 'big'), big)),
      expectFull,
    );
    const ids = Int32Array.from({ length: 100_000 }, (_, i) => i % 300);
    await assert.rejects(
      () =>
        writeCache(
          join(fs.dir, 'cache'),
          'k',
          {
            train: [
              {
                inputIds: ids,
                assistantMask: new Uint8Array(ids.length),
                source: { file: 'a.jsonl', line: 1 },
                numTrained: 0,
                truncated: false,
              } as never,
            ],
          },
          {},
        ),
      expectFull,
    );
    assert.equal(readFileSync(file, 'utf8'), 'earlier model card\n');
    assert.equal(existsSync(join(fs.dir, 'folder')), false);
    assert.deepEqual(temporaries(fs.dir), []);
  });
});
