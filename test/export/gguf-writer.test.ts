// GGUF writer, tensor conversions and the export's metadata, checked without llama.cpp.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dequantizeQ8_0, encodeTensor, quantizeQ8_0 } from '../../src/export/gguf/convert.js';
import { exportGguf, tensorTypeFor } from '../../src/export/gguf/export.js';
import { TOKEN_TYPE } from '../../src/export/gguf/format.js';
import { readGguf } from '../../src/export/gguf/reader.js';
import { permuteRopeRows } from '../../src/export/gguf/tensor-map.js';
import { recognisePreTokenizer } from '../../src/export/gguf/vocab.js';
import { gv, writeGguf, type GgufValue } from '../../src/export/gguf/writer.js';
import { createModel } from '../../src/model/create-model.js';
import { f16BitsToF32 } from '../../src/io/float-bits.js';
import { SafetensorsModel } from '../../src/io/safetensors.js';
import { main } from '../../src/cli/main.js';
import { UserError } from '../../src/util/errors.js';

const work = mkdtempSync(join(tmpdir(), 'sftkit-gguf-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer.slice(0));

describe('GGUF writer', () => {
  test('round-trips every metadata value type, tensor infos and aligned data', () => {
    const meta = new Map<string, GgufValue>([
      ['general.architecture', gv.str('llama')],
      ['t.u8', gv.u8(255)],
      ['t.i8', gv.i8(-128)],
      ['t.u16', gv.u16(65535)],
      ['t.i16', gv.i16(-32768)],
      ['t.u32', gv.u32(4294967295)],
      ['t.i32', gv.i32(-2147483648)],
      ['t.f32', gv.f32(0.5)],
      ['t.f64', gv.f64(Math.PI)],
      ['t.u64', gv.u64(2n ** 63n)],
      ['t.i64', gv.i64(-5)],
      ['t.bool', gv.bool(true)],
      ['t.unicode', gv.str('ünï 🦙')],
      ['t.strings', gv.arr('string', ['a', '', 'Ġthe', '<|im_end|>'])],
      ['t.f32s', gv.arr('f32', new Float32Array([1.5, -2]))],
      ['t.i32s', gv.arr('i32', [1, -1, 6])],
      ['t.bools', gv.arr('bool', [true, false])],
      ['t.empty', gv.arr('u32', [])],
    ]);
    const a = new Float32Array([1, 2, 3]); // 12 bytes: the next tensor must start at 32
    const b = new Float32Array(Array.from({ length: 64 }, (_, i) => i - 32));
    const path = join(work, 'roundtrip.gguf');
    const size = writeGguf(path, meta, [
      { name: 'a', shape: [3], type: 'F32', data: () => bytesOf(a) },
      { name: 'b', shape: [2, 32], type: 'F32', data: () => bytesOf(b) },
    ]);
    const g = readGguf(path);
    assert.equal(g.version, 3);
    assert.equal(size, g.bytes.length);
    assert.equal(g.metadata.get('t.u8'), 255);
    assert.equal(g.metadata.get('t.i8'), -128);
    assert.equal(g.metadata.get('t.u16'), 65535);
    assert.equal(g.metadata.get('t.i16'), -32768);
    assert.equal(g.metadata.get('t.u32'), 4294967295);
    assert.equal(g.metadata.get('t.i32'), -2147483648);
    assert.equal(g.metadata.get('t.f32'), 0.5);
    assert.equal(g.metadata.get('t.f64'), Math.PI);
    assert.equal(g.metadata.get('t.u64'), 2n ** 63n);
    assert.equal(g.metadata.get('t.i64'), -5n);
    assert.equal(g.metadata.get('t.bool'), true);
    assert.equal(g.metadata.get('t.unicode'), 'ünï 🦙');
    assert.deepEqual(g.metadata.get('t.strings'), ['a', '', 'Ġthe', '<|im_end|>']);
    assert.deepEqual(g.metadata.get('t.f32s'), [1.5, -2]);
    assert.deepEqual(g.metadata.get('t.i32s'), [1, -1, 6]);
    assert.deepEqual(g.metadata.get('t.bools'), [true, false]);
    assert.deepEqual(g.metadata.get('t.empty'), []);
    assert.equal(g.metadataTypes.get('t.strings'), 'array:string');
    assert.equal(g.metadataTypes.get('t.u64'), 'u64');
    assert.deepEqual(
      g.tensors.map((t) => [t.name, t.shape, t.type]),
      [
        ['a', [3], 'F32'],
        ['b', [2, 32], 'F32'],
      ],
    );
    for (const t of g.tensors) assert.equal(t.offset % 32, 0, `${t.name} data must be 32-byte aligned`);
    assert.equal(g.tensors[1]!.offset - g.tensors[0]!.offset, 32);
    const read = (i: number) =>
      new Float32Array(g.bytes.slice(g.tensors[i]!.offset, g.tensors[i]!.offset + g.tensors[i]!.byteLength).buffer);
    assert.deepEqual(read(0), a);
    assert.deepEqual(read(1), b);
    // ggml's ne[] is the reversed shape: the raw dims of 'b' are stored as 32, 2.
    const raw = Buffer.from(g.bytes).indexOf(Buffer.from('b'), 24 + 8);
    assert.ok(raw > 0);
  });

  test('a non-default alignment is recorded as general.alignment and honoured', () => {
    const path = join(work, 'align64.gguf');
    writeGguf(
      path,
      new Map([['general.architecture', gv.str('llama')]]),
      [
        { name: 'x', shape: [3], type: 'F32', data: () => bytesOf(new Float32Array(3)) },
        { name: 'y', shape: [1], type: 'F32', data: () => bytesOf(new Float32Array([7])) },
      ],
      { alignment: 64 },
    );
    const g = readGguf(path);
    assert.equal(g.metadata.get('general.alignment'), 64);
    assert.deepEqual(
      g.tensors.map((t) => t.offset % 64),
      [0, 0],
    );
  });

  test('is atomic: a failing tensor leaves neither the target nor a temporary file', () => {
    const dir = join(work, 'atomic');
    mkdirSync(dir);
    const path = join(dir, 'out.gguf');
    assert.throws(
      () => writeGguf(path, new Map(), [{ name: 'x', shape: [4], type: 'F32', data: () => new Uint8Array(8) }]),
      /produced 8 bytes, expected 16/,
    );
    assert.throws(
      () =>
        writeGguf(path, new Map(), [
          {
            name: 'x',
            shape: [4],
            type: 'F32',
            data: () => {
              throw new Error('boom');
            },
          },
        ]),
      /boom/,
    );
    assert.deepEqual(readdirSync(dir), []);
    assert.throws(
      () =>
        writeGguf(path, new Map(), [
          { name: 'x', shape: [1], type: 'F32', data: () => new Uint8Array(4) },
          { name: 'x', shape: [1], type: 'F32', data: () => new Uint8Array(4) },
        ]),
      /duplicate tensor/,
    );
  });
});

describe('tensor conversions', () => {
  test('q8_0: fp16 scale amax/127, int8 round-half-away-from-zero, llama.cpp block layout', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 32; i++) x[i] = (i - 16) / 4; // amax 4 -> d = 4/127
    x[5] = -4;
    // second block all zeros: d = 0, q = 0
    const q = quantizeQ8_0(x);
    assert.equal(q.length, 2 * 34);
    const view = new DataView(q.buffer);
    const d = f16BitsToF32(view.getUint16(0, true));
    assert.ok(Math.abs(d - 4 / 127) < 1e-5);
    assert.equal(view.getInt8(2 + 5), -127);
    assert.equal(view.getInt8(2 + 16), 0);
    assert.equal(view.getInt8(2 + 17), Math.round((0.25 * 127) / 4)); // 7.9375 -> 8
    assert.equal(view.getUint16(34, true), 0);
    assert.deepEqual([...q.subarray(36)], new Array(32).fill(0));
    // half-way cases round away from zero (roundf), not to even
    const halves = new Float32Array(32);
    halves[0] = 127; // d = 1
    halves[1] = 2.5;
    halves[2] = -2.5;
    const h = new DataView(quantizeQ8_0(halves).buffer);
    assert.deepEqual([h.getInt8(2), h.getInt8(3), h.getInt8(4)], [127, 3, -3]);
    const back = dequantizeQ8_0(q, f16BitsToF32);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(back[i]! - x[i]!) <= d / 2 + 1e-6);
  });

  test('f16 and bf16 bits round to nearest even; f32 is copied', () => {
    const vals = new Float32Array([1, -2, 65504, 1e-8, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
    const f16 = new Uint16Array(encodeTensor(vals, 'F16', vals.length).buffer);
    assert.deepEqual([...f16], [0x3c00, 0xc000, 0x7bff, 0x0000, 0x3c00, 0x3c02]);
    const bf = new Uint16Array(encodeTensor(new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8]), 'BF16', 3).buffer);
    assert.deepEqual([...bf], [0x3f80, 0x3f80, 0x3f82]);
    const src = new Float32Array([1, 2]);
    const out = encodeTensor(src, 'F32', 2);
    src[0] = 9;
    assert.deepEqual([...new Float32Array(out.buffer)], [1, 2]);
    assert.throws(() => encodeTensor(new Float32Array(40), 'Q8_0', 40), /multiple of 32/);
  });

  test('1-D tensors stay f32; q8_0 falls back to f16 for rows not a multiple of 32', () => {
    assert.equal(tensorTypeFor([64], 'q8_0'), 'F32');
    assert.equal(tensorTypeFor([64], 'bf16'), 'F32');
    assert.equal(tensorTypeFor([64, 172], 'q8_0'), 'F16');
    assert.equal(tensorTypeFor([172, 64], 'q8_0'), 'Q8_0');
    assert.equal(tensorTypeFor([172, 64], 'bf16'), 'BF16');
    assert.equal(tensorTypeFor([172, 64], 'f32'), 'F32');
  });

  test('q/k rows go from rotate-half pairs (i, i+d/2) to interleaved pairs (2i, 2i+1) per head', () => {
    // two heads of head_dim 4, row length 1 (a bias): HF order per head [x0 x1 | y0 y1] -> [x0 y0 x1 y1]
    assert.deepEqual(
      [...permuteRopeRows(new Float32Array([0, 1, 2, 3, 10, 11, 12, 13]), 2, 1)],
      [0, 2, 1, 3, 10, 12, 11, 13],
    );
    // whole rows move together
    const w = new Float32Array([0, 0, 1, 1, 2, 2, 3, 3]);
    assert.deepEqual([...permuteRopeRows(w, 1, 2)], [0, 0, 2, 2, 1, 1, 3, 3]);
    assert.throws(() => permuteRopeRows(new Float32Array(6), 2, 1), /even size/);
  });
});

