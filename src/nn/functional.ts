// Stateless forms of the layers, like torch.nn.functional. Everything here is an op from ops/.

import '../ops/tensor-methods.js';
export { relu, leakyRelu, gelu, silu, sigmoid, tanh, softplus } from '../ops/unary.js';
export { softmax, logSoftmax } from '../ops/softmax.js';
export { linear } from '../ops/matmul.js';
export { embedding } from '../ops/indexing.js';
export { conv2d, convTranspose2d, unfold, fold, type Conv2dOptions, type ConvTranspose2dOptions } from '../ops/conv.js';
export { maxPool2d, maxPool2dWithIndices, avgPool2d, adaptiveAvgPool2d, type Pool2dOptions, type AvgPool2dOptions } from '../ops/pool.js';
export { batchNorm, layerNorm, type BatchNormOptions } from '../ops/norm.js';
export { dropout } from '../ops/dropout.js';
export { pad } from '../ops/join.js';
export {
  mseLoss,
  l1Loss,
  crossEntropy,
  nllLoss,
  binaryCrossEntropyWithLogits,
  klDiv,
  distillationLoss,
  type Reduction,
  type CrossEntropyOptions,
  type NllOptions,
  type BceOptions,
  type KlDivOptions,
  type DistillationLossOptions,
} from '../ops/loss.js';
export { scaledDotProductAttention, causalMask, type AttentionOptions } from '../ops/attention.js';
export { lstm, gru, type RNNFunctionalOptions } from './layers/rnn.js';
export { multiHeadAttention, type MultiheadAttentionFunctionalOptions } from './layers/attention.js';
