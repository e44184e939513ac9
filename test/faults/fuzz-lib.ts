// A seeded, reproducible fuzzer for every kind of file sftkit reads. Each case mutates one valid seed file
// (bytes, JSON values, safetensors headers, text), hands it to the reader sftkit uses for it, and checks the
// outcome: it is accepted, or it is refused with a one-line UserError naming the file. Anything else (another
// error type, a multi-line message, a crash, a hang, a huge allocation) is a failure.
// Cases run in a child process (scripts/faults/fuzz-runner.ts) with a time limit, so a hang or a signal is
// seen as such. Used by test/faults/fuzz.test.ts (short) and scripts/faults/fuzz.ts (long).
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { Bool, Field, Float64, List, Struct, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import type { DataType, Vector } from 'apache-arrow';
import { deriveSeed, Rng } from '../../src/util/random.js';
import { generateChatData } from '../../src/quickstart/corpus/chat-data.js';
import { MESSAGES_SCHEMA } from '../helpers/parquet.js';

export const FUZZ_KINDS = [
  'safetensors',
  'adapter',
  'sharded-index',
  'config',
  'tokenizer',
  'tokenizer-config',
  'chat-template',
  'jsonl',
  'json-dataset',
  'yaml',
  'gguf',
  'checkpoint-state',
  'csv',
  'tsv',
  'parquet',
  'arrow',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

/** Which seed file each kind mutates (relative to the seed folder's layout, see makeSeeds). */
export const KIND_FILE: Record<FuzzKind, string> = {
  safetensors: 'model/model.safetensors',
  adapter: 'adapter/adapter_model.safetensors',
  'sharded-index': 'sharded/model.safetensors.index.json',
  config: 'model/config.json',
  tokenizer: 'model/tokenizer.json',
  'tokenizer-config': 'model/tokenizer_config.json',
  'chat-template': 'model/tokenizer_config.json',
  jsonl: 'data/train.jsonl',
  'json-dataset': 'data/train.json',
  yaml: 'sft.yaml',
  gguf: 'model.gguf',
  'checkpoint-state': 'checkpoint/checkpoint-2/trainer_state.json',
  csv: 'data/train.csv',
  tsv: 'data/train.tsv',
  parquet: 'data/train.parquet',
  arrow: 'data/train.arrow',
};

/** Folder (relative) a case copies before mutating its file (readers look at folders). */
export const KIND_DIR: Record<FuzzKind, string> = {
  safetensors: 'model',
  adapter: 'adapter',
  'sharded-index': 'sharded',
  config: 'model',
  tokenizer: 'model',
  'tokenizer-config': 'model',
  'chat-template': 'model',
  jsonl: 'data',
  'json-dataset': 'data',
  yaml: '',
  gguf: '',
  'checkpoint-state': 'checkpoint',
  csv: 'data',
  tsv: 'data',
  parquet: 'data',
  arrow: 'data',
};

const CHECKPOINT_FILES = [
  'trainer_state.json',
  'scheduler.json',
  'rng_state.json',
  'optimizer.safetensors',
  'trainable.safetensors',
];

export interface FuzzCase {
  kind: FuzzKind;
  index: number;
  /** The file that was mutated (inside the case folder). */
  file: string;
  /** The case folder (what the reader is pointed at, or holds the file). */
  dir: string;
  /** What the mutation did, for the report. */
  mutation: string;
}

// ------------------------------------------------------------------------------------------ mutations

const WEIRD_VALUES: unknown[] = [
  -1,
  0,
  1e12,
  2 ** 60,
  1e308,
  -1e308,
  0.5,
  1.5,
  'NaN',
  '',
  'x'.repeat(1000),
  null,
  true,
  [],
  {},
  [1, 2, 3],
  { a: 1 },
  '\u0000',
  '\ud800',
  [[[[[[[[[[]]]]]]]]]],
  Number.MAX_SAFE_INTEGER,
  -0,
  '1e12',
  2 ** 31,
  2 ** 32 + 1,
  4_194_304,
];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)]!;
}

