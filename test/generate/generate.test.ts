// KV-cache generation: greedy decoding equals argmax over full forward passes (base, LoRA unmerged, LoRA
// merged, bf16), batched prompts of different lengths equal one-by-one, and the stop rules.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createCache, forwardStep } from '../../src/generate/forward.js';
import { generate, PrefixCache } from '../../src/generate/generate.js';
import { KVCache, PAD_SEGMENT, REAL_SEGMENT } from '../../src/generate/kv-cache.js';
import { TextStream } from '../../src/generate/text-stream.js';
import { castWeightsToBf16 } from '../../src/generate/weights.js';
import { foldLora } from '../../src/model/fold-lora.js';
import { LlamaModel } from '../../src/model/llama.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { sharedDir } from '../helpers/shared.js';
import { UserError } from '../../src/util/errors.js';
import { useBestBackend } from '../model/helpers.js';
import { greedyByFullForward, lastLogits, randomLora, scramble, tinyModelDir } from './helpers.js';

useBestBackend();
const tmp = mkdtempSync(join(tmpdir(), 'sftkit-gen-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dir = '';
before(async () => {
  dir = await tinyModelDir(tmp);
});

const PROMPT = [5, 17, 99, 240, 3, 64, 128];
/** The tiny model with scrambled f32 weights, optionally stored as bf16 afterwards. */
function load(dtype: 'f32' | 'bf16' = 'f32'): LlamaModel {
  const m = scramble(LlamaModel.load(dir), 7);
  if (dtype === 'bf16') castWeightsToBf16(m);
  return m;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('greedy KV-cache generation equals step-by-step argmax of full forward passes (f32, 32 tokens)', () => {
  const model = load();
  const want = greedyByFullForward(model, PROMPT, 32);
  assert.ok(new Set(want).size > 8, `the scrambled model should not just repeat a token: ${want}`);
  const got = generate(model, [PROMPT], { maxNewTokens: 32, doSample: false });
  assert.deepEqual(got.generations[0]!.tokenIds, want);
  assert.equal(got.generations[0]!.finishReason, 'length');
});

test('prefill + decode logits match the full forward logits at every step', () => {
  const model = load();
  const ids = [...PROMPT];
  const cache = createCache(model, 1, 16);
  let logits = forwardStep(model, cache, {
    T: ids.length,
    ids: Int32Array.from(ids),
    positions: Int32Array.from(ids.map((_, i) => i)),
    seg: new Int32Array(ids.length),
  });
  for (const next of [9, 250, 31]) {
    const ref = lastLogits(model, ids);
    assert.ok(maxAbsDiff(logits, ref) < 1e-4, `step ${ids.length}: max diff ${maxAbsDiff(logits, ref)}`);
    ids.push(next);
    logits = forwardStep(model, cache, {
      T: 1,
      ids: Int32Array.of(next),
      positions: Int32Array.of(ids.length - 1),
      seg: new Int32Array(1),
    });
  }
  assert.equal(cache.length, PROMPT.length + 3);
});

test('greedy with an unmerged LoRA adapter equals full-forward argmax, and merging gives the same tokens', () => {
  const model = load();
  randomLora(model);
  const want = greedyByFullForward(model, PROMPT, 32);
  const base = greedyByFullForward(load(), PROMPT, 32);
  assert.notDeepEqual(want, base, 'the adapter must change the output');
  assert.deepEqual(generate(model, [PROMPT], { maxNewTokens: 32, doSample: false }).generations[0]!.tokenIds, want);
  const before = lastLogits(model, PROMPT);
  assert.equal(foldLora(model), 14);
  assert.ok(model.linears().every((m) => m.lora === null));
  assert.ok(maxAbsDiff(lastLogits(model, PROMPT), before) < 1e-4);
  assert.deepEqual(generate(model, [PROMPT], { maxNewTokens: 32, doSample: false }).generations[0]!.tokenIds, want);
});

test('bf16 weights: KV-cache greedy equals full-forward greedy of the same bf16 model', () => {
  const model = load('bf16');
  assert.equal(model.embedTokens.dtype, 'bf16');
  assert.equal(model.compute, 'bf16');
  const want = greedyByFullForward(model, PROMPT, 16);
  assert.deepEqual(generate(model, [PROMPT], { maxNewTokens: 16, doSample: false }).generations[0]!.tokenIds, want);
});

test('Gemma 3 and Qwen3: KV-cache greedy equals full-forward greedy (sliding-window layers past the window, batched)', async () => {
  for (const arch of ['gemma3', 'qwen3'] as const) {
    // Gemma: window 4, layers 0-4 sliding and 5 global, so prompt + 24 new tokens run far past the window.
    const overrides = arch === 'gemma3' ? { num_hidden_layers: 6, sliding_window: 4 } : {};
    const model = scramble(LlamaModel.load(await tinyModelDir(tmp, { arch, overrides })), 9);
    if (arch === 'gemma3') assert.deepEqual(model.config.layerWindows, [4, 4, 4, 4, 4, null]);
    const want = greedyByFullForward(model, PROMPT, 24);
    assert.ok(new Set(want).size > 6, `${arch}: the scrambled model should not just repeat a token: ${want}`);
    assert.deepEqual(generate(model, [PROMPT], { maxNewTokens: 24, doSample: false }).generations[0]!.tokenIds, want);
    // Left padding shifts slots against positions: the window must follow positions within each row.
    const short = [3, 4];
    const batched = generate(model, [short, PROMPT], { maxNewTokens: 24, doSample: false }).generations;
    assert.deepEqual(batched[1]!.tokenIds, want, `${arch} batched with a shorter prompt`);
    assert.deepEqual(batched[0]!.tokenIds, greedyByFullForward(model, short, 24), `${arch} short prompt`);
  }
});

test('batched prompts of different lengths (left padding + segments) generate what each prompt does alone', () => {
  const model = load();
  const prompts = [[7, 8, 9], PROMPT, [200], [40, 41, 42, 43, 44]];
  const alone = prompts.map(
    (p) => generate(model, [p], { maxNewTokens: 12, doSample: false }).generations[0]!.tokenIds,
  );
  // One prompt stops early (its third token is a stop id): the batch shrinks mid-way and the others go on.
  const stopId = alone[2]![2]!;
  const batched = generate(model, prompts, { maxNewTokens: 12, doSample: false, stopTokenIds: [stopId] });
  batched.generations.forEach((g, i) => {
    const ref = alone[i]!;
    const cut = ref.indexOf(stopId);
    assert.deepEqual(g.tokenIds, cut >= 0 ? ref.slice(0, cut + 1) : ref, `prompt ${i}`);
    assert.equal(g.finishReason, cut >= 0 ? 'eos' : 'length');
    assert.deepEqual(g.promptTokenIds, prompts[i]);
  });
  // Sampled rows draw from per-row streams (seed, row index): batched sampling equals sampling each prompt alone.
  const sample = { maxNewTokens: 8, doSample: true, temperature: 1.5, topK: 0, seed: 5 };
  const a = generate(model, prompts, sample).generations.map((g) => g.tokenIds);
  assert.deepEqual(
    a,
    prompts.map((p, i) => generate(model, [p], { ...sample, rowOffset: i }).generations[0]!.tokenIds),
  );
  assert.notDeepEqual(
    a,
    prompts.map((p) => generate(model, [p], { ...sample, doSample: false }).generations[0]!.tokenIds),
  );
});

test('stop strings end a row with the text cut before them; decode gives text without the stop token', () => {
  const model = load();
  const ids = generate(model, [PROMPT], { maxNewTokens: 10, doSample: false }).generations[0]!.tokenIds;
  const decode = (xs: number[]) => xs.map((x) => `<${x}>`).join('');
  const stop = `<${ids[3]}>`;
  const firstAt = ids.findIndex((x) => x === ids[3]);
  const r = generate(model, [PROMPT], { maxNewTokens: 10, doSample: false, decode, stopStrings: [stop] })
    .generations[0]!;
  assert.equal(r.finishReason, 'stop_string');
  assert.deepEqual(r.tokenIds, ids.slice(0, firstAt + 1));
  assert.equal(r.text, decode(ids.slice(0, firstAt)));
  const e = generate(model, [PROMPT], { maxNewTokens: 10, doSample: false, decode, stopTokenIds: [ids[3]!] })
    .generations[0]!;
  assert.equal(e.finishReason, 'eos');
  assert.equal(e.text, decode(ids.slice(0, firstAt)));
  assert.equal(generate(model, [PROMPT], { maxNewTokens: 0 }).generations[0]!.tokenIds.length, 0);
  assert.throws(() => generate(model, [[]], { maxNewTokens: 3 }), /no tokens/);
  assert.throws(() => generate(model, [[1, 100000]], { maxNewTokens: 3 }), /outside the vocabulary/);
});

test('text stream: holds back incomplete characters and possible stop-string prefixes, streams the rest', () => {
  const pieces: Record<number, string> = { 1: 'Hel', 2: 'lo', 3: ' E', 4: 'ND', 5: '\ufffd', 6: '!' };
  const decode = (ids: number[]) => {
    const s = ids.map((i) => pieces[i]).join('');
    return s.replace('\ufffd!', 'é!'); // two "bytes" that only decode together
  };
  const s = new TextStream(decode, [' END']);
  assert.equal(s.push(1), 'Hel');
  assert.equal(s.push(2), 'lo');
  assert.equal(s.push(3), ''); // ' E' may start ' END'
  assert.equal(s.push(4), '');
  assert.equal(s.stoppedText, 'Hello');
  const t = new TextStream(decode, [' END']);
  t.push(1);
  assert.equal(t.push(5), '');
  assert.equal(t.push(6), 'é!');
  assert.equal(t.push(3), '');
  assert.equal(t.flush(), ' E');
  assert.equal(t.text(), 'Helé! E');
});

test('a KV cache larger than the machine is refused in one line before anything is allocated', () => {
  const m = LlamaModel.load(dir);
  assert.throws(
    () => generate(m, [[1, 2, 3]], { maxNewTokens: 1e12, doSample: false }),
    (e: Error) =>
      e instanceof UserError &&
      /^generation needs a key\/value cache of [\d.]+ TiB for 1,000,000,000,003 tokens \(prompt \+ max_new_tokens\), more than this machine's [\d.]+ GiB of memory; ask for fewer new tokens$/.test(
        e.message,
      ),
  );
  assert.equal(createCache(m, 2, 8).capacity, 8);
});

test('KV cache: keepRows compacts the surviving rows with their segments', () => {
  const c = new KVCache(1, 3, 4, 1, 2);
  const k = Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => i);
  c.write(0, k, k, 2);
  c.advance(2, Int32Array.of(PAD_SEGMENT, REAL_SEGMENT, REAL_SEGMENT, REAL_SEGMENT, PAD_SEGMENT, REAL_SEGMENT));
  c.keepRows([0, 2]);
  assert.equal(c.batch, 2);
  assert.deepEqual([...c.k[0]!.subarray(c.rowStride, c.rowStride + 4)], [8, 9, 10, 11]);
  assert.deepEqual([...c.keySegments(2)], [PAD_SEGMENT, REAL_SEGMENT, PAD_SEGMENT, REAL_SEGMENT]);
});

test(
  'real model (stories260K): KV-cache greedy equals full-forward greedy, alone and batched',
  { skip: !sharedDir() && 'needs ../shared' },
  async () => {
    const dir = join(sharedDir()!, 'models', 'stories260K');
    const model = LlamaModel.load(dir);
    const tok = await Tokenizer.fromDir(dir);
    const prompts = ['Once upon a time', 'The cat sat on the mat and'].map((t) => tok.encode(t).ids);
    const want = prompts.map((p) => greedyByFullForward(model, p, 32));
    const batched = generate(model, prompts, { maxNewTokens: 32, doSample: false, decode: (ids) => tok.decode(ids) });
    assert.deepEqual(
      batched.generations.map((g) => g.tokenIds),
      want,
    );
    assert.ok(batched.generations[0]!.text.length > 40, batched.generations[0]!.text);
  },
);

test('prefix cache: a follow-up prompt reuses the cached prefix and generates what a fresh cache does', () => {
  const model = load();
  const pc = new PrefixCache();
  const opts = { maxNewTokens: 10, doSample: false };
  const first = generate(model, [PROMPT], { ...opts, prefixCache: pc });
  assert.equal(first.stats.reusedTokens, 0);
  assert.deepEqual(first.generations[0]!.tokenIds, generate(model, [PROMPT], opts).generations[0]!.tokenIds);
  assert.equal(pc.ids.length, PROMPT.length + 9);
  // The next turn: the whole previous exchange plus new tokens.
  const next = [...PROMPT, ...first.generations[0]!.tokenIds, 7, 8, 9];
  const second = generate(model, [next], { ...opts, prefixCache: pc });
  assert.equal(second.stats.reusedTokens, PROMPT.length + 9);
  assert.equal(second.stats.prefillTokens, 4);
  assert.deepEqual(second.generations[0]!.tokenIds, generate(model, [next], opts).generations[0]!.tokenIds);
  // A prompt that diverges early (an edited system message) reuses only the common part.
  const edited = [5, 17, 42, ...next.slice(3)];
  const third = generate(model, [edited], { ...opts, prefixCache: pc });
  assert.equal(third.stats.reusedTokens, 2);
  assert.deepEqual(third.generations[0]!.tokenIds, generate(model, [edited], opts).generations[0]!.tokenIds);
  assert.throws(() => generate(model, [PROMPT, PROMPT], { ...opts, prefixCache: pc }), /exactly one prompt/);
});
