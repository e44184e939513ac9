// Crash-consistency harness: `sftkit train` is killed with SIGKILL at random moments (at random times, inside
// checkpoint writes, inside the final save) and resumed with `resume_from_checkpoint: true` until it finishes;
// then its final adapter bytes and loss curve must equal those of an uninterrupted run with the same seed.
//
//   node --import tsx scripts/faults/kill9.ts [--kills 50] [--steps 40] [--seed 1] [--keep]
//   npm run test:faults            (the full run: >= 50 kills)   npm run test:faults -- --short   (CI: 8 kills)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createModel } from '../../src/model/create-model.js';
import { generateChatData } from '../../src/quickstart/corpus/chat-data.js';
import { Rng } from '../../src/util/random.js';
import { packageRoot } from '../../src/util/paths.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string' },
    steps: { type: 'string' },
    seed: { type: 'string', default: '1' },
    short: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const targetKills = Number(values.kills ?? (values.short ? 8 : 50));
const steps = Number(values.steps ?? (values.short ? 12 : 40));
const rng = new Rng(Number(values.seed));
const root = packageRoot();
const work = mkdtempSync(join(tmpdir(), 'sftkit-kill9-'));
const log = (s: string) => process.stdout.write(s + '\n');

type KillMode = 'random-time' | 'checkpoint-write' | 'final-save';

interface Outcome {
  /** ms from start until the first checkpoint temporary appeared (null if none did). */
  firstCheckpointMs: number | null;
  /** Temporaries of writes in progress that were in output_dir right after the kill. */
  partial: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  killedBy: KillMode | null;
  /** What the run printed: the trainer's log goes to stdout, errors to stderr. */
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run `sftkit train` once; with `mode`, SIGKILL it at a moment of that kind. */
function runTrain(config: string, outDir: string, mode: KillMode | null, delayMs: number): Promise<Outcome> {
  mkdirSync(outDir, { recursive: true });
  return new Promise((resolvePromise) => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/bin.ts'), 'train', '--config', config],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let stdout = '';
    let killedBy: KillMode | null = null;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const kill = () => {
      if (killedBy === null && child.exitCode === null) {
        killedBy = mode;
        child.kill('SIGKILL');
      }
    };
    let timer: NodeJS.Timeout | null = null;
    let firstCheckpointMs: number | null = null;
    let watcher: ReturnType<typeof watch> | null = watch(outDir, (_e, name) => {
      if (firstCheckpointMs === null && name && /^\.checkpoint-\d+\.tmp-/.test(name))
        firstCheckpointMs = Date.now() - started;
    });
    if (mode === 'random-time') timer = setTimeout(kill, delayMs);
    else if (mode !== null) {
      watcher.close();
      // Kill when the n-th temporary of the wanted kind appears in output_dir (n random, so runs progress).
      const seen = new Set<string>();
      const want = 1 + Math.floor(rng.next() * 2);
      const pattern =
        mode === 'checkpoint-write'
          ? /^\.checkpoint-\d+\.tmp-/
          : /^\.(adapter_model\.safetensors|adapter_config\.json|README\.md|trainer_state\.json)\.tmp-/;
      watcher = watch(outDir, (_e, name) => {
        if (firstCheckpointMs === null && name && /^\.checkpoint-\d+\.tmp-/.test(name))
          firstCheckpointMs = Date.now() - started;
        if (!name || !pattern.test(name) || seen.has(name)) return;
        seen.add(name);
        if (seen.size >= want) setTimeout(kill, delayMs);
      });
    }
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      watcher?.close();
      const partial = readdirSync(outDir).filter((n) => /\.tmp-\d+-[0-9a-f]{8}$/.test(n));
      resolvePromise({ code, signal, killedBy, stdout, stderr, ms: Date.now() - started, firstCheckpointMs, partial });
    });
  });
}

function writeConfig(path: string, outDir: string, modelDir: string, data: string): void {
  writeFileSync(
    path,
    [
      `model: ${modelDir}`,
      `dataset: ${data}`,
      `output_dir: ${outDir}`,
      `max_steps: ${steps}`,
      'save_strategy: steps',
      'save_steps: 1',
      'save_total_limit: 3',
      'logging_steps: 1',
      'per_device_train_batch_size: 4',
      'gradient_accumulation_steps: 2',
      'max_length: 96',
      'learning_rate: 0.003',
      'peft:',
      '  lora_dropout: 0.1',
      '  target_modules: all-linear',
      'assistant_only_loss: true',
      'seed: 5',
      'resume_from_checkpoint: true',
      '',
    ].join('\n'),
  );
}

