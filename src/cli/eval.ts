// `sftkit eval`: answer held-out prompts with the fine-tuned model (and, with --compare-base, the base model),
// write one JSON line per prompt ({instruction, expected, generated, ...}) and a Markdown report with the
// answers side by side, how generation ended, exact-match / contains-reference rates and eval loss.
import { writeFileAtomicSync } from '../io/atomic.js';
import { basename, extname } from 'node:path';
import { loadRecords } from '../data/load.js';
import type { PreparedExample } from '../data/types.js';
import { answerPrompts, resultRecord, summarize, type EvalRun } from '../generate/eval.js';
import { evalLoss } from '../train/evaluate.js';
import { readEvalPrompts } from '../generate/eval-prompts.js';
import type { LoadedForGeneration } from '../generate/load.js';
import { markdownReport } from '../generate/report.js';
import { prepareDataset } from '../data/pipeline.js';
import { UserError } from '../util/errors.js';
import { numberFlag, requireString, type Command } from './command.js';
import {
  generateOptions,
  loadFromFlags,
  MODEL_FLAGS,
  SAMPLING_FLAGS,
  settingsFromFlags,
  type GenerationSettings,
} from './generate.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

async function prepareLossData(path: string, loaded: LoadedForGeneration): Promise<PreparedExample[]> {
  const { records } = await loadRecords(path);
  // Conversations score assistant turns only (what SFT trains); other formats as the trainer's defaults.
  const conversational = records.length > 0 && records.every((r) => r.kind === 'conversation');
  const data = await prepareDataset(loaded.tokenizer, {
    train: records,
    shuffle: false,
    lossKeys: { assistant_only_loss: conversational, completion_only_loss: null },
    maxLength: loaded.model.config.maxPositionEmbeddings,
    label: path,
  });
  return data.train;
}

interface ModelRun {
  run: EvalRun;
  loss: number | null;
}

async function evaluateModel(
  loaded: LoadedForGeneration,
  flags: Flags,
  what: string,
  prompts: ReturnType<typeof readEvalPrompts>,
  settings: GenerationSettings,
  batchSize: number,
): Promise<ModelRun> {
  const log = (s: string) => process.stderr.write(s);
  const run = answerPrompts(loaded.model, loaded.tokenizer, prompts, {
    ...generateOptions(loaded, settings),
    batchSize,
    // A live counter on a terminal; one line at the end otherwise (logs stay readable).
    onProgress: (done) => process.stderr.isTTY && log(`\r${what}: answered ${done}/${prompts.length}`),
  });
  log(
    `${process.stderr.isTTY ? '\r' : ''}${what}: answered ${prompts.length} prompts (${run.generatedTokens} tokens, ${(run.generatedTokens / Math.max(run.seconds, 1e-9)).toFixed(1)} tok/s)\n`,
  );
  let loss: number | null = null;
  if (typeof flags.data === 'string') {
    const examples = await prepareLossData(flags.data, loaded);
    const r = evalLoss(loaded.model, examples, { batchSize, padTokenId: loaded.tokenizer.padTokenId ?? 0 });
    loss = r?.loss ?? null;
    if (r)
      log(
        `${what}: eval loss ${r.loss.toFixed(4)} (perplexity ${r.perplexity.toFixed(2)}) over ${r.tokens} tokens of ${r.examples} examples\n`,
      );
  }
  return { run, loss };
}

