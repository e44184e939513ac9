// The model folders benchmarks run on: a `create-model` preset with random weights (the exact shapes of a real
// checkpoint), created once under the OS temp dir and reused by every later run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, type ModelPreset } from '../model/create-model.js';

export interface BenchModelOptions {
  /** num_hidden_layers override (default: the preset's). */
  layers?: number;
  /** Weight seed (default 0). */
  seed?: number;
  /** Use (and create if absent) this folder instead of the cached one. */
  dir?: string;
  /** Create it in a child process, so that the caller's peak RSS does not count the weights being written. */
  childProcess?: boolean;
}

/** The folder of `preset` (with `layers`/`seed`), created on first use; returns its path. */
export async function benchModel(preset: ModelPreset, opts: BenchModelOptions = {}): Promise<string> {
  const seed = opts.seed ?? 0;
  const dir =
    opts.dir ??
    join(tmpdir(), 'sftkit-bench-models', `${preset}${opts.layers !== undefined ? `-L${opts.layers}` : ''}-s${seed}`);
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'model.safetensors'))) {
    process.stderr.write(`creating ${dir} (create-model --preset ${preset}) ...\n`);
    const t0 = performance.now();
    const create = {
      preset,
      out: dir,
      seed,
      overwrite: true,
      ...(opts.layers !== undefined ? { configOverrides: { num_hidden_layers: opts.layers } } : {}),
    };
    if (opts.childProcess) {
      // The same module in a fresh process (under tsx when this one runs under it).
      const url = new URL('../model/create-model.js', import.meta.url).href;
      const code = `const { createModel } = await import(${JSON.stringify(url)}); await createModel(${JSON.stringify(create)});`;
      execFileSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], { stdio: 'inherit' });
    } else await createModel(create);
    process.stderr.write(`created ${dir} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  return dir;
}
