// The dashboard's routes on the serve app: the page and its assets (files inside the package, uPlot from its
// npm package; nothing from a CDN), runs and their metrics, the dataset inspector, and what the playground
// may ask (it then talks to the OpenAI routes of the same server). Requests pick runs and examples by index.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../serve/openai.js';
import type { ServedModel } from '../serve/models.js';
import { packageRoot } from '../util/paths.js';
import type { DatasetView } from './dataset.js';
import { hasAdapter, readMetricsFrom, type Run } from './runs.js';

export interface DashboardOptions {
  runs: Run[];
  dataset: DatasetView | null;
  /** The served models (the base first); empty without a model. */
  models: ServedModel[];
}

function assets(): Map<string, { path: string; type: string }> {
  const require = createRequire(import.meta.url);
  const uplotDir = join(require.resolve('uplot'), '..');
  const own = join(packageRoot(), 'src', 'dashboard', 'static');
  return new Map([
    ['/', { path: join(own, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/app.js', { path: join(own, 'app.js'), type: 'text/javascript; charset=utf-8' }],
    ['/style.css', { path: join(own, 'style.css'), type: 'text/css; charset=utf-8' }],
    [
      '/vendor/uPlot.iife.min.js',
      { path: join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    ],
    ['/vendor/uPlot.min.css', { path: join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

export function registerDashboard(app: FastifyInstance, o: DashboardOptions): void {
  for (const [route, file] of assets()) {
    const body = readFileSync(file.path);
    app.get(route, async (_req, reply) => reply.type(file.type).header('cache-control', 'no-cache').send(body));
  }
  const run = (i: string): Run => {
    const r = o.runs[Number(i)];
    if (!/^\d+$/.test(i) || !r) throw new ApiError(404, `no run ${i}`);
    return r;
  };
  const base = o.models.find((m) => m.parent === null) ?? null;
  app.get('/api/runs', async () =>
    o.runs.map((r, id) => ({
      id,
      name: r.name,
      model: hasAdapter(r) && o.models.some((m) => m.name === r.name) ? r.name : null,
    })),
  );
  app.get('/api/runs/:id/metrics', async (req) => {
    const from = Number((req.query as { from?: string }).from ?? 0);
    if (!Number.isInteger(from) || from < 0) throw new ApiError(400, 'from must be an integer >= 0', 'from');
    const records = readMetricsFrom(run((req.params as { id: string }).id), from);
    return { from, records };
  });
  app.get('/api/playground', async () => ({
    base: base?.name ?? null,
    tuned: o.models.filter((m) => m.parent !== null).map((m) => m.name),
  }));
  const dataset = (): DatasetView => {
    if (!o.dataset) throw new ApiError(404, 'no dataset (give --data FILE, or a run with training_args.json)');
    return o.dataset;
  };
  app.get('/api/data', async () => ({ path: o.dataset?.path ?? null, size: o.dataset?.size ?? 0 }));
  app.get('/api/data/examples/:i', async (req) => {
    const i = Number((req.params as { i: string }).i);
    const ex = Number.isInteger(i) ? dataset().example(i) : null;
    if (!ex)
      throw new ApiError(404, `no example ${(req.params as { i: string }).i} (the dataset has ${dataset().size})`);
    return ex;
  });
  app.get('/api/data/stats', async () => dataset().stats());
  app.get('/api/data/scores', async () =>
    (await dataset().scores()).map((s) => ({
      source: `${s.source.file}:${s.source.line}`,
      score: s.score,
      reasons: s.reasons,
      duplicate: s.duplicateOf !== null,
      bad_record: s.badRecord ?? null,
    })),
  );
}
