// The Adam/AdamW rule every device's fused update kernel shares: the argument contract and the
// per-step scalars. It lives here, beside backend.ts, so the CPU and WebGPU kernels derive the same
// numbers without either backend importing the other.

import type { AdamHyper, View } from './backend.js';
import { DTypeError, ValueError } from '../errors.js';
import { assertSameShape, isContiguous } from '../base/shape.js';

/** Checks the shared contract of the fused optimizer kernels: one float dtype, one shape, contiguous. */
export function checkUpdateViews(op: string, views: readonly View[]): void {
  const [first] = views;
  for (const v of views) {
    if (v.dtype !== 'float32' && v.dtype !== 'float64') throw new DTypeError(op, `expected float32 or float64 tensors, got ${v.dtype}`);
    if (v.dtype !== first!.dtype) throw new DTypeError(op, `dtypes differ: ${first!.dtype} vs ${v.dtype}`);
    assertSameShape(op, first!.shape, v.shape);
    if (!isContiguous(v.shape, v.strides)) throw new ValueError(op, 'every tensor must be contiguous');
  }
}

/** The scalars one Adam step uses, derived once per tensor. */
export function adamScalars(h: AdamHyper): { stepSize: number; bc2Sqrt: number; l2: number; decay: number } {
  return {
    stepSize: h.lr / (1 - h.beta1 ** h.step),
    bc2Sqrt: Math.sqrt(1 - h.beta2 ** h.step),
    l2: h.decoupled ? 0 : h.weightDecay,
    decay: h.decoupled ? 1 - h.lr * h.weightDecay : 1,
  };
}
