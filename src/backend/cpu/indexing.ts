// Indexing kernels with torch semantics: gather, scatterAdd (out of place), indexSelect, indexAdd.
//
// An index outside [0, size) raises IndexError naming the op, the index, the dim and its size; torch
// would also reject it (negative indices are not wrapped at this level: the op layer may normalise).
// The adding kernels accumulate in float64 and convert once, so an embedding gradient summed over many
// repeated tokens keeps float64 accuracy until the final store.

import type { View } from '../backend.js';
import type { TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { IndexError, ShapeError, fmtShape } from '../../errors.js';
import { contiguousStrides, numel } from '../../base/shape.js';
import { dataOf, forEachRow, planRows, storeAs, stridedCopy, without } from './strided.js';

function outOfRange(op: string, index: number, dim: number, size: number): IndexError {
  return new IndexError(op, `index ${index} is out of range for dim ${dim} of size ${size}`);
}

function checkDim(op: string, dim: number, rank: number): void {
  if (!Number.isInteger(dim) || dim < 0 || dim >= rank) {
    throw new IndexError(op, `dim ${dim} is out of range for a tensor of rank ${rank}`);
  }
}

/** The 1-D index view's values, each checked against `size`. */
function readIndices(op: string, idx: View, dim: number, size: number): Int32Array {
  if (idx.shape.length !== 1) throw new ShapeError(op, `index must be 1-D, got shape ${fmtShape(idx.shape)}`);
  const n = idx.shape[0]!;
  const d = dataOf(idx);
  const s = idx.strides[0]!;
  const out = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const v = d[idx.offset + j * s]!;
    if (v < 0 || v >= size) throw outOfRange(op, v, dim, size);
    out[j] = v;
  }
  return out;
}

/** out[..., j, ...] = x[..., idx[..., j, ...], ...] along `dim`; out has idx's shape. */
export function gather(x: View, dim: number, idx: View): TypedArray {
  const rank = x.shape.length;
  checkDim('gather', dim, rank);
  if (idx.shape.length !== rank || idx.shape.some((d, i) => i !== dim && d > x.shape[i]!)) {
    throw new ShapeError('gather', `index shape ${fmtShape(idx.shape)} does not fit input ${fmtShape(x.shape)} along dim ${dim}`);
  }
  const out = typedArrayFor(x.dtype, numel(idx.shape));
  if (out.length === 0) return out;
  const size = x.shape[dim]!;
  const dimStride = x.strides[dim]!;
  // x walked with idx's shape, its `dim` stride replaced by 0: the index supplies that coordinate.
  const xStrides = x.strides.map((s, i) => (i === dim ? 0 : s));
  const xd = dataOf(x);
  const id = dataOf(idx);
  const plan = planRows(idx.shape, [idx.strides, xStrides]);
  const n = plan.n;
  const [is, xs] = plan.inner as [number, number];
  forEachRow(plan, [idx.offset, x.offset], (offs, row) => {
    let ii = offs[0]!,
      xi = offs[1]!;
    const o = row * n;
    for (let j = 0; j < n; j++, ii += is, xi += xs) {
      const v = id[ii]!;
      if (v < 0 || v >= size) throw outOfRange('gather', v, dim, size);
      out[o + j] = xd[xi + v * dimStride]!;
    }
  });
  return out;
}

