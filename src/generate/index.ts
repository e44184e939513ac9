// Generation and evaluation: KV-cache inference, HF-style sampling, prompt encoding, eval scoring and report.
//   const { model, tokenizer } = await loadForGeneration({ modelDir, adapterDir });
//   const { generations } = generate(model, [encodeChat(tokenizer, messages)], {
//     maxNewTokens: 128, temperature: 0.7, topP: 0.9, seed: 1,
//     stopTokenIds: tokenizer.stopTokenIds, decode: decoderFor(tokenizer), onToken: (e) => process.stdout.write(e.text) });
export {
  generate,
  PrefixCache,
  type FinishReason,
  type GenerateOptions,
  type GenerateResult,
  type GenerateStats,
  type Generation,
  type TokenEvent,
} from './generate.js';
export {
  decoderFor,
  encodeChat,
  encodeText,
  loadForGeneration,
  padTokenIdFor,
  stopTokenIdsFor,
  type LoadedForGeneration,
  type LoadForGenerationOptions,
} from './load.js';
export {
  applyRepetitionPenalty,
  rowSeed,
  argmax,
  filteredDistribution,
  resolveSampling,
  Sampler,
  type ResolvedSampling,
  type SamplingOptions,
} from './sampling.js';
export { BatchGenerator, Sequence, type SequenceSpec } from './batch.js';
export { readGenerationConfig, type GenerationDefaults } from './generation-config.js';
export { createCache, forwardStep, type StepInput } from './forward.js';
export { KVCache } from './kv-cache.js';
export { TextStream } from './text-stream.js';
export { castWeightsToBf16 } from './weights.js';
export { foldLora } from '../model/fold-lora.js';
export {
  answerPrompts,
  normalizeAnswer,
  resultRecord,
  scoreAnswer,
  summarize,
  type EvalAnswer,
  type EvalRun,
  type EvalSummary,
} from './eval.js';
export { parseEvalPrompt, readEvalPrompts, type EvalPrompt } from './eval-prompts.js';
export { markdownReport, type ReportInput } from './report.js';
