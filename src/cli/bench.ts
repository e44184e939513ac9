// `sftkit bench gemm|kernels`: throughput of the native kernels. The measuring lives in src/bench (shared with the
// scripts in bench/); this file reads the flags and prints.
import type { Command } from './command.js';
import { dtypeFlag, numberFlag } from './command.js';
import { UserError } from '../util/errors.js';
import { loadNative } from '../engine/native.js';
import { benchGemm, GEMM_LAYOUTS, type GemmLayout } from '../bench/gemm.js';
import { benchLayer, formatLayerBench } from '../bench/layer.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

function positiveInt(flags: Flags, name: string, fallback: number): number {
  const v = numberFlag(flags, name, 'bench', fallback);
  if (!Number.isInteger(v) || v < 1)
    throw new UserError(`sftkit bench: --${name} must be a positive integer, got '${String(flags[name])}'`);
  return v;
}

/** Applies --threads and --isa to the addon (both change process-wide kernel settings). */
function applyMachineFlags(flags: Flags): void {
  const addon = loadNative();
  if (flags.threads !== undefined) addon.setThreads(positiveInt(flags, 'threads', 1));
  if (typeof flags.isa === 'string') {
    try {
      addon.setIsa(flags.isa);
    } catch (e) {
      throw new UserError(`sftkit bench: --isa ${flags.isa}: ${(e as Error).message}`);
    }
  }
}

function runGemm(flags: Flags): void {
  const trans = (flags.trans ?? 'nt') as GemmLayout;
  if (!GEMM_LAYOUTS.includes(trans))
    throw new UserError(`sftkit bench: --trans must be nt, nn or tn, got '${String(trans)}'`);
  const r = benchGemm(
    positiveInt(flags, 'm', 2048),
    positiveInt(flags, 'k', 576),
    positiveInt(flags, 'n', 1536),
    dtypeFlag(flags.dtype, 'bench') ?? 'bf16',
    trans,
    positiveInt(flags, 'reps', 15),
  );
  process.stdout.write(
    flags.json
      ? JSON.stringify(r) + '\n'
      : `gemm ${r.trans} m=${r.m} k=${r.k} n=${r.n} ${r.dtype}: ${r.gflops} GFLOP/s (${r.ms} ms median, ${r.threads} threads, ${r.isa}; AMX ${String(loadNative().amxStatus())})\n`,
  );
}

function runKernels(flags: Flags): void {
  const r = benchLayer(
    positiveInt(flags, 'seq', 512),
    dtypeFlag(flags.dtype, 'bench') ?? 'bf16',
    positiveInt(flags, 'reps', 7),
  );
  process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : formatLayerBench(r));
}

export const command: Command = {
  name: 'bench',
  summary: 'Measure native kernel throughput (GEMM GFLOP/s, a SmolLM2-135M layer)',
  usage:
    'sftkit bench gemm [--m M --k K --n N --dtype bf16|f32 --trans nt|nn|tn --json]\nsftkit bench kernels [--seq 512 --dtype bf16|f32 --json]',
  positionals: true,
  flags: {
    m: { type: 'string', help: 'gemm: rows of op(A) and C', default: '2048' },
    k: { type: 'string', help: 'gemm: inner dimension', default: '576' },
    n: { type: 'string', help: 'gemm: columns of op(B) and C', default: '1536' },
    dtype: { type: 'string', help: 'operand type and compute: bf16 or f32', default: 'bf16' },
    trans: { type: 'string', help: 'gemm layout: nt = x·Wᵀ, nn = dY·W, tn = dYᵀ·X', default: 'nt' },
    seq: { type: 'string', help: 'kernels: sequence length', default: '512' },
    reps: { type: 'string', help: 'timed runs (the median is reported)' },
    threads: { type: 'string', help: 'worker threads (default: all cores, or SFTKIT_THREADS)' },
    isa: {
      type: 'string',
      help: 'force an instruction set: scalar, avx2, avx512, avx512bf16, amx (x86-64); neon, neon-bf16 (ARM64)',
    },
    json: { type: 'boolean', help: 'print one JSON object' },
  },
  async run(flags, positionals) {
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UserError(`sftkit bench: unexpected argument '${extra[0]}'`);
    if (sub !== 'gemm' && sub !== 'kernels')
      throw new UserError(`sftkit bench: expected 'gemm' or 'kernels', got '${sub ?? ''}' (see sftkit bench --help)`);
    applyMachineFlags(flags);
    if (sub === 'gemm') runGemm(flags);
    else runKernels(flags);
  },
};
