// Arrow IPC files as `datasets.save_to_disk` writes them (the streaming format in `data-0000N-of-0000M.arrow`,
// next to dataset_info.json and state.json), and Arrow IPC files in the random-access format, through
// apache-arrow: one record batch at a time.
import { createReadStream } from 'node:fs';
import { RecordBatchReader } from 'apache-arrow';
import { UserError } from '../../util/errors.js';
import { toPlain } from './plain.js';
import { badOffsets, checkArrowFraming } from './arrow-check.js';
import type { RawRow } from '../readers.js';

export async function* readArrowRows(file: string): AsyncGenerator<RawRow> {
  let reader: Awaited<ReturnType<typeof RecordBatchReader.from>>;
  try {
    await checkArrowFraming(file);
    reader = await RecordBatchReader.from(createReadStream(file));
    await reader.open();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file}: not a readable Arrow IPC file: ${(e as Error).message}`, { cause: e });
  }
  // An empty file (or one with no schema message) opens without a schema.
  if (!reader.schema) throw new UserError(`${file}: not a readable Arrow IPC file: no schema (empty file?)`);
  const names = reader.schema.fields.map((f) => f.name);
  let row = 0;
  let batchIndex = 0;
  const iterator = reader[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Awaited<ReturnType<typeof iterator.next>>['value']>;
    try {
      next = await iterator.next();
    } catch (e) {
      throw new UserError(
        `${file}: record batch ${batchIndex} (from row ${row}): cannot read: ${(e as Error).message} (truncated file?)`,
        { cause: e },
      );
    }
    if (next.done) break;
    const batch = next.value;
    for (let c = 0; c < names.length; c++) {
      const data = batch.data.children[c];
      const bad = data ? badOffsets(data) : null;
      if (bad)
        throw new UserError(
          `${file}: record batch ${batchIndex} (from row ${row}), column '${names[c]}': ${bad} (damaged Arrow IPC file)`,
        );
    }
    const columns = names.map((n) => batch.getChild(n));
    for (let i = 0; i < batch.numRows; i++) {
      const value: Record<string, unknown> = {};
      for (let c = 0; c < names.length; c++) value[names[c]!] = toPlain(columns[c]?.get(i));
      yield { value, source: { file, line: row + 1, row } };
      row++;
    }
    batchIndex++;
  }
}
