// Plumbing every op shares: wrapping a kernel's output buffer in a Tensor, recording graph nodes,
// lifting numbers to tensors, and the same-device check.

import type { Backend, Buffer } from '../backend/backend.js';
import type { Node } from '../autograd/node.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { ValueError, fmtShape } from '../errors.js';
import type { DType } from '../base/dtype.js';
import { promoteScalar, typedArrayFor } from '../base/dtype.js';
import { Storage } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import { numel } from '../base/shape.js';

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

/** Lifts a number to a 0-d tensor of a dtype suitable next to `like`. */
export function scalarLike(like: Tensor, value: number): Tensor {
  const dtype = promoteScalar(like.dtype, value);
  const arr = typedArrayFor(dtype, 1);
  arr[0] = value;
  return wrap(like.backend, like.backend.fromArray(arr), [], dtype);
}

export function sameDevice(op: string, ...ts: Tensor[]): Backend {
  const b = ts[0]!.backend;
  for (const t of ts) {
    if (t.backend !== b) {
      throw new ValueError(op, `tensors are on different devices: ${ts.map((x) => `${x.device} ${fmtShape(x.shape)}`).join(', ')}`);
    }
  }
  return b;
}

/** True when any input wants a gradient and recording is on. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/**
 * Attaches a graph node to `out` when any input requires grad. backward receives the gradient of out
 * and returns one gradient (or null) per input, each with that input's shape.
 */
export function record(
  out: Tensor,
  name: string,
  inputs: (Tensor | null)[],
  backward: (g: Tensor) => (Tensor | null)[],
  saved: Tensor[] = [],
): Tensor {
  if (!needsGrad(...inputs)) return out;
  const node: Node = { name, inputs, saved, backward };
  out._node = node;
  out.requiresGrad = true;
  return out;
}
