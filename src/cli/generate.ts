// `sftkit generate`: continue a prompt (or a chat) with a model and optional LoRA adapter; tokens stream to
// stdout as they are produced, or one JSON object per prompt with --json. Also the flag handling that
// `sftkit chat` and `sftkit eval` share (model loading, sampling settings).
import { readFileSync } from 'node:fs';
import {
  generate,
  decoderFor,
  encodeChat,
  encodeText,
  loadForGeneration,
  padTokenIdFor,
  resolveSampling,
  stopTokenIdsFor,
  type GenerateOptions,
  type GenerationDefaults,
  type LoadedForGeneration,
  type SamplingOptions,
} from '../generate/index.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { UserError } from '../util/errors.js';
import { dtypeFlag, numberFlag, requireString, type Command, type FlagSpec } from './command.js';

type Flags = Record<string, string | boolean | string[] | undefined>;

/** Flags every generating command takes: model, adapter, precision. */
export const MODEL_FLAGS: Record<string, FlagSpec> = {
  model: { type: 'string', help: 'Hugging Face model folder (config.json, safetensors, tokenizer)' },
  adapter: { type: 'string', help: 'PEFT LoRA adapter folder (e.g. a training output_dir), applied unmerged' },
  merge: { type: 'boolean', help: 'Fold the adapter into the base weights first (faster decoding)' },
  dtype: { type: 'string', help: "Weight storage and GEMM precision: f32 | bf16 (default: config.json's torch_dtype)" },
};

/** Sampling flags (HF generate names); absent flags fall back to the model's generation_config.json. */
export const SAMPLING_FLAGS: Record<string, FlagSpec> = {
  'max-new-tokens': {
    type: 'string',
    help: 'Most tokens to generate per answer (default: generation_config max_new_tokens, else 256)',
  },
  temperature: {
    type: 'string',
    help: 'Sampling temperature; 0 = greedy. Sampling is on when this is > 0 or --top-k/--top-p/--min-p is given (else generation_config do_sample, else greedy)',
  },
  'top-k': { type: 'string', help: 'Keep the k most likely tokens (0 = off; HF default 50 when sampling)' },
  'top-p': {
    type: 'string',
    help: 'Nucleus sampling: smallest set of tokens with cumulative probability >= p (1 = off)',
  },
  'min-p': { type: 'string', help: 'Drop tokens less likely than min-p x the most likely one (0 = off)' },
  'repetition-penalty': {
    type: 'string',
    help: 'HF repetition penalty over prompt + generated tokens (1 = off; also applies to greedy)',
  },
  seed: { type: 'string', help: 'Sampling seed (the same seed gives the same text)', default: '0' },
  stop: {
    type: 'string',
    multiple: true,
    help: 'Stop string (repeatable); generation also stops at eos / end-of-turn tokens',
  },
};

/** Load model, adapter (with trained token rows) and tokenizer from the shared flags. */
export async function loadFromFlags(
  flags: Flags,
  cmd: string,
  opts: { adapter?: string | null } = {},
): Promise<LoadedForGeneration> {
  const modelDir = requireString(flags, 'model', cmd);
  const adapterDir =
    opts.adapter !== undefined ? opts.adapter : typeof flags.adapter === 'string' ? flags.adapter : null;
  if (flags.merge && !adapterDir) throw new UserError(`sftkit ${cmd}: --merge needs --adapter`);
  return loadForGeneration({
    modelDir,
    adapterDir,
    dtype: dtypeFlag(flags.dtype, cmd),
    merge: flags.merge === true,
  });
}

function intFlag(flags: Flags, name: string, cmd: string, fallback: number): number {
  const n = numberFlag(flags, name, cmd, fallback);
  if (!Number.isInteger(n))
    throw new UserError(`sftkit ${cmd}: --${name} expects an integer, got '${String(flags[name])}'`);
  return n;
}

export interface GenerationSettings extends SamplingOptions {
  maxNewTokens: number;
  seed: number;
  stopStrings: string[];
}

/** Sampling settings from flags over the model's generation_config.json defaults (validated). */
export function settingsFromFlags(
  flags: Flags,
  cmd: string,
  defaults: GenerationDefaults,
  fallbackMaxNewTokens = 256,
): GenerationSettings {
  const given = (n: string) => flags[n] !== undefined;
  const maxNewTokens = intFlag(flags, 'max-new-tokens', cmd, defaults.maxNewTokens ?? fallbackMaxNewTokens);
  if (maxNewTokens < 1) throw new UserError(`sftkit ${cmd}: --max-new-tokens must be >= 1, got ${maxNewTokens}`);
  const temperature = given('temperature') ? numberFlag(flags, 'temperature', cmd, 1) : defaults.temperature;
  if (given('temperature') && !(temperature! >= 0))
    throw new UserError(`sftkit ${cmd}: --temperature must be >= 0 (0 = greedy), got ${String(flags.temperature)}`);
  let doSample: boolean;
  if (given('temperature')) doSample = temperature! > 0;
  else if (given('top-k') || given('top-p') || given('min-p')) doSample = true;
  else doSample = defaults.doSample ?? false;
  const s: GenerationSettings = {
    maxNewTokens,
    doSample,
    temperature: doSample ? temperature : undefined,
    topK: given('top-k') ? intFlag(flags, 'top-k', cmd, 50) : defaults.topK,
    topP: given('top-p') ? numberFlag(flags, 'top-p', cmd, 1) : defaults.topP,
    minP: given('min-p') ? numberFlag(flags, 'min-p', cmd, 0) : defaults.minP,
    repetitionPenalty: given('repetition-penalty')
      ? numberFlag(flags, 'repetition-penalty', cmd, 1)
      : defaults.repetitionPenalty,
    seed: intFlag(flags, 'seed', cmd, 0),
    stopStrings: Array.isArray(flags.stop) ? flags.stop : typeof flags.stop === 'string' ? [flags.stop] : [],
  };
  resolveSampling(s, `sftkit ${cmd}`); // validates ranges now, with the command's name
  return s;
}

