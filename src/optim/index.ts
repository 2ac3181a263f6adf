// mox.optim: optimizers in torch.optim's shape, and gradient clipping.

export { Optimizer, type BaseHyper, type ParamGroup, type ParamGroupSpec, type Params, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { RMSprop, type RMSpropOptions } from './rmsprop.js';
export { clipGradNorm } from './clip.js';
