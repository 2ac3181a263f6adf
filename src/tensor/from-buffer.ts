// Tensors over backend memory: wrapping a buffer a kernel returned, views, and filled or blank
// tensors on a given backend. This is the tensor floor's own making of tensors, so the autograd
// engine (its gradient seed) and every op can use it without reaching up into ops/.

import type { Backend, Buffer } from '../backend/backend.js';
import type { DType } from '../base/dtype.js';
import { numel } from '../base/shape.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';

/** A new contiguous tensor over a buffer a kernel just returned. */
export function wrap(backend: Backend, buf: Buffer, shape: readonly number[], dtype: DType): Tensor {
  return new Tensor(new Storage(backend, buf, dtype, numel(shape)), shape);
}

/** A view sharing x's storage. */
export function viewOf(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  x.view_();
  return new Tensor(x.storage, shape, strides, offset);
}

/** A tensor filled with one value on the given backend. */
export function filled(backend: Backend, shape: readonly number[], dtype: DType, value: number): Tensor {
  const buf = backend.alloc(dtype, numel(shape), value === 0);
  const t = wrap(backend, buf, shape, dtype);
  if (value !== 0) backend.fill(t.view_(), value);
  return t;
}

/** A tensor whose contents are undefined: for outputs the caller writes completely. */
export function empty(backend: Backend, shape: readonly number[], dtype: DType): Tensor {
  return wrap(backend, backend.alloc(dtype, numel(shape), false), shape, dtype);
}
