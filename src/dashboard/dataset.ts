// The dataset inspector's data: examples rendered through the chat template with each token marked trained or
// not (the same masks training uses), `data stats` numbers and the quality scores, computed once per server.
import { scoreDataset, type RecordScore } from '../data/filter.js';
import { loadRecords, type LoadReport } from '../data/load.js';
import {
  emptyPrepareReport,
  finishExample,
  prepareRecordsBatched,
  tokenizeRecord,
  type PrepareOptions,
} from '../data/prepare.js';
import { SEED_QUALITY_CONFIG } from '../data/quality.js';
import { lengthStats, type LengthStats } from '../data/stats.js';
import { formatRef, type SftRecord } from '../data/types.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface TokenPiece {
  id: number;
  text: string;
  trained: boolean;
  /** Past max_length: cut off by truncation (never trained). */
  cut: boolean;
}

export interface InspectedExample {
  index: number;
  source: string;
  kind: SftRecord['kind'];
  tokens: TokenPiece[];
  trained: number;
  truncated: boolean;
  /** The example was dropped (too long, or nothing trained). */
  dropped: boolean;
}

export class DatasetView {
  private statsCache: Promise<{ load: LoadReport; prepare: unknown; lengths: LengthStats }> | null = null;
  private scoresCache: Promise<RecordScore[]> | null = null;

  private constructor(
    readonly path: string,
    private readonly tok: Tokenizer,
    private readonly records: SftRecord[],
    private readonly report: LoadReport,
    readonly opts: PrepareOptions,
  ) {}

  static async open(path: string, tok: Tokenizer, opts: PrepareOptions): Promise<DatasetView> {
    const { records, report } = await loadRecords(path);
    return new DatasetView(path, tok, records, report, opts);
  }

  get size(): number {
    return this.records.length;
  }

  /** Example i with every token marked as training uses it (truncated tokens are untrained). */
  example(i: number): InspectedExample | null {
    const rec = this.records[i];
    if (!rec) return null;
    const t = tokenizeRecord(this.tok, rec, this.opts);
    const ex = finishExample(rec, t, this.opts, emptyPrepareReport());
    const kept = ex ? ex.inputIds.length : 0;
    const tokens = Array.from(t.inputIds, (id, k) => {
      const [a, b] = t.offsets[k] ?? [0, 0];
      return {
        id,
        text: b > a ? t.text.slice(a, b) : (this.tok.idToToken(id) ?? ''),
        trained: ex !== null && k < kept && ex.assistantMask[k] === 1,
        cut: ex !== null && k >= kept,
      };
    });
    return {
      index: i,
      source: formatRef(rec.source),
      kind: rec.kind,
      tokens,
      trained: ex?.numTrained ?? 0,
      truncated: ex?.truncated ?? false,
      dropped: ex === null,
    };
  }

  /** What `sftkit data stats --json` prints. */
  stats(): Promise<{ load: LoadReport; prepare: unknown; lengths: LengthStats }> {
    this.statsCache ??= prepareRecordsBatched(this.tok, this.records, this.opts).then((prep) => ({
      load: this.report,
      prepare: { ...prep.report },
      lengths: lengthStats(prep.examples),
    }));
    return this.statsCache;
  }

  /** LIMA-style quality scores of every record (as `sftkit data score`). */
  scores(): Promise<RecordScore[]> {
    this.scoresCache ??= scoreDataset(this.path, {}, SEED_QUALITY_CONFIG).then((s) => s.scores);
    return this.scoresCache;
  }
}
