// A pre-check of an Arrow IPC file's message framing, before apache-arrow decodes it. apache-arrow trusts the
// element counts in a message's metadata: a damaged count (a byte flipped, bytes inserted) makes it loop billions
// of times allocating objects, synchronously (a hang no timer can stop). Every vector count must fit in the
// metadata that holds it, every message must fit in the file; else one line naming the message and byte offset.
import { open, type FileHandle } from 'node:fs/promises';
import { ByteBuffer } from 'flatbuffers';
import { Message } from 'apache-arrow/fb/message';
import { MessageHeader } from 'apache-arrow/fb/message-header';
import { RecordBatch } from 'apache-arrow/fb/record-batch';
import { DictionaryBatch } from 'apache-arrow/fb/dictionary-batch';
import { Schema } from 'apache-arrow/fb/schema';
import { Field } from 'apache-arrow/fb/field';
import { Footer } from 'apache-arrow/fb/footer';
import { Type, type Data } from 'apache-arrow';
import { UserError } from '../../util/errors.js';

const MAGIC = Buffer.from('ARROW1');

async function readAt(fh: FileHandle, pos: number, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(n);
  const { bytesRead } = await fh.read(buf, 0, n, pos);
  return buf.subarray(0, bytesRead);
}

/** Throws when a vector of `n` elements of at least `size` bytes cannot fit in `bytes` bytes of metadata. */
function fits(n: number, size: number, bytes: number, what: string): void {
  if (!(n >= 0) || n * size > bytes) throw new Error(`${what} count ${n} does not fit in ${bytes} bytes of metadata`);
}

function checkField(f: Field | null, bytes: number, depth: number): void {
  if (!f) return;
  if (depth > 64) throw new Error('fields nested deeper than 64 levels');
  fits(f.childrenLength(), 4, bytes, 'field children');
  fits(f.customMetadataLength(), 4, bytes, 'field metadata');
  for (let i = 0; i < f.childrenLength(); i++) checkField(f.children(i), bytes, depth + 1);
}

function checkSchema(s: Schema | null, bytes: number): void {
  if (!s) return;
  fits(s.fieldsLength(), 4, bytes, 'schema field');
  fits(s.customMetadataLength(), 4, bytes, 'schema metadata');
  fits(s.featuresLength(), 8, bytes, 'schema feature');
  for (let i = 0; i < s.fieldsLength(); i++) checkField(s.fields(i), bytes, 0);
}

function checkBatch(b: RecordBatch | null, bytes: number): void {
  if (!b) return;
  fits(b.nodesLength(), 16, bytes, 'field node');
  fits(b.buffersLength(), 16, bytes, 'buffer');
  fits(b.variadicBufferCountsLength(), 8, bytes, 'variadic buffer');
}

/** Checks one message's metadata; returns its body length. */
function checkMessage(meta: Buffer): number {
  const m = Message.getRootAsMessage(new ByteBuffer(meta));
  fits(m.customMetadataLength(), 4, meta.length, 'message metadata');
  switch (m.headerType()) {
    case MessageHeader.Schema:
      checkSchema(m.header(new Schema()) as Schema | null, meta.length);
      break;
    case MessageHeader.RecordBatch:
      checkBatch(m.header(new RecordBatch()) as RecordBatch | null, meta.length);
      break;
    case MessageHeader.DictionaryBatch:
      checkBatch((m.header(new DictionaryBatch()) as DictionaryBatch | null)?.data() ?? null, meta.length);
      break;
    default:
      break;
  }
  const body = Number(m.bodyLength());
  if (!(body >= 0)) throw new Error(`body length ${body}`);
  return body;
}

