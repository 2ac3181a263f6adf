// mox.nn: Module and Parameter, the layers, initialisers (nn.init), summary, and nn.functional.

/** Stateless forms of the layers, activations, losses and attention, like torch.nn.functional. */
export * as functional from './functional.js';
/** Weight initialisation in place (xavier, kaiming, normal, ...), like torch.nn.init. */
export * as init from './init.js';
export { Module, withEval } from './module.js';
export { Parameter } from './parameter.js';
export { summary, type SummaryOptions } from './summary.js';
export { freezeParameters, parameterGlob } from './freeze.js';

export { Linear, Identity, type LayerOptions } from './layers/linear.js';
export { Conv2d, ConvTranspose2d, type Conv2dLayerOptions, type ConvTranspose2dLayerOptions } from './layers/conv.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dLayerOptions, type AvgPool2dLayerOptions } from './layers/pooling.js';
export { Flatten, Unflatten } from './layers/flatten.js';
export { Dropout } from './layers/dropout.js';
export { BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormLayerOptions, type LayerNormLayerOptions } from './layers/normalization.js';
export { Embedding, type EmbeddingLayerOptions } from './layers/embedding.js';
export { ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softplus, Softmax, LogSoftmax } from './layers/activation.js';
export { Sequential, ModuleList, ModuleDict } from './layers/containers.js';
export { LSTM, GRU, type RNNOptions } from './layers/rnn.js';
export { MultiheadAttention, type MultiheadAttentionOptions, type MultiheadAttentionForwardOptions } from './layers/attention.js';
export {
  TransformerBlock,
  GPTBlock,
  CausalSelfAttention,
  TransformerMLP,
  KVCache,
  type TransformerBlockOptions,
} from './layers/transformer.js';
