// What every rank does with its shard, rank 0 and the workers alike (one code path, so the ranks
// differ only in their rows): the loss of the shard, its backward scaled by the shard's share of the
// batch, and the model's weights and gradients as flat float32 arrays for the channel.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { type Compiled, forward, lossValue } from '../train/step.js';
import type { LossMode } from './protocol.js';

/**
 * The loss of a model on one shard, and the output the metrics read.
 * @inline
 */
export type ShardLoss = (
  model: Module,
  inputs: Tensor[],
  target: Tensor,
) => {
  /** The shard's loss, a scalar. */
  loss: Tensor;
  /** The model's output on the shard. */
  output: Tensor;
};

/** The shard loss of a LossMode: the compiled loss of forward(...inputs), or the model's own forward(...inputs, target).loss. */
export function replicaLoss(mode: LossMode, compiled: Compiled | null): ShardLoss {
  if (mode === 'compiled') {
    if (!compiled) throw new ValueError('dataParallel', "internal: loss 'compiled' without a compiled model");
    return (model, inputs, target) => {
      const output = forward('fit', model, inputs);
      return { loss: lossValue('fit', compiled, output, target), output };
    };
  }
  return (model, inputs, target) => {
    const res = (model.forward as (...a: Tensor[]) => unknown)(...inputs, target) as { loss?: unknown; logits?: unknown };
    if (!(res?.loss instanceof Tensor))
      throw new ValueError('dataParallel', "the model's forward(...inputs, target) must return { loss } (loss 'model')");
    return { loss: res.loss, output: res.logits instanceof Tensor ? res.logits : res.loss };
  };
}

/**
 * Forward and backward of `scale` times the shard's loss, adding into the parameters' gradients. The
 * scale is the shard's share of the batch times the caller's own factor, so the ranks' gradients sum
 * to that of the whole batch's mean loss (a loss that is a mean over the shard's rows).
 */
export function shardBackward(
  model: Module,
  lossOf: ShardLoss,
  inputs: Tensor[],
  target: Tensor,
  scale: number,
): { loss: Tensor; output: Tensor } {
  const { loss, output } = lossOf(model, inputs, target);
  (scale === 1 ? loss : loss.mul(scale)).backward();
  return { loss: loss.detach(), output: output.detach() };
}

/** Every parameter's values, float32, concatenated in parameters() order. */
export function weightsOf(model: Module): Float32Array {
  const params = model.parameters();
  const flat = new Float32Array(params.reduce((n, p) => n + p.size, 0));
  let at = 0;
  for (const p of params) {
    flat.set(p.dataSync(), at);
    at += p.size;
  }
  return flat;
}

/** The gradients of `params` concatenated (zeros for a parameter without one, which `present` marks false). */
export function gradients(params: Tensor[]): { grads: Float32Array; present: boolean[] } {
  const grads = new Float32Array(params.reduce((n, p) => n + p.size, 0));
  const present: boolean[] = [];
  let at = 0;
  for (const p of params) {
    if (p.grad) grads.set(p.grad.dataSync(), at);
    present.push(p.grad !== null);
    at += p.size;
  }
  return { grads, present };
}
