// Plumbing every op shares: wrapping a kernel's output buffer in a Tensor (from the tensor floor),
// recording graph nodes, lifting numbers to tensors, and the same-device check.

import type { Backend, View } from '../backend/backend.js';
import type { Node } from '../autograd/node.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { captureTrace, isAnomalyEnabled } from '../autograd/anomaly.js';
import { ValueError, fmtShape } from '../errors.js';
import { promoteScalar, typedArrayFor } from '../base/dtype.js';
import { sameShape } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { wrap } from '../tensor/from-buffer.js';

// The tensor floor makes tensors over backend buffers; every op reaches them through this file.
export { wrap, viewOf, filled, empty } from '../tensor/from-buffer.js';

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
  for (const t of inputs) if (t?.requiresGrad) return true;
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
  // anomaly mode remembers where each op was recorded, so backward() can say where a NaN came from
  const node: Node = isAnomalyEnabled() ? { name, inputs, saved, backward, trace: captureTrace() } : { name, inputs, saved, backward };
  out._node = node;
  out.requiresGrad = true;
  return out;
}

/** A strided view of t broadcast to `shape` (stride 0 on new or stretched axes). */
export function broadcastView(t: Tensor, shape: readonly number[]): View {
  const v = t.view_();
  if (sameShape(t.shape, shape)) return v;
  const lead = shape.length - t.ndim;
  const strides = shape.map((d, i) => (i < lead || (t.shape[i - lead] === 1 && d !== 1) ? 0 : t.strides[i - lead]!));
  return { ...v, shape, strides };
}
