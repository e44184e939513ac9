// docs/architecture.md as a test: a folder of src/ imports only folders listed before it in LAYERS (the order of
// the doc's table), and no files import each other in a cycle. Type-only imports count for layering (a type
// from a higher layer is still a dependency) but not for cycles (they vanish at run time, and mutually
// referring types such as Tensor and its tape node are fine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

/** Bottom first; the same order as the table in docs/architecture.md. */
const LAYERS = [
  'util',
  'engine',
  'io',
  'tokenizer',
  'data',
  'quant',
  'model',
  'train',
  'generate',
  'export',
  'serve',
  'dashboard',
  'handoff',
  'quickstart',
  'bench',
  'cli',
];

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function importEdges(src: string): Edge[] {
  const edges: Edge[] = [];
  const re = /^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.[^']+)'/gm;
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(re)) {
      const target = resolve(dirname(file), m[2]!).replace(/\.js$/, '.ts');
      edges.push({ from: relative(src, file), to: relative(src, target), typeOnly: m[1] !== undefined });
    }
    // Dynamic imports (lazy command modules) are dependencies too.
    for (const m of text.matchAll(/import\('(\.[^']+)'\)/g)) {
      const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
      edges.push({ from: relative(src, file), to: relative(src, target), typeOnly: false });
    }
  }
  return edges;
}

const layerOf = (file: string): number => (file.includes('/') ? LAYERS.indexOf(file.split('/')[0]!) : LAYERS.length);

function cycles(edges: Edge[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const found = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of next.get(f) ?? []) {
      if (state.get(t) === 'open') {
        const loop = stack.slice(stack.indexOf(t));
        // One spelling per cycle: start at its smallest file.
        const k = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(k), ...loop.slice(0, k)];
        found.add([...rotated, rotated[0]].join(' -> '));
      } else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...next.keys()].sort()) if (!state.has(f)) visit(f);
  return [...found].sort();
}

const src = join(packageRoot(), 'src');
const edges = importEdges(src);

test('every src/ folder is a layer of docs/architecture.md, and the doc lists them in this order', () => {
  const folders = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory());
  assert.deepEqual(
    folders.filter((f) => !LAYERS.includes(f)),
    [],
    'add new folders to LAYERS and the doc',
  );
  const doc = readFileSync(join(packageRoot(), 'docs', 'architecture.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `src\/([a-z]+)\/` \|/gm)].map((m) => m[1]!);
  assert.deepEqual(rows, LAYERS);
});

test('a layer imports only the layers below it', () => {
  assert.ok(edges.length > 100, `found ${edges.length} imports`);
  const upward = edges
    .filter((e) => layerOf(e.to) > layerOf(e.from))
    .map((e) => `${e.from} imports ${e.to}${e.typeOnly ? ' (type)' : ''}`);
  assert.deepEqual(upward, []);
});

test('the cycle finder finds a cycle', () => {
  const e = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly });
  assert.deepEqual(cycles([e('a/x.ts', 'a/y.ts'), e('a/y.ts', 'a/z.ts'), e('a/z.ts', 'a/x.ts')]), [
    'a/x.ts -> a/y.ts -> a/z.ts -> a/x.ts',
  ]);
  assert.deepEqual(cycles([e('a/x.ts', 'a/y.ts'), e('a/y.ts', 'a/x.ts', true)]), []);
});

test('no import cycles between files', () => {
  assert.deepEqual(cycles(edges), []);
});
