// The fused Adam/AdamW step on the WASM kernel: float32 tensors in the heap, split into contiguous
// ranges across threads when big enough for the split to pay for its dispatch.

import type { AdamHyper, View } from '../../backend.js';
import { adamScalars, checkUpdateViews } from '../optim.js';
import { numel } from '../../../base/shape.js';
import type { KernelArgs } from './kernels.js';
import type { WasmRuntime } from './runtime.js';

/**
 * Elements per thread below which the update uses fewer threads. The step streams ~20 bytes per
 * element and is bound by memory, not arithmetic: ~1 ns/element on one core, so a 64K range costs
 * ~60-100 us against ~10-20 us per dispatch. On the shared 2-core dev box (busy with other work)
 * two threads did not beat one even at 1M elements, so the bar is set high rather than tuned.
 */
export const ADAM_PARALLEL_MIN = 1 << 16;

const ptr = (v: View): number => (v.buf as Float32Array).byteOffset + v.offset * 4;

/** Runs the step and returns true, or returns false (touching nothing) where it does not apply. */
export function adamUpdateF32(rt: WasmRuntime, param: View, grad: View, m: View, v: View, h: AdamHyper, vmax?: View | null): boolean {
  const views = vmax ? [param, grad, m, v, vmax] : [param, grad, m, v];
  if (views.some((x) => x.dtype !== 'float32' || !rt.heap.owns(x.buf as Float32Array))) return false;
  checkUpdateViews('adamUpdate', views);
  const n = numel(param.shape);
  if (n === 0) return true;
  const { stepSize, bc2Sqrt, l2, decay } = adamScalars(h);
  const flags = (h.maximize ? 1 : 0) | (h.decoupled ? 2 : 0) | (l2 !== 0 ? 4 : 0);
  const [pP, gP, mP, vP, xP] = [ptr(param), ptr(grad), ptr(m), ptr(v), vmax ? ptr(vmax) : 0];
  const T = Math.min(rt.threads, Math.max(1, Math.floor(n / ADAM_PARALLEL_MIN)));
  const jobs: KernelArgs<'adamStepF32'>[] = [];
  // ranges in multiples of 4 elements, so only the last range has a scalar tail
  const chunk = Math.ceil(n / T / 4) * 4;
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const b = i0 * 4;
    jobs.push([
      pP + b,
      gP + b,
      mP + b,
      vP + b,
      xP ? xP + b : 0,
      Math.min(chunk, n - i0),
      h.beta1,
      h.beta2,
      h.eps,
      l2,
      decay,
      stepSize,
      bc2Sqrt,
      flags,
    ]);
  }
  rt.pool.run('adamStepF32', jobs);
  return true;
}
