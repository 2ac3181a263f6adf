// mox.models: complete models built from mox.nn.

export {
  GPT, GPTTransformer, GPTCache, generate, generateAsync, sampleLogits,
  type GPTConfig, type GPTOptions, type GPTForwardOptions, type GenerateOptions, type GenerateResult,
} from './gpt.js';
export { loadGPT, saveGPTWeights, parseGPTConfig } from './gpt-checkpoint.js';
export {
  isHuggingFaceGPT2Dir, isHuggingFaceGPT2Config, parseHuggingFaceGPT2Config, loadHuggingFaceGPT2, loadHuggingFaceGPT2Checkpoint,
  exportHuggingFaceGPT2, type HuggingFaceGPT2Config,
} from './hf-gpt2.js';
export {
  LSTMLanguageModel, type LSTMLanguageModelConfig, type LSTMLanguageModelOptions, type LSTMState,
} from './lstm-lm.js';
export { TextCNN, type TextCNNConfig, type TextCNNOptions } from './text-cnn.js';