/** The loss curve as the run reports it: every metrics.jsonl field except wall-clock speed. */
function lossCurve(outDir: string): string {
  return readFileSync(join(outDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const r = JSON.parse(l) as Record<string, unknown>;
      delete r.tokens_per_s;
      return JSON.stringify(r);
    })
    .join('\n');
}

async function main(): Promise<number> {
  const modelDir = join(work, 'tiny');
  await createModel({ preset: 'tiny', out: modelDir, seed: 7 });
  const d = generateChatData({ trainCount: 96, evalCount: 2, seed: 11 });
  const data = join(work, 'train.jsonl');
  writeFileSync(data, d.train.map((c) => JSON.stringify({ messages: c.messages })).join('\n') + '\n');

  const refOut = join(work, 'reference');
  const refCfg = join(work, 'reference.yaml');
  writeConfig(refCfg, refOut, modelDir, data);
  const ref = await runTrain(refCfg, refOut, null, 0);
  if (ref.code !== 0) {
    log(`reference run failed (exit ${ref.code}):\n${ref.stderr}`);
    return 1;
  }
  // Random kill times spread from before the first checkpoint to about three steps after it, so that every
  // resumed process gets a little further and one run takes many kills.
  const firstCk = ref.firstCheckpointMs ?? ref.ms / 2;
  const stepMs = (ref.ms - firstCk) / steps;
  log(
    `reference run: ${steps} steps in ${(ref.ms / 1000).toFixed(1)} s (first checkpoint after ${(firstCk / 1000).toFixed(1)} s, ~${stepMs.toFixed(0)} ms a step)`,
  );
  const refAdapter = readFileSync(join(refOut, 'adapter_model.safetensors'));
  const refCurve = lossCurve(refOut);

  let kills = 0;
  let rounds = 0;
  let failures = 0;
  const byMode: Record<KillMode, number> = { 'random-time': 0, 'checkpoint-write': 0, 'final-save': 0 };
  let cleanupMessages = 0;
  let partialKills = 0;
  while (kills < targetKills) {
    rounds++;
    const out = join(work, `killed-${rounds}`);
    const cfg = join(work, `killed-${rounds}.yaml`);
    writeConfig(cfg, out, modelDir, data);
    let resumes = 0;
    for (;;) {
      // Mostly random moments; a share aimed at checkpoint writes and at the final save.
      const r = rng.next();
      const mode: KillMode = r < 0.5 ? 'random-time' : r < 0.85 ? 'checkpoint-write' : 'final-save';
      const delay = mode === 'random-time' ? Math.floor(firstCk * 0.7 + rng.next() * (firstCk * 0.3 + 3 * stepMs)) : 0;
      const o = await runTrain(cfg, out, kills < targetKills ? mode : null, delay);
      if (/removed \.checkpoint-\d+\.tmp-|removed \.[^ ]+\.tmp-/.test(o.stdout + o.stderr)) cleanupMessages++;
      if (o.killedBy !== null && o.signal === 'SIGKILL') {
        kills++;
        byMode[o.killedBy]++;
        if (o.partial.length > 0) partialKills++;
        resumes++;
        continue;
      }
      if (o.code !== 0) {
        log(`round ${rounds}: a resumed run failed (exit ${o.code}, signal ${o.signal}):\n${o.stderr}`);
        return 1;
      }
      break;
    }
    const adapter = readFileSync(join(out, 'adapter_model.safetensors'));
    const exact = Buffer.compare(adapter, refAdapter) === 0;
    const curve = lossCurve(out) === refCurve;
    const leftovers = readdirSync(out).filter((n) => n.startsWith('.'));
    log(
      `round ${rounds}: ${resumes} kills and resumes; adapter ${exact ? 'identical' : 'DIFFERENT'}; loss curve ${curve ? 'identical' : 'DIFFERENT'}; leftover temporaries: ${leftovers.length ? leftovers.join(', ') : 'none'}`,
    );
    if (!exact || !curve || leftovers.length > 0) failures++;
  }
  log(
    `kills: ${kills} (random time ${byMode['random-time']}, inside a checkpoint write ${byMode['checkpoint-write']}, inside the final save ${byMode['final-save']}) over ${rounds} run(s); ` +
      `kills that left a partly written file or checkpoint behind: ${partialKills}; resumed runs that removed such leftovers with a message: ${cleanupMessages}; rounds not exact: ${failures}`,
  );
  return failures === 0 ? 0 : 1;
}

main()
  .then((code) => {
    if (!values.keep) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
    process.exitCode = code;
  })
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
