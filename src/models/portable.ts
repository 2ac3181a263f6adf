// The models that need no file system (no checkpoint folders): what a web page can use.

export {
  GPT,
  GPTTransformer,
  GPTCache,
  generate,
  generateAsync,
  sampleLogits,
  type GPTConfig,
  type GPTOptions,
  type GPTForwardOptions,
  type GenerateOptions,
  type GenerateResult,
} from './gpt.js';
export {
  LSTMLanguageModel,
  type LSTMLanguageModelConfig,
  type LSTMLanguageModelOptions,
  type LSTMState,
  type LSTMGenerateOptions,
} from './lstm-lm.js';
export { TextCNN, type TextCNNConfig, type TextCNNOptions } from './text-cnn.js';
