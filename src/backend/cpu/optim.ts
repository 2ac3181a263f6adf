// Optimizer update kernels, in place: the reference the WASM kernels are checked against.

import type { AdamHyper, View } from '../backend.js';
import { DTypeError, ValueError } from '../../errors.js';
import { dataOf, sizeOf } from './strided.js';
import { assertSameShape, isContiguous } from '../../base/shape.js';

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

export function adamUpdate(param: View, grad: View, m: View, v: View, h: AdamHyper, vmax?: View | null): void {
  checkUpdateViews('adamUpdate', vmax ? [param, grad, m, v, vmax] : [param, grad, m, v]);
  const [P, G, M, V] = [dataOf(param), dataOf(grad), dataOf(m), dataOf(v)];
  const VM = vmax ? dataOf(vmax) : null;
  const [po, go, mo, vo, xo] = [param.offset, grad.offset, m.offset, v.offset, vmax?.offset ?? 0];
  const { stepSize, bc2Sqrt, l2, decay } = adamScalars(h);
  const { beta1: b1, beta2: b2, eps } = h;
  const sign = h.maximize ? -1 : 1;
  const n = sizeOf(param.shape);
  for (let i = 0; i < n; i++) {
    const p = P[po + i]!;
    let g = sign * G[go + i]!;
    if (l2 !== 0) g += l2 * p;
    M[mo + i] = b1 * M[mo + i]! + (1 - b1) * g;
    V[vo + i] = b2 * V[vo + i]! + (1 - b2) * g * g;
    let s = V[vo + i]!;
    if (VM) {
      s = Math.max(VM[xo + i]!, s);
      VM[xo + i] = s;
    }
    P[po + i] = p * decay - (stepSize * M[mo + i]!) / (Math.sqrt(s) / bc2Sqrt + eps);
  }
}
