// `sftkit data convert`: a dataset in any format sftkit reads, written in the normalised form it trains on:
// {"messages": [...], "tools": [...]} for conversations (reasoning_content and tool_calls in the messages),
// {"prompt", "completion"} or {"text"}. JSON Lines, or Parquet through hyparquet-writer (messages as
// list<struct>, tool calls and tool schemas as JSON text columns, which sftkit reads back).
import { extname } from 'node:path';
import { ByteWriter, parquetWriteRows } from 'hyparquet-writer';
import { AtomicFileWriter } from '../io/atomic.js';
import { UserError } from '../util/errors.js';
import { emptyLoadReport, readRecords, type LoadOptions, type LoadReport } from './load.js';
import type { ChatMessage, SftRecord } from './types.js';

/** The normalised row of a record (what `data convert` writes as one JSON line). */
export function normalisedRow(r: SftRecord): Record<string, unknown> {
  switch (r.kind) {
    case 'conversation':
      return { messages: r.messages, ...(r.tools ? { tools: r.tools } : {}) };
    case 'prompt-completion':
      return { prompt: r.prompt, completion: r.completion };
    case 'text':
      return { text: r.text };
  }
}

const MESSAGE_FIELDS = ['role', 'content', 'reasoning_content', 'tool_calls', 'tool_call_id', 'name'] as const;
const STRING = { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' } as const;

function messagesSchema(name: string) {
  return [
    { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', num_children: MESSAGE_FIELDS.length },
    ...MESSAGE_FIELDS.map((f) => ({ name: f, ...STRING })),
  ];
}

function messageStruct(m: ChatMessage): Record<string, string | null> {
  return {
    role: m.role,
    content: m.content,
    reasoning_content: m.reasoning_content ?? null,
    tool_calls: m.tool_calls ? JSON.stringify(m.tool_calls) : null,
    tool_call_id: m.tool_call_id ?? null,
    name: m.name ?? null,
  };
}

/** Parquet columns and schema for records of `kind` (a dataset's records share one kind). */
function parquetLayout(first: SftRecord) {
  if (first.kind === 'conversation')
    return {
      columns: ['messages', 'tools'],
      schema: [{ name: 'root', num_children: 2 }, ...messagesSchema('messages'), { name: 'tools', ...STRING }],
      row: (r: SftRecord) =>
        r.kind === 'conversation'
          ? { messages: r.messages.map(messageStruct), tools: r.tools ? JSON.stringify(r.tools) : null }
          : null,
    };
  if (first.kind === 'text')
    return {
      columns: ['text'],
      schema: [
        { name: 'root', num_children: 1 },
        { name: 'text', ...STRING },
      ],
      row: (r: SftRecord) => (r.kind === 'text' ? { text: r.text } : null),
    };
  const lists = typeof first.prompt !== 'string';
  return {
    columns: ['prompt', 'completion'],
    schema: lists
      ? [{ name: 'root', num_children: 2 }, ...messagesSchema('prompt'), ...messagesSchema('completion')]
      : [
          { name: 'root', num_children: 2 },
          { name: 'prompt', ...STRING },
          { name: 'completion', ...STRING },
        ],
    row: (r: SftRecord) =>
      r.kind === 'prompt-completion' && (typeof r.prompt !== 'string') === lists
        ? lists
          ? {
              prompt: (r.prompt as ChatMessage[]).map(messageStruct),
              completion: (r.completion as ChatMessage[]).map(messageStruct),
            }
          : { prompt: r.prompt, completion: r.completion }
        : null,
  };
}

/** Convert `path` (a split of it) to `out` (.jsonl or .parquet), streamed; the output appears only when complete. */
export async function convertDataset(path: string, out: string, opts: LoadOptions = {}): Promise<LoadReport> {
  const ext = extname(out).toLowerCase();
  if (ext !== '.jsonl' && ext !== '.parquet')
    throw new UserError(`data convert: --out must end in .jsonl or .parquet, got '${out}'`);
  const report = emptyLoadReport();
  const records = readRecords(path, opts, report);
  if (ext === '.jsonl') {
    const file = await AtomicFileWriter.open(out);
    try {
      for await (const r of records) await file.write(JSON.stringify(normalisedRow(r)) + '\n');
      await file.commit();
    } catch (e) {
      await file.abort();
      throw e;
    }
    return report;
  }
  const first = await records.next();
  if (first.done) throw new UserError(`data convert: no usable records in '${path}'`);
  const layout = parquetLayout(first.value);
  async function* rows() {
    for (let r: SftRecord | undefined = first.value as SftRecord; r;) {
      const row = layout.row(r);
      if (!row)
        throw new UserError(
          `${r.source.file}: records of different kinds (${first.value!.kind} and ${r.kind}) cannot share one Parquet file; convert to .jsonl`,
        );
      yield row;
      const next = await records.next();
      r = next.done ? undefined : next.value;
    }
  }
  const file = await AtomicFileWriter.open(out);
  // hyparquet-writer flushes its buffer after each row group: the bytes go to the atomic file writer.
  const sink: ByteWriter & { flush?: () => Promise<void> } = new ByteWriter();
  const flush = async () => {
    if (sink.index === 0) return;
    await file.write(new Uint8Array(sink.buffer.slice(0, sink.index)));
    sink.index = 0;
  };
  sink.flush = flush;
  sink.finish = flush;
  try {
    await parquetWriteRows({
      writer: sink,
      columns: layout.columns.map((name) => ({ name })),
      schema: layout.schema as Parameters<typeof parquetWriteRows>[0]['schema'],
      rows: rows(),
      rowGroupSize: 10_000,
      createdBy: 'sftkit data convert (hyparquet-writer)',
    });
    await file.commit();
  } catch (e) {
    await file.abort();
    throw e;
  }
  return report;
}
