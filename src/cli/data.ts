// `sftkit data inspect|stats|tokenize|score|filter`: look at, measure, export and clean SFT data.
import { AtomicFileWriter, writeFileAtomicSync } from '../io/atomic.js';
import type { Command } from './command.js';
import { numberFlag, requireString } from './command.js';
import { UserError } from '../util/errors.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { DATA_FORMATS, type DataFormat } from '../data/formats.js';
import { loadRecords, summarizeSkipped, type LoadOptions, type LoadReport } from '../data/load.js';
import {
  buildLabels,
  finishExample,
  emptyPrepareReport,
  tokenizeRecord,
  DEFAULT_MAX_LENGTH,
  type PrepareOptions,
  type PrepareReport,
} from '../data/prepare.js';
import type { LossMode } from '../data/render.js';
import { lengthStats } from '../data/stats.js';
import { sampleIndices } from '../data/batches.js';
import { filterDataset, scoreDataset, dropReasons } from '../data/filter.js';
import { SEED_QUALITY_CONFIG } from '../data/quality.js';
import { formatRef, type PreparedExample } from '../data/types.js';
import { applyReasoningHistory, REASONING_HISTORY, type ReasoningHistory } from '../data/reasoning.js';
import { prepareDataset } from '../data/pipeline.js';
import { dataProgress } from '../data/progress.js';
import { convertDataset } from '../data/convert.js';

const SUBCOMMANDS = ['inspect', 'stats', 'tokenize', 'score', 'filter', 'convert'] as const;
type Sub = (typeof SUBCOMMANDS)[number];
type Flags = Record<string, string | boolean | string[] | undefined>;

function choice<T extends string>(flags: Flags, name: string, allowed: readonly T[], fallback: T): T {
  const v = flags[name] ?? fallback;
  if (!allowed.includes(v as T))
    throw new UserError(`sftkit data: --${name} must be one of ${allowed.join(', ')}, got '${String(v)}'`);
  return v as T;
}

/** --field-map question=instruction,answer=output */
function parseFieldMap(v: unknown): Record<string, string> | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const map: Record<string, string> = {};
  for (const pair of v.split(',')) {
    const [from, to] = pair.split('=').map((s) => s.trim());
    if (!from || !to) throw new UserError(`sftkit data: --field-map expects FROM=TO[,FROM=TO...], got '${v}'`);
    map[from] = to;
  }
  return map;
}

function loadOptions(flags: Flags): LoadOptions {
  return {
    format: choice<DataFormat>(flags, 'format', DATA_FORMATS, 'auto'),
    textField: typeof flags['dataset-text-field'] === 'string' ? flags['dataset-text-field'] : 'text',
    fieldMap: parseFieldMap(flags['field-map']),
    onBadRecord: choice(flags, 'on-bad-record', ['error', 'skip'] as const, 'error'),
    ...(typeof flags.split === 'string' ? { split: flags.split } : {}),
    ...(typeof flags['messages-field'] === 'string' ? { messagesField: flags['messages-field'] } : {}),
    ...(typeof flags['prompt-field'] === 'string' ? { promptField: flags['prompt-field'] } : {}),
    ...(typeof flags['completion-field'] === 'string' ? { completionField: flags['completion-field'] } : {}),
    ...(typeof flags['tools-field'] === 'string' ? { toolsField: flags['tools-field'] } : {}),
  };
}

/** --enable-thinking true|false: passed to the chat template as enable_thinking. */
function templateExtra(flags: Flags): Record<string, unknown> | undefined {
  const v = flags['enable-thinking'];
  if (v === undefined) return undefined;
  if (v === true || v === 'true') return { enable_thinking: true };
  if (v === 'false') return { enable_thinking: false };
  throw new UserError(`sftkit data: --enable-thinking must be true or false, got '${String(v)}'`);
}

function reasoningHistory(flags: Flags): ReasoningHistory {
  return choice<ReasoningHistory>(flags, 'reasoning-history', REASONING_HISTORY, 'template');
}

