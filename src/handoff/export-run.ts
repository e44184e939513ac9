// `sftkit export-run`: write a self-contained folder that runs the same fine-tune on PyTorch (transformers
// Trainer + PEFT) under accelerate. The trainer prepares everything exactly as `sftkit train` would (data,
// masks, batch order, initial LoRA weights and token rows); this module writes it down.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { atomicDir } from '../io/atomic.js';
import { copyFolderFiles } from '../io/model-folder.js';
import { saveAdapter } from '../model/peft.js';
import { configToJSON, type SFTConfig } from '../train/config.js';
import { SFTTrainer } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { accelerateConfigs, ACCELERATE_CONFIGS } from './accelerate-configs.js';
import { writeBatchFiles, type BatchIndex } from './batch-files.js';
import { bitsAndBytesConfig, checkExportable, trainingArguments } from './config-map.js';
import { formatGpuPlan, planGpus, type GpuPlan, type PlanInput } from './gpu-plan.js';
import { LAUNCH_SH, REQUIREMENTS, runReadme } from './run-files.js';

export const RUN_FORMAT = 'sftkit-run/1';
export const RUN_JSON = 'run.json';

export interface RunJson {
  format: typeof RUN_FORMAT;
  method: 'lora' | 'full';
  /** The base model at export (absolute path); base_model/ in the run folder when copied. */
  base_model: string;
  initial_adapter: string | null;
  data: string;
  torch_dtype: 'float32' | 'bfloat16';
  training_arguments: Record<string, unknown>;
  bits_and_bytes: Record<string, unknown> | null;
  /** sftkit's config as resolved (for import-run and the record). */
  sftkit_config: Record<string, unknown>;
}

export interface ExportRunOptions {
  config: SFTConfig;
  out: string;
  configFile?: string | null;
  /** Copy the base model into RUN_DIR/base_model (default true). */
  copyModel?: boolean;
  /** GPU planning: GPUs per machine and memory per GPU (bytes). */
  gpus?: number;
  gpuMemory?: number | null;
  log?: (line: string) => void;
}

export interface ExportRunResult {
  out: string;
  steps: number;
  index: BatchIndex;
  plan: GpuPlan | null;
  planText: string | null;
}

/** Where train.py lives in the package (copied into every run folder). */
export function trainScriptPath(): string {
  return join(packageRoot(), 'src', 'handoff', 'python', 'train.py');
}

