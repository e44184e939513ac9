// The eval report: one self-contained Markdown file with the summary (base vs fine-tuned when both ran) and
// every prompt's answers side by side.
import type { EvalPrompt } from './eval-prompts.js';
import type { EvalAnswer, EvalSummary } from './eval.js';

export interface ReportInput {
  title: string;
  /** Lines describing the run (model, adapter, settings). */
  setup: string[];
  prompts: EvalPrompt[];
  tuned: { label: string; answers: EvalAnswer[]; summary: EvalSummary };
  base: { label: string; answers: EvalAnswer[]; summary: EvalSummary } | null;
}

/** Text for a Markdown table cell: pipes escaped, newlines as <br>, HTML-ish characters neutralised. */
function cell(s: string): string {
  const t = s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, '<br>');
  return t.length ? t : '*(empty)*';
}

function pct(n: number, d: number): string {
  return d === 0 ? '-' : `${n}/${d} (${((100 * n) / d).toFixed(0)}%)`;
}

function ending(a: EvalAnswer): string {
  return a.finishReason === 'eos' ? 'end-of-turn' : a.finishReason === 'stop_string' ? 'stop string' : 'max tokens';
}

function mark(v: boolean | null): string {
  return v === null ? '' : v ? ' ✓' : '';
}

function summaryRows(s: EvalSummary): string[] {
  return [
    pct(s.endedWithStopToken, s.prompts),
    pct(s.hitMaxTokens, s.prompts),
    s.meanGeneratedTokens.toFixed(1),
    pct(s.exactMatch, s.withReference),
    pct(s.containsReference, s.withReference),
    s.evalLoss === null ? '-' : s.evalLoss.toFixed(4),
    s.evalLoss === null ? '-' : Math.exp(s.evalLoss).toFixed(2),
    s.tokensPerSecond.toFixed(1),
  ];
}

const SUMMARY_LABELS = [
  'ended with end-of-turn',
  'hit max new tokens',
  'mean answer length (tokens)',
  'exact match',
  'contains reference',
  'eval loss',
  'perplexity',
  'generation tokens/s',
];

export function markdownReport(r: ReportInput): string {
  const out: string[] = [`# ${r.title}`, '', ...r.setup.map((l) => `- ${l}`), '', '## Summary', ''];
  const cols = r.base ? [r.base, r.tuned] : [r.tuned];
  out.push(`| | ${cols.map((c) => c.label).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`);
  const rows = cols.map((c) => summaryRows(c.summary));
  SUMMARY_LABELS.forEach((label, i) => out.push(`| ${label} | ${rows.map((x) => x[i]).join(' | ')} |`));
  out.push(
    '',
    `Exact match and contains-reference compare lower-cased text without punctuation; ${r.tuned.summary.withReference} of ${r.tuned.summary.prompts} prompts have a reference.`,
    '',
    '## Answers',
    '',
  );
  r.prompts.forEach((p, i) => {
    const t = r.tuned.answers[i]!;
    const b = r.base?.answers[i] ?? null;
    out.push(`### ${i + 1}. ${cell(p.instruction)}`, '');
    const head = ['', ...(p.reference !== null ? ['expected'] : []), ...(b ? [r.base!.label] : []), r.tuned.label];
    const body = [
      'answer',
      ...(p.reference !== null ? [cell(p.reference)] : []),
      ...(b ? [cell(b.generated) + mark(b.containsReference)] : []),
      cell(t.generated) + mark(t.containsReference),
    ];
    const meta = [
      'ended / tokens',
      ...(p.reference !== null ? [''] : []),
      ...(b ? [`${ending(b)} / ${b.generatedTokens}`] : []),
      `${ending(t)} / ${t.generatedTokens}`,
    ];
    out.push(
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      `| ${body.join(' | ')} |`,
      `| ${meta.join(' | ')} |`,
      '',
    );
  });
  out.push('✓ = contains the reference.', '');
  return out.join('\n');
}