function prepareOptions(flags: Flags): PrepareOptions {
  let loss = choice<LossMode>(flags, 'loss', ['auto', 'assistant-only', 'completion-only', 'all'], 'auto');
  if (flags['assistant-only-loss'] === true) loss = 'assistant-only';
  if (flags['completion-only-loss'] === true) loss = 'completion-only';
  if (flags['assistant-only-loss'] === true && flags['completion-only-loss'] === true)
    throw new UserError('sftkit data: --assistant-only-loss and --completion-only-loss exclude each other');
  const maxLength = numberFlag(flags, 'max-length', 'data', DEFAULT_MAX_LENGTH);
  if (!Number.isInteger(maxLength) || maxLength < 2)
    throw new UserError(`sftkit data: --max-length must be an integer >= 2, got '${String(flags['max-length'])}'`);
  return {
    loss,
    maxLength,
    truncation: choice(flags, 'truncation', ['truncate', 'drop'] as const, 'truncate'),
    ...(typeof flags['eos-token'] === 'string' ? { eosToken: flags['eos-token'] } : {}),
    ...(typeof flags['template-name'] === 'string' ? { templateName: flags['template-name'] } : {}),
    ...(templateExtra(flags) ? { templateExtra: templateExtra(flags) } : {}),
  };
}

function out(s: string): void {
  process.stdout.write(s);
}

function loadSummary(r: LoadReport): string {
  return `records: ${r.records} (format ${r.detected ?? r.format ?? '?'}), bad records skipped: ${r.skipped}${r.skipped ? ` (${summarizeSkipped(r)})` : ''}`;
}

function prepareSummary(r: PrepareReport): string {
  return `examples: ${r.examples}, truncated: ${r.truncated}, dropped too long: ${r.droppedTooLong}, dropped with no trained token: ${r.droppedNoTrainedTokens}`;
}

/** The rendered text with trained characters marked: colour on a TTY, [[...]] otherwise. */
export function highlightTrained(
  text: string,
  offsets: [number, number][],
  mask: Uint8Array,
  colour: boolean,
  cutAt?: number,
): string {
  const trainedChar = new Uint8Array(text.length);
  for (let t = 0; t < offsets.length; t++) {
    if (!mask[t]) continue;
    for (let c = offsets[t]![0]; c < offsets[t]![1]; c++) trainedChar[c] = 1;
  }
  const open = colour ? '\x1b[42;30m' : '[[';
  const close = colour ? '\x1b[0m' : ']]';
  let s = '';
  let inRun = false;
  const cutChar = cutAt !== undefined && cutAt < offsets.length ? offsets[cutAt]![0] : -1;
  for (let c = 0; c < text.length; c++) {
    if (c === cutChar) {
      if (inRun) {
        s += close;
        inRun = false;
      }
      s += colour ? '\x1b[41m✂ truncated here\x1b[0m' : '✂[truncated here]';
    }
    const want = trainedChar[c] === 1;
    if (want !== inRun) {
      s += want ? open : close;
      inRun = want;
    }
    s += text[c];
  }
  if (inRun) s += close;
  return s;
}

