// The Llama family (Llama, Mistral, Qwen2, Qwen3, Gemma 3 text) as one model driven by config flags, with HF
// semantics. Qwen3 adds per-head q/k norms; Gemma 3 adds scaled embeddings, (1 + w) norms, four norms per block,
// GeGLU, sliding-window layers with their own RoPE base and optional final logit soft-capping.
//
// How to use it (trainer, generation, export):
//   const model = LlamaModel.load(dir, { dtype: 'bf16' });   // weights by HF names, sharded or not
//   model.attachLora(loraConfig, seed)  |  loadAdapter(model, adapterDir)  |  model.enableFullFineTuning()
//   const { loss, targets } = model.lossAndBackward(batch, { normalizer, ctx, inputEmbeddings })  // grads accumulate
//   model.trainableParameters()  // [{ name, tensor }]: PEFT key names for LoRA, HF names for full FT
//   model.logits(batch)          // [B*T, V] under noGrad, dropout off
// A KV-cache generator reuses the same weights and block pieces instead of forward():
//   x = model.embed(ids); per layer i: { q, k, v } = model.qkv(i, x, positions, ctx)  (normed, projected, RoPE'd,
//   [N, H*hd] / [N, Hkv*hd]); append k, v to the cache; attn = attention over the cache (scale model.attentionScale);
//   x = model.finishLayer(i, x, attn, ctx)  (o_proj + residual + MLP + residual); then model.finalNorm(x) and
//   logits(hidden, model.lmHead). model.config is the parsed HF config; model.layers holds every Linear by HF name.
import {
  add,
  attention,
  backward,
  checkpoint,
  embedding,
  geglu,
  isGradEnabled,
  lmHeadCrossEntropy,
  logits as headLogits,
  mulScalar,
  noGrad,
  rmsnorm,
  rope,
  softcap,
  swiglu,
  Tensor,
  type FloatDType,
  reshape,
} from '../engine/index.js';
import { f32ToBf16Bits } from '../io/float-bits.js';
import { loadLlamaConfig, type LlamaConfig } from '../io/hf-config.js';
import { loadQuantizedLinear, type QuantizeOptions } from '../quant/load.js';
import { SafetensorsModel } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { positionsOf, segmentIdsOf, trainedRows, type ModelBatch } from './batch.js';
import { freeIfNoGrad, Linear, type ForwardContext } from './linear.js';
import { isLoraTarget, LoraAdapter, validateLoraConfig, type LoraConfig } from './lora.js';
import { SplitMix64 } from '../util/random.js';
import { RopeCache } from './rope.js';
import type { TokenRowsAdapter } from './token-rows.js';

export interface LoadOptions {
  /** 'bf16': frozen weights stored as bf16 and GEMMs computed in bf16 (f32 accumulation). Default 'f32'. */
  dtype?: FloatDType;
  /** QLoRA: store the seven projections of every layer in 4 bits (pre-quantized folders load as 4-bit regardless). */
  quantize?: QuantizeOptions | null;
}

/** How a loss is computed: its normalizer and the forward's context and inputs. */
export interface LossOptions {
  /** The loss is Σ CE / normalizer (default: this batch's trained-target count, i.e. the mean). */
  normalizer?: number;
  /** Dropout on (default: on for lossAndBackward, off for loss); ignored when `ctx` is given. */
  training?: boolean;
  /** The forward context (dropout on/off and its seeds); default forwardContext(training). */
  ctx?: ForwardContext;
  /** [B*T, D] used instead of the token embeddings (NEFTune noise, soft prompts). */
  inputEmbeddings?: Tensor;
}

export interface NamedParameter {
  name: string;
  tensor: Tensor;
}

export interface LlamaLayer {
  index: number;
  inputNorm: Tensor; // [D]
  /** post_attention_layernorm: before the MLP (Llama), or on the attention output (Gemma 3). */
  postNorm: Tensor; // [D]
  /** Qwen3 / Gemma 3: q_norm, k_norm [headDim]. */
  qNorm: Tensor | null;
  kNorm: Tensor | null;
  /** Gemma 3: pre_feedforward_layernorm, post_feedforward_layernorm [D]. */
  preFfnNorm: Tensor | null;
  postFfnNorm: Tensor | null;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  gate: Linear;
  up: Linear;
  down: Linear;
}