/** base (copied) with src[pos] added at pos with its `dim` coordinate replaced by idx[pos]. */
export function scatterAdd(base: View, dim: number, idx: View, src: View): TypedArray {
  const rank = base.shape.length;
  checkDim('scatterAdd', dim, rank);
  if (
    idx.shape.length !== rank ||
    src.shape.length !== rank ||
    idx.shape.some((d, i) => d > src.shape[i]! || (i !== dim && d > base.shape[i]!))
  ) {
    throw new ShapeError(
      'scatterAdd',
      `index ${fmtShape(idx.shape)} does not fit base ${fmtShape(base.shape)} and src ${fmtShape(src.shape)} along dim ${dim}`,
    );
  }
  const acc = new Float64Array(numel(base.shape));
  const accStrides = contiguousStrides(base.shape);
  stridedCopy(dataOf(base), base.offset, base.strides, acc, 0, accStrides, base.shape, false);
  if (numel(idx.shape) > 0) {
    const size = base.shape[dim]!;
    const dimStride = accStrides[dim]!;
    const walkStrides = accStrides.map((s, i) => (i === dim ? 0 : s));
    const id = dataOf(idx);
    const sd = dataOf(src);
    // Only idx's extent of src is read, as in torch.
    const plan = planRows(idx.shape, [idx.strides, src.strides, walkStrides]);
    const n = plan.n;
    const [is, ss, as] = plan.inner as [number, number, number];
    forEachRow(plan, [idx.offset, src.offset, 0], (offs) => {
      let ii = offs[0]!,
        si = offs[1]!,
        ai = offs[2]!;
      for (let j = 0; j < n; j++, ii += is, si += ss, ai += as) {
        const v = id[ii]!;
        if (v < 0 || v >= size) throw outOfRange('scatterAdd', v, dim, size);
        acc[ai + v * dimStride]! += sd[si]!;
      }
    });
  }
  return storeAs(base.dtype, acc);
}

/** Slices of x along `dim` at the positions in 1-D idx. */
export function indexSelect(x: View, dim: number, idx: View): TypedArray {
  const rank = x.shape.length;
  checkDim('indexSelect', dim, rank);
  const picks = readIndices('indexSelect', idx, dim, x.shape[dim]!);
  const outShape = x.shape.map((d, i) => (i === dim ? picks.length : d));
  const out = typedArrayFor(x.dtype, numel(outShape));
  if (out.length === 0) return out;
  const outStrides = contiguousStrides(outShape);
  const sliceShape = without(x.shape, dim);
  const xSlice = without(x.strides, dim);
  const oSlice = without(outStrides, dim);
  const xd = dataOf(x);
  // One plan for the slice geometry, reused for every pick: only the start offsets change.
  const plan = planRows(sliceShape, [xSlice, oSlice]);
  const n = plan.n;
  const [xs, os] = plan.inner as [number, number];
  for (let j = 0; j < picks.length; j++) {
    forEachRow(plan, [x.offset + picks[j]! * x.strides[dim]!, j * outStrides[dim]!], (offs) => {
      let xi = offs[0]!,
        oi = offs[1]!;
      for (let k = 0; k < n; k++, xi += xs, oi += os) out[oi] = xd[xi]!;
    });
  }
  return out;
}

/** zeros(shape), then out.index_add_(dim, idx, src): slice j of src is added at slice idx[j]. */
export function indexAdd(shape: readonly number[], dim: number, idx: View, src: View): TypedArray {
  const rank = shape.length;
  checkDim('indexAdd', dim, rank);
  const picks = readIndices('indexAdd', idx, dim, shape[dim]!);
  if (src.shape.length !== rank || src.shape.some((d, i) => d !== (i === dim ? picks.length : shape[i]))) {
    throw new ShapeError(
      'indexAdd',
      `src ${fmtShape(src.shape)} does not match output ${fmtShape(shape)} with ${picks.length} indices along dim ${dim}`,
    );
  }
  const acc = new Float64Array(numel(shape));
  if (acc.length > 0 && picks.length > 0) {
    const accStrides = contiguousStrides(shape);
    const sliceShape = without(shape, dim);
    const plan = planRows(sliceShape, [without(src.strides, dim), without(accStrides, dim)]);
    const n = plan.n;
    const [ss, as] = plan.inner as [number, number];
    const sd = dataOf(src);
    for (let j = 0; j < picks.length; j++) {
      const sOff = src.offset + j * src.strides[dim]!;
      const aOff = picks[j]! * accStrides[dim]!;
      forEachRow(plan, [sOff, aOff], (offs) => {
        let si = offs[0]!,
          ai = offs[1]!;
        for (let k = 0; k < n; k++, si += ss, ai += as) acc[ai]! += sd[si]!;
      });
    }
  }
  return storeAs(src.dtype, acc);
}
