// The 1,000,000-row Parquet benchmark (issue 15): a synthetic conversational dataset (two turns of seeded
// pseudo-words) as Parquet (hyparquet-writer, snappy, row groups of 50,000) and as one JSONL file, prepared by the
// one data path (read, validate, render, mask, encodeBatch; src/data/pipeline.ts) in a fresh child process per run,
// so each run's peak RSS is its own, with the progress bar the trainer shows (src/data/progress.ts) on stderr.
//
//   # 1. write the files (no timing: run it outside the heavy lock)
//   node --import tsx bench/data-parquet.ts --rows 1000000 --compare-rows 100000 --dir /tmp/sftkit-pq --write-only
//   # 2. time them
//   flock /tmp/sftkit-heavy.lock node --import tsx bench/data-parquet.ts --rows 1000000 --compare-rows 100000 \
//     --dir /tmp/sftkit-pq [--rounds 2] [--tokenizer DIR] [--skip-compare] [--skip-full]
//
// Reports:
// - Parquet vs JSONL speed on the first --compare-rows rows (same rows in both files): cold prepares without the
//   cache, alternating Parquet and JSONL for --rounds rounds; the median of the per-round ratios.
// - The --rows Parquet file: a cold prepare (writes the on-disk cache), then a re-run that reads the cache.
// Per run: rows/s, tokens/s, CPU seconds (all threads), peak RSS (getrusage maxrss), the RSS before preparing
// (node + tokenizer), and the tokenized result's bytes (4-byte id + 1-byte mask per token): "beyond the result" is
// peak RSS minus those bytes. Files are generated once per --dir and reused; --keep is implied when --dir is given.
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { once } from 'node:events';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteWriter, parquetWriteRows } from 'hyparquet-writer';
import { prepareDataset } from '../src/data/pipeline.js';
import { dataProgress } from '../src/data/progress.js';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';
import { benchArgs, runJsonLine } from '../src/bench/measure.js';
import { syntheticConversations } from '../src/bench/synthetic.js';
import { sharedDir } from '../test/helpers/shared.js';

const args = benchArgs();

interface ChildResult {
  rows: number;
  tokens: number;
  ms: number;
  cpuMs: number;
  fromCache: boolean;
  maxRssKiB: number;
  baseRssKiB: number;
}

/** One child run: prepare `path`, print a JSON line with the counts, time, CPU time and RSS. */
async function child(path: string, tokDir: string, cacheRoot: string | null): Promise<void> {
  const tok = await Tokenizer.fromDir(tokDir);
  const baseRssKiB = Math.round(process.memoryUsage().rss / 1024);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const data = await prepareDataset(tok, {
    train: path,
    shuffle: false,
    lossKeys: { assistant_only_loss: true, completion_only_loss: null },
    maxLength: 1024,
    onProgress: dataProgress(process.stderr),
    ...(cacheRoot ? { tokenizerDir: tokDir, outputDir: cacheRoot } : { cache: false }),
  });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  let tokens = 0;
  for (const e of data.train) tokens += e.inputIds.length;
  const result: ChildResult = {
    rows: data.fromCache ? data.train.length : data.load.records,
    tokens,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    fromCache: data.fromCache,
    maxRssKiB: process.resourceUsage().maxRSS,
    baseRssKiB,
  };
  console.log(JSON.stringify(result));
  tok.close();
}