function int(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

/** Byte-level damage: flips, truncation, insertion, deletion, duplication, garbage and non-UTF-8 bytes. */
function mutateBytes(rng: Rng, b: Uint8Array): { bytes: Uint8Array; what: string } {
  const n = b.length;
  const at = int(rng, Math.max(1, n));
  // Header-heavy damage: most of the structure lives in the first bytes.
  const early = rng.next() < 0.6 ? int(rng, Math.min(n, 512) || 1) : at;
  switch (int(rng, 8)) {
    case 0: {
      const out = Uint8Array.from(b);
      const flips = 1 + int(rng, 8);
      for (let k = 0; k < flips; k++) {
        const p = rng.next() < 0.7 ? int(rng, Math.min(n, 256) || 1) : int(rng, n || 1);
        if (p < n) out[p] = out[p]! ^ (1 << int(rng, 8));
      }
      return { bytes: out, what: `${flips} bit flips` };
    }
    case 1:
      return { bytes: b.subarray(0, early), what: `truncated to ${early} bytes` };
    case 2: {
      const junk = Uint8Array.from({ length: 1 + int(rng, 64) }, () => int(rng, 256));
      return {
        bytes: concat(b.subarray(0, early), junk, b.subarray(early)),
        what: `${junk.length} random bytes at ${early}`,
      };
    }
    case 3: {
      const len = 1 + int(rng, 64);
      return { bytes: concat(b.subarray(0, early), b.subarray(early + len)), what: `${len} bytes deleted at ${early}` };
    }
    case 4: {
      const len = 1 + int(rng, 128);
      const seg = b.subarray(early, early + len);
      return {
        bytes: concat(b.subarray(0, early), seg, seg, b.subarray(early)),
        what: `${seg.length} bytes duplicated at ${early}`,
      };
    }
    case 5: {
      const out = Uint8Array.from(b);
      const v = pick(rng, [0x00, 0xff, 0x7f, 0x80]);
      const len = 1 + int(rng, 16);
      out.fill(v, early, early + len);
      return { bytes: out, what: `${len} bytes set to 0x${v.toString(16)} at ${early}` };
    }
    case 6: {
      const bad = pick(rng, [
        Uint8Array.from([0xc3, 0x28]),
        Uint8Array.from([0xff, 0xfe]),
        Uint8Array.from([0xed, 0xa0, 0x80]),
      ]);
      return { bytes: concat(b.subarray(0, at), bad, b.subarray(at)), what: `non-UTF-8 bytes at ${at}` };
    }
    default:
      return { bytes: new Uint8Array(0), what: 'empty file' };
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Every path (array of keys) to a value inside a JSON value, up to `limit`. */
function jsonPaths(v: unknown, limit = 4000): (string | number)[][] {
  const out: (string | number)[][] = [];
  const walk = (x: unknown, path: (string | number)[]) => {
    if (out.length >= limit) return;
    out.push(path);
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...path, i]));
    else if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) walk(y, [...path, k]);
  };
  walk(v, []);
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown, del: boolean): unknown {
  if (path.length === 0) return value;
  let o = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (del) {
    if (Array.isArray(o)) o.splice(last as number, 1);
    else delete o[last];
  } else o[last] = value;
  return root;
}

/** Value-level damage to a JSON document: a value replaced by a weird one, deleted, or its type changed. */
function mutateJson(
  rng: Rng,
  text: string,
  focus?: (path: (string | number)[]) => boolean,
): { text: string; what: string } {
  const doc = JSON.parse(text) as unknown;
  let paths = jsonPaths(doc);
  if (focus && rng.next() < 0.7) {
    const f = paths.filter(focus);
    if (f.length > 0) paths = f;
  }
  const path = pick(rng, paths);
  const r = rng.next();
  if (r < 0.15 && path.length > 0) {
    return { text: JSON.stringify(setAt(doc, path, undefined, true)), what: `deleted ${path.join('.')}` };
  }
  const v = structuredClone(pick(rng, WEIRD_VALUES));
  return {
    text: JSON.stringify(setAt(doc, path, v, false)),
    what: `${path.join('.') || '(root)'} = ${JSON.stringify(v)?.slice(0, 40)}`,
  };
}

