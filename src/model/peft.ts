// PEFT adapter files: adapter_config.json + adapter_model.safetensors, read and written exactly as Python PEFT
// does for LoRA on a causal LM, so adapters move freely between sftkit and transformers/PEFT.
// Everything is validated (config fields, tensor names, shapes) before any tensor is attached.
import { existsSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/atomic.js';
import { join } from 'node:path';
import { Tensor } from '../engine/index.js';
import { SafetensorsFile, writeSafetensors, type StWriteTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import type { LlamaModel } from './llama.js';
import { LoraAdapter, loraScale, resolvedTargetNames, validateLoraConfig, type LoraConfig } from './lora.js';
import { parseTrainableTokenIndices, TokenRowsAdapter, tokenRowsKey } from './token-rows.js';
import { readJsonFile } from '../util/json.js';
import { makeDirs } from '../io/make-dirs.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** PEFT's key for a LoRA matrix of the module with HF path `moduleName`. */
export function peftKey(moduleName: string, which: 'A' | 'B'): string {
  return `base_model.model.${moduleName}.lora_${which}.weight`;
}

/** Parse and validate adapter_config.json (PEFT LoRA fields); unsupported features fail with the field name. */
export function parseAdapterConfig(json: unknown, source: string): LoraConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UserError(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  const fail = (field: string, why: string): never => {
    throw new UserError(`${source}: ${field} ${why}`);
  };
  if (o.peft_type !== undefined && o.peft_type !== 'LORA')
    fail('peft_type', `is ${JSON.stringify(o.peft_type)}; only "LORA" adapters are supported`);
  if (o.task_type !== undefined && o.task_type !== null && o.task_type !== 'CAUSAL_LM')
    fail('task_type', `is ${JSON.stringify(o.task_type)}; only "CAUSAL_LM" is supported`);
  const num = (field: string, fallback: number): number => {
    const v = o[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const r = num('r', 8);
  const loraAlpha = num('lora_alpha', 8);
  const loraDropout = num('lora_dropout', 0);
  if (o.bias !== undefined && o.bias !== 'none') fail('bias', `is ${JSON.stringify(o.bias)}; only "none" is supported`);
  if (o.use_dora) fail('use_dora', 'is true; DoRA is not supported');
  if (o.fan_in_fan_out) fail('fan_in_fan_out', 'is true; Llama-family linears are never transposed');
  if (Array.isArray(o.modules_to_save) && o.modules_to_save.length > 0)
    fail('modules_to_save', `(${JSON.stringify(o.modules_to_save)}) is not supported`);
  for (const f of ['rank_pattern', 'alpha_pattern']) {
    const v = o[f];
    if (v && typeof v === 'object' && Object.keys(v).length > 0)
      fail(f, 'is not empty; per-module ranks/alphas are not supported');
  }
  const rs = o.use_rslora ?? false;
  if (typeof rs !== 'boolean') fail('use_rslora', `must be true or false, got ${JSON.stringify(rs)}`);
  let targetModules: string[] | string;
  const t = o.target_modules;
  if (typeof t === 'string') targetModules = t;
  else if (Array.isArray(t) && t.every((x) => typeof x === 'string')) targetModules = t as string[];
  else return fail('target_modules', `must be a list of module names or a string, got ${JSON.stringify(t)}`);
  let layersToTransform: number[] | null = null;
  const lt = o.layers_to_transform;
  if (typeof lt === 'number') layersToTransform = [lt];
  else if (Array.isArray(lt) && lt.every((x) => Number.isInteger(x))) layersToTransform = lt as number[];
  else if (lt !== undefined && lt !== null)
    fail('layers_to_transform', `must be a layer index or a list of them, got ${JSON.stringify(lt)}`);
  const c: LoraConfig = { r, loraAlpha, loraDropout, targetModules, useRslora: rs as boolean, layersToTransform };
  validateLoraConfig(c, source);
  return c;
}

export function readAdapterConfig(dir: string): LoraConfig {
  const { json, path } = readAdapterJson(dir);
  return parseAdapterConfig(json, path);
}

/** adapter_config.json parsed but not validated (with its path, for messages). */
export function readAdapterJson(dir: string): { json: unknown; path: string } {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path)) throw new UserError(`${dir}: not a PEFT adapter folder (no ${ADAPTER_CONFIG})`);
  return { json: readJsonFile(path, 'adapter config'), path };
}

/**
 * Load a PEFT LoRA adapter (written by sftkit or Python PEFT) onto `model`: checks every expected key and shape,
 * rejects unexpected keys, then attaches the adapters (trainable, f32) and freezes the base weights. Trained
 * token rows (`trainable_token_indices`) are written into the embedding / LM head (model.tokenRows).
 */
export function loadAdapter(model: LlamaModel, dir: string): LoraConfig {
  const raw = readAdapterJson(dir);
  const cfg = parseAdapterConfig(raw.json, raw.path);
  const rowIndices = parseTrainableTokenIndices(
    (raw.json as Record<string, unknown>).trainable_token_indices,
    raw.path,
    model,
  );
  const path = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(path)) {
    const hint = existsSync(join(dir, 'adapter_model.bin'))
      ? ' (adapter_model.bin is a pickle; re-save it with safe_serialization=True)'
      : '';
    throw new UserError(`${dir}: missing ${ADAPTER_WEIGHTS}${hint}`);
  }
  let targets: ReturnType<LlamaModel['loraTargets']>;
  try {
    targets = model.loraTargets(cfg);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${join(dir, ADAPTER_CONFIG)}: ${e.message}`, { cause: e });
    throw e;
  }
  const st = SafetensorsFile.open(path);
  try {
    const problems: string[] = [];
    const expected = new Set<string>();
    for (const m of targets) {
      for (const [which, shape] of [
        ['A', [cfg.r, m.inFeatures]],
        ['B', [m.outFeatures, cfg.r]],
      ] as const) {
        const key = peftKey(m.name, which);
        expected.add(key);
        const info = st.tensors.get(key);
        if (!info) problems.push(`missing tensor ${key} [${shape.join(', ')}]`);
        else if (info.shape.length !== 2 || info.shape[0] !== shape[0] || info.shape[1] !== shape[1]) {
          problems.push(
            `tensor ${key} has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] (r=${cfg.r})`,
          );
        }
      }
    }
    const rowShapes: [string, number][] = [];
    if (rowIndices && rowIndices.embed.length > 0)
      rowShapes.push([tokenRowsKey('model.embed_tokens'), rowIndices.embed.length]);
    if (rowIndices?.head) rowShapes.push([tokenRowsKey('lm_head'), rowIndices.head.length]);
    for (const [key, n] of rowShapes) {
      const D = model.config.hiddenSize;
      expected.add(key);
      const info = st.tensors.get(key);
      if (!info) problems.push(`missing tensor ${key} [${n}, ${D}] (adapter_config.json has trainable_token_indices)`);
      else if (info.shape.length !== 2 || info.shape[0] !== n || info.shape[1] !== D)
        problems.push(
          `tensor ${key} has shape [${info.shape.join(', ')}], expected [${n}, ${D}] (one row per trainable token index)`,
        );
    }
    for (const key of st.tensors.keys())
      if (!expected.has(key))
        problems.push(`unexpected tensor ${key} (not a LoRA matrix of a targeted module of this model)`);
    if (problems.length > 0) {
      throw new UserError(
        `${path}: does not fit the model and ${ADAPTER_CONFIG}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`,
      );
    }
    const scale = loraScale(cfg);
    for (const m of targets) {
      const a = Tensor.from(st.readF32(peftKey(m.name, 'A'), { finite: true }), [cfg.r, m.inFeatures], 'f32');
      const b = Tensor.from(st.readF32(peftKey(m.name, 'B'), { finite: true }), [m.outFeatures, cfg.r], 'f32');
      m.lora = new LoraAdapter(a, b, scale, cfg.loraDropout);
    }
    if (rowIndices) {
      const embedRows =
        rowIndices.embed.length > 0
          ? st.readF32(tokenRowsKey('model.embed_tokens'), { finite: true })
          : new Float32Array(0);
      TokenRowsAdapter.attachLoaded(
        model,
        rowIndices,
        embedRows,
        rowIndices.head ? st.readF32(tokenRowsKey('lm_head'), { finite: true }) : null,
      );
    }
  } finally {
    st.close();
  }
  model.lora = cfg;
  model.freezeBase();
  return cfg;
}

/** adapter_config.json content as PEFT writes it (all its LoRA fields; keys sorted by the writer). */
export function adapterConfigJson(
  cfg: LoraConfig,
  moduleNames: string[],
  baseModelNameOrPath: string | null,
): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: cfg.layersToTransform ?? null,
    lora_alpha: cfg.loraAlpha,
    lora_dropout: cfg.loraDropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: {},
    revision: null,
    // PEFT keeps a regex as written and expands 'all-linear' (and lists) to the sorted module names.
    target_modules:
      typeof cfg.targetModules === 'string' && cfg.targetModules !== 'all-linear'
        ? cfg.targetModules
        : resolvedTargetNames(moduleNames),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: cfg.useRslora,
  };
}

/** JSON with object keys sorted at every level and 2-space indent (Python's json.dumps(sort_keys=True, indent=2)). */
export function sortedJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (x && typeof x === 'object')
      return Object.fromEntries(
        Object.keys(x)
          .sort()
          .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
      );
    return x;
  };
  return JSON.stringify(sort(v), null, 2) + '\n';
}

/** Write the model's LoRA adapters (and trained token rows, model.tokenRows) to `dir` in PEFT's format (F32 tensors). */
export async function saveAdapter(
  model: LlamaModel,
  dir: string,
  opts: { baseModelNameOrPath?: string | null } = {},
): Promise<void> {
  const cfg = model.lora;
  const modules = model.linears().filter((m) => m.lora);
  if (!cfg || modules.length === 0) throw new Error('saveAdapter: the model has no LoRA adapters attached');
  makeDirs(dir);
  const tensors: StWriteTensor[] = [];
  for (const m of modules) {
    for (const [which, t] of [
      ['A', m.lora!.a],
      ['B', m.lora!.b],
    ] as const) {
      tensors.push({ name: peftKey(m.name, which), dtype: 'F32', shape: [...t.shape], data: t.toF32() });
    }
  }
  const json = adapterConfigJson(
    cfg,
    modules.map((m) => m.name),
    opts.baseModelNameOrPath ?? null,
  );
  if (model.tokenRows) {
    for (const p of model.tokenRows.parameters())
      tensors.push({ name: p.name, dtype: 'F32', shape: [...p.tensor.shape], data: p.tensor.toF32() });
    json.trainable_token_indices = model.tokenRows.adapterConfigField();
  }
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeFileAtomicSync(join(dir, ADAPTER_CONFIG), sortedJson(json));
}