export async function exportRun(o: ExportRunOptions): Promise<ExportRunResult> {
  const c = o.config;
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const origin = o.configFile ?? 'config';
  checkExportable(c, origin);
  if (c.resume_from_checkpoint !== null && c.resume_from_checkpoint !== false)
    log('note: resume_from_checkpoint is not exported; the run starts from the initial weights');
  const out = resolve(o.out);
  if (existsSync(out) && readdirSync(out).length > 0)
    throw new UserError(`--out ${o.out}: the folder exists and is not empty; choose a new folder`);
  const trainer = SFTTrainer.fromConfig(c, { log, progress: false });
  await trainer.prepare();
  const model = trainer.model!;
  const modelDir = resolve(c.model!);
  const steps = trainer.plannedTotalSteps();
  const G = c.gradient_accumulation_steps;

  // Planning numbers, counted as the trainer counts them.
  let allParams = 0;
  for (const p of model.allParameters()) allParams += p.tensor.numel;
  for (const m of model.linears()) allParams += m.quantized?.numel ?? 0;
  const trainable = model.trainableParameters().reduce((s, p) => s + p.tensor.numel, 0);
  const mc = model.config;
  const outside = mc.vocabSize * mc.hiddenSize * (mc.tieWordEmbeddings ? 1 : 2);
  const examples = trainer.trainingExamples();
  const longest = Math.max(...examples.map((e) => e.inputIds.length));
  const planInput: PlanInput = {
    config: mc,
    allParams,
    trainableParams: trainable,
    layerParams: Math.max(0, (allParams - trainable - outside) / mc.numLayers),
    tokensPerMicroBatch: c.per_device_train_batch_size * (c.packing ? c.max_length : Math.min(c.max_length, longest)),
    gradientCheckpointing: c.gradient_checkpointing,
    bf16: c.bf16,
    load4bit: c.load_in_4bit,
    fullFinetune: c.full_finetune,
  };
  const plan = o.gpuMemory ? planGpus(planInput, o.gpus ?? 1, o.gpuMemory) : null;
  const planText = plan ? formatGpuPlan(plan, planInput) : null;

  const copyModel = o.copyModel !== false;
  const architecture = String((mc.raw.architectures as string[] | undefined)?.[0] ?? 'LlamaForCausalLM');
  let index: BatchIndex | null = null;
  await atomicDir(out, async (dir) => {
    index = await writeBatchFiles(join(dir, 'data'), trainer.plannedSteps(), {
      perStep: G,
      padTokenId: trainer.padId(),
    });
    if (!c.full_finetune) await saveAdapter(model, join(dir, 'initial_adapter'), { baseModelNameOrPath: modelDir });
    if (copyModel) copyFolderFiles(modelDir, join(dir, 'base_model'), () => true);
    const run: RunJson = {
      format: RUN_FORMAT,
      method: c.full_finetune ? 'full' : 'lora',
      base_model: modelDir,
      initial_adapter: c.full_finetune ? null : 'initial_adapter',
      data: 'data',
      torch_dtype: c.bf16 ? 'bfloat16' : 'float32',
      training_arguments: trainingArguments(c, { totalSteps: steps }),
      bits_and_bytes: bitsAndBytesConfig(c),
      sftkit_config: configToJSON(c),
    };
    writeFileSync(join(dir, RUN_JSON), JSON.stringify(run, null, 2) + '\n');
    copyFileSync(trainScriptPath(), join(dir, 'train.py'));
    const configs = accelerateConfigs({
      gpus: Math.max(2, o.gpus ?? 2),
      architecture,
      bf16: c.bf16,
      maxGradNorm: c.max_grad_norm,
    });
    mkdirSync(join(dir, 'accelerate'));
    for (const name of ACCELERATE_CONFIGS) writeFileSync(join(dir, 'accelerate', `${name}.yaml`), configs[name]);
    writeFileSync(join(dir, 'requirements.txt'), REQUIREMENTS);
    writeFileSync(join(dir, 'launch.sh'), LAUNCH_SH);
    chmodSync(join(dir, 'launch.sh'), 0o755);
    const idx = index as BatchIndex;
    writeFileSync(
      join(dir, 'README.md'),
      runReadme({
        config: c,
        configFile: o.configFile ?? null,
        steps,
        microBatches: idx.micro_batches.length,
        trainedTokens: idx.trained_tokens,
        method: c.full_finetune
          ? 'full fine-tuning'
          : `LoRA r=${c.peft.r}${c.load_in_4bit ? ' on a 4-bit base (QLoRA)' : ''}`,
        baseModel: modelDir,
        copiedModel: copyModel,
        gpuPlan: planText,
        architecture,
      }),
    );
  });
  log(`export-run: ${steps} optimizer steps, ${index!.micro_batches.length} micro-batches written to ${out}`);
  if (planText) log(planText);
  return { out, steps, index: index!, plan, planText };
}

/** Read RUN_DIR/run.json. */
export function readRunJson(runDir: string): RunJson {
  const p = join(runDir, RUN_JSON);
  if (!existsSync(p)) throw new UserError(`${runDir}: not a run folder written by sftkit export-run (no ${RUN_JSON})`);
  const run = JSON.parse(readFileSync(p, 'utf8')) as RunJson;
  if (run.format !== RUN_FORMAT) throw new UserError(`${p}: format is '${String(run.format)}', expected ${RUN_FORMAT}`);
  return run;
}