/** Header-level damage to a safetensors file: the JSON header mutated and re-encoded (length right or wrong). */
function mutateSafetensorsHeader(rng: Rng, b: Uint8Array): { bytes: Uint8Array; what: string } {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = Buffer.from(b.subarray(8, 8 + n)).toString('utf8');
  const data = b.subarray(8 + n);
  const m = mutateJson(
    rng,
    header,
    (p) => p.length >= 2 && (p[1] === 'shape' || p[1] === 'data_offsets' || p[1] === 'dtype' || p.length === 3),
  );
  const json = Buffer.from(m.text, 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  const lenChoice = rng.next();
  const len =
    lenChoice < 0.8 ? BigInt(json.length) : lenChoice < 0.9 ? 2n ** 60n : BigInt(json.length + 1 + int(rng, 100));
  new DataView(out.buffer).setBigUint64(0, len, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return { bytes: out, what: `header: ${m.what}${lenChoice < 0.8 ? '' : `, length field ${len}`}` };
}

const TEMPLATE_MUTATIONS: [string, (t: string, rng: Rng) => string][] = [
  ['unclosed tag', (t) => t + '{% if x %}'],
  ['unclosed expression', (t) => '{{ messages[0' + t],
  ['unknown filter', (t) => t.replace('{{', '{{ 1 | nosuchfilter }}{{')],
  ['raise_exception', (t) => "{{ raise_exception('bad template') }}" + t],
  ['undefined attribute call', (t) => '{{ messages.nothing.more() }}' + t],
  ['truncated', (t, rng) => t.slice(0, int(rng, t.length))],
  ['deep recursion', () => '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'],
  ['huge loop', () => '{% for i in range(100000000) %}x{% endfor %}'],
  ['not a string', (t) => t],
  ['garbage', (_t, rng) => Array.from({ length: 40 }, () => String.fromCharCode(32 + int(rng, 90))).join('')],
  ['divide by zero', (t) => '{{ 1 / 0 }}' + t],
  ['string times huge', () => "{{ 'x' * 1000000000 }}"],
];

const CELL_VALUES = [
  '',
  '"',
  '"unterminated',
  'a "quoted" word',
  'x,y,z',
  'tab\there',
  '\u0000',
  '\ud800',
  '[]',
  '[{"role": "user"}]',
  '{"role": "user", "content": "hi"}',
  '[{"role": 1, "content": null}]',
  'null',
  '1e308',
  '\r\n',
];

/** Row-level damage to a CSV/TSV file: a cell replaced, a field dropped or added, the header broken, odd quoting. */
function mutateDelimited(rng: Rng, text: string, sep: string): { bytes: Uint8Array; what: string } {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const li = int(rng, lines.length);
  const cells = lines[li]!.split(sep);
  const ci = int(rng, cells.length);
  const quote = (v: string) => (rng.next() < 0.5 ? v : `"${v.replace(/"/g, '""')}"`);
  let what: string;
  switch (int(rng, 10)) {
    case 0:
    case 1: {
      const v = pick(rng, CELL_VALUES);
      cells[ci] = quote(v);
      what = `line ${li + 1}: cell ${ci + 1} = ${JSON.stringify(v)}`;
      break;
    }
    case 2:
      cells.splice(ci, 1);
      what = `line ${li + 1}: field ${ci + 1} dropped`;
      break;
    case 3:
      cells.push(quote(pick(rng, CELL_VALUES)));
      what = `line ${li + 1}: a field added`;
      break;
    case 4: {
      const header = lines[0]!.split(sep);
      const h = int(rng, header.length);
      header[h] = pick(rng, ['', 'messages', 'prompt', 'unknown', header[(h + 1) % header.length]!, '"', 'text']);
      lines[0] = header.join(sep);
      what = `header: column ${h + 1} renamed to ${JSON.stringify(header[h])}`;
      return { bytes: Buffer.from(lines.join('\n') + '\n'), what };
    }
    case 5: {
      const n = pick(rng, [1, lines.length - 1, lines.length]);
      lines.splice(0, n);
      return { bytes: Buffer.from(lines.join('\n') + (lines.length ? '\n' : '')), what: `first ${n} lines removed` };
    }
    case 6:
      cells[ci] = `"${'x'.repeat(10_000_000)}"`;
      what = `line ${li + 1}: a 10 MB cell`;
      break;
    case 7:
      return {
        bytes: Buffer.from((rng.next() < 0.5 ? '\uFEFF' : '') + lines.join(pick(rng, ['\r\n', '\r', '\n\n'])) + '\n'),
        what: 'BOM / line endings changed',
      };
    case 8:
      cells[ci] = pick(rng, ['"a"b', 'a"b"', '"a""', '"\n', '""""']);
      what = `line ${li + 1}: bad quoting in cell ${ci + 1}`;
      break;
    default:
      cells[ci] = cells[ci]!.replace(/[a-z]/, pick(rng, [sep === ',' ? '\t' : ',', ';', '|']));
      what = `line ${li + 1}: another delimiter in cell ${ci + 1}`;
  }
  lines[li] = cells.join(sep);
  return { bytes: Buffer.from(lines.join('\n') + '\n'), what };
}

/**
 * Value-level damage to a Parquet or Arrow dataset: the rows (as JSON) mutated like any JSON document, or the
 * shape changed (a 10 MB value, zero rows, a column of another type), then written again by the real writers:
 * hyparquet-writer (Parquet) and apache-arrow (Arrow IPC, stream or file format). What a writer cannot write
 * falls back to byte damage of the valid file.
 */
function mutateColumnar(
  rng: Rng,
  seedRows: Record<string, unknown>[],
  kind: 'parquet' | 'arrow',
  original: Uint8Array,
): { bytes: Uint8Array; what: string } {
  let rows: unknown = structuredClone(seedRows);
  let what: string;
  const special = rng.next();
  if (special < 0.1) {
    (rows as Record<string, unknown>[])[int(rng, seedRows.length)]!.messages = [
      { role: 'user', content: 'x'.repeat(10_000_000) },
      { role: 'assistant', content: 'y' },
    ];
    what = 'a 10 MB message';
  } else if (special < 0.15) {
    rows = [];
    what = 'zero rows';
  } else if (special < 0.3) {
    const col = pick(rng, ['messages', 'id']);
    const v = pick(rng, [null, 'text', 42, true, [], {}]);
    for (const r of rows as Record<string, unknown>[]) r[col] = v;
    what = `column ${col} = ${JSON.stringify(v)} in every row`;
  } else {
    const m = mutateJson(rng, JSON.stringify(rows), (p) => p.length >= 2);
    rows = JSON.parse(m.text) as unknown;
    what = m.what;
  }
  const valid = Array.isArray(rows) && rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
  if (valid) {
    try {
      return { bytes: writeColumnar(kind, rows as Record<string, unknown>[], rng), what: `rows: ${what}` };
    } catch {
      // the writer refuses these values: damage the valid file instead
    }
  }
  const b = mutateBytes(rng, original);
  return { bytes: b.bytes, what: `${b.what} (the writer refused ${what})` };
}

/** The Arrow type of a column's values (strings, doubles, booleans, lists, structs), or null when mixed. */
function arrowType(values: unknown[]): DataType | null {
  const vs = values.filter((v) => v !== null && v !== undefined);
  if (vs.every((v) => typeof v === 'string')) return new Utf8();
  if (vs.every((v) => typeof v === 'number')) return new Float64();
  if (vs.every((v) => typeof v === 'boolean')) return new Bool();
  if (vs.every((v) => Array.isArray(v))) {
    const item = arrowType((vs as unknown[][]).flat());
    return item && new List(new Field('item', item, true));
  }
  if (vs.every((v) => typeof v === 'object' && !Array.isArray(v))) {
    const objs = vs as Record<string, unknown>[];
    const keys = [...new Set(objs.flatMap((o) => Object.keys(o)))];
    if (keys.length === 0) return null;
    const fields: Field[] = [];
    for (const k of keys) {
      const t = arrowType(objs.map((o) => o[k] ?? null));
      if (!t) return null;
      fields.push(new Field(k, t, true));
    }
    return new Struct(fields);
  }
  return null;
}

type ParquetOptions = Parameters<typeof parquetWriteBuffer>[0];

/**
 * Rows written by the real writers. Arrow: types inferred by apache-arrow (stream format, or the file format
 * with `rng`). Parquet: columns typed by hyparquet-writer from the values (JSON where they nest), or with `rng`
 * at times the nested list<struct> layout `datasets` writes for `messages`; row groups of 3 rows.
 */
export function writeColumnar(kind: 'parquet' | 'arrow', rows: Record<string, unknown>[], rng?: Rng): Uint8Array {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (names.length === 0) names.push('messages');
  if (kind === 'arrow') {
    const columns: Record<string, Vector> = {};
    for (const name of names) {
      let values = rows.map((r) => r[name] ?? null);
      let type = arrowType(values);
      if (type === null) {
        values = values.map((v) => (v === null ? null : JSON.stringify(v)));
        type = new Utf8();
      }
      columns[name] = vectorFromArray(values, type);
    }
    return tableToIPC(new Table(columns), rng && rng.next() < 0.3 ? 'file' : 'stream');
  }
  const column = (name: string) => rows.map((r) => r[name] ?? null);
  if (rng && rng.next() < 0.5 && names.includes('messages')) {
    const schema = [
      { name: 'root', num_children: names.length },
      ...names.flatMap((n): readonly object[] =>
        n === 'messages'
          ? MESSAGES_SCHEMA
          : [{ name: n, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }],
      ),
    ];
    const columnData = names.map((name) => ({
      name,
      data: name === 'messages' ? column(name) : column(name).map((v) => (v === null ? null : JSON.stringify(v))),
    }));
    return new Uint8Array(parquetWriteBuffer({ columnData, schema, rowGroupSize: 3 } as ParquetOptions));
  }
  const columnData = names.map((name) => {
    const data = column(name);
    const nested = data.some((v) => v !== null && typeof v === 'object');
    return { name, data, ...(nested ? { type: 'JSON' as const } : {}) };
  });
  return new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize: 3 } as ParquetOptions));
}

