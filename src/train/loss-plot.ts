// The loss curve as a self-contained SVG (train loss line, eval loss dots), written to output_dir.
import type { MetricsRecord } from './metrics.js';

const W = 640;
const H = 360;
const PAD = { left: 56, right: 16, top: 28, bottom: 40 };

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function lossCurveSvg(records: MetricsRecord[], title = 'loss'): string {
  const train = records
    .filter((r) => r.loss !== undefined && Number.isFinite(r.loss))
    .map((r) => [r.step, r.loss!] as const);
  const evals = records
    .filter((r) => r.eval_loss !== undefined && Number.isFinite(r.eval_loss))
    .map((r) => [r.step, r.eval_loss!] as const);
  const all = [...train, ...evals];
  const maxStep = Math.max(1, ...all.map((p) => p[0]));
  const ys = all.map((p) => p[1]);
  let yLo = ys.length ? Math.min(...ys) : 0;
  let yHi = ys.length ? Math.max(...ys) : 1;
  if (yHi - yLo < 1e-6) [yLo, yHi] = [yLo - 0.5, yHi + 0.5];
  const margin = (yHi - yLo) * 0.05;
  yLo = Math.max(0, yLo - margin);
  yHi += margin;
  const x = (s: number) => PAD.left + ((W - PAD.left - PAD.right) * s) / maxStep;
  const y = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (v - yLo) / (yHi - yLo));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`);
  for (const t of niceTicks(yLo, yHi, 5)) {
    parts.push(
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/>`,
    );
    parts.push(`<text x="${PAD.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(0, maxStep, 6)) {
    parts.push(`<text x="${x(t).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#333"/>`,
  );
  parts.push(`<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#333"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">step</text>`);
  if (train.length > 0) {
    const pts = train.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${pts}"/>`);
  }
  for (const [s, v] of evals)
    parts.push(`<circle cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="#d62728"/>`);
  parts.push(`<g transform="translate(${W - PAD.right - 120},${PAD.top + 4})">`);
  parts.push(
    `<line x1="0" y1="6" x2="18" y2="6" stroke="#1f77b4" stroke-width="2"/><text x="24" y="10">train loss</text>`,
  );
  if (evals.length > 0)
    parts.push(`<circle cx="9" cy="22" r="3.5" fill="#d62728"/><text x="24" y="26">eval loss</text>`);
  parts.push('</g></svg>');
  return parts.join('\n') + '\n';
}
