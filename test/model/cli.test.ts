// `sftkit dump` and `sftkit merge` through the CLI entry point: the file contract and the flag errors.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { compareDumps } from '../../src/model/dump.js';
import { fixture, readAll, useBestBackend } from './helpers.js';

useBestBackend();
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-dumpcli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI with stderr captured (stdout belongs to the test runner's reporting channel). */
async function sftkit(...args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const e = process.stderr.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), err };
  } finally {
    process.stderr.write = e;
  }
}

test('sftkit dump --adapter writes logits [B,T,V], loss [1] and PEFT-named grads, all F32, equal to the reference', async () => {
  const out = join(tmp, 'lora.safetensors');
  const r = await sftkit(
    'dump',
    '--model',
    fixture('qwen2'),
    '--adapter',
    fixture('qwen2', 'adapter'),
    '--batch',
    fixture('qwen2', 'batch.json'),
    '--out',
    out,
  );
  assert.equal(r.code, 0, r.err);
  const f = SafetensorsFile.open(out);
  assert.deepEqual(f.tensors.get('logits')!.shape, [2, 10, 40]);
  assert.deepEqual(f.tensors.get('loss')!.shape, [1]);
  assert.deepEqual(f.tensors.get('grad.base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight')!.shape, [4, 2]);
  assert.ok([...f.tensors.values()].every((t) => t.dtype === 'F32'));
  f.close();
  const rows = compareDumps(readAll(fixture('qwen2', 'expected_lora.safetensors')), readAll(out));
  assert.deepEqual(
    rows.filter((x) => !x.ok).map((x) => x.name),
    [],
  );
});

test('sftkit dump --full names grads by HF weight name; --dtype bf16 runs', async () => {
  const out = join(tmp, 'full.safetensors');
  assert.equal(
    (
      await sftkit(
        'dump',
        '--model',
        fixture('llama'),
        '--full',
        '--batch',
        fixture('llama', 'batch.json'),
        '--out',
        out,
        '--dtype',
        'bf16',
      )
    ).code,
    0,
  );
  const names = [...readAll(out).keys()];
  assert.ok(
    names.includes('grad.lm_head.weight') &&
      names.includes('grad.model.layers.0.mlp.up_proj.weight') &&
      names.includes('grad.model.norm.weight'),
  );
  assert.equal(names.length, 2 + 21);
});

test('sftkit dump / merge flag errors are user errors', async () => {
  const both = await sftkit(
    'dump',
    '--model',
    fixture('llama'),
    '--adapter',
    fixture('llama', 'adapter'),
    '--full',
    '--batch',
    fixture('llama', 'batch.json'),
    '--out',
    join(tmp, 'x'),
  );
  assert.equal(both.code, 1);
  assert.match(both.err, /either --adapter or --full/);
  const dtype = await sftkit(
    'merge',
    '--model',
    fixture('llama'),
    '--adapter',
    fixture('llama', 'adapter'),
    '--out',
    join(tmp, 'm'),
    '--dtype',
    'fp8',
  );
  assert.match(dtype.err, /--dtype must be f32 or bf16/);
  const missing = await sftkit('dump', '--model', fixture('llama'), '--batch', fixture('llama', 'batch.json'));
  assert.match(missing.err, /--out is required/);
  const merged = await sftkit(
    'merge',
    '--model',
    fixture('llama'),
    '--adapter',
    fixture('llama', 'adapter'),
    '--out',
    join(tmp, 'merged'),
  );
  assert.equal(merged.code, 0, merged.err);
  assert.ok(existsSync(join(tmp, 'merged', 'model.safetensors')) && existsSync(join(tmp, 'merged', 'config.json')));
});
