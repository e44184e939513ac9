// The 1,000,000-row Parquet benchmark (issue 15): a synthetic conversational dataset written as one JSONL file and
// as Parquet (hyparquet-writer, snappy, row groups of 50,000), prepared by the one data path (read, validate,
// render, mask, encodeBatch) in a fresh child process per run, so each run's peak RSS is its own.
// Usage: flock /tmp/sftkit-heavy.lock node --import tsx bench/data-parquet.ts [--rows N] [--tokenizer DIR]
// Reports per run: rows/s, tokens/s, peak RSS, the tokenized result's bytes (4-byte ids + 1-byte mask per token)
// and RSS beyond it; then the cached re-run of the Parquet dataset.
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteWriter, parquetWriteRows } from 'hyparquet-writer';
import { prepareDataset } from '../src/data/pipeline.js';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';
import { benchArgs, runJsonLine } from '../src/bench/measure.js';
import { syntheticConversations } from '../src/bench/synthetic.js';
import { sharedDir } from '../test/helpers/shared.js';

const args = benchArgs();

/** One child run: prepare `path`, print a JSON line with the counts, time and peak RSS. */
async function child(path: string, tokDir: string, cacheRoot: string | null): Promise<void> {
  const tok = await Tokenizer.fromDir(tokDir);
  const t0 = performance.now();
  const data = await prepareDataset(tok, {
    train: path,
    shuffle: false,
    lossKeys: { assistant_only_loss: true, completion_only_loss: null },
    maxLength: 1024,
    ...(cacheRoot ? { tokenizerDir: tokDir, outputDir: cacheRoot } : { cache: false }),
  });
  const ms = performance.now() - t0;
  let tokens = 0;
  for (const e of data.train) tokens += e.inputIds.length;
  const rows = data.fromCache ? data.train.length : data.load.records;
  console.log(
    JSON.stringify({ rows, tokens, ms, fromCache: data.fromCache, maxRssKiB: process.resourceUsage().maxRSS }),
  );
  tok.close();
}

if (args.flag('child')) {
  const [path, tokDir, cache] = args.positionals([]);
  await child(path!, tokDir!, cache === '-' ? null : cache!);
} else {
  const rows = args.number('rows', 1_000_000);
  const shared = sharedDir();
  const tokDir = args.string('tokenizer') ?? (shared && join(shared, 'tokenizers', 'minimind2'));
  if (!tokDir) throw new Error('pass --tokenizer DIR (../shared is absent)');
  const work = mkdtempSync(join(tmpdir(), 'sftkit-bench-parquet-'));
  const jsonl = join(work, 'train.jsonl');
  const parquet = join(work, 'train-00000-of-00001.parquet');
  const t0 = performance.now();
  const out = createWriteStream(jsonl);
  const conversations: { role: string; content: string }[][] = [];
  for (const c of syntheticConversations(rows)) {
    conversations.push(c);
    if (!out.write(JSON.stringify({ messages: c }) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const sink = new ByteWriter();
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
    rows: conversations.map((messages) => ({ messages })),
    rowGroupSize: 50_000,
  });
  writeFileSync(parquet, sink.getBytes());
  conversations.length = 0;
  console.log(
    `wrote ${rows.toLocaleString('en-US')} rows as JSONL and Parquet in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const self = fileURLToPath(import.meta.url);
  const cacheRoot = join(work, 'cache');
  const runChild = (path: string, cache: string | null) => {
    const r = runJsonLine(process.execPath, ['--import', 'tsx', self, '--child', path, tokDir, cache ?? '-']);
    if (!r.result) throw new Error(r.error);
    return r.result as unknown as {
      rows: number;
      tokens: number;
      ms: number;
      fromCache: boolean;
      maxRssKiB: number;
    };
  };
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const report = (name: string, r: ReturnType<typeof runChild>) => {
    const resultMiB = (r.tokens * 5) / 2 ** 20;
    const rssMiB = r.maxRssKiB / 1024;
    console.log(
      `${name}: ${fmt(r.rows)} rows, ${fmt(r.tokens)} tokens in ${(r.ms / 1000).toFixed(1)} s = ${fmt((r.rows / r.ms) * 1000)} rows/s, ` +
        `${fmt((r.tokens / r.ms) * 1000)} tokens/s; peak RSS ${fmt(rssMiB)} MiB, tokenized result ${fmt(resultMiB)} MiB, ` +
        `beyond it ${fmt(rssMiB - resultMiB)} MiB${r.fromCache ? ' (from the cache)' : ''}`,
    );
    return r;
  };
  const j = report('JSONL   (cold, writes the cache)', runChild(jsonl, cacheRoot));
  const p = report('Parquet (cold, writes the cache)', runChild(parquet, cacheRoot));
  const w = report('Parquet (second run)', runChild(parquet, cacheRoot));
  if (!w.fromCache) throw new Error('the second run did not read the cache');
  console.log(
    `Parquet speed = ${((100 * (p.rows / p.ms)) / (j.rows / j.ms)).toFixed(0)}% of JSONL; cached re-run ${(w.ms / 1000).toFixed(2)} s`,
  );
  rmSync(work, { recursive: true, force: true });
}
