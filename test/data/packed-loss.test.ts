// Packing must not change what is learned: the summed loss of packed rows equals the sum of each example's
// loss computed alone (document-boundary attention via position_ids, first label of each example masked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel } from '../../src/model/create-model.js';
import { LlamaModel } from '../../src/model/llama.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { noGrad } from '../../src/engine/index.js';
import { loadRecords } from '../../src/data/load.js';
import { prepareRecords } from '../../src/data/prepare.js';
import { batches, collate } from '../../src/data/batches.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'data');

test('packed batches give the same summed loss as each example alone (fp32)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sftkit-pack-'));
  await createModel({ preset: 'tiny', out: dir, seed: 5, tokenizer: 'bpe', overwrite: true });
  const tok = await Tokenizer.fromDir(dir);
  const model = LlamaModel.load(dir);
  const { records } = await loadRecords(join(FIX, 'conversations.jsonl'));
  const more = (await loadRecords(join(FIX, 'sharegpt.json'))).records;
  const { examples } = prepareRecords(tok, [...records, ...more], { maxLength: 256 });
  const sumLoss = (b: {
    batch: number;
    seq: number;
    inputIds: Int32Array;
    labels: Int32Array;
    positionIds: Int32Array;
  }) =>
    noGrad(() => {
      const l = model.loss(b, { normalizer: 1 });
      const v = l.value.toF32()[0]!;
      l.value.dispose();
      return { v, n: l.targets };
    });
  let alone = 0;
  let aloneTargets = 0;
  for (let i = 0; i < examples.length; i++) {
    const r = sumLoss(collate(examples, [[i]], examples[i]!.inputIds.length, 0));
    alone += r.v;
    aloneTargets += r.n;
  }
  const maxLength = Math.max(...examples.map((e) => e.inputIds.length)) + 40;
  let packed = 0;
  let packedTargets = 0;
  let rows = 0;
  for (const b of batches(examples, {
    batchSize: 2,
    maxLength,
    packing: true,
    seed: 1,
    padTokenId: tok.padTokenId ?? 0,
  })) {
    const r = sumLoss(b);
    assert.equal(r.n, b.numTrainedTokens);
    packed += r.v;
    packedTargets += r.n;
    rows += b.batch;
  }
  assert.ok(rows < examples.length, 'examples were packed together');
  assert.equal(packedTargets, aloneTargets);
  assert.ok(Math.abs(packed - alone) <= 1e-4 * Math.abs(alone), `packed ${packed} vs alone ${alone}`);
  tok.close();
});
