// sftkit dashboard page: live charts from each run's metrics.jsonl (polled), the dataset inspector, and the
// base-vs-fine-tuned playground over the server's OpenAI routes. Plain browser JavaScript; uPlot draws.
'use strict';

const METRICS = [
  { key: 'loss', title: 'loss (train; eval dashed)', extra: 'eval_loss' },
  { key: 'lr', title: 'learning rate' },
  { key: 'tokens_per_s', title: 'tokens/s' },
  { key: 'grad_norm', title: 'grad norm' },
];
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const state = { runs: [], records: [], plots: {} };
window.sftkitDashboard = state;

async function getJson(url, init) {
  const r = await fetch(url, init);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : `HTTP ${r.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- training charts ----------------------------------------------------------------------------------------

function seriesFor(metric) {
  const series = [{ label: 'step' }];
  state.runs.forEach((run, i) => {
    series.push({ label: `${run.name} ${metric.key}`, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true });
    if (metric.extra)
      series.push({
        label: `${run.name} ${metric.extra}`,
        stroke: COLOURS[i % COLOURS.length],
        dash: [6, 4],
        width: 2,
        spanGaps: true,
        points: { show: true, size: 6 },
      });
  });
  return series;
}

/** Columns for uPlot: the union of logged steps, one value (or null) per run and step. */
function dataFor(metric) {
  const steps = new Set();
  state.records.forEach((recs) => recs.forEach((r) => r[metric.key] != null && steps.add(r.step)));
  if (metric.extra) state.records.forEach((recs) => recs.forEach((r) => r[metric.extra] != null && steps.add(r.step)));
  const xs = [...steps].sort((a, b) => a - b);
  const cols = [xs];
  state.records.forEach((recs) => {
    for (const key of metric.extra ? [metric.key, metric.extra] : [metric.key]) {
      const byStep = new Map();
      recs.forEach((r) => r[key] != null && byStep.set(r.step, r[key]));
      cols.push(xs.map((s) => (byStep.has(s) ? byStep.get(s) : null)));
    }
  });
  return cols;
}

function drawCharts() {
  const box = document.getElementById('charts');
  for (const m of METRICS) {
    const data = dataFor(m);
    if (state.plots[m.key]) {
      state.plots[m.key].setData(data);
      continue;
    }
    const holder = el('div', { class: 'chart', 'data-metric': m.key }, el('h3', {}, m.title));
    box.append(holder);
    state.plots[m.key] = new uPlot(
      {
        width: 520,
        height: 220,
        series: seriesFor(m),
        scales: { x: { time: false } },
        axes: [{ label: 'step' }, { size: 70 }],
        legend: { live: false },
      },
      data,
      holder,
    );
  }
  const counts = state.runs.map((r, i) => `${r.name}: ${state.records[i].length} logged steps`).join(' · ');
  document.getElementById('run-summary').textContent = counts;
}

async function pollMetrics() {
  let changed = false;
  await Promise.all(
    state.runs.map(async (run, i) => {
      const { records } = await getJson(`/api/runs/${i}/metrics?from=${state.records[i].length}`);
      if (records.length) {
        state.records[i].push(...records);
        changed = true;
      }
    }),
  );
  if (changed || Object.keys(state.plots).length === 0) drawCharts();
}

async function startTraining() {
  state.runs = await getJson('/api/runs');
  state.records = state.runs.map(() => []);
  await pollMetrics();
  const tick = async () => {
    try {
      await pollMetrics();
    } catch (e) {
      console.error(e);
    }
    setTimeout(tick, 500);
  };
  setTimeout(tick, 500);
}

// ---- dataset inspector --------------------------------------------------------------------------------------

async function showExample(i) {
  const box = document.getElementById('example');
  const info = document.getElementById('example-info');
  try {
    const ex = await getJson(`/api/data/examples/${i}`);
    box.replaceChildren(
      ...ex.tokens.map((t) =>
        el(
          'span',
          { class: `tok${t.trained ? ' trained' : ''}${t.cut ? ' cut' : ''}`, 'data-id': String(t.id) },
          t.text,
        ),
      ),
    );
    info.textContent = `${ex.source} · ${ex.kind} · ${ex.tokens.length} tokens, ${ex.trained} trained${ex.truncated ? ' · truncated' : ''}${ex.dropped ? ' · dropped' : ''}`;
    box.dataset.index = String(i);
  } catch (e) {
    box.replaceChildren();
    info.textContent = e.message;
  }
}

function table(id, rows) {
  document
    .getElementById(id)
    .replaceChildren(...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, String(c))))));
}

async function startDataset() {
  const meta = await getJson('/api/data');
  if (!meta.path) {
    document.getElementById('data-path').textContent = 'no dataset (start with --data FILE)';
    return;
  }
  document.getElementById('data-path').textContent = `${meta.path} · ${meta.size} records`;
  const input = document.getElementById('example-index');
  input.max = String(meta.size - 1);
  const go = (i) => {
    input.value = String(Math.max(0, Math.min(meta.size - 1, i)));
    showExample(Number(input.value));
  };
  input.addEventListener('change', () => go(Number(input.value)));
  document.getElementById('prev').addEventListener('click', () => go(Number(input.value) - 1));
  document.getElementById('next').addEventListener('click', () => go(Number(input.value) + 1));
  await showExample(0);
  const s = await getJson('/api/data/stats');
  const L = s.lengths;
  table('stats', [
    ['records', s.load.records],
    ['examples', s.prepare.examples],
    ['truncated', s.prepare.truncated],
    ['dropped (too long / nothing trained)', `${s.prepare.droppedTooLong} / ${s.prepare.droppedNoTrainedTokens}`],
    ['tokens (trained)', `${L.totalTokens} (${L.trainedTokens}, ${(100 * L.trainedRatio).toFixed(1)}%)`],
    ['length p50 / p90 / max', `${L.p50} / ${L.p90} / ${L.max}`],
  ]);
  const scores = (await getJson('/api/data/scores')).sort((a, b) => a.score - b.score).slice(0, 8);
  table('scores', [
    ['record', 'score', 'reasons'],
    ...scores.map((x) => [
      x.source.split('/').pop(),
      x.score.toFixed(2),
      [...x.reasons, x.duplicate ? 'duplicate' : ''].filter(Boolean).join(', '),
    ]),
  ]);
}

// ---- playground ---------------------------------------------------------------------------------------------

/** Stream one answer into `out` (chat template, or plain completion for a model without one). */
async function ask(model, prompt, params, out) {
  const extra = { stream: true, stream_options: { include_usage: true }, ...params };
  const chat = { model, messages: [{ role: 'user', content: prompt }], ...extra };
  let r = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(chat),
  });
  let kind = 'chat';
  if (r.status === 400) {
    const body = await r.json();
    if (!/chat template/.test(body.error.message)) throw new Error(body.error.message);
    const text = { model, prompt, ...extra };
    r = await fetch('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(text),
    });
    kind = 'text';
  }
  if (!r.ok) throw new Error((await r.json()).error.message);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let at;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, at).replace(/^data: /, '');
      buf = buf.slice(at + 2);
      if (line === '[DONE]') continue;
      const chunk = JSON.parse(line);
      if (chunk.usage) out.parentElement.dataset.tokens = String(chunk.usage.completion_tokens);
      const c = chunk.choices && chunk.choices[0];
      if (!c) continue;
      out.textContent += kind === 'chat' ? c.delta.content || '' : c.text || '';
      if (c.finish_reason) out.parentElement.dataset.finish = c.finish_reason;
    }
  }
}

async function startPlayground() {
  const p = await getJson('/api/playground');
  const form = document.getElementById('ask');
  const models = [p.base, ...p.tuned].filter(Boolean);
  if (models.length === 0) {
    form.replaceChildren(el('p', { class: 'muted' }, 'no model (start with --model DIR)'));
    return;
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const prompt = document.getElementById('prompt').value;
    const params = {
      max_tokens: Number(document.getElementById('max-tokens').value),
      temperature: Number(document.getElementById('temperature').value),
    };
    const box = document.getElementById('answers');
    box.replaceChildren();
    await Promise.all(
      models.map(async (m) => {
        const text = el('div', { class: 'text' });
        const card = el(
          'div',
          { class: 'answer', 'data-model': m },
          el('h3', {}, m === p.base ? `${m} (base)` : `${m} (fine-tuned)`),
          text,
        );
        box.append(card);
        const t0 = performance.now();
        try {
          await ask(m, prompt, params, text);
          const secs = (performance.now() - t0) / 1000;
          card.append(
            el(
              'div',
              { class: 'muted' },
              `${card.dataset.tokens} tokens in ${secs.toFixed(2)} s · finish: ${card.dataset.finish}`,
            ),
          );
        } catch (e) {
          text.append(el('span', { class: 'error' }, e.message));
        }
        card.dataset.done = 'true';
      }),
    );
  });
}

startTraining().catch((e) => (document.getElementById('run-summary').textContent = e.message));
startDataset().catch((e) => (document.getElementById('data-path').textContent = e.message));
startPlayground().catch((e) => document.getElementById('answers').append(el('p', { class: 'error' }, e.message)));
