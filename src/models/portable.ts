// The models that need no file system (no checkpoint folders): what a web page can use.

export { GPT, GPTTransformer, GPTCache, type GPTConfig, type GPTOptions, type GPTForwardOptions } from './gpt.js';
export { generate, generateAsync, type GenerateOptions, type GenerateResult } from './gpt-generate.js';
export { sampleLogits } from './sampling.js';
export {
  LSTMLanguageModel,
  type LSTMLanguageModelConfig,
  type LSTMLanguageModelOptions,
  type LSTMState,
  type LSTMGenerateOptions,
} from './lstm-lm.js';
export { TextCNN, type TextCNNConfig, type TextCNNOptions } from './text-cnn.js';
export { ViT, PatchEmbed, vitKeyFromTimm, vitKeyToTimm, type ViTConfig, type ViTOptions } from './vit.js';
export { loadGPTFromBytes, gptFromTensors, type GPTCheckpointNames } from './gpt-bytes.js';
