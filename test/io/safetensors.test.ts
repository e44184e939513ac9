import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsFile,
  SafetensorsModel,
  writeSafetensors,
  writeShardedSafetensors,
  type StWriteTensor,
} from '../../src/io/safetensors.js';
import { UserError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sftkit-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function allDtypes(): StWriteTensor[] {
  return [
    { name: 'f32', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3.25, 0, -0, 1e-30]) },
    { name: 'f16', dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3800]) }, // 1, -2, 0.5
    { name: 'bf16', dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc040]) }, // 1, -3
    { name: 'i8', dtype: 'I8', shape: [4], data: new Int8Array([-128, -1, 0, 127]) },
    { name: 'u8', dtype: 'U8', shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
    { name: 'i32', dtype: 'I32', shape: [2], data: new Int32Array([-2147483648, 2147483647]) },
    { name: 'i64', dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n]) },
    { name: 'f64', dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    { name: 'bool', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) },
    { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
  ];
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

test('round-trips every dtype, shapes and __metadata__', async () => {
  const path = join(dir, 'all.safetensors');
  const tensors = allDtypes();
  await writeSafetensors(path, tensors, { format: 'pt', note: 'hello' });
  const f = SafetensorsFile.open(path);
  try {
    assert.deepEqual(f.metadata, { format: 'pt', note: 'hello' });
    assert.equal(f.tensors.size, tensors.length);
    for (const t of tensors) {
      const info = f.tensors.get(t.name)!;
      assert.equal(info.dtype, t.dtype, t.name);
      assert.deepEqual(info.shape, t.shape, t.name);
      assert.deepEqual(f.readBytes(t.name), bytesOf(t.data), t.name);
    }
    assert.deepEqual([...f.readF32('f32')], [1, -2.5, 3.25, 0, -0, Math.fround(1e-30)]);
    assert.deepEqual([...f.readF32('f16')], [1, -2, 0.5]);
    assert.deepEqual([...f.readF32('bf16')], [1, -3]);
    assert.deepEqual([...f.readF32('f64')], [Math.fround(Math.PI), -Infinity]);
    assert.deepEqual([...f.readBF16('f16')], [0x3f80, 0xc000, 0x3f00]);
    assert.throws(() => f.readF32('i32'), /dtype I32/);
    assert.throws(
      () => f.readBytes('nope'),
      (e: Error) => e instanceof UserError && /no tensor named 'nope'/.test(e.message),
    );
  } finally {
    f.close();
  }
});

test('readBF16 rounds f32 to nearest even', async () => {
  const path = join(dir, 'rne.safetensors');
  // 0x3f808000 is exactly between 0x3f80 and 0x3f81 (ties to even: 0x3f80);
  // 0x3f818000 ties to 0x3f82; 0x3f808001 rounds up to 0x3f81.
  const bits = new Uint32Array([0x3f808000, 0x3f818000, 0x3f808001, 0x7fc00000]);
  await writeSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [4], data: new Float32Array(bits.buffer) }]);
  const f = SafetensorsFile.open(path);
  const bf = f.readBF16('x');
  f.close();
  assert.deepEqual([...bf.slice(0, 3)], [0x3f80, 0x3f82, 0x3f81]);
  assert.ok((bf[3]! & 0x7f80) === 0x7f80 && (bf[3]! & 0x7f) !== 0, 'NaN stays NaN');
});

test('header is space-padded to 8 bytes and data offsets are relative to the data section', async () => {
  const path = join(dir, 'pad.safetensors');
  await writeSafetensors(path, [{ name: 'a', dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) }]);
  const raw = readFileSync(path);
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = raw.subarray(8, 8 + n).toString('utf8');
  assert.match(header, /^\{.*\} *$/);
  assert.deepEqual(JSON.parse(header).a, { dtype: 'U8', shape: [3], data_offsets: [0, 3] });
  assert.deepEqual([...raw.subarray(8 + n)], [7, 8, 9]);
});

test('a generator of tensors writes the same bytes as an array', async () => {
  const a = join(dir, 'array.safetensors');
  const b = join(dir, 'gen.safetensors');
  await writeSafetensors(a, allDtypes(), { k: 'v' });
  await writeSafetensors(
    b,
    (function* () {
      yield* allDtypes();
    })(),
    { k: 'v' },
  );
  assert.deepEqual(readFileSync(a), readFileSync(b));
});