/** `dir/train.jsonl` and `dir/train-00000-of-00001.parquet` with `rows` rows, written unless present. */
async function writeFiles(dir: string, rows: number, jsonl: boolean): Promise<{ jsonl: string; parquet: string }> {
  mkdirSync(dir, { recursive: true });
  const files = { jsonl: join(dir, 'train.jsonl'), parquet: join(dir, 'train-00000-of-00001.parquet') };
  const t0 = performance.now();
  if (jsonl && !existsSync(files.jsonl)) {
    const part = `${files.jsonl}.partial`;
    const out = createWriteStream(part);
    for (const messages of syntheticConversations(rows))
      if (!out.write(JSON.stringify({ messages }) + '\n')) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    rmSync(files.jsonl, { force: true });
    renameSync(part, files.jsonl);
  }
  if (!existsSync(files.parquet)) {
    // Row group by row group: hyparquet-writer flushes the sink after each group, which goes straight to the file.
    const part = `${files.parquet}.partial`;
    const fd = openSync(part, 'w');
    const sink: ByteWriter & { flush?: () => void } = new ByteWriter();
    sink.flush = () => {
      writeSync(fd, new Uint8Array(sink.buffer, 0, sink.index));
      sink.index = 0;
    };
    sink.finish = sink.flush;
    function* rowObjects() {
      for (const messages of syntheticConversations(rows)) yield { messages };
    }
    await parquetWriteRows({
      writer: sink,
      columns: [{ name: 'messages' }],
      schema: [
        { name: 'root', num_children: 1 },
        { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
        { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      ],
      rows: rowObjects(),
      rowGroupSize: 50_000,
    });
    closeSync(fd);
    renameSync(part, files.parquet);
  }
  const secs = (performance.now() - t0) / 1000;
  if (secs > 0.5) console.log(`wrote ${rows.toLocaleString('en-US')} rows to ${dir} in ${secs.toFixed(1)} s`);
  return files;
}

const VALUE_OPTIONS = ['rows', 'compare-rows', 'rounds', 'dir', 'tokenizer'];
if (args.flag('child')) {
  const [path, tokDir, cache] = args.positionals(VALUE_OPTIONS);
  await child(path!, tokDir!, cache === '-' ? null : cache!);
} else {
  const rows = args.number('rows', 1_000_000);
  const compareRows = args.number('compare-rows', Math.min(rows, 100_000));
  const rounds = args.number('rounds', 2);
  const dirFlag = args.string('dir');
  const writeOnly = args.flag('write-only');
  const skipCompare = args.flag('skip-compare');
  const skipFull = args.flag('skip-full');
  const shared = sharedDir();
  const tokDir = args.string('tokenizer') ?? (shared && join(shared, 'tokenizers', 'minimind2'));
  if (!tokDir) throw new Error('pass --tokenizer DIR (../shared is absent)');
  const work = dirFlag ?? mkdtempSync(join(tmpdir(), 'sftkit-bench-parquet-'));
  const full = skipFull ? null : await writeFiles(join(work, `rows-${rows}`), rows, false);
  const subset = skipCompare ? null : await writeFiles(join(work, `rows-${compareRows}`), compareRows, true);
  if (writeOnly) process.exit(0);

  const self = fileURLToPath(import.meta.url);
  const runChild = (path: string, cache: string | null): ChildResult => {
    // stderr is inherited: the progress bar draws on the terminal (one summary line per run when it is a file).
    const r = runJsonLine(process.execPath, ['--import', 'tsx', self, '--child', path, tokDir, cache ?? '-'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (!r.result) throw new Error(r.error);
    return r.result as unknown as ChildResult;
  };
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const mib = (kib: number) => kib / 1024;
  const report = (name: string, r: ChildResult) => {
    const resultMiB = (r.tokens * 5) / 2 ** 20;
    console.log(
      `${name}: ${fmt(r.rows)} rows, ${fmt(r.tokens)} tokens in ${(r.ms / 1000).toFixed(1)} s = ${fmt((r.rows / r.ms) * 1000)} rows/s, ` +
        `${fmt((r.tokens / r.ms) * 1000)} tokens/s (CPU ${(r.cpuMs / 1000).toFixed(1)} s); peak RSS ${fmt(mib(r.maxRssKiB))} MiB ` +
        `(${fmt(mib(r.baseRssKiB))} MiB before preparing), tokenized result ${fmt(resultMiB)} MiB, beyond it ` +
        `${fmt(mib(r.maxRssKiB) - resultMiB)} MiB; load average ${loadavg()[0]!.toFixed(1)}`,
    );
    return r;
  };
  const summary: Record<string, number> = {};
  if (subset) {
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const p = report(
        `round ${round} Parquet (${fmt(compareRows)} rows, cold, no cache)`,
        runChild(subset.parquet, null),
      );
      const j = report(
        `round ${round} JSONL   (${fmt(compareRows)} rows, cold, no cache)`,
        runChild(subset.jsonl, null),
      );
      ratios.push(p.rows / p.ms / (j.rows / j.ms));
      summary[`parquetRowsPerS${round}`] = Math.round((p.rows / p.ms) * 1000);
      summary[`jsonlRowsPerS${round}`] = Math.round((j.rows / j.ms) * 1000);
    }
    const sorted = [...ratios].sort((a, b) => a - b);
    const ratio =
      sorted.length % 2
        ? sorted[sorted.length >> 1]!
        : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    summary.parquetVsJsonl = Number(ratio.toFixed(3)); // the mean of the middle two for an even count
    console.log(
      `Parquet speed = ${(100 * ratio).toFixed(0)}% of JSONL on the same ${fmt(compareRows)} rows (per round: ${ratios.map((x) => `${(100 * x).toFixed(0)}%`).join(', ')})`,
    );
  }
  if (full) {
    const cacheRoot = join(work, `cache-${rows}`);
    rmSync(cacheRoot, { recursive: true, force: true });
    const cold = report(`Parquet ${fmt(rows)} rows (cold, writes the cache)`, runChild(full.parquet, cacheRoot));
    const warm = report(`Parquet ${fmt(rows)} rows (second run, reads the cache)`, runChild(full.parquet, cacheRoot));
    if (!warm.fromCache) throw new Error('the second run did not read the cache');
    rmSync(cacheRoot, { recursive: true, force: true });
    Object.assign(summary, {
      rows: cold.rows,
      tokens: cold.tokens,
      rowsPerS: Math.round((cold.rows / cold.ms) * 1000),
      tokensPerS: Math.round((cold.tokens / cold.ms) * 1000),
      coldS: Number((cold.ms / 1000).toFixed(1)),
      peakRssMiB: Math.round(mib(cold.maxRssKiB)),
      beyondResultMiB: Math.round(mib(cold.maxRssKiB) - (cold.tokens * 5) / 2 ** 20),
      cachedS: Number((warm.ms / 1000).toFixed(2)),
      cachedPeakRssMiB: Math.round(mib(warm.maxRssKiB)),
    });
  }
  console.log(JSON.stringify(summary));
  if (!dirFlag) rmSync(work, { recursive: true, force: true });
}