describe('byte-level pre-tokenizer recognition', () => {
  const byteLevel = (useRegex: boolean) => ({
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: useRegex,
  });
  const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
  const llama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const qwen2 = llama3.replace('\\p{N}{1,3}', '\\p{N}');
  const tok = (pre: object, ignoreMerges = false) => ({
    pre_tokenizer: pre,
    normalizer: null,
    model: { type: 'BPE', ignore_merges: ignoreMerges },
  });

  test('names the llama.cpp pre-tokenizer that splits the same way', () => {
    assert.equal(recognisePreTokenizer(tok(byteLevel(true)), 't'), 'gpt-2');
    assert.equal(
      recognisePreTokenizer(
        tok({ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] }),
        't',
      ),
      'smollm',
    );
    assert.equal(
      recognisePreTokenizer(tok({ type: 'Sequence', pretokenizers: [split(llama3), byteLevel(false)] }, true), 't'),
      'llama-bpe',
    );
    assert.equal(
      recognisePreTokenizer(tok({ type: 'Sequence', pretokenizers: [split(qwen2), byteLevel(false)] }), 't'),
      'qwen2',
    );
  });

  test('refuses what llama.cpp would split differently', () => {
    assert.throws(
      () => recognisePreTokenizer(tok({ type: 'Sequence', pretokenizers: [split('\\s+'), byteLevel(false)] }), 't'),
      UserError,
    );
    assert.throws(
      () =>
        recognisePreTokenizer(tok({ type: 'Sequence', pretokenizers: [split(llama3), byteLevel(false)] }, false), 't'),
      UserError,
    );
    assert.throws(() => recognisePreTokenizer(tok({ ...byteLevel(true), add_prefix_space: true }), 't'), UserError);
    assert.throws(() => recognisePreTokenizer(tok({ type: 'Whitespace' }), 't'), UserError);
  });
});