async function inspect(tok: Tokenizer, flags: Flags): Promise<void> {
  const path = requireString(flags, 'data', 'data inspect');
  const loaded = await loadRecords(path, loadOptions(flags));
  const { report } = loaded;
  const history = reasoningHistory(flags);
  const records =
    history === 'template' ? loaded.records : loaded.records.flatMap((r) => applyReasoningHistory(r, history));
  const opts = prepareOptions(flags);
  const n = numberFlag(flags, 'n', 'data inspect', 3);
  const seed = numberFlag(flags, 'seed', 'data inspect', 0);
  const picks = flags.random === true ? sampleIndices(records.length, n, seed) : records.slice(0, n).map((_, i) => i);
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  out(`${loadSummary(report)}\n`);
  for (const i of picks) {
    const rec = records[i]!;
    const t = tokenizeRecord(tok, rec, opts);
    const ex = finishExample(rec, t, opts, emptyPrepareReport());
    const total = t.inputIds.length;
    const trained = ex?.numTrained ?? 0;
    const kept = ex ? ex.inputIds.length : 0;
    out(`\n=== ${formatRef(rec.source)} (${rec.kind}) ===\n`);
    out(
      `tokens: ${total}, trained: ${trained} (${total ? ((100 * trained) / total).toFixed(1) : '0'}%), truncated: ${total > opts.maxLength! ? `yes, to ${opts.maxLength}${ex ? '' : ' -> dropped'}` : 'no'}\n`,
    );
    const bosPrefix = t.offsets.length > 0 && t.offsets[0]![1] === 0 && tok.bosToken ? tok.bosToken : '';
    const mask = ex
      ? Uint8Array.from({ length: t.inputIds.length }, (_, k) => (k < kept ? ex.assistantMask[k]! : 0))
      : new Uint8Array(t.inputIds.length);
    out(
      bosPrefix +
        highlightTrained(t.text, t.offsets, mask, colour, total > opts.maxLength! ? opts.maxLength : undefined) +
        '\n',
    );
  }
}

async function prepareAll(
  tok: Tokenizer,
  flags: Flags,
  cmd: string,
): Promise<{ report: LoadReport; prep: { examples: PreparedExample[]; report: PrepareReport } }> {
  const path = requireString(flags, 'data', cmd);
  const lo = loadOptions(flags);
  const data = await prepareDataset(tok, {
    ...lo,
    ...prepareOptions(flags),
    train: path,
    ...(lo.split ? { trainSplit: lo.split } : {}),
    reasoningHistory: reasoningHistory(flags),
    shuffle: false,
    cache: false,
    onProgress: dataProgress(),
  });
  return { report: data.load, prep: { examples: data.train, report: data.prepare! } };
}

async function convert(flags: Flags): Promise<void> {
  const path = requireString(flags, 'data', 'data convert');
  const outPath = requireString(flags, 'out', 'data convert');
  const report = await convertDataset(path, outPath, loadOptions(flags));
  out(`wrote ${report.records} records to ${outPath}\n${loadSummary(report)}\n`);
}

