// What every reader yields: one raw row (a plain JSON-like value) with where it came from, or a bad row that
// the load policy may skip. File-level problems (truncated files, unreadable columns) throw UserError instead.
import type { BadRecordError } from '../formats.js';
import type { SourceRef } from '../types.js';

export type RawRow = { value: unknown; source: SourceRef } | { error: BadRecordError };

/** A reader streams the rows of one file, in order, holding a bounded part of the file in memory. */
export type RowReader = (file: string) => AsyncGenerator<RawRow>;
