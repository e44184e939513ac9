// LoRA with PEFT semantics: which modules it targets, its scale, and its initialisation.
// y = W x + b + scale · B (A dropout(x)), A [r, in], B [out, r]; scale = alpha / r (alpha / sqrt(r) with rsLoRA).
import { Tensor } from '../engine/index.js';
import { UserError } from '../util/errors.js';
import type { SplitMix64 } from '../util/random.js';

/** The seven projections of a Llama-family block, in PEFT/HF naming ('all-linear' = all of them, never lm_head). */
export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearModuleName = (typeof LINEAR_MODULES)[number];

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /** Module names (['q_proj', 'v_proj']), 'all-linear', or (as PEFT) one regular expression matched against full module names. */
  targetModules: string[] | string;
  useRslora: boolean;
  /** Restrict to these layer indices (PEFT layers_to_transform); null = every layer. */
  layersToTransform?: number[] | null;
}

export function loraScale(c: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora'>): number {
  return c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r;
}

export function validateLoraConfig(c: LoraConfig, source: string): void {
  if (!Number.isInteger(c.r) || c.r <= 0) throw new UserError(`${source}: r must be a positive integer, got ${c.r}`);
  if (!Number.isFinite(c.loraAlpha) || c.loraAlpha <= 0)
    throw new UserError(`${source}: lora_alpha must be a positive number, got ${c.loraAlpha}`);
  if (!(c.loraDropout >= 0 && c.loraDropout < 1))
    throw new UserError(`${source}: lora_dropout must be in [0, 1), got ${c.loraDropout}`);
  if (Array.isArray(c.targetModules)) {
    if (c.targetModules.length === 0) throw new UserError(`${source}: target_modules is empty`);
    for (const t of c.targetModules) {
      const leaf = t.split('.').pop()!;
      if (!(LINEAR_MODULES as readonly string[]).includes(leaf)) {
        throw new UserError(
          `${source}: target module '${t}' is not supported; use 'all-linear' or names from ${LINEAR_MODULES.join(', ')}`,
        );
      }
    }
  } else if (typeof c.targetModules !== 'string' || c.targetModules.length === 0) {
    throw new UserError(
      `${source}: target_modules must be a list of module names, 'all-linear', or a regular expression`,
    );
  }
}

/**
 * Whether LoRA applies to the module with full HF path `moduleName` (e.g. 'model.layers.3.self_attn.q_proj').
 * PEFT rules: a list matches the name or a '.'-suffix; a string other than 'all-linear' is a full-match regex.
 */
export function isLoraTarget(c: LoraConfig, moduleName: string, layerIndex: number): boolean {
  if (c.layersToTransform && !c.layersToTransform.includes(layerIndex)) return false;
  const t = c.targetModules;
  if (t === 'all-linear') return (LINEAR_MODULES as readonly string[]).includes(moduleName.split('.').pop()!);
  if (typeof t === 'string') return new RegExp(`^(?:${t})$`).test(moduleName);
  return t.some((name) => moduleName === name || moduleName.endsWith('.' + name));
}

/** The module names PEFT writes in adapter_config.json target_modules: the distinct leaf names, sorted. */
export function resolvedTargetNames(moduleNames: string[]): string[] {
  return [...new Set(moduleNames.map((n) => n.split('.').pop()!))].sort();
}

export class LoraAdapter {
  /** [r, in] f32, trainable. */
  readonly a: Tensor;
  /** [out, r] f32, trainable. */
  readonly b: Tensor;

  constructor(
    a: Tensor,
    b: Tensor,
    readonly scale: number,
    readonly dropout: number,
  ) {
    this.a = a;
    this.b = b;
    a.requiresGrad = true;
    b.requiresGrad = true;
  }

  get rank(): number {
    return this.a.shape[0]!;
  }

  /** PEFT's default init: A Kaiming-uniform(a=sqrt(5)) as nn.Linear (bound 1/sqrt(in)), B zeros. */
  static init(inFeatures: number, outFeatures: number, c: LoraConfig, rng: SplitMix64): LoraAdapter {
    const a = new Float32Array(c.r * inFeatures);
    rng.fillUniform(a, 1 / Math.sqrt(inFeatures));
    return new LoraAdapter(
      Tensor.from(a, [c.r, inFeatures], 'f32'),
      Tensor.zeros([outFeatures, c.r], 'f32'),
      loraScale(c),
      c.loraDropout,
    );
  }
}
