// sftkit's public library API (what the README documents).
export { UserError } from './util/errors.js';
export type { Backend, GemmArgs } from './engine/backend.js';
export { SafetensorsFile, SafetensorsModel, writeSafetensors, writeShardedSafetensors } from './io/safetensors.js';
export type { StDType, StTensorInfo, StWriteTensor } from './io/safetensors.js';
export { loadLlamaConfig, parseLlamaConfig } from './io/hf-config.js';
export type { LlamaConfig, RopeScaling } from './io/hf-config.js';
export { createModel } from './model/create-model.js';
export type { CreateModelOptions } from './model/create-model.js';
export { Tokenizer } from './tokenizer/tokenizer.js';
export type { ChatMessage, Encoding, ChatTemplateOptions } from './tokenizer/tokenizer.js';
export { SFTTrainer, type SFTTrainerOptions, type TrainResult } from './train/trainer.js';
export {
  resolveConfig,
  defaultSFTConfig,
  type SFTConfig,
  type SFTConfigInput,
  type LoraConfig as PeftLoraConfig,
} from './train/config.js';
export { runQuickstart, type QuickstartResult } from './quickstart/quickstart.js';
export {
  generate,
  loadForGeneration,
  encodeChat,
  encodeText,
  decoderFor,
  BatchGenerator,
  type SequenceSpec,
  type GenerateOptions,
  type Generation,
  type SamplingOptions,
} from './generate/index.js';
export { buildServer, type ServeOptions, type ServeLimits } from './serve/server.js';
export { loadServedModels, type ServedModel } from './serve/models.js';
export { Scheduler, type SchedulerLimits } from './serve/scheduler.js';
export {
  quantize4Bit,
  dequantize4Bit,
  QuantizedLinearWeight,
  quantizedBaseReport,
  type Quantized4Bit,
  type QuantizeOptions,
} from './quant/index.js';
export { quantizeFolder, type QuantizeFolderOptions } from './quant/index.js';
export {
  Tensor,
  ops,
  noGrad,
  backward,
  clearTape,
  checkpoint,
  getBackend,
  setBackend,
  cpuBackend,
  referenceBackend,
  AdamW,
  clipGradNorm,
} from './engine/index.js';
export { LlamaModel } from './model/llama.js';
export type { LoraConfig } from './model/lora.js';
export { loadAdapter, saveAdapter } from './model/peft.js';
export { trainableParametersReport } from './model/params.js';
export { foldLora } from './model/fold-lora.js';
export { loadRecords, loadDataset } from './data/load.js';
export { prepareRecords } from './data/prepare.js';
export { prepareDataset } from './data/pipeline.js';
export { batches, packBestFitDecreasing, type Batch } from './data/batches.js';
export { mergeAdapter } from './export/merge.js';
export { exportGguf, type GgufExportOptions } from './export/gguf/export.js';
export { writeGguf } from './export/gguf/writer.js';