/** The seed data files (every dataset kind) in `data`: eight quickstart conversations in each format. */
export function writeDataSeeds(data: string): void {
  mkdirSync(data, { recursive: true });
  const d = generateChatData({ trainCount: 8, evalCount: 1, seed: 5 });
  const rows = d.train.map((c) => ({ messages: c.messages }));
  writeFileSync(join(data, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(data, 'train.json'), JSON.stringify(rows, null, 1));
  // The columnar and delimited kinds: the same conversations with an id column (Parquet, Arrow, TSV with the
  // messages as JSON text) and prompt/completion pairs whose cells need quoting (CSV).
  const idRows = rows.map((r, i) => ({ messages: r.messages, id: i }));
  writeFileSync(join(data, 'rows.json'), JSON.stringify(idRows));
  writeFileSync(join(data, 'train.parquet'), writeColumnar('parquet', idRows));
  writeFileSync(join(data, 'train.arrow'), writeColumnar('arrow', idRows));
  const cell = (s: string) => (/[",\n\t]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  writeFileSync(
    join(data, 'train.tsv'),
    ['messages\tid', ...idRows.map((r) => `${cell(JSON.stringify(r.messages))}\t${r.id}`)].join('\n') + '\n',
  );
  writeFileSync(
    join(data, 'train.csv'),
    [
      'prompt,completion',
      ...rows.map((r) => {
        const [user, assistant] = [
          r.messages.find((m) => m.role === 'user'),
          r.messages.find((m) => m.role === 'assistant'),
        ];
        return `${cell(`${user?.content ?? 'hi'}, please`)},${cell(`"${assistant?.content ?? 'ok'}"\nthat is all`)}`;
      }),
    ].join('\n') + '\n',
  );
}

/** One deterministic case: copy the seed folder, mutate the kind's file. */
export function makeCase(seedRoot: string, workRoot: string, kind: FuzzKind, index: number, seed: number): FuzzCase {
  const rng = new Rng(deriveSeed(seed, FUZZ_KINDS.indexOf(kind), index));
  const dir = join(workRoot, `${kind}-${index}`);
  rmSync(dir, { recursive: true, force: true });
  const rel = KIND_DIR[kind];
  if (rel) cpSync(join(seedRoot, rel), dir, { recursive: true });
  else mkdirSync(dir, { recursive: true });
  let fileRel = KIND_FILE[kind].slice(rel ? rel.length + 1 : 0);
  if (kind === 'checkpoint-state') fileRel = `checkpoint-2/${pick(rng, CHECKPOINT_FILES)}`;
  if (kind === 'sharded-index' && rng.next() < 0.4) {
    const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    fileRel = pick(rng, shards);
  }
  if (kind === 'adapter' && rng.next() < 0.4) fileRel = 'adapter_config.json';
  const file = join(dir, fileRel);
  const src = join(seedRoot, rel, fileRel);
  const original = readFileSync(src);
  let bytes: Uint8Array;
  let what: string;
  const isJson = fileRel.endsWith('.json');
  const isSt = fileRel.endsWith('.safetensors');
  const r = rng.next();
  if (kind === 'chat-template') {
    const cfg = JSON.parse(original.toString('utf8')) as Record<string, unknown>;
    const [name, f] = pick(rng, TEMPLATE_MUTATIONS);
    cfg.chat_template =
      name === 'not a string'
        ? pick(rng, [42, null, [], { a: 1 }, [{ name: 'x' }]])
        : f(String(cfg.chat_template), rng);
    bytes = Buffer.from(JSON.stringify(cfg));
    what = `chat template: ${name}`;
  } else if (isSt && r < 0.5) {
    ({ bytes, what } = mutateSafetensorsHeader(rng, original));
  } else if ((isJson || kind === 'json-dataset') && r < 0.6) {
    const m = mutateJson(rng, original.toString('utf8'));
    bytes = Buffer.from(m.text);
    what = m.what;
  } else if (kind === 'jsonl' && r < 0.6) {
    const lines = original.toString('utf8').split('\n').filter(Boolean);
    const li = int(rng, lines.length);
    const special = rng.next();
    if (special < 0.1) {
      lines[li] = JSON.stringify({
        messages: [
          { role: 'user', content: 'x'.repeat(10_000_000) },
          { role: 'assistant', content: 'y' },
        ],
      });
      what = `line ${li + 1}: a 10 MB record`;
    } else if (special < 0.2) {
      lines.length = 0;
      what = 'no records';
    } else {
      const m = mutateJson(rng, lines[li]!);
      lines[li] = m.text;
      what = `line ${li + 1}: ${m.what}`;
    }
    bytes = Buffer.from(lines.join('\n') + '\n');
  } else if (kind === 'yaml' && r < 0.6) {
    const lines = original.toString('utf8').split('\n');
    const li = int(rng, lines.length);
    const key = lines[li]!.split(':')[0]!;
    const v = pick(rng, [
      '-1',
      '1e12',
      'nan',
      '.inf',
      '[1, 2',
      '{a: 1}',
      '~',
      '"',
      'yes',
      '0x10',
      '!!binary AA==',
      '*alias',
      '&a [*a]',
      '2' + '0'.repeat(400),
    ]);
    lines[li] =
      rng.next() < 0.8 && key
        ? `${key}: ${v}`
        : pick(rng, ['  bad indent: 1', '- list', 'no colon here', '\t tab: 1', 'unknown_key_xyz: 3']);
    bytes = Buffer.from(lines.join('\n'));
    what = `line ${li + 1}: ${lines[li]!.slice(0, 60)}`;
  } else if ((kind === 'csv' || kind === 'tsv') && r < 0.6) {
    ({ bytes, what } = mutateDelimited(rng, original.toString('utf8'), kind === 'csv' ? ',' : '\t'));
  } else if ((kind === 'parquet' || kind === 'arrow') && r < 0.5) {
    const rows = JSON.parse(readFileSync(join(seedRoot, 'data', 'rows.json'), 'utf8')) as Record<string, unknown>[];
    ({ bytes, what } = mutateColumnar(rng, rows, kind, original));
  } else {
    ({ bytes, what } = mutateBytes(rng, original));
  }
  writeFileSync(file, bytes);
  return { kind, index, file, dir, mutation: `${basename(file)}: ${what}` };
}

/** Whether an error message is acceptable: one line, naming the file (or its folder). */
export function judgeMessage(c: FuzzCase, message: string): string | null {
  if (message.includes('\n')) return 'message has more than one line';
  if (message.length > 2000) return 'message longer than 2000 characters';
  const names = [c.file, c.dir, basename(c.file)];
  if (!names.some((n) => message.includes(n))) return 'message does not name the file';
  return null;
}

export function seedPaths(seedRoot: string): Record<string, string> {
  return {
    model: join(seedRoot, 'model'),
    adapter: join(seedRoot, 'adapter'),
    sharded: join(seedRoot, 'sharded'),
  };
}

export function seedsReady(seedRoot: string): boolean {
  return existsSync(join(seedRoot, 'ready'));
}