describe('export gguf (create-model tiny, no llama.cpp)', () => {
  const modelDir = join(work, 'tiny');
  const ready = createModel({ preset: 'tiny', out: modelDir, seed: 3, tokenizer: 'bpe' });

  test('writes llama metadata, ChatML vocabulary and q/k permuted in f32', async () => {
    await ready;
    const path = join(work, 'tiny-f32.gguf');
    const r = await exportGguf({ modelDir, outFile: path, outType: 'f32', name: 'tiny-test' });
    const g = readGguf(path);
    const m = g.metadata;
    const cfg = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
    const tokJson = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
    const tokCfg = JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8'));
    assert.equal(m.get('general.architecture'), 'llama');
    assert.equal(m.get('general.name'), 'tiny-test');
    assert.equal(m.get('general.file_type'), 0);
    assert.equal(m.get('llama.block_count'), cfg.num_hidden_layers);
    assert.equal(m.get('llama.embedding_length'), cfg.hidden_size);
    assert.equal(m.get('llama.feed_forward_length'), cfg.intermediate_size);
    assert.equal(m.get('llama.attention.head_count'), cfg.num_attention_heads);
    assert.equal(m.get('llama.attention.head_count_kv'), cfg.num_key_value_heads);
    assert.equal(m.get('llama.context_length'), cfg.max_position_embeddings);
    assert.equal(m.get('llama.rope.dimension_count'), cfg.hidden_size / cfg.num_attention_heads);
    assert.equal(m.get('llama.rope.freq_base'), cfg.rope_theta);
    assert.equal(m.get('llama.vocab_size'), cfg.vocab_size);
    assert.equal(m.get('llama.attention.layer_norm_rms_epsilon'), Math.fround(cfg.rms_norm_eps));
    assert.equal(g.metadataTypes.get('llama.block_count'), 'u32');
    assert.equal(g.metadataTypes.get('llama.rope.freq_base'), 'f32');
    assert.equal(m.get('tokenizer.ggml.model'), 'gpt2');
    assert.equal(m.get('tokenizer.ggml.pre'), 'gpt-2');
    const tokens = m.get('tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, cfg.vocab_size);
    assert.equal(tokens[1], '<|im_start|>');
    assert.deepEqual((m.get('tokenizer.ggml.token_type') as number[]).slice(0, 4), [
      TOKEN_TYPE.CONTROL,
      TOKEN_TYPE.CONTROL,
      TOKEN_TYPE.CONTROL,
      TOKEN_TYPE.NORMAL,
    ]);
    assert.equal((m.get('tokenizer.ggml.merges') as string[]).length, tokJson.model.merges.length);
    assert.equal(m.get('tokenizer.ggml.eos_token_id'), 2);
    assert.equal(m.get('tokenizer.ggml.padding_token_id'), 0);
    assert.equal(m.has('tokenizer.ggml.bos_token_id'), false);
    assert.equal(m.get('tokenizer.ggml.add_bos_token'), false);
    assert.equal(m.get('tokenizer.chat_template'), tokCfg.chat_template);
    // tied embeddings: no output.weight; every HF tensor present once under llama.cpp's name
    const names = g.tensors.map((t) => t.name);
    assert.ok(!names.includes('output.weight'));
    assert.equal(names[0], 'token_embd.weight');
    assert.equal(r.tensorCount, 2 + cfg.num_hidden_layers * 9);
    assert.ok(
      names.includes('blk.1.ffn_down.weight') &&
        names.includes('blk.0.attn_output.weight') &&
        names.includes('output_norm.weight'),
    );
    // q is permuted, v is not
    const st = SafetensorsModel.open(modelDir);
    try {
      const data = (name: string) => {
        const t = g.tensors.find((x) => x.name === name)!;
        return new Float32Array(g.bytes.slice(t.offset, t.offset + t.byteLength).buffer);
      };
      const q = st.readF32('model.layers.0.self_attn.q_proj.weight');
      assert.deepEqual(data('blk.0.attn_q.weight'), permuteRopeRows(q, cfg.num_attention_heads, cfg.hidden_size));
      assert.notDeepEqual(data('blk.0.attn_q.weight'), q);
      assert.deepEqual(
        data('blk.0.attn_k.weight'),
        permuteRopeRows(st.readF32('model.layers.0.self_attn.k_proj.weight'), cfg.num_key_value_heads, cfg.hidden_size),
      );
      assert.deepEqual(data('blk.0.attn_v.weight'), st.readF32('model.layers.0.self_attn.v_proj.weight'));
    } finally {
      st.close();
    }
  });

  test('sizes per outtype shrink as expected and norms stay f32', async () => {
    await ready;
    const sizes: Record<string, number> = {};
    for (const outType of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
      const path = join(work, `tiny-size-${outType}.gguf`);
      const r = await exportGguf({ modelDir, outFile: path, outType });
      sizes[outType] = r.bytes;
      const g = readGguf(path);
      for (const t of g.tensors) if (t.shape.length === 1) assert.equal(t.type, 'F32', t.name);
      assert.equal(
        g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!.type,
        { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' }[outType],
      );
    }
    assert.ok(
      sizes.f16! < sizes.f32! * 0.6 && sizes.bf16 === sizes.f16 && sizes.q8_0! < sizes.f16! * 0.7,
      JSON.stringify(sizes),
    );
  });

  test('unsupported tokenizers and architectures are UserErrors, and no file is written', async () => {
    await ready;
    const bad = join(work, 'bad-tok');
    await createModel({ preset: 'tiny', out: bad, seed: 1 });
    const tj = JSON.parse(readFileSync(join(bad, 'tokenizer.json'), 'utf8'));
    tj.pre_tokenizer = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    writeFileSync(join(bad, 'tokenizer.json'), JSON.stringify(tj));
    const out = join(work, 'bad.gguf');
    await assert.rejects(
      exportGguf({ modelDir: bad, outFile: out }),
      (e: unknown) => e instanceof UserError && /no llama\.cpp equivalent/.test(e.message),
    );
    const cfg = JSON.parse(readFileSync(join(bad, 'config.json'), 'utf8'));
    writeFileSync(
      join(bad, 'config.json'),
      JSON.stringify({ ...cfg, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }),
    );
    await assert.rejects(exportGguf({ modelDir: bad, outFile: out }), UserError);
    assert.equal(existsSync(out), false);
  });

  test('CLI: `sftkit export gguf --ollama` writes the GGUF and a Modelfile with ChatML template and stops', async () => {
    await ready;
    const out = join(work, 'cli', 'model.gguf');
    const stdout: string[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    // capture the command's lines only; the test reporter writes to stdout too
    process.stdout.write = ((s: string, ...rest: never[]) =>
      String(s).startsWith('wrote ')
        ? (stdout.push(String(s)), true)
        : orig(s, ...rest)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['export', 'gguf', '--model', modelDir, '--out', out, '--outtype', 'q8_0', '--ollama']);
    } finally {
      process.stdout.write = orig;
    }
    assert.equal(code, 0, stdout.join(''));
    assert.match(stdout.join(''), /wrote .*model\.gguf \(llama, \d+ tensors: .*Q8_0/);
    assert.equal(readGguf(out).metadata.get('general.file_type'), 7);
    const modelfile = readFileSync(join(work, 'cli', 'Modelfile'), 'utf8');
    assert.match(modelfile, /^FROM \.\/model\.gguf\n/);
    assert.match(modelfile, /TEMPLATE """\{\{- range \.Messages \}\}<\|im_start\|>/);
    assert.match(modelfile, /PARAMETER stop "<\|im_end\|>"/);
  });

  test('CLI: a missing or unknown format and a bad --outtype exit non-zero', async () => {
    const orig = process.stderr.write.bind(process.stderr);
    const err: string[] = [];
    process.stderr.write = ((s: string, ...rest: never[]) =>
      /sftkit export/.test(String(s)) ? (err.push(String(s)), true) : orig(s, ...rest)) as typeof process.stderr.write;
    try {
      assert.equal(await main(['export']), 1);
      assert.equal(await main(['export', 'onnx', '--model', modelDir, '--out', 'x']), 1);
      assert.equal(
        await main(['export', 'gguf', '--model', modelDir, '--out', join(work, 'x.gguf'), '--outtype', 'q4_0']),
        1,
      );
    } finally {
      process.stderr.write = orig;
    }
    assert.match(err.join(''), /formats: gguf/);
    assert.match(err.join(''), /--outtype must be one of f32, f16, bf16, q8_0/);
  });
});