/** The seven Linear modules of a layer, in HF order. */
export function layerLinears(l: LlamaLayer): Linear[] {
  return [l.q, l.k, l.v, l.o, l.gate, l.up, l.down];
}

/**
 * One decoder block under checkpoint(): the dropout seeds it draws on the first run are replayed on the
 * recompute, so backward sees the very masks the forward used.
 */
function checkpointBlock(block: (x: Tensor, ctx: ForwardContext) => Tensor, x: Tensor, ctx: ForwardContext): Tensor {
  const seeds: number[] = [];
  let drawn = 0;
  const replay: ForwardContext = {
    ...ctx,
    nextSeed: () => {
      if (drawn === seeds.length) seeds.push(ctx.nextSeed());
      return seeds[drawn++]!;
    },
  };
  return checkpoint((input) => {
    drawn = 0;
    return block(input, replay);
  }, x);
}

export class LlamaModel {
  readonly ropeCache: RopeCache;
  /** Gemma 3's sliding-window layers: RoPE with rope_local_base_freq, unscaled (null when every layer is global). */
  readonly localRopeCache: RopeCache | null;
  /** GEMM precision for every linear (base and LoRA) and the LM head. */
  compute: FloatDType;
  /** The LoRA configuration attached (null without LoRA). */
  lora: LoraConfig | null = null;
  /** Adapted embedding / LM-head rows (PEFT trainable_token_indices), already written into the tables. */
  tokenRows: TokenRowsAdapter | null = null;
  /** Recompute each decoder block in backward instead of keeping its activations (training forwards only). */
  gradientCheckpointing = false;
  private dropoutSeeds = new SplitMix64(0x5eed);

  constructor(
    readonly config: LlamaConfig,
    public embedTokens: Tensor, // [V, D]
    readonly layers: LlamaLayer[],
    public norm: Tensor, // [D]
    /** [V, D]; the very same Tensor as embedTokens when tied. */
    public lmHead: Tensor,
    readonly dtype: FloatDType,
  ) {
    this.ropeCache = new RopeCache(config);
    this.localRopeCache =
      config.ropeLocalTheta !== null
        ? new RopeCache({ ...config, ropeTheta: config.ropeLocalTheta, ropeScaling: null })
        : null;
    this.compute = dtype;
  }

  get tied(): boolean {
    return this.lmHead === this.embedTokens;
  }

  get attentionScale(): number {
    return this.config.attentionScale;
  }

  /** The sliding window of layer i (null: full causal attention). */
  attentionWindow(i: number): number | null {
    return this.config.layerWindows[i] ?? null;
  }

  /** RMSNorm as the family defines it (Gemma 3: scale 1 + w). */
  private norm_(x: Tensor, w: Tensor): Tensor {
    return rmsnorm(x, w, this.config.rmsNormEps, this.config.normOffset);
  }

  /** Load config.json and the weights (model.safetensors or a sharded index) from an HF folder. */
  static load(dir: string, opts: LoadOptions = {}): LlamaModel {
    const config = loadLlamaConfig(dir);
    const st = SafetensorsModel.open(dir);
    try {
      return LlamaModel.fromSafetensors(config, st, dir, opts.dtype ?? 'f32', opts.quantize ?? null);
    } finally {
      st.close();
    }
  }

