// Malformed inputs: a short seeded fuzz run over every kind of file sftkit reads (the long run is
// `npm run fuzz`), and the absurd inputs named in the crash-safety issue through the real CLI: each is refused
// with one line naming the file and place, exit code 1, no stack trace, nothing allocated for minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFuzz } from './fuzz-driver.js';
import { FUZZ_KINDS, makeCase, writeDataSeeds } from './fuzz-lib.js';
import { readArrowRows } from '../../src/data/readers/arrow.js';
import { UserError } from '../../src/util/errors.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir, tinyModel } from '../train/helpers.js';

test('fuzz (short run): every malformed file is accepted or refused with one line naming it', async () => {
  const report = await runFuzz({ casesPerKind: 12, seed: 20261205, timeoutMs: 60_000 });
  const cases = Object.values(report.perKind).reduce((s, k) => s + k.cases, 0);
  assert.equal(cases, 12 * FUZZ_KINDS.length);
  assert.deepEqual(
    report.failures.map((f) => `${f.kind} #${f.index} (${f.mutation}): ${f.what}`),
    [],
  );
  // the mutations really are refused, not silently accepted
  for (const [kind, k] of Object.entries(report.perKind)) assert.ok(k.refused > 0, `${kind}: nothing was refused`);
});

function assertRefused(r: CliResult, names: RegExp): void {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines.at(-1)!, names, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, r.stderr);
}

test('absurd inputs through the CLI: refused at once with one line naming file and place', async () => {
  const tiny = await tinyModel();
  const dir = tempDir('absurd');
  const model = (name: string, edit: (cfg: Record<string, unknown>) => void) => {
    const m = join(dir, name);
    cpSync(tiny, m, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8')) as Record<string, unknown>;
    edit(cfg);
    writeFileSync(join(m, 'config.json'), JSON.stringify(cfg));
    return m;
  };
  const data = join(dir, 'chat.jsonl');
  const conv = {
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello there' },
    ],
  };
  writeFileSync(data, `${JSON.stringify(conv)}\n`.repeat(8));
  const train = (m: string, d: string, out = join(dir, 'out'), extra: string[] = []) =>
    runCli(['train', '--model', m, '--dataset', d, '--output_dir', out, '--max_steps', '1', ...extra], {
      timeoutMs: 120_000,
    });

  // 10^12 parameters; a million layers
  const huge = model('huge', (c) => {
    c.hidden_size = 1_000_000;
    c.intermediate_size = 4_000_000;
  });
  let t = Date.now();
  assertRefused(train(huge, data), /huge\/config\.json: the config describes about .* parameters/);
  const deep = model('deep', (c) => {
    c.num_hidden_layers = 1_000_000;
  });
  // The memory guard runs before the weights are read, so a million layers are refused by their size.
  assertRefused(train(deep, data), /^not enough memory: this config needs about [\d.]+ TiB/);
  assert.ok(Date.now() - t < 60_000, 'refused quickly');

  // a safetensors header that claims a 2^60-byte tensor
  const big = join(dir, 'bigheader');
  cpSync(tiny, big, { recursive: true });
  const st = readFileSync(join(big, 'model.safetensors'));
  const n = Number(st.readBigUInt64LE(0));
  const header = JSON.parse(st.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
  const first = Object.keys(header).find((k) => k !== '__metadata__')!;
  header[first]!.shape = [2 ** 30, 2 ** 28];
  const hb = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + hb.length);
  out.writeBigUInt64LE(BigInt(hb.length));
  hb.copy(out, 8);
  writeFileSync(join(big, 'model.safetensors'), Buffer.concat([out, st.subarray(8 + n)]));
  assertRefused(train(big, data), /model\.safetensors: tensor '.+': shape \[1073741824, 268435456\]/);

  // model.safetensors that is a folder
  const folder = join(dir, 'stfolder');
  cpSync(tiny, folder, { recursive: true });
  rmSync(join(folder, 'model.safetensors'));
  mkdirSync(join(folder, 'model.safetensors'));
  assertRefused(train(folder, data), /model\.safetensors: is not a file/);

  // a 10 MB JSONL line, non-UTF-8 bytes, zero usable examples
  const long = join(dir, 'long.jsonl');
  const big10 = {
    messages: [
      { role: 'user', content: 'x'.repeat(10_000_000) },
      { role: 'assistant', content: 'y' },
    ],
  };
  writeFileSync(long, `${JSON.stringify(conv)}\n${JSON.stringify(big10)}\n`);
  t = Date.now();
  assertRefused(train(tiny, long), /long\.jsonl:2: .*over the 2 Mi-character limit/);
  assert.ok(Date.now() - t < 60_000, 'the 10 MB line is refused quickly');
  const latin1 = join(dir, 'latin1.jsonl');
  writeFileSync(
    latin1,
    Buffer.concat([
      Buffer.from('{"messages": [{"role": "user", "content": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}, {"role": "assistant", "content": "ok"}]}\n'),
    ]),
  );
  assertRefused(train(tiny, latin1), /latin1\.jsonl:1/);
  const none = join(dir, 'none.jsonl');
  writeFileSync(none, `${JSON.stringify({ messages: [{ role: 'user', content: 'only a question' }] })}\n`);
  assertRefused(train(tiny, none), /none\.jsonl/);

  // output_dir that is a file
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  assertRefused(train(tiny, data, file), /output_dir: .*a-file is a file, not a folder/);
  assert.equal(readFileSync(file, 'utf8'), 'x');

  // --temperature=-1
  assertRefused(
    runCli(['generate', '--model', tiny, '--prompt', 'hi', '--temperature=-1', '--max-new-tokens', '2']),
    /--temperature must be >= 0/,
  );
  assert.equal(existsSync(join(dir, 'out', 'adapter_model.safetensors')), false, 'no output written as if complete');
});

test('damaged Arrow batches the long fuzz run found (seed 17, arrow #195, #227, #266, #341, #401): one line naming file, batch and column', async () => {
  const root = tempDir('arrow-fuzz-regressions');
  writeDataSeeds(join(root, 'seeds', 'data'));
  for (const index of [195, 227, 266, 341, 401]) {
    const c = makeCase(join(root, 'seeds'), join(root, 'cases'), 'arrow', index, 17);
    await assert.rejects(
      async () => {
        for await (const _ of readArrowRows(c.file)) void _;
      },
      (e: unknown) =>
        e instanceof UserError &&
        !e.message.includes('\n') &&
        e.message.startsWith(`${c.file}: record batch 0 (from row 0), column 'messages': `),
      `arrow #${index} (${c.mutation})`,
    );
  }
});