/** Refuses (one line naming the file, message and byte offset) an Arrow IPC file whose framing is damaged. */
export async function checkArrowFraming(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = await readAt(fh, 0, 8);
    const fileFormat = head.subarray(0, 6).equals(MAGIC);
    let pos = fileFormat ? 8 : 0;
    let index = 0;
    const fail = (what: string) =>
      new UserError(`${file}: message ${index} at byte ${pos}: ${what} (damaged or truncated Arrow IPC file)`);
    while (pos + 4 <= size) {
      const word = await readAt(fh, pos, 8);
      let len = word.readInt32LE(0);
      let start = pos + 4;
      if (len === -1) {
        if (word.length < 8) throw fail('the file ends inside a message length');
        len = word.readInt32LE(4);
        start = pos + 8;
      }
      if (len === 0) break; // end of stream
      if (len < 0 || start + len > size) throw fail(`metadata of ${len} bytes runs past the end of the file`);
      let body: number;
      try {
        body = checkMessage(await readAt(fh, start, len));
      } catch (e) {
        throw fail(`unreadable metadata: ${(e as Error).message}`);
      }
      if (start + len + body > size) throw fail(`a body of ${body} bytes runs past the end of the file`);
      pos = start + len + body;
      index++;
    }
    if (fileFormat && size >= 16) {
      // the footer: [footer][int32 length]["ARROW1"]
      const tail = await readAt(fh, size - 10, 10);
      const flen = tail.readInt32LE(0);
      if (!tail.subarray(4).equals(MAGIC) || flen <= 0 || flen > size - 18)
        throw new UserError(`${file}: damaged Arrow IPC footer (length ${flen}, file of ${size} bytes)`);
      const meta = await readAt(fh, size - 10 - flen, flen);
      try {
        const f = Footer.getRootAsFooter(new ByteBuffer(meta));
        fits(f.dictionariesLength(), 24, flen, 'dictionary block');
        fits(f.recordBatchesLength(), 24, flen, 'record batch block');
        fits(f.customMetadataLength(), 4, flen, 'footer metadata');
        checkSchema(f.schema(), flen);
      } catch (e) {
        throw new UserError(`${file}: damaged Arrow IPC footer: ${(e as Error).message}`);
      }
    }
  } finally {
    await fh.close();
  }
}

const LISTS = new Set<Type>([Type.List, Type.LargeList, Type.Map]);
const BYTES = new Set<Type>([Type.Utf8, Type.LargeUtf8, Type.Binary, Type.LargeBinary]);

/**
 * The first offset of a list, map or string column (at any depth) that does not rise within the values it
 * indexes, as words, or null when all do. apache-arrow trusts the offsets of a decoded batch: a damaged one makes a
 * single list claim billions of elements, which reading the row then iterates synchronously.
 */
export function badOffsets(data: Data): string | null {
  const t = data.type?.typeId;
  if (t === undefined) return 'a column without a type (damaged schema)';
  const offsets = data.valueOffsets as ArrayLike<number | bigint> | undefined;
  if (offsets && data.length > 0 && (LISTS.has(t) || BYTES.has(t))) {
    const bound = LISTS.has(t)
      ? (data.children[0]?.length ?? 0)
      : ((data.values as Uint8Array | undefined)?.length ?? 0);
    const first = data.offset;
    const last = data.offset + data.length;
    if (offsets.length < last + 1) return `${offsets.length} offsets for ${data.length} values`;
    let prev = Number(offsets[first]);
    if (!(prev >= 0 && prev <= bound)) return `value 0 starts at offset ${prev}, outside 0..${bound}`;
    for (let i = first + 1; i <= last; i++) {
      const o = Number(offsets[i]);
      if (!(o >= prev && o <= bound)) return `value ${i - first - 1} ends at offset ${o}, outside ${prev}..${bound}`;
      prev = o;
    }
  }
  const children = data.children ?? [];
  for (let i = 0; i < children.length; i++) {
    // a damaged batch can leave a nested column without its data
    const bad = children[i] ? badOffsets(children[i]!) : `nested field ${i} has no data`;
    if (bad) return bad;
  }
  return null;
}
