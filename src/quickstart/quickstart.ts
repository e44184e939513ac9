// `sftkit quickstart`: a real fine-tune, offline, in a few minutes on 2 cores.
//   1. a small base model that sftkit pre-trains itself on a corpus it generates (cached after the first run);
//   2. a LoRA SFT of that model on examples/quickstart/chat.jsonl with assistant-only loss;
//   3. the same held-out prompts answered before and after SFT (greedy, stopping at <|im_end|>), and eval loss.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { SftRecord } from '../data/types.js';
import { modelConfigJson, randomWeights } from '../model/create-model.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { LlamaModel } from '../model/llama.js';
import { trainByteLevelBpe } from '../tokenizer/bpe-trainer.js';
import { chatmlTokenizerFiles } from '../tokenizer/chatml-files.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { packageRoot } from '../util/paths.js';
import { UserError } from '../util/errors.js';
import { resolveConfig, type SFTConfig } from '../train/config.js';
import { DEMO_PROMPTS } from './corpus/chat-data.js';
import { generatePretrainCorpus } from './corpus/pretrain-corpus.js';
import { generate } from '../generate/generate.js';
import { formatDuration } from '../train/metrics.js';
import { SFTTrainer } from '../train/trainer.js';
import { makeDirs } from '../io/make-dirs.js';

/** The base model's shape: small enough to pre-train in about two minutes on 2 cores. */
export const BASE_MODEL_SHAPE = {
  hidden_size: 128,
  intermediate_size: 384,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 512,
} as const;
export const BASE_TOKENIZER_VOCAB = 1024;
export const CORPUS_BYTES = 320_000;
/** Bump when the corpus generator or pre-training recipe changes, so caches rebuild. */
const BASE_RECIPE_VERSION = 'v1';

export function quickstartDir(): string {
  return join(packageRoot(), 'examples', 'quickstart');
}

/** ~/.cache/sftkit (or $SFTKIT_CACHE_DIR; .cache/sftkit in the repo when the home folder is not writable). */
export function cacheRoot(): string {
  if (process.env.SFTKIT_CACHE_DIR) return process.env.SFTKIT_CACHE_DIR;
  const home = join(homedir(), '.cache', 'sftkit');
  try {
    makeDirs(home);
    return home;
  } catch {
    return join(packageRoot(), '.cache', 'sftkit');
  }
}

/** The cache key: everything that determines the base model (recipe, shape, config, the corpus itself). */
function baseRecipeKey(pretrainYaml: string, corpus: string[]): string {
  const h = createHash('sha256');
  h.update(BASE_RECIPE_VERSION);
  h.update(corpus.join('\u0000'));
  h.update(JSON.stringify(BASE_MODEL_SHAPE));
  h.update(String(BASE_TOKENIZER_VOCAB) + ':' + CORPUS_BYTES);
  h.update(pretrainYaml);
  return h.digest('hex').slice(0, 10);
}

export interface QuickstartOptions {
  outputDir?: string;
  /** Pre-train the base model again even when cached. */
  rebuildBase?: boolean;
  /** Override SFT config keys (as flags would). */
  overrides?: Record<string, unknown>;
  log?: (line: string) => void;
  /** Show training progress (default true). */
  progress?: boolean;
}

export interface DemoAnswer {
  prompt: string;
  answer: string;
  stopped: boolean;
}

export interface QuickstartResult {
  baseDir: string;
  baseFromCache: boolean;
  pretrainSeconds: number;
  sftSeconds: number;
  totalSeconds: number;
  evalLossBefore: number | null;
  evalLossAfter: number | null;
  before: DemoAnswer[];
  after: DemoAnswer[];
  outputDir: string;
}

