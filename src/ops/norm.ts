// Normalisation layers' functional forms, composed from reductions so autograd differentiates them;
// layer norm over the last axis runs as the device's fused kernel where it has one (ops/fused.ts).

import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { reshape } from './view.js';
import { isFloat } from '../base/dtype.js';
import { needsGrad, record, wrap } from './make.js';
import type { FusedKernel } from '../backend/fused.js';
import { dispatchFused } from './fused.js';

/** Options of the functional batch norm: affine parameters, mode, momentum and eps. */
export interface BatchNormOptions {
  /** Per-channel scale (gamma), or none. */
  weight?: Tensor | null;
  /** Per-channel shift (beta), or none. */
  bias?: Tensor | null;
  /** Use batch statistics (and update the running ones) rather than the running ones. */
  training?: boolean;
  /** How far each batch moves the running statistics (default 0.1, as PyTorch). */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalisation over every axis but 1 (channels): [N, C] or [N, C, ...]. In training the running
 * statistics, when given, are updated in place with the unbiased batch variance, as PyTorch does.
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, opts: BatchNormOptions = {}): Tensor {
  if (x.ndim < 2) throw new ShapeError('batchNorm', `expected input [N, C, ...], got ${fmtShape(x.shape)}`);
  const c = x.shape[1]!;
  const training = opts.training ?? false;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  for (const [name, t] of [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
    ['weight', opts.weight],
    ['bias', opts.bias],
  ] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== c))
      throw new ShapeError('batchNorm', `${name} must have shape [${c}], got ${fmtShape(t.shape)}`);
  }
  const axes = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
  const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  let y: Tensor;
  if (training) {
    const n = x.size / c;
    if (n <= 1) throw new ValueError('batchNorm', `expected more than 1 value per channel when training, got input ${fmtShape(x.shape)}`);
    const mean = x.mean(axes, true);
    const centered = x.sub(mean);
    const varB = centered.square().mean(axes, true);
    y = centered.mul(varB.add(eps).rsqrt());
    noGrad(() => {
      if (runningMean) runningMean.copy_(runningMean.mul(1 - momentum).add(reshape(mean, [c]).mul(momentum)));
      if (runningVar) runningVar.copy_(runningVar.mul(1 - momentum).add(reshape(varB, [c]).mul((momentum * n) / (n - 1))));
    });
  } else {
    if (!runningMean || !runningVar) throw new ValueError('batchNorm', 'evaluation mode needs runningMean and runningVar');
    y = x.sub(reshape(runningMean, bshape)).mul(reshape(runningVar, bshape).add(eps).rsqrt());
  }
  if (opts.weight) y = y.mul(reshape(opts.weight, bshape));
  if (opts.bias) y = y.add(reshape(opts.bias, bshape));
  return y;
}

/** Layer normalisation over the trailing `normalizedShape` axes. */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const tail = x.shape.slice(x.ndim - ns.length);
  if (ns.length > x.ndim || tail.some((d, i) => d !== ns[i])) {
    throw new ShapeError(
      'layerNorm',
      `normalizedShape ${fmtShape(ns)} does not match the trailing dimensions of input ${fmtShape(x.shape)}`,
    );
  }
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && (t.ndim !== ns.length || t.shape.some((d, i) => d !== ns[i]))) {
      throw new ShapeError('layerNorm', `${name} must have shape ${fmtShape(ns)}, got ${fmtShape(t.shape)}`);
    }
  }
  return dispatchFused('layerNorm', {
    backend: x.backend,
    eligible: ns.length === 1 && canFuse(x, weight, bias),
    fused: (kernel) => layerNormFused(kernel, x, weight ?? null, bias ?? null, eps),
    reference: () => layerNormComposed(x, ns, weight, bias, eps),
  });
}

/** Layer norm composed from reductions (autograd differentiates it): the reference of the fused kernel. */
function layerNormComposed(
  x: Tensor,
  ns: readonly number[],
  weight: Tensor | null | undefined,
  bias: Tensor | null | undefined,
  eps: number,
): Tensor {
  const axes = ns.map((_, i) => x.ndim - ns.length + i);
  const mean = x.mean(axes, true);
  const centered = x.sub(mean);
  const v = centered.square().mean(axes, true);
  let y = centered.mul(v.add(eps).rsqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

function canFuse(x: Tensor, weight?: Tensor | null, bias?: Tensor | null): boolean {
  if (!isFloat(x.dtype)) return false;
  return [weight, bias].every((t) => !t || (t.dtype === x.dtype && t.backend === x.backend));
}

/**
 * Layer norm over the last axis as one kernel and one graph node: the composed form above records six
 * nodes and makes as many full-size temporaries; this keeps only the per-row mean and rstd for backward.
 */
function layerNormFused(kernel: FusedKernel<'layerNorm'>, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const b = x.backend;
  const r = kernel.forward(b, x.view_(), weight?.view_() ?? null, bias?.view_() ?? null, eps);
  const y = wrap(b, r.y, x.shape, x.dtype);
  const rowShape = x.shape.slice(0, -1);
  const mean = wrap(b, r.mean, rowShape, x.dtype);
  const rstd = wrap(b, r.rstd, rowShape, x.dtype);
  if (!needsGrad(x, weight, bias)) {
    mean.dispose();
    rstd.dispose();
    return y;
  }
  return record(
    y,
    'layerNorm',
    [x, weight, bias],
    (g) => {
      const d = kernel.backward(b, g.view_(), x.view_(), mean.view_(), rstd.view_(), weight?.view_() ?? null, bias !== null);
      return [
        wrap(b, d.dx, x.shape, x.dtype),
        weight && d.dweight !== null ? wrap(b, d.dweight, weight.shape, x.dtype) : null,
        bias && d.dbias !== null ? wrap(b, d.dbias, bias.shape, x.dtype) : null,
      ];
    },
    [mean, rstd],
  );
}
