// `data score` / `data filter`: quality score, duplicates and encoding problems per record, and the filtered
// dataset with a report of every drop and its reasons.
import { AtomicFileWriter } from '../io/atomic.js';
import { BadRecordError, normalizeRecord } from './formats.js';
import { listDataFiles, type LoadOptions } from './load.js';
import { readRawRecords } from './readers.js';
import type { SftRecord, SourceRef } from './types.js';
import {
  encodingIssues,
  recordShape,
  recordText,
  scoreRecord,
  SEED_QUALITY_CONFIG,
  type EncodingIssue,
  type QualityConfig,
  type QualityReason,
} from './quality.js';
import { findDuplicates, type MinHashOptions } from './dedup.js';
import { percentile } from './stats.js';

export interface RecordScore {
  source: SourceRef;
  score: number;
  reasons: QualityReason[];
  duplicateOf: { source: SourceRef; kind: 'exact' | 'near'; similarity: number } | null;
  encoding: EncodingIssue[];
  turns: number;
  words: number;
  /** Set when the record failed validation (then it has no score). */
  badRecord?: string;
}

export interface ScoredDataset {
  scores: RecordScore[];
  raws: unknown[];
}

/** Score every record of `path`: seed heuristics, duplicates (exact + MinHash), encoding problems, shape. */
export async function scoreDataset(
  path: string,
  opts: LoadOptions = {},
  cfg: QualityConfig = SEED_QUALITY_CONFIG,
  dedup: MinHashOptions = {},
): Promise<ScoredDataset> {
  const scores: RecordScore[] = [];
  const raws: unknown[] = [];
  const records: (SftRecord | null)[] = [];
  let format = opts.format && opts.format !== 'auto' ? opts.format : undefined;
  for (const file of listDataFiles(path, opts.split)) {
    for await (const r of readRawRecords(file)) {
      if ('error' in r) {
        if ((opts.onBadRecord ?? 'error') === 'error') throw r.error;
        scores.push(badScore(r.error));
        raws.push(null);
        records.push(null);
        continue;
      }
      try {
        const n = normalizeRecord(r.value, format ?? 'auto', r.source, opts);
        format ??= n.format;
        const shape = recordShape(n.record);
        const q = scoreRecord(n.record, applyMap(r.value, opts.fieldMap), cfg);
        scores.push({
          source: r.source,
          score: q.score,
          reasons: q.reasons,
          duplicateOf: null,
          encoding: encodingIssues(recordText(n.record)),
          turns: shape.turns,
          words: shape.words,
        });
        records.push(n.record);
      } catch (e) {
        if (!(e instanceof BadRecordError) || (opts.onBadRecord ?? 'error') === 'error') throw e;
        scores.push(badScore(e));
        records.push(null);
      }
      raws.push(r.value);
    }
  }
  const live = records.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
  const dups = findDuplicates(
    live.map((i) => recordText(records[i]!)),
    dedup,
  );
  dups.forEach((d, k) => {
    if (d)
      scores[live[k]!]!.duplicateOf = { source: scores[live[d.of]!]!.source, kind: d.kind, similarity: d.similarity };
  });
  return { scores, raws };
}

function applyMap(raw: unknown, map: Record<string, string> | undefined): unknown {
  if (!map || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) out[map[k] ?? k] = v;
  return out;
}

function badScore(e: BadRecordError): RecordScore {
  return {
    source: e.source,
    score: 0,
    reasons: [],
    duplicateOf: null,
    encoding: [],
    turns: 0,
    words: 0,
    badRecord: e.message,
  };
}

export interface FilterOptions {
  threshold?: number;
  dropDuplicates?: boolean;
  dropEncodingIssues?: boolean;
}

/** Why a record is dropped (empty = kept). */
export function dropReasons(s: RecordScore, opts: FilterOptions = {}): string[] {
  const threshold = opts.threshold ?? SEED_QUALITY_CONFIG.threshold;
  if (s.badRecord) return ['bad-record'];
  const out: string[] = [];
  if (!(s.score >= threshold))
    out.push(`score ${s.score.toFixed(2)} < ${threshold}${s.reasons.length ? ` (${s.reasons.join(', ')})` : ''}`);
  if (s.duplicateOf && opts.dropDuplicates !== false)
    out.push(`${s.duplicateOf.kind}-duplicate of ${s.duplicateOf.source.file}:${s.duplicateOf.source.line}`);
  if (s.encoding.length && opts.dropEncodingIssues !== false) out.push(`encoding: ${s.encoding.join(', ')}`);
  return out;
}

export interface FilterReport {
  total: number;
  kept: number;
  dropped: number;
  threshold: number;
  /** Drops counted by category (a record may count under several). */
  droppedBy: Record<string, number>;
  drops: { file: string; line: number; score: number; reasons: string[] }[];
  stats: { meanScore: number; wordsP50: number; wordsP90: number; wordsMax: number; turnsMean: number };
}

function category(reason: string): string {
  if (reason.startsWith('score')) return 'low-score';
  if (reason.startsWith('exact-duplicate')) return 'exact-duplicate';
  if (reason.startsWith('near-duplicate')) return 'near-duplicate';
  if (reason.startsWith('encoding')) return 'encoding';
  return reason;
}

/** Write the kept records (original JSON, one per line) to `out` and return the report. */
export async function filterDataset(
  scored: ScoredDataset,
  out: string,
  opts: FilterOptions = {},
): Promise<FilterReport> {
  const threshold = opts.threshold ?? SEED_QUALITY_CONFIG.threshold;
  const file = await AtomicFileWriter.open(out);
  const report: FilterReport = {
    total: scored.scores.length,
    kept: 0,
    dropped: 0,
    threshold,
    droppedBy: {},
    drops: [],
    stats: summaryStats(scored.scores),
  };
  for (let i = 0; i < scored.scores.length; i++) {
    const s = scored.scores[i]!;
    const reasons = dropReasons(s, opts);
    if (reasons.length === 0) {
      report.kept++;
      await file.write(JSON.stringify(scored.raws[i]) + '\n');
    } else {
      report.dropped++;
      for (const r of reasons) report.droppedBy[category(r)] = (report.droppedBy[category(r)] ?? 0) + 1;
      report.drops.push({
        file: s.source.file,
        line: s.source.line,
        score: s.score,
        reasons: s.badRecord ? [s.badRecord] : reasons,
      });
    }
  }
  await file.commit();
  return report;
}

export function summaryStats(scores: RecordScore[]): FilterReport['stats'] {
  const ok = scores.filter((s) => !s.badRecord);
  const words = Float64Array.from(ok.map((s) => s.words)).sort();
  return {
    meanScore: ok.length ? ok.reduce((a, s) => a + s.score, 0) / ok.length : 0,
    wordsP50: percentile(words, 50),
    wordsP90: percentile(words, 90),
    wordsMax: words.length ? words[words.length - 1]! : 0,
    turnsMean: ok.length ? ok.reduce((a, s) => a + s.turns, 0) / ok.length : 0,
  };
}
