// Optimizer update kernels, in place: the reference the WASM kernels are checked against.

import type { AdamHyper, View } from '../backend.js';
import { adamScalars, checkUpdateViews } from '../adam-rule.js';
import { numel } from '../../base/shape.js';
import { dataOf } from './strided.js';

// the WASM kernel (wasm/optim.ts) takes the shared rule from here
export { adamScalars, checkUpdateViews };

export function adamUpdate(param: View, grad: View, m: View, v: View, h: AdamHyper, vmax?: View | null): void {
  checkUpdateViews('adamUpdate', vmax ? [param, grad, m, v, vmax] : [param, grad, m, v]);
  const [P, G, M, V] = [dataOf(param), dataOf(grad), dataOf(m), dataOf(v)];
  const VM = vmax ? dataOf(vmax) : null;
  const [po, go, mo, vo, xo] = [param.offset, grad.offset, m.offset, v.offset, vmax?.offset ?? 0];
  const { stepSize, bc2Sqrt, l2, decay } = adamScalars(h);
  const { beta1: b1, beta2: b2, eps } = h;
  const sign = h.maximize ? -1 : 1;
  const n = numel(param.shape);
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