  static fromSafetensors(
    config: LlamaConfig,
    st: SafetensorsModel,
    source: string,
    dtype: FloatDType,
    quantize: QuantizeOptions | null = null,
  ): LlamaModel {
    const c = config;
    const D = c.hiddenSize;
    const hd = c.headDim;
    const problems: string[] = [];
    // One line naming the first problems; thrown early once there are many (a config.json that asks for a
    // million layers is refused at once, not after a million lookups).
    const mismatch = () =>
      new UserError(
        `${source}: the weights do not match config.json: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length >= 20 ? 'more' : problems.length - 3 + ' more'}` : ''}`,
      );
    const expectShape = (name: string, shape: number[]): boolean => {
      const info = st.tensors.get(name);
      if (!info) problems.push(`missing tensor ${name} [${shape.join(', ')}]`);
      else if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
        problems.push(
          `tensor ${name} has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] from config.json`,
        );
      else return true;
      if (problems.length >= 20) throw mismatch();
      return false;
    };
    // Weights that GEMMs read may be bf16; vectors (norms, biases) stay f32.
    // A tensor that does not match gets an empty placeholder (nothing the size config.json claims is allocated).
    const matrix = (name: string, shape: number[]): Tensor =>
      !expectShape(name, shape)
        ? Tensor.zeros([0, 0])
        : dtype === 'bf16'
          ? Tensor.from(st.readBF16(name, { finite: true }), shape, 'bf16')
          : Tensor.from(st.readF32(name, { finite: true }), shape, 'f32');
    const vector = (name: string, n: number): Tensor =>
      !expectShape(name, [n]) ? Tensor.zeros([0]) : Tensor.from(st.readF32(name, { finite: true }), [n], 'f32');
    const lin = (name: string, out: number, inp: number, biasRequired: boolean): Linear => {
      const hasBias = st.has(`${name}.bias`);
      if (biasRequired && !hasBias)
        problems.push(`missing tensor ${name}.bias [${out}] (config says the projection has a bias)`);
      const q = loadQuantizedLinear(st, name, out, inp, quantize, c.raw);
      if (q)
        return Object.assign(new Linear(name, Tensor.zeros([out, 0]), hasBias ? vector(`${name}.bias`, out) : null), {
          quantized: q,
        });
      return new Linear(name, matrix(`${name}.weight`, [out, inp]), hasBias ? vector(`${name}.bias`, out) : null);
    };

    const embedTokens = matrix('model.embed_tokens.weight', [c.vocabSize, D]);
    const layers: LlamaLayer[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        index: i,
        inputNorm: vector(`${p}.input_layernorm.weight`, D),
        postNorm: vector(`${p}.post_attention_layernorm.weight`, D),
        qNorm: c.qkNorm ? vector(`${p}.self_attn.q_norm.weight`, hd) : null,
        kNorm: c.qkNorm ? vector(`${p}.self_attn.k_norm.weight`, hd) : null,
        preFfnNorm: c.sandwichNorms ? vector(`${p}.pre_feedforward_layernorm.weight`, D) : null,
        postFfnNorm: c.sandwichNorms ? vector(`${p}.post_feedforward_layernorm.weight`, D) : null,
        q: lin(`${p}.self_attn.q_proj`, c.numHeads * hd, D, c.attentionBias),
        k: lin(`${p}.self_attn.k_proj`, c.numKvHeads * hd, D, c.attentionBias),
        v: lin(`${p}.self_attn.v_proj`, c.numKvHeads * hd, D, c.attentionBias),
        o: lin(`${p}.self_attn.o_proj`, D, c.numHeads * hd, false),
        gate: lin(`${p}.mlp.gate_proj`, c.intermediateSize, D, c.mlpBias),
        up: lin(`${p}.mlp.up_proj`, c.intermediateSize, D, c.mlpBias),
        down: lin(`${p}.mlp.down_proj`, D, c.intermediateSize, c.mlpBias),
      });
    }
    const norm = vector('model.norm.weight', D);
    // As the reference: an lm_head.weight in the file is used; otherwise the head is the embedding (tied).
    let lmHead = embedTokens;
    if (st.has('lm_head.weight')) lmHead = matrix('lm_head.weight', [c.vocabSize, D]);
    else if (!c.tieWordEmbeddings)
      problems.push(`missing tensor lm_head.weight [${c.vocabSize}, ${D}] (config.json has tie_word_embeddings false)`);
    if (problems.length > 0) throw mismatch();
    return new LlamaModel(c, embedTokens, layers, norm, lmHead, dtype);
  }

  /** Every Linear of every layer (HF order). */
  linears(): Linear[] {
    return this.layers.flatMap(layerLinears);
  }

  /** Every base parameter once (tied head not repeated), by HF name. */
  baseParameters(): NamedParameter[] {
    const out: NamedParameter[] = [{ name: 'model.embed_tokens.weight', tensor: this.embedTokens }];
    for (const l of this.layers) {
      const p = `model.layers.${l.index}`;
      out.push({ name: `${p}.input_layernorm.weight`, tensor: l.inputNorm });
      for (const m of layerLinears(l).slice(0, 4)) {
        out.push({ name: `${m.name}.weight`, tensor: m.weight });
        if (m.bias) out.push({ name: `${m.name}.bias`, tensor: m.bias });
      }
      if (l.qNorm) out.push({ name: `${p}.self_attn.q_norm.weight`, tensor: l.qNorm });
      if (l.kNorm) out.push({ name: `${p}.self_attn.k_norm.weight`, tensor: l.kNorm });
      out.push({ name: `${p}.post_attention_layernorm.weight`, tensor: l.postNorm });
      if (l.preFfnNorm) out.push({ name: `${p}.pre_feedforward_layernorm.weight`, tensor: l.preFfnNorm });
      for (const m of layerLinears(l).slice(4)) {
        out.push({ name: `${m.name}.weight`, tensor: m.weight });
        if (m.bias) out.push({ name: `${m.name}.bias`, tensor: m.bias });
      }
      if (l.postFfnNorm) out.push({ name: `${p}.post_feedforward_layernorm.weight`, tensor: l.postFfnNorm });
    }
    out.push({ name: 'model.norm.weight', tensor: this.norm });
    if (!this.tied) out.push({ name: 'lm_head.weight', tensor: this.lmHead });
    return out;
  }

  /** LoRA tensors by PEFT key name (base_model.model.<module>.lora_A.weight / lora_B.weight). */
  loraParameters(): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const m of this.linears()) {
      if (!m.lora) continue;
      out.push({ name: `base_model.model.${m.name}.lora_A.weight`, tensor: m.lora.a });
      out.push({ name: `base_model.model.${m.name}.lora_B.weight`, tensor: m.lora.b });
    }
    return out;
  }

  /** Every parameter once: base then LoRA. */
  allParameters(): NamedParameter[] {
    return [...this.baseParameters(), ...this.loraParameters()];
  }

  /** The parameters the optimizer updates (requiresGrad), with their dump/checkpoint names. */
  trainableParameters(): NamedParameter[] {
    return this.allParameters().filter((p) => p.tensor.requiresGrad);
  }

  zeroGrad(): void {
    for (const p of this.trainableParameters()) p.tensor.zeroGrad();
  }

  /**
   * Attach fresh LoRA adapters (PEFT init: A Kaiming-uniform, B zeros; deterministic from `seed`) to the
   * targeted linears and freeze every base weight.
   */
  attachLora(c: LoraConfig, seed: number): Linear[] {
    validateLoraConfig(c, 'LoRA config');
    const rng = new SplitMix64(seed);
    const targets = this.loraTargets(c);
    for (const m of targets) m.lora = LoraAdapter.init(m.inFeatures, m.outFeatures, c, rng);
    this.lora = c;
    this.dropoutSeeds = new SplitMix64(BigInt(seed) ^ 0xd20b0a7n);
    this.freezeBase();
    return targets;
  }

  /** The linears a LoRA config targets; fails when it matches none. */
  loraTargets(c: LoraConfig): Linear[] {
    const targets = this.layers.flatMap((l) => layerLinears(l).filter((m) => isLoraTarget(c, m.name, l.index)));
    if (targets.length === 0)
      throw new UserError(
        `LoRA target_modules ${JSON.stringify(c.targetModules)} match no module of this model (modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)`,
      );
    return targets;
  }

  freezeBase(): void {
    for (const p of this.baseParameters()) p.tensor.requiresGrad = false;
  }

  /** Full fine-tuning: every base parameter trainable in f32 (bf16 storage is widened; the tied head once). */
  enableFullFineTuning(): void {
    const widen = (t: Tensor): Tensor => (t.dtype === 'f32' ? t : Tensor.from(t.toF32(), t.shape, 'f32'));
    const wasTied = this.tied;
    this.embedTokens = widen(this.embedTokens);
    this.lmHead = wasTied ? this.embedTokens : widen(this.lmHead);
    for (const m of this.linears()) m.weight = widen(m.weight);
    for (const p of this.baseParameters()) p.tensor.requiresGrad = true;
  }

  /** The context a forward needs: compute precision, dropout on/off, dropout seeds. */
  forwardContext(training: boolean): ForwardContext {
    return { compute: this.compute, training, nextSeed: () => this.dropoutSeeds.nextU32() };
  }

  // ---- block pieces (shared with KV-cache generation) ----

  /** Token embeddings [N, D] (Gemma 3: times sqrt(hidden_size) rounded to the table's dtype, as HF does). */
  embed(ids: Int32Array): Tensor {
    const x = embedding(this.embedTokens, ids);
    const s = this.config.embedScale;
    if (s === null) return x;
    const scale = this.embedTokens.dtype === 'bf16' ? bf16Round(s) : Math.fround(s);
    const out = mulScalar(x, scale);
    freeIfNoGrad(x);
    return out;
  }

  /** RMSNorm, projections, q/k norms (Qwen3, Gemma 3) and RoPE of layer i: q [N, H*hd], k and v [N, Hkv*hd]. */
  qkv(i: number, x: Tensor, positions: Int32Array, ctx: ForwardContext): { q: Tensor; k: Tensor; v: Tensor } {
    const c = this.config;
    const l = this.layers[i]!;
    const h = this.norm_(x, l.inputNorm);
    let maxPos = 0;
    for (const p of positions) if (p > maxPos) maxPos = p;
    const cache = this.localRopeCache && this.attentionWindow(i) !== null ? this.localRopeCache : this.ropeCache;
    const table = cache.get(maxPos);
    let qRaw = l.q.forward(h, ctx);
    let kRaw = l.k.forward(h, ctx);
    const v = l.v.forward(h, ctx);
    freeIfNoGrad(h);
    if (l.qNorm && l.kNorm) {
      qRaw = this.headNorm(qRaw, l.qNorm);
      kRaw = this.headNorm(kRaw, l.kNorm);
    }
    const q = rope(qRaw, positions, c.numHeads, c.headDim, table);
    const k = rope(kRaw, positions, c.numKvHeads, c.headDim, table);
    freeIfNoGrad(qRaw, kRaw);
    return { q, k, v };
  }

  /** RMSNorm over head_dim of every head of x [N, heads·hd] (frees x outside training). */
  private headNorm(x: Tensor, w: Tensor): Tensor {
    const hd = this.config.headDim;
    const heads = reshape(x, [-1, hd]);
    const normed = this.norm_(heads, w);
    const out = reshape(normed, x.shape);
    freeIfNoGrad(heads, normed, x);
    return out;
  }

  /**
   * o_proj (+ Gemma's post-attention norm) + residual, then the pre-MLP norm, the gated MLP (SwiGLU, or GeGLU for
   * Gemma 3; + Gemma's post-feedforward norm) + residual: the rest of layer i after attention.
   */
  finishLayer(i: number, x: Tensor, attn: Tensor, ctx: ForwardContext): Tensor {
    const l = this.layers[i]!;
    const sandwich = this.config.sandwichNorms;
    let o = l.o.forward(attn, ctx);
    if (sandwich) {
      const normed = this.norm_(o, l.postNorm);
      freeIfNoGrad(o);
      o = normed;
    }
    const x1 = add(x, o);
    const h = this.norm_(x1, sandwich ? l.preFfnNorm! : l.postNorm);
    const gate = l.gate.forward(h, ctx);
    const up = l.up.forward(h, ctx);
    const act = this.config.hiddenAct === 'gelu_pytorch_tanh' ? geglu(gate, up) : swiglu(gate, up);
    freeIfNoGrad(o, h, gate, up);
    let mlp = l.down.forward(act, ctx);
    if (sandwich) {
      const normed = this.norm_(mlp, l.postFfnNorm!);
      freeIfNoGrad(mlp);
      mlp = normed;
    }
    const out = add(x1, mlp);
    freeIfNoGrad(act, mlp, x1);
    return out;
  }

  finalNorm(x: Tensor): Tensor {
    return this.norm_(x, this.norm);
  }

  /** Logits [N, V] of final hidden states (Gemma: soft-capped when the config says so). */
  headLogits(h: Tensor): Tensor {
    const raw = headLogits(h, this.lmHead, { compute: this.compute });
    const cap = this.config.finalLogitSoftcap;
    if (cap === null) return raw;
    const out = softcap(raw, cap);
    freeIfNoGrad(raw);
    return out;
  }

  /**
   * Final hidden states [B*T, D] (after the last RMSNorm). `inputEmbeddings` [B*T, D] replaces the token
   * embeddings (as mlx-lm's `input_embeddings`): a trainer adds NEFTune noise to `embed(ids)` and passes it here.
   */
  hidden(b: ModelBatch, ctx: ForwardContext, inputEmbeddings?: Tensor): Tensor {
    const c = this.config;
    if (b.inputIds.length !== b.batch * b.seq)
      throw new Error(`batch: inputIds has ${b.inputIds.length} entries, expected ${b.batch}x${b.seq}`);
    const positions = positionsOf(b);
    const segmentIds = segmentIdsOf(b);
    let x = inputEmbeddings ?? this.embed(b.inputIds);
    for (let i = 0; i < this.layers.length; i++) {
      const block = (input: Tensor, blockCtx: ForwardContext): Tensor => {
        const { q, k, v } = this.qkv(i, input, positions, blockCtx);
        const attn = attention(q, k, v, {
          batch: b.batch,
          seq: b.seq,
          heads: c.numHeads,
          kvHeads: c.numKvHeads,
          headDim: c.headDim,
          scale: this.attentionScale,
          segmentIds,
          window: this.attentionWindow(i),
        });
        freeIfNoGrad(q, k, v);
        const out = this.finishLayer(i, input, attn, blockCtx);
        freeIfNoGrad(attn);
        return out;
      };
      const next = this.gradientCheckpointing && isGradEnabled() ? checkpointBlock(block, x, ctx) : block(x, ctx);
      freeIfNoGrad(x);
      x = next;
    }
    const out = this.finalNorm(x);
    freeIfNoGrad(x);
    return out;
  }

  /**
   * Training step half: forward (dropout on unless `training: false`), loss = Σ CE over trained next-token
   * targets / normalizer, backward (grads ACCUMULATE into trainable .grad). normalizer defaults to this batch's
   * target count, so the default loss is HF's mean; a trainer accumulating gradients passes the total over all
   * micro-batches. Returns the loss value (as normalised) and this batch's number of trained targets.
   */
  lossAndBackward(b: ModelBatch, opts: LossOptions = {}): { loss: number; targets: number } {
    const loss = this.loss(b, { ...opts, training: opts.training ?? true });
    if (loss.targets === 0) {
      loss.value.dispose();
      return { loss: 0, targets: 0 };
    }
    const value = loss.value.toF32()[0]!;
    backward(loss.value);
    loss.value.dispose();
    return { loss: value, targets: loss.targets };
  }

  /**
   * The loss tensor (a scalar; 0 when no target is trained) without backward; call inside noGrad() for
   * evaluation. Only the rows whose next-token target is trained reach the LM head (TRL's chunked_nll does the
   * same): they are gathered from the final hidden states with the differentiable row gather, and the head is
   * chunked by the engine, so [tokens x vocab] logits never exist at once.
   */
  loss(b: ModelBatch, opts: LossOptions = {}): { value: Tensor; targets: number } {
    const { rows, targets } = trainedRows(b);
    if (rows.length === 0) return { value: Tensor.zeros([]), targets: 0 };
    const normalizer = opts.normalizer ?? rows.length;
    const ctx = opts.ctx ?? this.forwardContext(opts.training ?? false);
    const h = this.hidden(b, ctx, opts.inputEmbeddings);
    const picked = rows.length === b.batch * b.seq ? h : embedding(h, rows);
    const value = this.headLoss(picked, targets, normalizer);
    freeIfNoGrad(h);
    if (picked !== h) freeIfNoGrad(picked);
    return { value, targets: rows.length };
  }

  /** Σ CE of the (soft-capped) head's logits over rows of h with a target (-100: none) / normalizer, chunked. */
  headLoss(h: Tensor, targets: Int32Array, normalizer: number): Tensor {
    return lmHeadCrossEntropy(h, this.lmHead, targets, {
      normalizer,
      compute: this.compute,
      softcap: this.config.finalLogitSoftcap,
    });
  }

  /** Logits [B*T, V] for inference (no tape, dropout off). */
  logits(b: ModelBatch): Tensor {
    return noGrad(() => {
      const h = this.hidden(b, this.forwardContext(false));
      const out = this.headLogits(h);
      h.dispose();
      return out;
    });
  }
}

/** A number rounded to bf16 (round to nearest even), as torch.tensor(x, dtype=torch.bfloat16). */
function bf16Round(x: number): number {
  const f = new Float32Array(new Uint32Array([f32ToBf16Bits(x) << 16]).buffer);
  return f[0]!;
}
