// mox.models: complete models built from mox.nn.

export * from './portable.js';
export { loadGPT, saveGPTWeights, parseGPTConfig } from './gpt-checkpoint.js';
export {
  saveClassifier,
  loadClassifier,
  isClassifierDir,
  layerSpec,
  SEQUENTIAL_MODEL_TYPE,
  TEXT_CNN_MODEL_TYPE,
  type LayerSpec,
  type LoadedClassifier,
  type SaveClassifierOptions,
} from './classifier-checkpoint.js';
export { loadLSTM, saveLSTM, parseLSTMConfig, isLSTMCheckpointDir, LSTM_MODEL_TYPE } from './lstm-checkpoint.js';
export {
  isHuggingFaceGPT2Dir,
  isHuggingFaceGPT2Config,
  parseHuggingFaceGPT2Config,
  loadHuggingFaceGPT2,
  loadHuggingFaceGPT2Checkpoint,
  exportHuggingFaceGPT2,
  type HuggingFaceGPT2Config,
} from './hf-gpt2.js';
