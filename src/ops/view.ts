// Ops that re-describe memory rather than compute: reshape, transpose, permute, expand, slice,
// squeeze/unsqueeze, flatten. They share storage with their input; copies happen only in
// contiguous(), clone(), cast(), and reshape() of a layout that cannot be viewed.

import { IndexError, ShapeError, ValueError, fmtShape } from '../errors.js';
import type { DType, TypedArray } from '../base/dtype.js';
import { getBackend } from '../backend/registry.js';
import { contiguousStrides, inferShape, normAxes, normAxis, numel, sameShape } from '../base/shape.js';
import type { Tensor, TensorOrScalar } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { filled, record, viewOf, wrap } from './make.js';

/** Strides that view (shape, strides) as newShape without a copy, or null (PyTorch's computeStride). */
function viewStrides(shape: readonly number[], strides: readonly number[], newShape: readonly number[]): number[] | null {
  if (numel(shape) === 0) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length);
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d]!;
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return out;
}

/** The same data in a new shape (one dim may be -1): a view where the strides allow, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const to = inferShape('reshape', x.shape, shape);
  if (sameShape(to, x.shape)) return record(viewOf(x, x.shape, x.strides, x.offset), 'reshape', [x], (g) => [g]);
  const strides = viewStrides(x.shape, x.strides, to);
  const out = strides ? viewOf(x, to, strides, x.offset) : reshapeFresh(copyContiguous(x), to);
  return record(out, 'reshape', [x], (g) => [reshape(g, x.shape)]);
}

/** Swaps dims a and b, as a view, like torch.transpose. */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const n = x.ndim;
  if (n < 2 && (a === 0 || a === -1) && (b === 0 || b === -1 || b === 1)) return reshape(x, x.shape);
  const axes = Array.from({ length: n }, (_, i) => i);
  const ia = normAxis('transpose', a, n);
  const ib = normAxis('transpose', b, n);
  axes[ia] = ib;
  axes[ib] = ia;
  return permute(x, axes);
}

/** Reorders the dims, as a view, like torch.permute. */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const n = x.ndim;
  if (axes.length !== n)
    throw new ShapeError('permute', `got ${axes.length} axes [${axes.join(',')}] for a tensor of shape ${fmtShape(x.shape)}`);
  const norm = axes.map((a) => normAxis('permute', a, n));
  if (new Set(norm).size !== n) throw new IndexError('permute', `repeated axis in [${axes.join(',')}]`);
  const out = viewOf(
    x,
    norm.map((a) => x.shape[a]!),
    norm.map((a) => x.strides[a]!),
    x.offset,
  );
  const inverse = new Array<number>(n);
  norm.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

/** Broadcasts x to `shape` as a stride-0 view (PyTorch's expand; -1 keeps a size). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const n = shape.length;
  if (n < x.ndim) throw new ShapeError('expand', `cannot expand ${fmtShape(x.shape)} to fewer dimensions ${fmtShape(shape)}`);
  const outShape = new Array<number>(n);
  const strides = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const xi = i - (n - x.ndim);
    const want = shape[i]!;
    if (xi < 0) {
      if (want < 0)
        throw new ShapeError('expand', `size -1 is not allowed in a new leading dimension: ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
      outShape[i] = want;
      strides[i] = 0;
      continue;
    }
    const have = x.shape[xi]!;
    if (want === -1 || want === have) {
      outShape[i] = have;
      strides[i] = x.strides[xi]!;
    } else if (have === 1) {
      outShape[i] = want;
      strides[i] = 0;
    } else {
      throw new ShapeError('expand', `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}: size ${have} at dimension ${xi} is not 1`);
    }
  }
  if (sameShape(outShape, x.shape)) return reshape(x, x.shape);
  const out = viewOf(x, outShape, strides, x.offset);
  return record(out, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}

/** Sums g over the dimensions that broadcasting added or stretched, so it has `shape` again. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  // sum is imported lazily to avoid an import cycle at module load
  const summed = axes.length ? g.sum(axes, true) : g;
  return reshape(summed, shape);
}

/** Removes size-1 dims: all of them, or the given ones. */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  let axes: number[];
  if (axis === undefined) axes = x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  else axes = normAxes('squeeze', axis, x.ndim).filter((a) => x.shape[a] === 1);
  const shape = x.shape.filter((_, i) => !axes.includes(i));
  return reshape(x, shape);
}

/** Inserts a size-1 dim at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  // PyTorch's stride for the new axis: the extent of the axis it now precedes, 1 at the end
  const strides = [...x.strides];
  strides.splice(a, 0, a < x.ndim ? x.shape[a]! * x.strides[a]! : 1);
  return record(viewOf(x, shape, strides, x.offset), 'reshape', [x], (g) => [reshape(g, x.shape)]);
}

/** Merges dims startDim..endDim (default: all) into one, like torch.flatten. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis('flatten', startDim, x.ndim);
  const e = normAxis('flatten', endDim, x.ndim);
  if (s > e) throw new IndexError('flatten', `startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

/** One axis of a slice: an index (drops the axis), or Python's [start, stop, step] with nulls. */
export type SliceSpec = number | null | readonly [number | null, (number | null)?, (number | null)?];

interface Layout {
  shape: number[];
  strides: number[];
  offset: number;
}