export const command: Command = {
  name: 'eval',
  summary: 'Answer held-out prompts (optionally base vs fine-tuned) and write results JSONL + a Markdown report',
  usage:
    'sftkit eval --model DIR [--adapter DIR] --prompts FILE.jsonl --out RESULTS.jsonl [--compare-base] [--data FILE] [--report FILE.md]',
  flags: {
    ...MODEL_FLAGS,
    prompts: {
      type: 'string',
      help: 'JSONL: {"instruction", "input"?, "system"?, "reference"?} or {"messages": [...]} (a last assistant turn is the reference)',
    },
    out: {
      type: 'string',
      help: 'Results JSONL: {"instruction", "expected", "generated", "finish_reason", ...} per prompt',
    },
    report: { type: 'string', help: 'Markdown report path (default: --out with .md)' },
    'compare-base': { type: 'boolean', help: 'Also answer with the base model (no adapter) and compare side by side' },
    data: { type: 'string', help: 'Dataset file for eval loss / perplexity (any format sftkit trains on)' },
    'batch-size': { type: 'string', help: 'Prompts generated together', default: '8' },
    ...SAMPLING_FLAGS,
  },
  async run(flags) {
    const cmd = 'eval';
    const promptsPath = requireString(flags, 'prompts', cmd);
    const out = requireString(flags, 'out', cmd);
    const adapter = typeof flags.adapter === 'string' ? flags.adapter : null;
    if (flags['compare-base'] && !adapter)
      throw new UserError('sftkit eval: --compare-base needs --adapter (the base model is --model without it)');
    const batchSize = numberFlag(flags, 'batch-size', cmd, 8);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new UserError(`sftkit eval: --batch-size must be a positive integer, got '${String(flags['batch-size'])}'`);
    const reportPath =
      typeof flags.report === 'string' ? flags.report : out.slice(0, out.length - extname(out).length) + '.md';
    const prompts = readEvalPrompts(promptsPath);

    const tunedLoaded = await loadFromFlags(flags, cmd);
    const settings = settingsFromFlags(flags, cmd, tunedLoaded.defaults);
    const tunedLabel = adapter ? 'fine-tuned' : 'model';
    const tuned = await evaluateModel(tunedLoaded, flags, tunedLabel, prompts, settings, batchSize);
    let base: ModelRun | null = null;
    if (flags['compare-base']) {
      const baseLoaded = await loadFromFlags(flags, cmd, { adapter: null });
      base = await evaluateModel(baseLoaded, flags, 'base', prompts, settings, batchSize);
    }

    const lines = prompts.map((p, i) =>
      JSON.stringify(resultRecord(p, tuned.run.answers[i]!, base?.run.answers[i] ?? null)),
    );
    writeFileAtomicSync(out, lines.join('\n') + '\n');
    const tunedSummary = summarize(tuned.run, tuned.loss);
    const baseSummary = base ? summarize(base.run, base.loss) : null;
    const mode = settings.doSample
      ? `sampling (temperature ${settings.temperature ?? 1}, top-k ${settings.topK ?? 50}, top-p ${settings.topP ?? 1}, seed ${settings.seed})`
      : 'greedy';
    const report = markdownReport({
      title: `sftkit eval: ${basename(promptsPath)}`,
      setup: [
        `model: \`${String(flags.model)}\`${adapter ? `, adapter: \`${adapter}\`${flags.merge ? ' (merged)' : ''}` : ''} (${tunedLoaded.dtype})`,
        `${prompts.length} prompts from \`${promptsPath}\`; decoding: ${mode}, max ${settings.maxNewTokens} new tokens`,
        ...(typeof flags.data === 'string' ? [`eval loss over \`${flags.data}\``] : []),
        `results: \`${out}\``,
      ],
      prompts,
      tuned: { label: tunedLabel, answers: tuned.run.answers, summary: tunedSummary },
      base: base && baseSummary ? { label: 'base', answers: base.run.answers, summary: baseSummary } : null,
    });
    writeFileAtomicSync(reportPath, report);
    const line = (label: string, s: ReturnType<typeof summarize>) =>
      `${label}: end-of-turn ${s.endedWithStopToken}/${s.prompts}, max tokens ${s.hitMaxTokens}/${s.prompts}` +
      (s.withReference
        ? `, exact match ${s.exactMatch}/${s.withReference}, contains reference ${s.containsReference}/${s.withReference}`
        : '') +
      (s.evalLoss !== null ? `, eval loss ${s.evalLoss.toFixed(4)}` : '') +
      `, ${s.tokensPerSecond.toFixed(1)} tok/s`;
    if (baseSummary) process.stdout.write(line('base', baseSummary) + '\n');
    process.stdout.write(line(tunedLabel, tunedSummary) + '\n');
    process.stdout.write(`wrote ${out} and ${reportPath}\n`);
  },
};
