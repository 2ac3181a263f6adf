// Losses by Keras's names, for compile(). Each is a function (yPred, yTrue) => scalar tensor: the
// argument order of PyTorch's criteria, so mox.nn.functional.crossEntropy or mseLoss can be passed to
// compile() directly. Cross-entropies take logits by default (`fromLogits: true`), as a model ending
// in a Linear layer produces, and run the fused log-softmax + NLL kernel; with `fromLogits: false` the
// outputs are probabilities (after a softmax or sigmoid), clipped to [1e-7, 1 - 1e-7] as Keras does.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { binaryCrossEntropyWithLogits, crossEntropy, l1Loss, mseLoss, nllLoss } from '../ops/loss.js';
import { logSoftmax } from '../ops/softmax.js';
import { alignTarget, flattenSequence } from './metrics.js';

/** A loss for compile(): (yPred, yTrue) => scalar tensor, in PyTorch's argument order. */
export type LossFn = (yPred: Tensor, yTrue: Tensor) => Tensor;
/** A loss compile() knows by Keras's name. */
export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'binaryCrossentropy' | 'mse' | 'mae';

/** Options of the cross-entropy losses: whether the model outputs logits. */
export interface CrossentropyOptions {
  /** The model outputs logits (default true); false: probabilities. */
  fromLogits?: boolean;
}

const EPS = 1e-7;

/**
 * Integer class labels [N] against logits (or probabilities) [N, C]; sequences too: labels [B, T]
 * against [B, T, C], averaged over every position (flattened to [B*T, C], as logits.view(-1, C)).
 */
export function sparseCategoricalCrossentropy(opts: CrossentropyOptions = {}): LossFn {
  const fromLogits = opts.fromLogits ?? true;
  return (yPred0, yTrue0) => {
    const [yPred, yTrue] = flattenSequence(yPred0, yTrue0);
    let y = yTrue.dtype === 'int32' ? yTrue : yTrue.int();
    if (y.ndim === yPred.ndim && y.shape[y.ndim - 1] === 1) y = y.squeeze(-1); // [N, 1] labels
    if (fromLogits) return crossEntropy(yPred, y);
    return nllLoss(yPred.clamp(EPS, 1 - EPS).log(), y);
  };
}

/** One-hot (or soft) targets [N, C] against logits (or probabilities) [N, C]. */
export function categoricalCrossentropy(opts: CrossentropyOptions = {}): LossFn {
  const fromLogits = opts.fromLogits ?? true;
  return (yPred, yTrue) => {
    const y = alignTarget('categoricalCrossentropy', yTrue, yPred);
    const logp = fromLogits
      ? logSoftmax(yPred, 1)
      : yPred
          .div(yPred.sum(1, true))
          .clamp(EPS, 1 - EPS)
          .log();
    return y.mul(logp).sum(1).neg().mean();
  };
}

/** 0/1 targets against one logit (or probability) per sample, [N] or [N, 1]. */
export function binaryCrossentropy(opts: CrossentropyOptions = {}): LossFn {
  const fromLogits = opts.fromLogits ?? true;
  return (yPred, yTrue) => {
    const y = alignTarget('binaryCrossentropy', yTrue, yPred);
    if (fromLogits) return binaryCrossEntropyWithLogits(yPred, y);
    const p = yPred.clamp(EPS, 1 - EPS);
    return y
      .mul(p.log())
      .add(y.neg().add(1).mul(p.neg().add(1).log()))
      .neg()
      .mean();
  };
}

/** Mean squared error, Keras's 'mse'. */
export function meanSquaredError(): LossFn {
  return (yPred, yTrue) => mseLoss(yPred, alignTarget('mse', yTrue, yPred));
}

/** Mean absolute error, Keras's 'mae'. */
export function meanAbsoluteError(): LossFn {
  return (yPred, yTrue) => l1Loss(yPred, alignTarget('mae', yTrue, yPred));
}

/** A loss by its Keras name (camelCase or snake_case). */
export function lossByName(name: string, opts: CrossentropyOptions = {}): LossFn {
  switch (name) {
    case 'sparseCategoricalCrossentropy':
    case 'sparse_categorical_crossentropy':
      return sparseCategoricalCrossentropy(opts);
    case 'categoricalCrossentropy':
    case 'categorical_crossentropy':
      return categoricalCrossentropy(opts);
    case 'binaryCrossentropy':
    case 'binary_crossentropy':
      return binaryCrossentropy(opts);
    case 'mse':
    case 'meanSquaredError':
    case 'mean_squared_error':
      return meanSquaredError();
    case 'mae':
    case 'meanAbsoluteError':
    case 'mean_absolute_error':
      return meanAbsoluteError();
    default:
      throw new ValueError(
        'compile',
        `unknown loss '${name}' (known: sparseCategoricalCrossentropy, categoricalCrossentropy, binaryCrossentropy, mse, mae)`,
      );
  }
}

/** Whether a named loss is a cross-entropy (its outputs are logits unless fromLogits is false). */
export function isCrossentropy(name: string): boolean {
  return /crossentropy/i.test(name);
}
