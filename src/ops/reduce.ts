// Reductions over any set of axes, with keepdim. sum/max/min/prod/argmax/argmin are kernels; mean,
// var, std and logsumexp are composed from them so their gradients come for free.

import type { ReduceOp } from '../backend/backend.js';
import { ValueError, fmtShape } from '../errors.js';
import { isFloat, type DType } from '../base/dtype.js';
import { normAxes, numel } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { record, wrap } from './make.js';
import { expand, reshape } from './view.js';
import { where } from './binary.js';

/**
 * The axes to reduce: one, several, or all (null or omitted).
 * @inline
 */
type Axes = number | readonly number[] | null | undefined;

function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean, outDtype: DType): Tensor {
  if (numel(x.shape) === 0 && (op === 'max' || op === 'min' || op === 'argmax' || op === 'argmin')) {
    throw new ValueError(op, `cannot reduce an empty tensor ${fmtShape(x.shape)}`);
  }
  const reduced = x.shape.filter((_, i) => !axes.includes(i));
  const buf = x.backend.reduce(op, x.view_(), axes, outDtype);
  const out = wrap(x.backend, buf, reduced, outDtype);
  return keepdim ? reshapeNoGrad(out, keptShape(x.shape, axes)) : out;
}

function reshapeNoGrad(t: Tensor, shape: number[]): Tensor {
  return noGrad(() => reshape(t, shape));
}

/** Expands a reduced gradient back over the reduced axes of `shape`. */
function spread(g: Tensor, shape: readonly number[], axes: number[]): Tensor {
  return expand(reshape(g, keptShape(shape, axes)), shape);
}

/** Sum over the given axes (all by default), like torch.sum. */
export function sum(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normAxes('sum', axis, x.ndim);
  const dtype: DType = isFloat(x.dtype) ? x.dtype : 'int32';
  const out = reduceRaw('sum', x, axes, keepdim, dtype);
  return record(out, 'sum', [x], (g) => [spread(g, x.shape, axes)]);
}

/** Mean over the given axes (all by default). */
export function mean(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normAxes('mean', axis, x.ndim);
  const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
  const xf = isFloat(x.dtype) ? x : x.float();
  return sum(xf, axes, keepdim).div(n);
}

/** Product over the given axes (all by default). */
export function prod(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normAxes('prod', axis, x.ndim);
  const dtype: DType = isFloat(x.dtype) ? x.dtype : 'int32';
  const out = reduceRaw('prod', x, axes, keepdim, dtype);
  // d/dx_i prod = the product of the other elements. Not prod / x_i, which is 0/0 at a zero: take the
  // product of the nonzero elements, which is the answer at a slice's only zero, and 0 elsewhere in it.
  return record(out, 'prod', [x], (g) => {
    const zero = x.eq(0);
    const nonzero = where(zero, 1, x);
    const zeros = zero.to(x.dtype).sum(axes, true);
    const prodNonzero = prod(nonzero, axes, true);
    const others = where(zero, where(zeros.eq(1), prodNonzero, 0), where(zeros.eq(0), prodNonzero, 0).div(nonzero));
    return [spread(g, x.shape, axes).mul(others)];
  });
}

function extremum(op: 'max' | 'min', x: Tensor, axis: Axes, keepdim: boolean): Tensor {
  const axes = normAxes(op, axis, x.ndim);
  const out = reduceRaw(op, x, axes, keepdim, x.dtype);
  return record(
    out,
    op,
    [x],
    (g) => {
      // The gradient goes to the elements equal to the result, shared evenly between ties (torch.amax).
      const outK = keepdim ? out : reshape(out, keptShape(x.shape, axes));
      const mask = x.eq(expand(outK, x.shape)).to(g.dtype);
      const count = mask.sum(axes, true);
      return [spread(g, x.shape, axes).mul(mask).div(count)];
    },
    [out],
  );
}

/** Maximum over the given axes (all by default); the values only (argmax gives the indices). */
export const max = (x: Tensor, axis?: Axes, keepdim = false): Tensor => extremum('max', x, axis, keepdim);
/** Minimum over the given axes (all by default); the values only (argmin gives the indices). */
export const min = (x: Tensor, axis?: Axes, keepdim = false): Tensor => extremum('min', x, axis, keepdim);

function argExtremum(op: 'argmax' | 'argmin', x: Tensor, axis: number | null | undefined, keepdim: boolean): Tensor {
  if (axis === undefined || axis === null) {
    // over the flattened tensor, like torch.argmax(x)
    const flat = reshapeNoGrad(x.contiguous(), [x.size]);
    const r = reduceRaw(op, flat, [0], false, 'int32');
    return keepdim
      ? reshapeNoGrad(
          r,
          x.shape.map(() => 1),
        )
      : r;
  }
  const axes = normAxes(op, axis, x.ndim);
  return reduceRaw(op, x, axes, keepdim, 'int32');
}
/** Index of the largest element along an axis (of the flattened tensor by default), as int32. */
export const argmax = (x: Tensor, axis?: number | null, keepdim = false): Tensor => argExtremum('argmax', x, axis, keepdim);
/** Index of the smallest element along an axis (of the flattened tensor by default), as int32. */
export const argmin = (x: Tensor, axis?: number | null, keepdim = false): Tensor => argExtremum('argmin', x, axis, keepdim);

/** Options of var and std: the degrees-of-freedom correction and keepdim. */
export interface VarOptions {
  /** Subtract this from the count in the denominator: 1 (default) is the unbiased estimate, 0 the population variance. */
  correction?: number;
  /** PyTorch's older flag: false means correction 0. */
  unbiased?: boolean;
  /** Keep the reduced axes as size 1. */
  keepdim?: boolean;
}

/** Variance over the given axes (torch.var), unbiased unless opts.correction says otherwise. */
export function variance(x: Tensor, axis?: Axes, opts: VarOptions = {}): Tensor {
  const axes = normAxes('var', axis, x.ndim);
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
  const d = x.sub(mean(x, axes, true));
  return d
    .square()
    .sum(axes, opts.keepdim ?? false)
    .div(Math.max(n - correction, 0));
}

/** Standard deviation over the given axes (torch.std), unbiased unless opts.correction says otherwise. */
export function std(x: Tensor, axis?: Axes, opts: VarOptions = {}): Tensor {
  return variance(x, axis, opts).sqrt();
}

/** log(sum(exp(x))) computed stably by factoring out the maximum. */
export function logsumexp(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normAxes('logsumexp', axis, x.ndim);
  const m = noGrad(() => {
    const mx = x.max(axes, true);
    return where(mx.abs().eq(Infinity), 0, mx); // all -inf (or +inf) rows: no shift
  });
  const s = x.sub(m).exp().sum(axes, true).log().add(m);
  return keepdim
    ? s
    : reshape(
        s,
        x.shape.filter((_, i) => !axes.includes(i)),
      );
}
