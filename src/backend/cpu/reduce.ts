// Reductions over a set of axes: sum, prod, max, min, argmax, argmin.
//
// sum/prod/max/min walk x once in its own row-major order, accumulating into a float64 array whose
// strides are the output's with 0 on the reduced axes. That one loop covers both common cases well:
// reducing the last axis (the accumulator stride is 0, a running scalar) and reducing a leading axis
// such as the batch (the accumulator row is contiguous, a vector add). Float64 accumulation keeps sums
// of float32 data inside PyTorch's tolerances and int32 sums exact.
//
// argmax/argmin need the position within the reduced block, so they visit each output's block in
// row-major order of the reduced axes through a precomputed offset table.

import type { ReduceOp, View } from '../backend.js';
import type { DType, TypedArray } from '../../base/dtype.js';
import { ValueError, fmtShape } from '../../errors.js';
import { contiguousStrides, numel } from '../../base/shape.js';
import { contiguousCopy, dataOf, forEachRow, offsetTable, planRows, storeAs } from './strided.js';
import { typedArrayFor } from '../../base/dtype.js';

export function reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): TypedArray {
  const rank = x.shape.length;
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i]!;
    if (!Number.isInteger(a) || a < 0 || a >= rank || (i > 0 && a <= axes[i - 1]!)) {
      throw new ValueError('reduce', `axes [${axes.join(',')}] must be sorted, unique and in [0, ${rank}) for shape ${fmtShape(x.shape)}`);
    }
  }
  const isReduced = x.shape.map((_, i) => axes.includes(i));
  const outShape = x.shape.filter((_, i) => !isReduced[i]);
  const outSize = numel(outShape);
  const blockSize = numel(axes.map((a) => x.shape[a]!));

  if (axes.length === 0 && op !== 'argmax' && op !== 'argmin' && x.dtype === outDtype) return contiguousCopy(x);
  if (blockSize === 0 && outSize > 0 && op !== 'sum' && op !== 'prod') {
    throw new ValueError('reduce', `${op} of an empty axis is undefined (shape ${fmtShape(x.shape)}, axes [${axes.join(',')}])`);
  }
  if (op === 'argmax' || op === 'argmin') return argReduce(op === 'argmax', x, isReduced, outSize, outDtype);

  const acc = new Float64Array(outSize);
  const init = op === 'sum' ? 0 : op === 'prod' ? 1 : op === 'max' ? -Infinity : Infinity;
  if (init !== 0) acc.fill(init);
  if (outSize === 0 || blockSize === 0) return storeAs(outDtype, acc);

  // The accumulator viewed with x's shape: output strides, 0 along reduced axes.
  const outStrides = contiguousStrides(outShape);
  const accStrides: number[] = [];
  for (let i = 0, k = 0; i < rank; i++) accStrides.push(isReduced[i] ? 0 : outStrides[k++]!);

  const xd = dataOf(x);
  const plan = planRows(x.shape, [x.strides, accStrides]);
  const n = plan.n;
  const xs = plan.inner[0]!;
  const cs = plan.inner[1]!;
  forEachRow(plan, [x.offset, 0], (offs) => {
    let xi = offs[0]!;
    let ci = offs[1]!;
    switch (op) {
      case 'sum':
        if (cs === 0) {
          let s = acc[ci]!;
          for (let j = 0; j < n; j++, xi += xs) s += xd[xi]!;
          acc[ci] = s;
        } else {
          for (let j = 0; j < n; j++, xi += xs, ci += cs) acc[ci]! += xd[xi]!;
        }
        return;
      case 'prod':
        for (let j = 0; j < n; j++, xi += xs, ci += cs) acc[ci]! *= xd[xi]!;
        return;
      case 'max':
        // `v > m || v !== v` lets NaN in and nothing after it out: NaN propagates as in torch.max.
        for (let j = 0; j < n; j++, xi += xs, ci += cs) {
          const v = xd[xi]!;
          if (v > acc[ci]! || v !== v) acc[ci] = v;
        }
        return;
      case 'min':
        for (let j = 0; j < n; j++, xi += xs, ci += cs) {
          const v = xd[xi]!;
          if (v < acc[ci]! || v !== v) acc[ci] = v;
        }
        return;
    }
  });
  return storeAs(outDtype, acc);
}

/** Index of the first max (or min) within each reduced block, NaN counting as the extreme. */
function argReduce(isMax: boolean, x: View, isReduced: boolean[], outSize: number, outDtype: DType): TypedArray {
  const out = typedArrayFor(outDtype, outSize);
  if (outSize === 0) return out;
  const keptShape = x.shape.filter((_, i) => !isReduced[i]);
  const keptStrides = x.strides.filter((_, i) => !isReduced[i]);
  const block = offsetTable(
    x.shape.filter((_, i) => isReduced[i]),
    x.strides.filter((_, i) => isReduced[i]),
  );
  const m = block.length;
  const xd = dataOf(x);
  const plan = planRows(keptShape, [keptStrides]);
  const n = plan.n;
  const ks = plan.inner[0]!;
  forEachRow(plan, [x.offset], (offs, row) => {
    for (let j = 0; j < n; j++) {
      const base = offs[0]! + j * ks;
      let best = xd[base + block[0]!]!;
      let bi = 0;
      if (best === best) {
        for (let r = 1; r < m; r++) {
          const v = xd[base + block[r]!]!;
          if (v !== v) {
            bi = r;
            break;
          }
          if (isMax ? v > best : v < best) {
            best = v;
            bi = r;
          }
        }
      }
      out[row * n + j] = bi;
    }
  });
  return out;
}
