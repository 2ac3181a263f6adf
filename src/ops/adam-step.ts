// One Adam/AdamW step as an op, in place (PyTorch 1.13's rule, amsgrad included): the device's fused
// 'adamStep' kernel where it has one (one pass over memory per parameter), else the composed tensor
// ops below, which are the reference. The optimizer (optim/adam.ts) keeps the state and calls this.

import type { AdamHyper } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { dispatchFused } from './fused.js';

/** The moments one parameter carries between steps; all are updated in place. */
export interface AdamMoments {
  /** exp_avg */
  readonly m: Tensor;
  /** exp_avg_sq */
  readonly v: Tensor;
  /** max_exp_avg_sq, for amsgrad; null otherwise. */
  readonly vmax: Tensor | null;
}

/**
 * Updates p, and its moments, in place from grad by one step `h` (h.step counts from 1). Runs
 * without recording a graph node: call it under noGrad, as an optimizer step does. `fused: false`
 * forces the composed ops.
 */
export function adamStep_(p: Tensor, grad: Tensor, moments: AdamMoments, h: AdamHyper, opts: { fused?: boolean } = {}): void {
  const { m, v, vmax } = moments;
  dispatchFused('adamStep', {
    backend: p.backend,
    eligible: opts.fused !== false && p.isContiguous() && grad.dtype === p.dtype && grad.backend === p.backend,
    fused: (kernel) => kernel.forward(p.backend, p.view_(), grad.contiguous().view_(), m.view_(), v.view_(), h, vmax?.view_()),
    reference: () => adamStepComposed(p, grad, moments, h),
  });
}

/** The step in tensor ops, statement by statement as PyTorch's _single_tensor_adam(w). */
function adamStepComposed(p: Tensor, grad: Tensor, { m, v, vmax }: AdamMoments, h: AdamHyper): void {
  let d = h.maximize ? grad.neg() : grad;
  if (h.decoupled) {
    if (h.weightDecay !== 0) p.copy_(p.mul(1 - h.lr * h.weightDecay));
  } else if (h.weightDecay !== 0) {
    d = d.add(p.mul(h.weightDecay));
  }
  m.copy_(m.mul(h.beta1).add(d.mul(1 - h.beta1)));
  v.copy_(v.mul(h.beta2).add(d.mul(d).mul(1 - h.beta2)));
  const stepSize = h.lr / (1 - h.beta1 ** h.step);
  const bc2Sqrt = Math.sqrt(1 - h.beta2 ** h.step);
  const s = vmax ? vmax.copy_(vmax.maximum(v)) : v;
  const denom = s.sqrt().div(bc2Sqrt).add(h.eps);
  p.copy_(p.add(m.mul(-stepSize).div(denom)));
}
