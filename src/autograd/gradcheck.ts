// Checks analytic gradients against central finite differences computed in float64, so round-off
// does not hide or fake an error. fn is run on float64 copies of the inputs.

import { AutogradError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { noGrad } from './grad-mode.js';
import { scope } from '../tensor/memory.js';

/** Options of gradcheck: finite-difference step, tolerances, and whether to throw. */
export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Throw on mismatch (default) or just return false. */
  raiseException?: boolean;
}

/**
 * What gradcheckDetailed found: whether every gradient matched, the largest error, and a message.
 * @inline
 */
export interface GradcheckResult {
  /** Whether every gradient matched within the tolerances. */
  ok: boolean;
  /** Largest |analytic - numeric| over all inputs. */
  maxError: number;
  /** What differed, and where (empty when ok). */
  message: string;
}

/**
 * fn maps tensors to a tensor (any shape). For a random upstream gradient u, compares the gradient of
 * sum(fn(x) * u) with respect to each float input against (f(x+eps) - f(x-eps)) / 2eps.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): boolean {
  return gradcheckDetailed(fn, inputs, opts).ok;
}

/** gradcheck(), returning whether it passed, the largest error and a message rather than a boolean. */
export function gradcheckDetailed(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  opts: GradcheckOptions = {},
): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  return scope(() => {
    const xs = inputs.map((t) => {
      const floaty = t.dtype === 'float32' || t.dtype === 'float64';
      const c = floaty ? tensor(t.dataSync(), { shape: t.shape, dtype: 'float64', device: t.device }) : t;
      if (floaty && t.requiresGrad) c.requiresGrad = true;
      return c;
    });
    const out0 = fn(...xs);
    // a fixed, irregular upstream gradient so every output element is weighted differently
    const u = tensor(
      Float64Array.from({ length: out0.size }, (_, i) => Math.sin(i * 1.7 + 0.3) + 0.5),
      { shape: out0.shape, device: out0.device },
    );
    const scalar = (o: Tensor): number => Number(noGrad(() => o.to('float64').mul(u).sum().item()));
    out0.to('float64').mul(u).sum().backward();
    let maxError = 0;
    const problems: string[] = [];
    xs.forEach((x, k) => {
      if (!x.requiresGrad) return;
      const analytic = x.grad ? x.grad.dataSync() : new Float64Array(x.size);
      const base = x.dataSync() as Float64Array;
      for (let i = 0; i < x.size; i++) {
        const orig = base[i]!;
        const probe = (v: number): number => {
          base[i] = v;
          const xi = tensor(Float64Array.from(base), { shape: x.shape, device: x.device });
          const args = xs.map((y, j) => (j === k ? xi : y.detach()));
          return scalar(noGrad(() => fn(...args)));
        };
        const numeric = (probe(orig + eps) - probe(orig - eps)) / (2 * eps);
        base[i] = orig;
        const err = Math.abs(analytic[i]! - numeric);
        maxError = Math.max(maxError, err);
        // written as !(err <= tol) so a NaN gradient (analytic or numeric) counts as a mismatch
        if (!(err <= atol + rtol * Math.abs(numeric)) && problems.length < 5) {
          problems.push(`input ${k} ${fmtShape(x.shape)} element ${i}: analytic ${analytic[i]} vs numeric ${numeric}`);
        }
      }
    });
    const ok = problems.length === 0;
    const message = ok ? 'gradients match' : `gradcheck: gradients differ:\n  ${problems.join('\n  ')}`;
    if (!ok && (opts.raiseException ?? true)) throw new AutogradError('gradcheck', message.replace(/^gradcheck: /, ''));
    return { ok, maxError, message };
  });
}