test('writing is atomic: a bad tensor leaves the old file and no temp files', async () => {
  const sub = join(dir, 'atomic');
  const path = join(sub, 'model.safetensors');
  await writeSafetensors(path, [{ name: 'ok', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
  const before = readFileSync(path);
  await assert.rejects(
    writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]),
    (e: Error) => e instanceof UserError && /tensor 'w'.*needs 16 bytes, data has 12/.test(e.message),
  );
  await assert.rejects(
    writeSafetensors(
      path,
      (function* (): Generator<StWriteTensor> {
        yield { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) };
        yield { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) };
      })(),
    ),
    /tensor 'a': written twice/,
  );
  assert.deepEqual(readFileSync(path), before);
  assert.deepEqual(readdirSync(sub), ['model.safetensors']);
});

// ------------------------------------------------------------------------------------ corrupt files

/** A file with a hand-written header (JSON text or raw bytes) and `dataBytes` bytes of data. */
function craft(name: string, header: string | Uint8Array, dataBytes: number, lengthOverride?: bigint): string {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
  return path;
}

function assertUserError(path: string, pattern: RegExp): void {
  assert.throws(
    () => SafetensorsFile.open(path),
    (e: Error) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${e.name}: ${e.message}`);
      assert.ok(e.message.includes(path), `message should name the file: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

test('corrupt: truncated file (data cut short)', async () => {
  const path = join(dir, 'trunc.safetensors');
  await writeSafetensors(path, allDtypes());
  const raw = readFileSync(path);
  writeFileSync(path, raw.subarray(0, raw.length - 5));
  assertUserError(path, /tensor '.*'.*run past the end of the data section.*truncated/);
});

test('corrupt: file shorter than the length prefix', () => {
  const path = join(dir, 'tiny.safetensors');
  writeFileSync(path, Buffer.from([1, 2, 3]));
  assertUserError(path, /not a safetensors file \(3 bytes/);
});

test('corrupt: header length past the end of the file', () => {
  const path = craft('hlen.safetensors', '{}', 0, 5000n);
  assertUserError(path, /header length 5000 runs past the end of the file \(10 bytes\)/);
});

test('corrupt: header length over the 100 MB limit', () => {
  const path = craft('hbig.safetensors', '{}', 0, 2n ** 40n);
  assertUserError(path, /header length 1099511627776 exceeds the 100000000-byte limit/);
});

test('corrupt: header is not JSON', () => {
  assertUserError(craft('nojson.safetensors', '{"a": {"dtype": "F32",', 0), /header is not valid UTF-8 JSON/);
  assertUserError(
    craft('badutf8.safetensors', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 0),
    /header is not valid UTF-8 JSON/,
  );
});

test('corrupt: header is JSON but not an object', () => {
  assertUserError(craft('arr.safetensors', '[1, 2]', 0), /header must be a JSON object/);
  assertUserError(craft('entry.safetensors', JSON.stringify({ w: [1, 2] }), 0), /tensor 'w': entry must be an object/);
});

test('corrupt: wrong dtype name', () => {
  assertUserError(
    craft('dtype.safetensors', JSON.stringify({ w: entry('F33', [2], 0, 8) }), 8),
    /tensor 'w': unknown dtype "F33" \(supported: F32, F16, BF16/,
  );
});

test('corrupt: shape x dtype does not match the byte length', () => {
  assertUserError(
    craft('shape.safetensors', JSON.stringify({ w: entry('F32', [3], 0, 8) }), 8),
    /tensor 'w': shape \[3\] x F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/,
  );
  assertUserError(
    craft('shape2.safetensors', JSON.stringify({ w: entry('F32', [-1], 0, 4) }), 4),
    /tensor 'w': shape must be an array of non-negative integers/,
  );
  assertUserError(
    craft('offs.safetensors', JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }), 4),
    /tensor 'w': data_offsets must be \[begin, end\]/,
  );
});

test('corrupt: overlapping offsets', () => {
  const header = JSON.stringify({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) });
  assertUserError(
    craft('overlap.safetensors', header, 12),
    /tensor 'b' \(bytes 4\.\.12\) overlaps tensor 'a' \(ends at 8\)/,
  );
});

test('corrupt: a hole between tensors, or bytes after the last tensor', () => {
  const hole = JSON.stringify({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) });
  assertUserError(
    craft('hole.safetensors', hole, 12),
    /tensor 'b' starts at byte 8 but the previous tensor 'a' ends at 4/,
  );
  assertUserError(
    craft('extra.safetensors', JSON.stringify({ a: entry('F32', [1], 0, 4) }), 12),
    /cover 4 bytes but the data section holds 12/,
  );
});

