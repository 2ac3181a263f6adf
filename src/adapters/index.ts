// mox.lora: parameter-efficient fine-tuning with LoRA adapters, in Hugging Face PEFT's file layout.

export { LoraLinear, LoraEmbedding, isLoraLayer, loraScaling, type LoraLayer, type LoraLayerOptions } from './lora-layers.js';
export {
  applyLora,
  mergeLora,
  unmergeLora,
  mergeAndUnload,
  unloadLora,
  loraLayers,
  loraConfigOf,
  tiedLoraLayers,
  matchesTarget,
  validateLoraConfig,
  trainableParameters,
  formatTrainableParameters,
  type LoraConfig,
} from './lora.js';
export {
  loraStateDict,
  saveLoraAdapter,
  loadLoraAdapter,
  readLoraConfig,
  peftAdapterConfig,
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  PEFT_PREFIX,
} from './lora-files.js';
