// The fused Adam/AdamW update in WGSL: param, m, v (and vmax) updated in place in one pass, one thread
// per element. The per-step scalars come from the shared rule's adamScalars (adam-rule.ts), so both backends apply
// the same rule (PyTorch 1.13's) and differ only by float32 rounding.

import type { AdamHyper, View } from '../../backend.js';
import { ValueError } from '../../../errors.js';
import { adamScalars, checkUpdateViews } from '../../adam-rule.js';
import { ENTRY_ARGS, Params, PRELUDE, linearIndex, type Engine } from '../engine.js';
import { allocate } from './elementwise.js';
import { numel } from '../../../base/shape.js';
import { binding, bufOf, wgslType, type GpuBuffer } from './common.js';

const WG = 256;

export function adamUpdate(engine: Engine, param: View, grad: View, m: View, v: View, h: AdamHyper, vmax?: View | null): void {
  const op = 'adamUpdate';
  checkUpdateViews(op, vmax ? [param, grad, m, v, vmax] : [param, grad, m, v]);
  const dtype = param.dtype;
  wgslType(dtype, op);
  const n = numel(param.shape);
  if (n === 0) return;

  // Each updated tensor is a read_write binding, and one buffer may not be bound twice in a dispatch
  // where one binding is writable.
  const updated = vmax ? [param, m, v, vmax] : [param, m, v];
  if (new Set(updated.map((u) => bufOf(u).buffer)).size !== updated.length) {
    throw new ValueError(op, `param, exp_avg, exp_avg_sq${vmax ? ' and max_exp_avg_sq' : ''} must live in distinct buffers on webgpu`);
  }
  // A gradient that shares memory with an updated tensor is read from a copy, made before the update.
  let gradBuf = bufOf(grad);
  let gradOffset = grad.offset;
  let staged: GpuBuffer | null = null;
  if (updated.some((u) => bufOf(u).buffer === gradBuf.buffer)) {
    staged = allocate(engine, dtype, n);
    engine.copy(gradBuf.buffer, grad.offset * 4, staged.buffer, 0, n * 4);
    gradBuf = staged;
    gradOffset = 0;
  }

  const { stepSize, bc2Sqrt, l2, decay } = adamScalars(h);
  const p = new Params()
    .u(n, param.offset, gradOffset, m.offset, v.offset, vmax?.offset ?? 0)
    .f(h.beta1, 1 - h.beta1, h.beta2, 1 - h.beta2, h.eps, stepSize, bc2Sqrt, l2, decay, h.maximize ? -1 : 1);
  const buffers = [bufOf(param).buffer, gradBuf.buffer, bufOf(m).buffer, bufOf(v).buffer];
  if (vmax) buffers.push(bufOf(vmax).buffer);
  const code = (): string => {
    const decls = [
      binding(1, 'PARAM', dtype, 'read_write'),
      binding(2, 'GRAD', dtype, 'read'),
      binding(3, 'EXP_AVG', dtype, 'read_write'),
      binding(4, 'EXP_AVG_SQ', dtype, 'read_write'),
    ];
    if (vmax) decls.push(binding(5, 'MAX_EXP_AVG_SQ', dtype, 'read_write'));
    return `${PRELUDE}
${decls.join('\n')}
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(WG)};
  if (i >= pu(0u)) { return; }
  let pidx = pu(1u) + i; let mi = pu(3u) + i; let vi = pu(4u) + i;
  let b1 = pf(6u); let b2 = pf(8u); let eps = pf(10u);
  let step_size = pf(11u); let bc2_sqrt = pf(12u); let l2 = pf(13u); let decay = pf(14u);
  let p = PARAM[pidx];
  var g = pf(15u) * GRAD[pu(2u) + i];
  // Adam's L2 term; skipped at 0 (not multiplied by 0) so an infinite weight does not turn g into NaN.
  if (l2 != 0.0) { g = g + l2 * p; }
  let m = b1 * EXP_AVG[mi] + pf(7u) * g;
  EXP_AVG[mi] = m;
  let v = b2 * EXP_AVG_SQ[vi] + pf(9u) * g * g;
  EXP_AVG_SQ[vi] = v;
  ${
    vmax
      ? `let xi = pu(5u) + i;
  let s = max(MAX_EXP_AVG_SQ[xi], v);
  MAX_EXP_AVG_SQ[xi] = s;`
      : 'let s = v;'
  }
  PARAM[pidx] = p * decay - (step_size * m) / (sqrt(s) / bc2_sqrt + eps);
}`;
  };
  engine.dispatch({ key: `adam|${dtype}|${vmax ? 'amsgrad' : ''}`, code }, buffers, p, Math.ceil(n / WG));
  if (staged) engine.release(staged);
}
