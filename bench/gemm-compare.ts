// sftkit's GEMM against oneDNN (Debian PyTorch) and ONNX Runtime (MLAS) on the same machine, in rounds
// interleaved so a noisy neighbour disturbs all engines alike; prints the median of the rounds as a table.
// Usage: node --import tsx bench/gemm-compare.ts [--m 2048 --k 576 --n 1536] [--rounds 5] [--threads 2]
// Needs ../shared/reference (oneDNN anchor, via /usr/bin/python3 with python3-torch) and, for ONNX Runtime,
// /tmp/ortref/node_modules (setup in ../shared/reference/ort_gemm.cjs); absent anchors are skipped.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { benchGemm, GEMM_LAYOUTS } from '../src/bench/gemm.js';
import { benchArgs, formatTable, median, runJsonLine } from '../src/bench/measure.js';
import { loadNative } from '../src/engine/native.js';
import { sharedDir } from '../test/helpers/shared.js';

const args = benchArgs();
const m = args.number('m', 2048),
  k = args.number('k', 576),
  n = args.number('n', 1536),
  rounds = args.number('rounds', 5),
  threads = args.number('threads', 2);
loadNative().setThreads(threads);
const shared = sharedDir();
const ortModules = process.env.ORT_NODE_PATH ?? '/tmp/ortref/node_modules';

/** Runs an anchor script that prints one JSON line with a gflops field; null when it cannot run. */
function anchor(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): number | null {
  const g = runJsonLine(cmd, argv, { env }).result?.gflops;
  return typeof g === 'number' ? g : null;
}

const samples = new Map<string, number[]>();
const record = (key: string, v: number | null) => {
  if (v === null) return;
  if (!samples.has(key)) samples.set(key, []);
  samples.get(key)!.push(v);
};

for (let r = 0; r < rounds; r++) {
  for (const dtype of ['bf16', 'f32'] as const) {
    for (const trans of GEMM_LAYOUTS) record(`sftkit|${dtype}|${trans}`, benchGemm(m, k, n, dtype, trans, 9).gflops);
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
const rows = [...samples].map(([key, xs]) => {
  const [engine, dtype, layout] = key.split('|') as [string, string, string];
  const anchorXs = anchorOf(dtype);
  const ratio =
    anchorXs && anchorXs.length === xs.length
      ? `${(100 * median(xs.map((x, i) => x / anchorXs[i]!))).toFixed(0)}%`
      : '';
  const range = `${Math.min(...xs).toFixed(0)}..${Math.max(...xs).toFixed(0)}`;
  return [`${engine} ${dtype}`, LAYOUTS[layout] ?? layout, median(xs).toFixed(1), range, ratio];
});
process.stdout.write(
  formatTable(['engine', 'layout', 'GFLOP/s median', 'range', 'vs oneDNN (median of per-round ratios)'], rows, {
    markdown: true,
    align: ['l', 'l', 'r', 'l', 'r'],
  }),
);
