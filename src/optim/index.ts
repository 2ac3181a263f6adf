// mox.optim: optimizers in torch.optim's shape, and gradient clipping.

export {
  Optimizer,
  type BaseHyper,
  type ParamGroup,
  type ParamGroupSpec,
  type Params,
  type ParamState,
  type OptimizerStateDict,
} from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { RMSprop, type RMSpropOptions } from './rmsprop.js';
export { clipGradNorm, maxNorm_ } from './clip.js';
export {
  LRScheduler,
  StepLR,
  MultiStepLR,
  ExponentialLR,
  CosineAnnealingLR,
  LambdaLR,
  CosineWithWarmup,
  ReduceLROnPlateau,
  type CosineWithWarmupOptions,
  type ReduceLROnPlateauOptions,
  type SchedulerStateDict,
} from './schedulers.js';
/** The schedules under PyTorch's module name too: mox.optim.lrScheduler.StepLR. */
export * as lrScheduler from './schedulers.js';
