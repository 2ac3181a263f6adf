// predict: the model's outputs for every example, in eval() mode under noGrad, one scope per batch.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { concat } from '../ops/join.js';
import type { Module } from '../nn/module.js';
import { checkBatchSize, sliceSource, splitBatch, toSource } from './batches.js';
import { forward } from './step.js';

/** Options of predict: the batch size. */
export interface PredictOptions {
  /** Examples per forward pass (default 32). */
  batchSize?: number;
}

/** The model's outputs for every example, concatenated along the first axis (eval mode, no graph). */
export function predict(model: Module, data: unknown, opts: PredictOptions = {}): Tensor {
  const batchSize = checkBatchSize('predict', opts.batchSize ?? 32);
  const source = data instanceof Tensor ? sliceSource('predict', data, batchSize) : toSource('predict', data, undefined, batchSize, false);
  const prev = model.training;
  model.eval();
  const outs: Tensor[] = [];
  try {
    const it = source.iterator(0);
    for (;;) {
      const out = scope(() =>
        noGrad(() => {
          const next = it.next();
          if (next.done) return null;
          return forward('predict', model, splitBatch('predict', next.value, false).inputs);
        }),
      );
      if (!out) break;
      outs.push(out);
    }
    if (outs.length === 0) throw new ValueError('predict', 'the data gave no batches');
    if (outs.length === 1) return outs[0]!;
    const all = concat(outs, 0);
    for (const o of outs) o.dispose();
    return all;
  } catch (e) {
    for (const o of outs) o.dispose();
    throw e;
  } finally {
    model.train(prev);
  }
}