test('corrupt: __metadata__ values must be strings', () => {
  assertUserError(
    craft('meta.safetensors', JSON.stringify({ __metadata__: { n: 1 } }), 0),
    /__metadata__\.n must be a string/,
  );
});

test('missing file gives a UserError naming it', () => {
  assert.throws(
    () => SafetensorsFile.open(join(dir, 'absent.safetensors')),
    (e: Error) => e instanceof UserError && /absent\.safetensors: cannot open/.test(e.message),
  );
});

test('reads tensors beyond 2 GiB by position (sparse file)', () => {
  // A 3 GiB U8 tensor (a sparse hole, no disk used) followed by a small F32 tensor we write for real.
  const big = 3 * 2 ** 30;
  const header = Buffer.from(
    JSON.stringify({ big: entry('U8', [big], 0, big), tail: entry('F32', [2], big, big + 8) }).padEnd(96, ' '),
  );
  const path = join(dir, 'huge.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(path, Buffer.concat([len, header]));
  const dataStart = 8 + header.length;
  truncateSync(path, dataStart + big + 8);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from(new Float32Array([1.5, -7]).buffer), 0, 8, dataStart + big);
  closeSync(fd);
  const f = SafetensorsFile.open(path);
  try {
    assert.equal(f.tensors.get('tail')!.byteOffset, dataStart + big);
    assert.deepEqual([...f.readF32('tail')], [1.5, -7]);
  } finally {
    f.close();
    rmSync(path);
  }
});

// ------------------------------------------------------------------------------------------ sharding

test('sharded write + read via model.safetensors.index.json, and back to one file', async () => {
  const out = join(dir, 'sharded');
  const tensors: StWriteTensor[] = [];
  for (let i = 0; i < 5; i++)
    tensors.push({ name: `layer.${i}.w`, dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(i) });
  await writeShardedSafetensors(out, tensors, { maxShardBytes: 128 }); // 64 bytes each: two per shard
  const files = readdirSync(out).sort();
  assert.deepEqual(files, [
    'model-00001-of-00003.safetensors',
    'model-00002-of-00003.safetensors',
    'model-00003-of-00003.safetensors',
    'model.safetensors.index.json',
  ]);
  const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
  assert.equal(index.metadata.total_size, 5 * 64);
  assert.equal(index.weight_map['layer.4.w'], 'model-00003-of-00003.safetensors');
  const m = SafetensorsModel.open(out);
  try {
    assert.equal(m.tensors.size, 5);
    for (let i = 0; i < 5; i++) assert.deepEqual([...m.readF32(`layer.${i}.w`)], new Array(16).fill(i));
    assert.ok(m.has('layer.0.w') && !m.has('nope'));
  } finally {
    m.close();
  }
  await writeShardedSafetensors(out, tensors.slice(0, 2));
  assert.deepEqual(readdirSync(out), ['model.safetensors']);
  const single = SafetensorsModel.open(out);
  assert.equal(single.tensors.size, 2);
  single.close();
});

test('index errors: missing shard, tensor not in its shard, folder without weights', async () => {
  const out = join(dir, 'badindex');
  await writeShardedSafetensors(
    out,
    [
      { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
      { name: 'b', dtype: 'F32', shape: [1], data: new Float32Array(1) },
    ],
    { maxShardBytes: 4 },
  );
  const indexPath = join(out, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  writeFileSync(
    indexPath,
    JSON.stringify({ ...index, weight_map: { ...index.weight_map, c: 'model-00009-of-00009.safetensors' } }),
  );
  assert.throws(
    () => SafetensorsModel.open(out),
    /shard 'model-00009-of-00009\.safetensors' \(holding 'c'\) does not exist/,
  );
  writeFileSync(
    indexPath,
    JSON.stringify({
      ...index,
      weight_map: { a: 'model-00002-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    }),
  );
  assert.throws(
    () => SafetensorsModel.open(out),
    /tensor 'a' is mapped to 'model-00002-of-00002\.safetensors', which does not contain it/,
  );
  const empty = join(dir, 'noweights');
  assert.throws(() => SafetensorsModel.open(empty), /no model\.safetensors or model\.safetensors\.index\.json/);
  assert.ok(!existsSync(empty));
});
