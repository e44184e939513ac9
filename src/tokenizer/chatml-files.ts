// The tokenizer files sftkit writes for its own test/demo models: byte-level BPE (GPT-2 alphabet,
// as SmolLM2 and Qwen2.5 use) with ChatML special tokens and a ChatML chat template.
import { byteToChar } from './byte-level.js';

export const CHATML_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/**
 * ChatML: `<|im_start|>role\ncontent<|im_end|>\n` per message, `<|im_start|>assistant\n` as the
 * generation prompt. No default system prompt, so what the data says is exactly what is rendered.
 */
export const CHATML_TEMPLATE =
  '{%- for message in messages %}' +
  "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] if message['content'] is string else '') + '<|im_end|>\\n' }}" +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export interface TokenizerFiles {
  'tokenizer.json': object;
  'tokenizer_config.json': object;
  'special_tokens_map.json': object;
}

/**
 * Build the three tokenizer files. Ids: 0..2 the special tokens, then the 256 byte symbols in byte
 * order (byte b has id 3 + b), then one id per merge result in `merges` order.
 */
export function chatmlTokenizerFiles(merges: [string, string][] = []): TokenizerFiles {
  const vocab: Record<string, number> = {};
  CHATML_SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  for (const sym of byteToChar()) vocab[sym] = Object.keys(vocab).length;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: CHATML_SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const addedTokensDecoder: Record<string, object> = {};
  CHATML_SPECIAL_TOKENS.forEach(
    (content, id) =>
      (addedTokensDecoder[String(id)] = {
        content,
        lstrip: false,
        normalized: false,
        rstrip: false,
        single_word: false,
        special: true,
      }),
  );
  const tokenizerConfig = {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: null,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    model_max_length: 8192,
    pad_token: '<|endoftext|>',
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
  const specialTokensMap = {
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    eos_token: { content: '<|im_end|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
    pad_token: { content: '<|endoftext|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
  };
  return {
    'tokenizer.json': tokenizerJson,
    'tokenizer_config.json': tokenizerConfig,
    'special_tokens_map.json': specialTokensMap,
  };
}