function sliceLayout(shape: readonly number[], strides: readonly number[], offset: number, specs: readonly SliceSpec[]): Layout {
  if (specs.length > shape.length) {
    throw new IndexError('slice', `too many indices (${specs.length}) for a tensor of shape ${fmtShape(shape)}`);
  }
  const outShape: number[] = [];
  const outStrides: number[] = [];
  let off = offset;
  for (let i = 0; i < shape.length; i++) {
    const size = shape[i]!;
    const spec = i < specs.length ? specs[i]! : null;
    if (spec === null) {
      outShape.push(size);
      outStrides.push(strides[i]!);
    } else if (typeof spec === 'number') {
      const idx = spec < 0 ? spec + size : spec;
      if (!Number.isInteger(spec) || idx < 0 || idx >= size) {
        throw new IndexError('slice', `index ${spec} is out of range for dimension ${i} of size ${size} (shape ${fmtShape(shape)})`);
      }
      off += idx * strides[i]!;
    } else {
      const step = spec[2] ?? 1;
      if (!Number.isInteger(step) || step <= 0) throw new ValueError('slice', `step must be a positive integer, got ${step}`);
      const clampIdx = (v: number | null | undefined, dflt: number): number => {
        if (v === null || v === undefined) return dflt;
        const r = v < 0 ? v + size : v;
        return Math.min(Math.max(r, 0), size);
      };
      const start = clampIdx(spec[0], 0);
      const stop = clampIdx(spec[1], size);
      const len = stop > start ? Math.ceil((stop - start) / step) : 0;
      outShape.push(len);
      outStrides.push(strides[i]! * step);
      if (len > 0) off += start * strides[i]!;
    }
  }
  return { shape: outShape, strides: outStrides, offset: off };
}

/** Python-style slicing per leading axis ([start, stop, step], null, or an index), as a view. */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  const l = sliceLayout(x.shape, x.strides, x.offset, specs);
  const out = viewOf(x, l.shape, l.strides, l.offset);
  return record(out, 'slice', [x], (g) => {
    const gx = filled(g.backend, x.shape, g.dtype, 0);
    const gl = sliceLayout(gx.shape, gx.strides, gx.offset, specs);
    copyInto(viewOf(gx, gl.shape, gl.strides, gl.offset), g);
    return [gx];
  });
}

/** The slice start..start+length of one axis, as a view, like torch.narrow. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis('narrow', axis, x.ndim);
  const size = x.shape[a]!;
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(length) || length < 0 || s < 0 || s + length > size) {
    throw new IndexError('narrow', `range [${start}, ${start}+${length}) is out of bounds for dimension ${a} of size ${size}`);
  }
  const specs: SliceSpec[] = x.shape.map(() => null);
  specs[a] = [s, s + length, 1];
  return slice(x, specs);
}

function copyContiguous(x: Tensor, dtype: DType = x.dtype): Tensor {
  const b = x.backend;
  const out = wrap(b, b.alloc(dtype, x.size, false), x.shape, dtype); // every element is written below
  b.copy(x.view_(), out.view_());
  return out;
}

/** x if its memory is row-major and dense, else a row-major copy. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  return clone(x);
}

/** A copy with its own memory that stays in the autograd graph, like torch.clone. */
export function clone(x: Tensor): Tensor {
  const out = copyContiguous(x);
  return record(out, 'clone', [x], (g) => [g]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (dtype === x.dtype) return x;
  const out = copyContiguous(x, dtype);
  if (dtype !== 'float32' && dtype !== 'float64') return out;
  return record(out, 'cast', [x], (g) => [cast(g, x.dtype)]);
}

function onDevice(x: Tensor, device: string, data: TypedArray): Tensor {
  const b = getBackend(device);
  const out = wrap(b, b.fromArray(data), x.shape, x.dtype);
  if (x.requiresGrad) out.requiresGrad = true;
  return out;
}

/** A copy of x on `device` (a new leaf; x itself when it is there already). */
export function toDevice(x: Tensor, device: string): Tensor {
  if (x.device === device) return x;
  getBackend(device);
  return onDevice(x, device, x.dataSync());
}

export async function toDeviceAsync(x: Tensor, device: string): Promise<Tensor> {
  if (x.device === device) return x;
  getBackend(device);
  return onDevice(x, device, await x.data());
}

/** In-place copy outside autograd: dst[...] = broadcast(src), cast to dst's dtype. */
export function copyInto(dst: Tensor, src: TensorOrScalar): void {
  if (typeof src === 'number') {
    fillInto(dst, src);
    return;
  }
  noGrad(() => {
    // across devices the source moves first (a CPU source: e.g. a checkpoint loaded into a GPU model)
    const here = src.device === dst.device ? src : toDevice(src, dst.device);
    const s = sameShape(here.shape, dst.shape) ? here : expand(here, dst.shape);
    dst.backend.copy(s.view_(), dst.view_());
    if (here !== src) here.dispose();
  });
}

export function fillInto(dst: Tensor, value: number): void {
  dst.backend.fill(dst.view_(), value);
}

/** A fresh contiguous tensor re-described with another shape; the original handle is released. */
function reshapeFresh(t: Tensor, shape: readonly number[]): Tensor {
  const out = viewOf(t, shape, contiguousStrides(shape), t.offset);
  t.dispose();
  return out;
}

/** Moves one axis to a new position, keeping the order of the others (torch.movedim). */
export function movedim(x: Tensor, source: number, destination: number): Tensor {
  const s = normAxis('movedim', source, x.ndim);
  const d = normAxis('movedim', destination, x.ndim);
  const order = Array.from({ length: x.ndim }, (_, i) => i).filter((i) => i !== s);
  order.splice(d, 0, s);
  return permute(x, order);
}
