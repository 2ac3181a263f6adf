// softmax and log-softmax: one fused, numerically stable kernel each; gradients composed.
//   softmax:     dx = y * (g - sum(g * y))
//   logSoftmax:  dx = g - exp(y) * sum(g)

import { isFloat } from '../base/dtype.js';
import { normAxis } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { record, wrap } from './make.js';

function softmaxOp(x: Tensor, axis: number, log: boolean): Tensor {
  const name = log ? 'logSoftmax' : 'softmax';
  if (x.ndim === 0) return softmaxOp(x.reshape([1]), 0, log).reshape([]);
  const a = normAxis(name, axis, x.ndim);
  const xf = isFloat(x.dtype) ? x : x.float();
  const out = wrap(xf.backend, xf.backend.softmax(xf.view_(), a, log), xf.shape, xf.dtype);
  return record(out, name, [xf], (g) => [log ? g.sub(out.exp().mul(g.sum(a, true))) : out.mul(g.sub(g.mul(out).sum(a, true)))], [out]);
}

/** Softmax along an axis (the last by default). */
export const softmax = (x: Tensor, axis = -1): Tensor => softmaxOp(x, axis, false);
/** Log of the softmax along an axis (the last by default), computed stably. */
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxOp(x, axis, true);
