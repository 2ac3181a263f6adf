// where(cond, a, b): elementwise choice between two tensors (or numbers), broadcasting all three. The
// gradient goes to whichever side each element came from. Its own file because both unary.ts and
// binary.ts build gradients with it, and binary.ts imports unary.ts.

import { promote } from '../base/dtype.js';
import { broadcastShapes } from '../base/shape.js';
import type { Tensor, TensorOrScalar } from '../tensor/tensor.js';
import { broadcastView, record, sameDevice, scalarLike, wrap } from './make.js';
import { sumTo } from './view.js';

/** cond ? a : b elementwise, broadcasting all three. */
export function where(cond: Tensor, x: TensorOrScalar, y: TensorOrScalar): Tensor {
  const ref = typeof x === 'number' ? (typeof y === 'number' ? null : y) : x;
  const a = typeof x === 'number' ? (ref ? scalarLike(ref, x) : scalarLike(cond.float(), x)) : x;
  const b = typeof y === 'number' ? scalarLike(a, y) : y;
  const backend = sameDevice('where', cond, a, b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const dtype = promote(a.dtype, b.dtype);
  const buf = backend.where(broadcastView(cond, shape), broadcastView(a, shape), broadcastView(b, shape), dtype);
  const out = wrap(backend, buf, shape, dtype);
  return record(
    out,
    'where',
    [a, b],
    (g) => [a.requiresGrad ? sumTo(where(cond, g, 0), a.shape) : null, b.requiresGrad ? sumTo(where(cond, 0, g), b.shape) : null],
    [cond],
  );
}
