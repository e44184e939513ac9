// Prepared examples stored by column: the token ids and masks of many examples in one Int32Array and one
// Uint8Array, their offsets, counts and sources in small typed arrays, and each example a two-field object whose
// fields are read from there. A million examples then take tens of MiB of objects instead of hundreds (two typed
// arrays, an ArrayBuffer each and a source object per example: issue 15's 1M-row run). The pipeline stores every
// chunk it prepares this way (a worker sends a slab's buffers), and the data cache reads a split back as one slab.
import type { PreparedExample, SourceRef } from './types.js';
import { UserError } from '../util/errors.js';

/** The typed arrays of a slab except its sources: what a worker thread transfers. */
export interface SlabArrays {
  ids: Int32Array;
  mask: Uint8Array;
  /** Example i's tokens are [offsets[i], offsets[i + 1]). */
  offsets: Int32Array;
  numTrained: Int32Array;
  truncated: Uint8Array;
}

/** Sources by column: file (an index into `files`), line, row and row group (-1: none). */
export interface SlabSources {
  files: string[];
  file: Int32Array;
  line: Int32Array;
  row: Int32Array;
  rowGroup: Int32Array;
}

export class ExampleSlab {
  constructor(
    readonly arrays: SlabArrays,
    readonly sources: SlabSources,
  ) {}

  get length(): number {
    return this.arrays.offsets.length - 1;
  }

  /** The examples, as objects that read this slab. */
  examples(): PreparedExample[] {
    return Array.from({ length: this.length }, (_, i) => new SlabExample(this, i));
  }

  /** Pack `examples` (any implementation) into one slab. */
  static pack(examples: readonly PreparedExample[]): ExampleSlab {
    return new ExampleSlab(packArrays(examples), sourceColumns(examples.map((e) => e.source)));
  }
}

/** The offsets and counts of `examples` (the slab arrays without their tokens). */
export function countColumns(examples: readonly PreparedExample[]): Omit<SlabArrays, 'ids' | 'mask'> {
  const n = examples.length;
  const offsets = new Int32Array(n + 1);
  const numTrained = new Int32Array(n);
  const truncated = new Uint8Array(n);
  let total = 0;
  examples.forEach((e, i) => {
    total += e.inputIds.length;
    if (total > 0x7fffffff)
      throw new UserError(
        `more than 2^31 tokens in one split (at example ${i + 1} of ${examples.length}): split the dataset into smaller ones`,
      );
    offsets[i + 1] = total;
    numTrained[i] = e.numTrained;
    truncated[i] = e.truncated ? 1 : 0;
  });
  return { offsets, numTrained, truncated };
}

/** The ids, masks and counts of `examples` in the arrays of one slab. */
export function packArrays(examples: readonly PreparedExample[]): SlabArrays {
  const counts = countColumns(examples);
  const tokens = counts.offsets[examples.length]!;
  const ids = new Int32Array(tokens);
  const mask = new Uint8Array(tokens);
  examples.forEach((e, i) => {
    ids.set(e.inputIds, counts.offsets[i]!);
    mask.set(e.assistantMask, counts.offsets[i]!);
  });
  return { ids, mask, ...counts };
}

/** Source references as columns. */
export function sourceColumns(sources: readonly SourceRef[]): SlabSources {
  const n = sources.length;
  const cols: SlabSources = {
    files: [],
    file: new Int32Array(n),
    line: new Int32Array(n),
    row: new Int32Array(n),
    rowGroup: new Int32Array(n),
  };
  const index = new Map<string, number>();
  sources.forEach((s, i) => {
    let f = index.get(s.file);
    if (f === undefined) {
      f = cols.files.push(s.file) - 1;
      index.set(s.file, f);
    }
    cols.file[i] = f;
    cols.line[i] = s.line;
    cols.row[i] = s.row ?? -1;
    cols.rowGroup[i] = s.rowGroup ?? -1;
  });
  return cols;
}

/** One example of a slab: its fields are views and values read from the slab's columns on each access. */
class SlabExample implements PreparedExample {
  constructor(
    private readonly slab: ExampleSlab,
    private readonly i: number,
  ) {}

  get inputIds(): Int32Array {
    const { ids, offsets } = this.slab.arrays;
    return ids.subarray(offsets[this.i]!, offsets[this.i + 1]!);
  }

  get assistantMask(): Uint8Array {
    const { mask, offsets } = this.slab.arrays;
    return mask.subarray(offsets[this.i]!, offsets[this.i + 1]!);
  }

  get numTrained(): number {
    return this.slab.arrays.numTrained[this.i]!;
  }

  get truncated(): boolean {
    return this.slab.arrays.truncated[this.i] === 1;
  }

  get source(): SourceRef {
    const s = this.slab.sources;
    const ref: SourceRef = { file: s.files[s.file[this.i]!]!, line: s.line[this.i]! };
    if (s.row[this.i]! >= 0) ref.row = s.row[this.i]!;
    if (s.rowGroup[this.i]! >= 0) ref.rowGroup = s.rowGroup[this.i]!;
    return ref;
  }
}
