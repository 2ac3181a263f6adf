// Softmax and log-softmax along one axis, fused: one pass for the max, one for the exps and their sum,
// one to write. Subtracting the row max keeps exp from overflowing; log-softmax is x - max - log(sum)
// rather than log(softmax), so tiny probabilities keep their precision instead of rounding to log(0).

import type { View } from '../backend.js';
import type { TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { IndexError } from '../../errors.js';
import { contiguousStrides, dataOf, forEachRow, planRows, sizeOf, without } from './strided.js';

export function softmax(x: View, axis: number, log: boolean): TypedArray {
  const rank = x.shape.length;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    throw new IndexError('softmax', `axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  const out = typedArrayFor(x.dtype, sizeOf(x.shape));
  const L = x.shape[axis]!;
  if (out.length === 0) return out;
  const outStrides = contiguousStrides(x.shape);
  const xs = x.strides[axis]!;
  const os = outStrides[axis]!;
  const xd = dataOf(x);
  const e = new Float64Array(L);
  // Iterate over every position of the other axes; each is one softmax row of length L.
  const plan = planRows(without(x.shape, axis), [without(x.strides, axis), without(outStrides, axis)]);
  const n = plan.n;
  const [xStep, oStep] = plan.inner as [number, number];
  forEachRow(plan, [x.offset, 0], (offs) => {
    for (let r = 0; r < n; r++) {
      const xb = offs[0]! + r * xStep;
      const ob = offs[1]! + r * oStep;
      let max = -Infinity;
      for (let k = 0; k < L; k++) {
        const v = xd[xb + k * xs]!;
        if (v > max || v !== v) max = v;
      }
      // A row of all -inf gives NaN (as torch): -inf - -inf is NaN.
      let sum = 0;
      for (let k = 0; k < L; k++) {
        const z = xd[xb + k * xs]! - max;
        e[k] = log ? z : Math.exp(z);
        sum += log ? Math.exp(z) : e[k]!;
      }
      if (log) {
        const ls = Math.log(sum);
        for (let k = 0; k < L; k++) out[ob + k * os] = e[k]! - ls;
      } else {
        const inv = 1 / sum;
        for (let k = 0; k < L; k++) out[ob + k * os] = e[k]! * inv;
      }
    }
  });
  return out;
}