async function stats(tok: Tokenizer, flags: Flags): Promise<void> {
  const { report, prep } = await prepareAll(tok, flags, 'data stats');
  const s = lengthStats(prep.examples);
  const result = { load: report, prepare: { ...prep.report }, lengths: s };
  if (flags.json === true) {
    out(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  out(`${loadSummary(report)}\n${prepareSummary(prep.report)}\n`);
  out(`tokens: ${s.totalTokens}, trained: ${s.trainedTokens} (${(100 * s.trainedRatio).toFixed(1)}%)\n`);
  out(
    `length (tokens): min ${s.min}  p50 ${s.p50}  p90 ${s.p90}  p95 ${s.p95}  p99 ${s.p99}  max ${s.max}  mean ${s.mean.toFixed(1)}\n`,
  );
  for (const w of prep.report.warnings) out(`warning: ${w}\n`);
  for (const e of report.skippedExamples) out(`skipped: ${e}\n`);
}

async function tokenize(tok: Tokenizer, flags: Flags): Promise<void> {
  const outPath = requireString(flags, 'out', 'data tokenize');
  const { report, prep } = await prepareAll(tok, flags, 'data tokenize');
  const file = await AtomicFileWriter.open(outPath);
  for (const ex of prep.examples) {
    await file.write(
      `{"input_ids": [${Array.from(ex.inputIds).join(', ')}], "labels": [${Array.from(buildLabels(ex.inputIds, ex.assistantMask)).join(', ')}]}\n`,
    );
  }
  await file.commit();
  out(`wrote ${prep.examples.length} examples to ${outPath}\n${loadSummary(report)}\n${prepareSummary(prep.report)}\n`);
}

function qualityConfig(flags: Flags) {
  return { ...SEED_QUALITY_CONFIG, threshold: numberFlag(flags, 'threshold', 'data', SEED_QUALITY_CONFIG.threshold) };
}

async function score(flags: Flags): Promise<void> {
  const path = requireString(flags, 'data', 'data score');
  const cfg = qualityConfig(flags);
  const scored = await scoreDataset(path, loadOptions(flags), cfg);
  const lines = scored.scores.map((s) =>
    JSON.stringify({
      file: s.source.file,
      line: s.source.line,
      score: s.score,
      reasons: s.reasons,
      duplicate_of: s.duplicateOf ? `${s.duplicateOf.source.file}:${s.duplicateOf.source.line}` : null,
      duplicate_kind: s.duplicateOf?.kind ?? null,
      encoding: s.encoding,
      turns: s.turns,
      words: s.words,
      ...(s.badRecord ? { bad_record: s.badRecord } : {}),
      would_drop: dropReasons(s, { threshold: cfg.threshold }),
    }),
  );
  if (typeof flags.out === 'string') writeFileAtomicSync(flags.out, lines.join('\n') + '\n');
  else out(lines.join('\n') + '\n');
  const low = scored.scores.filter((s) => !s.badRecord && s.score < cfg.threshold).length;
  const dups = scored.scores.filter((s) => s.duplicateOf).length;
  const enc = scored.scores.filter((s) => s.encoding.length).length;
  process.stderr.write(
    `scored ${scored.scores.length} records: ${low} below ${cfg.threshold}, ${dups} duplicates, ${enc} with encoding problems\n`,
  );
}

async function filter(flags: Flags): Promise<void> {
  const path = requireString(flags, 'data', 'data filter');
  const outPath = requireString(flags, 'out', 'data filter');
  const cfg = qualityConfig(flags);
  const scored = await scoreDataset(path, loadOptions(flags), cfg);
  const report = await filterDataset(scored, outPath, {
    threshold: cfg.threshold,
    dropDuplicates: flags['keep-duplicates'] !== true,
    dropEncodingIssues: flags['keep-encoding-issues'] !== true,
  });
  const reportPath = typeof flags.report === 'string' ? flags.report : `${outPath}.report.json`;
  writeFileAtomicSync(reportPath, JSON.stringify(report, null, 2) + '\n');
  out(
    `kept ${report.kept} of ${report.total} records -> ${outPath}\ndropped ${report.dropped}: ${
      Object.entries(report.droppedBy)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }\nreport: ${reportPath}\n`,
  );
}

export const command: Command = {
  name: 'data',
  summary:
    'Inspect, measure, tokenize, score, filter and convert SFT data (inspect|stats|tokenize|score|filter|convert)',
  usage: [
    'sftkit data inspect --model DIR --data FILE [--n 3] [--assistant-only-loss]',
    'sftkit data stats --model DIR --data FILE [--json]',
    'sftkit data tokenize --model DIR --data FILE [--format F] [--max-length N] [--assistant-only-loss|--completion-only-loss] --out OUT.jsonl',
    'sftkit data score --data FILE [--threshold 0.7] [--out SCORES.jsonl]',
    'sftkit data filter --data FILE --out KEPT.jsonl [--threshold 0.7] [--report REPORT.json]',
    'sftkit data convert --data IN --out OUT.jsonl|OUT.parquet   (the normalised form sftkit trains on)',
    '--data: a .jsonl/.json/.parquet/.arrow/.csv/.tsv file or a dataset folder (Hub layout or save_to_disk; --split picks a split)',
    '(--model DIR may be a folder holding only the tokenizer files)',
  ].join('\n'),
  positionals: true,
  flags: {
    model: { type: 'string', help: 'Model or tokenizer folder (tokenizer.json + tokenizer_config.json)' },
    data: { type: 'string', help: 'A .jsonl/.json/.parquet/.arrow/.csv/.tsv file or a dataset folder' },
    format: { type: 'string', help: `Data format: ${DATA_FORMATS.join(' | ')}`, default: 'auto' },
    'dataset-text-field': {
      type: 'string',
      help: 'Field holding the text for language-modelling data',
      default: 'text',
    },
    'field-map': { type: 'string', help: 'Rename fields before detection, e.g. question=instruction,answer=output' },
    'on-bad-record': {
      type: 'string',
      help: 'error (stop at the first bad record) | skip (count and skip)',
      default: 'error',
    },
    loss: {
      type: 'string',
      help: 'auto (assistant-only for conversations, completion-only for prompt-completion, all for text) | assistant-only | completion-only | all',
      default: 'auto',
    },
    'assistant-only-loss': { type: 'boolean', help: 'Train only on assistant turns (same as --loss assistant-only)' },
    'completion-only-loss': { type: 'boolean', help: 'Train only on completions (same as --loss completion-only)' },
    'max-length': { type: 'string', help: 'Maximum example length in tokens', default: String(DEFAULT_MAX_LENGTH) },
    truncation: {
      type: 'string',
      help: 'truncate (keep the head) | drop (skip over-long examples)',
      default: 'truncate',
    },
    'eos-token': {
      type: 'string',
      help: 'Token appended after assistant turns the template does not end (default: the tokenizer eos)',
    },
    'template-name': { type: 'string', help: 'A named chat template of the tokenizer (e.g. tool_use)' },
    split: { type: 'string', help: 'Split of a dataset folder (train, validation, test, ...; default train)' },
    'messages-field': { type: 'string', help: 'Column holding the conversation (role/content or from/value turns)' },
    'prompt-field': { type: 'string', help: 'Column holding the prompt' },
    'completion-field': { type: 'string', help: 'Column holding the completion' },
    'tools-field': { type: 'string', help: 'Column holding the tool schemas' },
    'enable-thinking': { type: 'string', help: 'true|false: passed to the chat template as enable_thinking' },
    'reasoning-history': {
      type: 'string',
      help: "Earlier turns' reasoning: template (as the template renders it) | drop | keep (one example per exchange)",
      default: 'template',
    },
    n: { type: 'string', help: 'inspect: how many examples', default: '3' },
    random: { type: 'boolean', help: 'inspect: pick examples at random (with --seed) instead of the first ones' },
    seed: { type: 'string', help: 'Random seed', default: '0' },
    json: { type: 'boolean', help: 'stats: print JSON' },
    out: { type: 'string', help: 'tokenize/filter: output .jsonl (score: optional, default stdout)' },
    threshold: {
      type: 'string',
      help: 'score/filter: keep records scoring >= this',
      default: String(SEED_QUALITY_CONFIG.threshold),
    },
    report: { type: 'string', help: 'filter: where to write the drop report (default OUT.report.json)' },
    'keep-duplicates': { type: 'boolean', help: 'filter: keep exact and near duplicates' },
    'keep-encoding-issues': { type: 'boolean', help: 'filter: keep records with encoding problems' },
  },
  async run(flags, positionals) {
    const sub = positionals[0] as Sub | undefined;
    if (!sub || !SUBCOMMANDS.includes(sub))
      throw new UserError(
        `sftkit data: expected a subcommand (${SUBCOMMANDS.join(', ')})${sub ? `, got '${sub}'` : ''} (see sftkit data --help)`,
      );
    if (positionals.length > 1) throw new UserError(`sftkit data ${sub}: unexpected argument '${positionals[1]}'`);
    if (sub === 'score') return score(flags);
    if (sub === 'filter') return filter(flags);
    if (sub === 'convert') return convert(flags);
    const tok = await Tokenizer.fromDir(requireString(flags, 'model', `data ${sub}`));
    try {
      if (sub === 'inspect') await inspect(tok, flags);
      else if (sub === 'stats') await stats(tok, flags);
      else await tokenize(tok, flags);
    } finally {
      tok.close();
    }
  },
};
