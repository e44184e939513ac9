// sftkit's GEMM against oneDNN (Debian PyTorch) and ONNX Runtime (MLAS) on the same machine, in rounds
// interleaved so a noisy neighbour disturbs all engines alike; prints the median of the rounds as a table.
// Usage: node --import tsx bench/gemm-compare.ts [--m 2048 --k 576 --n 1536] [--rounds 5] [--threads 2]
// Needs ../shared/reference (oneDNN anchor, via /usr/bin/python3 with python3-torch) and, for ONNX Runtime,
// /tmp/ortref/node_modules (setup in ../shared/reference/ort_gemm.cjs); absent anchors are skipped.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { benchGemm } from '../src/cli/bench.js';
import { loadNative } from '../src/engine/native.js';
import { sharedDir } from '../test/helpers/shared.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const m = arg('m', 2048),
  k = arg('k', 576),
  n = arg('n', 1536),
  rounds = arg('rounds', 5),
  threads = arg('threads', 2);
loadNative().setThreads(threads);
const shared = sharedDir();
const ortModules = process.env.ORT_NODE_PATH ?? '/tmp/ortref/node_modules';

/** Runs an anchor script that prints one JSON line with a gflops field; null when it cannot run. */
function anchor(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '').gflops as number;
  } catch {
    return null;
  }
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
const samples = new Map<string, number[]>();
const record = (key: string, v: number | null) => {
  if (v === null) return;
  if (!samples.has(key)) samples.set(key, []);
  samples.get(key)!.push(v);
};

for (let r = 0; r < rounds; r++) {
  for (const dtype of ['bf16', 'f32'] as const) {
    for (const trans of ['nt', 'nn', 'tn'] as const)
      record(`sftkit|${dtype}|${trans}`, benchGemm(m, k, n, dtype, trans, 9).gflops);
    if (shared)
      record(
        `oneDNN|${dtype}|${dtype === 'f32' ? 'linear' : 'mm'}`,
        anchor('/usr/bin/python3', [
          join(shared, 'reference', 'torch_gemm.py'),
          `${m}`,
          `${k}`,
          `${n}`,
          dtype,
          `${threads}`,
        ]),
      );
  }
  if (shared && existsSync(ortModules)) {
    record(
      'ONNX Runtime|f32|matmul',
      anchor(process.execPath, [join(shared, 'reference', 'ort_gemm.cjs'), `${m}`, `${k}`, `${n}`, `${threads}`], {
        ...process.env,
        NODE_PATH: ortModules,
      }),
    );
  }
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}

const isa = loadNative().isa();
console.log(
  `GEMM m=${m} k=${k} n=${n}, ${threads} threads, sftkit ISA ${isa}; median GFLOP/s of ${rounds} rounds (min..max)`,
);
const LAYOUTS: Record<string, string> = {
  nt: 'x·Wᵀ (nt)',
  nn: 'dY·W (nn)',
  tn: 'dYᵀ·X (tn)',
  linear: 'x·Wᵀ (mkldnn linear)',
  mm: 'A·B (torch.mm)',
  matmul: 'A·B (MatMul)',
};
// Within a round every engine saw about the same disturbance, so the per-round ratio to the oneDNN anchor
// of the same dtype is steadier than either number alone.
const anchorOf = (dtype: string) => samples.get(`oneDNN|${dtype}|${dtype === 'f32' ? 'linear' : 'mm'}`);
console.log('| engine | layout | GFLOP/s median | range | vs oneDNN (median of per-round ratios) |');
console.log('|---|---|---:|---|---:|');
for (const [key, xs] of samples) {
  const [engine, dtype, layout] = key.split('|') as [string, string, string];
  const anchorXs = anchorOf(dtype);
  const ratio =
    anchorXs && anchorXs.length === xs.length
      ? `${(100 * median(xs.map((x, i) => x / anchorXs[i]!))).toFixed(0)}%`
      : '';
  console.log(
    `| ${engine} ${dtype} | ${LAYOUTS[layout as keyof typeof LAYOUTS]} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(0)}..${Math.max(...xs).toFixed(0)} | ${ratio} |`,
  );
}