/** Pre-train (or load from cache) the quickstart's base model; returns its folder. */
export async function ensureBaseModel(opts: {
  rebuild?: boolean;
  log: (l: string) => void;
  progress?: boolean;
}): Promise<{ dir: string; fromCache: boolean; seconds: number }> {
  const yamlPath = join(quickstartDir(), 'pretrain.yaml');
  const docs = generatePretrainCorpus({ targetBytes: CORPUS_BYTES });
  const key = baseRecipeKey(readFileSync(yamlPath, 'utf8'), docs);
  const dir = join(cacheRoot(), `quickstart-base-${key}`);
  if (!opts.rebuild && existsSync(join(dir, 'model.safetensors')) && existsSync(join(dir, 'tokenizer.json')))
    return { dir, fromCache: true, seconds: 0 };
  const started = Date.now();
  opts.log(`pre-training the quickstart base model (first run only; cached in ${dir})`);
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  const initDir = join(work, 'init');
  makeDirs(initDir);
  // Tokenizer: byte-level BPE learned on the corpus (+ ChatML special tokens), so words are few tokens.
  const files = chatmlTokenizerFiles(trainByteLevelBpe(docs.join('\n'), BASE_TOKENIZER_VOCAB));
  const vocab = Object.keys((files['tokenizer.json'] as { model: { vocab: object } }).model.vocab).length;
  const cfg = modelConfigJson('tiny', 'llama', vocab, { ...BASE_MODEL_SHAPE });
  writeFileSync(join(initDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeFileSync(
    join(initDir, 'generation_config.json'),
    JSON.stringify({ eos_token_id: 2, pad_token_id: 0 }, null, 2) + '\n',
  );
  for (const [name, content] of Object.entries(files))
    await writeFile(join(initDir, name), JSON.stringify(content, null, 2) + '\n');
  await writeSafetensors(join(initDir, 'model.safetensors'), [...randomWeights(cfg, 42)], { format: 'pt' });
  opts.log(
    `base model: ${BASE_MODEL_SHAPE.num_hidden_layers} layers, hidden ${BASE_MODEL_SHAPE.hidden_size}, vocab ${vocab}; corpus: ${docs.length} documents, ${(CORPUS_BYTES / 1000).toFixed(0)} KB`,
  );
  const records: SftRecord[] = docs.map((text, i) => ({
    kind: 'text',
    text,
    source: { file: '<generated corpus>', line: i + 1 },
  }));
  const config = resolveConfig({ file: yamlPath, flags: { output_dir: join(work, 'pretrained') } });
  const trainer = SFTTrainer.fromConfig(
    { ...config, model: initDir },
    { trainDataset: records, progress: opts.progress, log: opts.log },
  );
  const result = await trainer.train();
  if (result.interrupted) {
    rmSync(work, { recursive: true, force: true });
    throw new UserError('quickstart: interrupted during pre-training; nothing was cached (run it again to start over)');
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(join(work, 'pretrained'), dir);
  rmSync(work, { recursive: true, force: true });
  return { dir, fromCache: false, seconds: (Date.now() - started) / 1000 };
}

/** Greedy answers to chat prompts, rendered with the model's chat template. */
export function answerPrompts(model: LlamaModel, tok: Tokenizer, prompts: string[], maxNewTokens = 40): DemoAnswer[] {
  return prompts.map((prompt) => {
    const text = tok.applyChatTemplate([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    const ids = tok.encode(text, { addSpecialTokens: false }).ids;
    const stopTokenIds = tok.stopTokenIds.length ? tok.stopTokenIds : [tok.eosTokenId ?? 2];
    const g = generate(model, [ids], { maxNewTokens, stopTokenIds, doSample: false }).generations[0]!;
    const stopped = g.finishReason === 'eos';
    const shown = stopped ? g.tokenIds.slice(0, -1) : g.tokenIds;
    return { prompt, answer: tok.decode(shown, { skipSpecialTokens: false }), stopped };
  });
}

function resolveFromRoot(p: string | null): string | null {
  return p === null || isAbsolute(p) ? p : join(packageRoot(), p);
}

export async function runQuickstart(opts: QuickstartOptions = {}): Promise<QuickstartResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const started = Date.now();
  const base = await ensureBaseModel({ rebuild: opts.rebuildBase, log, progress: opts.progress });
  if (base.fromCache) log(`base model: ${base.dir} (cached)`);
  else log(`base model pre-trained in ${formatDuration(base.seconds)}`);

  const sftYaml = join(quickstartDir(), 'sft.yaml');
  const fileConfig: SFTConfig = resolveConfig({ file: sftYaml, flags: opts.overrides ?? {} });
  const config: SFTConfig = {
    ...fileConfig,
    model: base.dir,
    dataset: resolveFromRoot(fileConfig.dataset),
    eval_dataset: resolveFromRoot(fileConfig.eval_dataset),
    output_dir: opts.outputDir ?? fileConfig.output_dir,
  };
  const trainer = SFTTrainer.fromConfig(config, { progress: opts.progress, log });
  await trainer.prepare();
  const tok = trainer.tokenizer!;
  const before = answerPrompts(trainer.model!, tok, DEMO_PROMPTS);
  const evalLossBefore = await trainer.evaluate();
  log(`eval loss before SFT: ${evalLossBefore?.toFixed(4) ?? '-'}`);
  const sftStarted = Date.now();
  const result = await trainer.train();
  if (result.interrupted) log(`SFT interrupted at step ${result.steps}; answers below are from that point`);
  const sftSeconds = (Date.now() - sftStarted) / 1000;
  const after = answerPrompts(trainer.model!, tok, DEMO_PROMPTS);
  return {
    baseDir: base.dir,
    baseFromCache: base.fromCache,
    pretrainSeconds: base.seconds,
    sftSeconds,
    totalSeconds: (Date.now() - started) / 1000,
    evalLossBefore,
    evalLossAfter: result.finalEvalLoss,
    before,
    after,
    outputDir: result.outputDir,
  };
}

/** The before/after report printed at the end of the quickstart. */
export function formatQuickstartReport(r: QuickstartResult): string {
  const clip = (t: string) => (t.length > 90 ? t.slice(0, 90) + '…' : t);
  const show = (a: DemoAnswer) => `${JSON.stringify(clip(a.answer))}${a.stopped ? ' <|im_end|>' : ' (no end-of-turn)'}`;
  const lines = ['', '=== Held-out prompts, before and after SFT (greedy) ==='];
  r.before.forEach((b, i) => {
    lines.push('', `user: ${b.prompt}`, `  before: ${show(b)}`, `  after:  ${show(r.after[i]!)}`);
  });
  const stoppedBefore = r.before.filter((a) => a.stopped).length;
  const stoppedAfter = r.after.filter((a) => a.stopped).length;
  lines.push(
    '',
    `stopped at <|im_end|>: ${stoppedBefore}/${r.before.length} before, ${stoppedAfter}/${r.after.length} after`,
    `eval loss (assistant tokens of held-out conversations): ${r.evalLossBefore?.toFixed(4) ?? '-'} before -> ${r.evalLossAfter?.toFixed(4) ?? '-'} after`,
    `time: ${formatDuration(r.totalSeconds)} total (pre-training ${r.baseFromCache ? 'cached' : formatDuration(r.pretrainSeconds)}, SFT ${formatDuration(r.sftSeconds)})`,
    `adapter, metrics.jsonl, loss.svg and model card: ${r.outputDir}/`,
    `the same fine-tune by hand: npx sftkit train --config examples/quickstart/sft.yaml --model ${r.baseDir}`,
  );
  return lines.join('\n');
}
