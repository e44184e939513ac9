// The trainer's view of data: a path, records or prepared examples in; tokenised examples with loss masks
// out, using the data pipeline (formats, templates, masks) with the TRL semantics of the config's loss keys.
import { loadRecords } from '../data/load.js';
import { prepareRecords, type PrepareReport } from '../data/prepare.js';
import type { LossMode } from '../data/render.js';
import type { DataTokenizer, PreparedExample, SftRecord } from '../data/types.js';
import { UserError } from '../util/errors.js';
import type { SFTConfig } from './config.js';

/** A dataset as the library API accepts it. */
export type DatasetInput = string | SftRecord[] | PreparedExample[];

function isPrepared(x: unknown[]): x is PreparedExample[] {
  return x.length > 0 && (x[0] as PreparedExample).inputIds instanceof Int32Array;
}

/**
 * TRL's loss semantics: assistant_only_loss trains assistant turns; completion_only_loss (null = auto) trains
 * the completion of prompt-completion data; otherwise every token.
 */
export function lossModeFor(
  config: Pick<SFTConfig, 'assistant_only_loss' | 'completion_only_loss'>,
  kind: SftRecord['kind'],
): LossMode {
  if (config.assistant_only_loss) {
    if (kind === 'prompt-completion' && config.completion_only_loss !== false) return 'completion-only';
    if (kind !== 'conversation')
      throw new UserError(
        `assistant_only_loss needs conversational data ({"messages": [...]}); this dataset is ${kind}`,
      );
    return 'assistant-only';
  }
  if (kind === 'prompt-completion') return config.completion_only_loss === false ? 'all' : 'completion-only';
  return 'all';
}

export interface PreparedDataset {
  examples: PreparedExample[];
  report: PrepareReport | null;
  /** A one-line description for the log. */
  summary: string;
}

export async function prepareDataset(
  input: DatasetInput,
  tok: DataTokenizer,
  config: SFTConfig,
  what: string,
): Promise<PreparedDataset> {
  let records: SftRecord[];
  let origin: string;
  if (typeof input === 'string') {
    const loaded = await loadRecords(input, { textField: config.dataset_text_field });
    records = loaded.records;
    origin = `${input} (${loaded.report.format ?? 'mixed'}, ${loaded.report.records} records${loaded.report.skipped ? `, ${loaded.report.skipped} skipped` : ''})`;
  } else if (input.length === 0) {
    throw new UserError(`${what}: the dataset is empty`);
  } else if (isPrepared(input as unknown[])) {
    return {
      examples: input as PreparedExample[],
      report: null,
      summary: `${what}: ${input.length} prepared examples`,
    };
  } else {
    records = input as SftRecord[];
    origin = `${records.length} records`;
  }
  const byKind = new Map<SftRecord['kind'], SftRecord[]>();
  for (const r of records) byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r]);
  const examples: PreparedExample[] = [];
  let report: PrepareReport | null = null;
  for (const [kind, group] of byKind) {
    const prepared = prepareRecords(tok, group, {
      maxLength: config.max_length,
      loss: lossModeFor(config, kind),
      ...(config.eos_token ? { eosToken: config.eos_token } : {}),
    });
    examples.push(...prepared.examples);
    report = report ? mergeReports(report, prepared.report) : prepared.report;
  }
  if (examples.length === 0)
    throw new UserError(`${what}: no example has a trained token after masking and truncation (${origin})`);
  const r = report!;
  const dropped = r.droppedNoTrainedTokens + r.droppedTooLong;
  const summary =
    `${what}: ${origin} -> ${r.examples} examples, ${r.totalTokens.toLocaleString('en-US')} tokens, ${r.trainedTokens.toLocaleString('en-US')} trained` +
    (r.truncated ? `, ${r.truncated} truncated to ${config.max_length}` : '') +
    (dropped ? `, ${dropped} dropped` : '');
  return { examples, report: r, summary };
}

function mergeReports(a: PrepareReport, b: PrepareReport): PrepareReport {
  return {
    examples: a.examples + b.examples,
    truncated: a.truncated + b.truncated,
    droppedTooLong: a.droppedTooLong + b.droppedTooLong,
    droppedNoTrainedTokens: a.droppedNoTrainedTokens + b.droppedNoTrainedTokens,
    prefixBroken: a.prefixBroken + b.prefixBroken,
    totalTokens: a.totalTokens + b.totalTokens,
    trainedTokens: a.trainedTokens + b.trainedTokens,
    warnings: [...a.warnings, ...b.warnings],
  };
}