/** The options `generate` needs for this tokenizer and these settings. */
export function generateOptions(loaded: LoadedForGeneration, s: GenerationSettings): GenerateOptions {
  return {
    ...s,
    stopTokenIds: stopTokenIdsFor(loaded),
    decode: decoderFor(loaded.tokenizer),
    padTokenId: padTokenIdFor(loaded.tokenizer),
  };
}

/** A chat file: a JSON array of {role, content} or an object with "messages". */
export function readMessagesFile(path: string): ChatMessage[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: cannot read the messages JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(json) ? json : (json as { messages?: unknown })?.messages;
  if (!Array.isArray(list) || list.length === 0)
    throw new UserError(
      `${path}: expected a non-empty JSON array of {"role", "content"} messages (or {"messages": [...]})`,
    );
  list.forEach((m: unknown, i) => {
    const o = m as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.role !== 'string')
      throw new UserError(`${path}: message ${i} must be an object with a string "role"`);
    if (typeof o.content !== 'string' && o.content !== null)
      throw new UserError(`${path}: message ${i} ("${o.role}") must have a string "content"`);
  });
  return list as ChatMessage[];
}

export const command: Command = {
  name: 'generate',
  summary: 'Generate text from a prompt or a chat with a model (+ LoRA adapter), streaming tokens',
  usage:
    'sftkit generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE.json) [--chat] [--max-new-tokens N]\n' +
    '    [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R] [--seed S] [--dtype f32|bf16] [--json]',
  flags: {
    ...MODEL_FLAGS,
    prompt: { type: 'string', multiple: true, help: 'Prompt text (repeatable: several prompts run as one batch)' },
    messages: {
      type: 'string',
      help: 'JSON file with a conversation [{"role", "content"}, ...] (always uses the chat template)',
    },
    chat: {
      type: 'boolean',
      help: 'Wrap --prompt as a user message in the chat template, with the assistant generation prompt',
    },
    system: { type: 'string', help: 'System message to put before --prompt (implies --chat)' },
    ...SAMPLING_FLAGS,
    json: {
      type: 'boolean',
      help: 'Print {"text", "prompt_token_ids", "token_ids", "finish_reason", "tokens_per_s"} per prompt instead of streaming',
    },
  },
  async run(flags) {
    const cmd = 'generate';
    const prompts = Array.isArray(flags.prompt) ? flags.prompt : typeof flags.prompt === 'string' ? [flags.prompt] : [];
    const messagesPath = typeof flags.messages === 'string' ? flags.messages : null;
    if (prompts.length > 0 === (messagesPath !== null))
      throw new UserError(
        'sftkit generate: give either --prompt TEXT or --messages FILE.json (see sftkit generate --help)',
      );
    const messages = messagesPath ? readMessagesFile(messagesPath) : null;
    const loaded = await loadFromFlags(flags, cmd);
    const settings = settingsFromFlags(flags, cmd, loaded.defaults);
    const tok = loaded.tokenizer;
    const chat = flags.chat === true || typeof flags.system === 'string';
    const system: ChatMessage[] = typeof flags.system === 'string' ? [{ role: 'system', content: flags.system }] : [];
    const promptIds = messages
      ? [encodeChat(tok, messages)]
      : prompts.map((p) => (chat ? encodeChat(tok, [...system, { role: 'user', content: p }]) : encodeText(tok, p)));

    const json = flags.json === true;
    const stream = !json && promptIds.length === 1;
    const opts = generateOptions(loaded, settings);
    if (stream) opts.onToken = (e) => e.text && process.stdout.write(e.text);
    const { generations, stats } = generate(loaded.model, promptIds, opts);
    const tokensPerS = stats.totalSeconds > 0 ? stats.generatedTokens / stats.totalSeconds : 0;
    for (const g of generations) {
      if (json) {
        process.stdout.write(
          JSON.stringify({
            text: g.text,
            prompt_token_ids: g.promptTokenIds,
            token_ids: g.tokenIds,
            finish_reason: g.finishReason,
            tokens_per_s: Number(tokensPerS.toFixed(2)),
          }) + '\n',
        );
      } else if (stream) {
        process.stdout.write('\n');
      } else {
        process.stdout.write(`${g.text}\n${'-'.repeat(40)}\n`);
      }
    }
    if (!json) {
      const reasons = generations.map((g) => g.finishReason).join(', ');
      process.stderr.write(
        `[${stats.generatedTokens} tokens in ${stats.totalSeconds.toFixed(2)} s: prefill ${rate(stats.prefillTokens, stats.prefillSeconds)} tok/s, decode ${rate(stats.decodeTokens, stats.decodeSeconds)} tok/s; finish: ${reasons}]\n`,
      );
    }
  },
};

function rate(tokens: number, seconds: number): string {
  return seconds > 0 ? (tokens / seconds).toFixed(1) : '-';
}
