// Iteration over strided views, shared by every CPU kernel.
//
// A kernel never walks a view element by element through an index -> offset function; it asks for a
// *row plan*: the iteration space with size-1 dims dropped and neighbouring dims merged wherever every
// operand allows it, so that a contiguous (or uniformly strided) tensor of any rank becomes one flat
// loop. The kernel then gets one callback per row (never per element) with each operand's start offset
// and runs its own tight inner loop with the row's per-operand stride.
//
// Offsets are always relative to index 0 of the typed array the buffer *is*. When storage later moves
// into one shared WebAssembly.Memory, a buffer becomes a typed array viewing its slice of that memory,
// and nothing here changes: kernels use (array, offset, strides) only.

import type { View } from '../backend.js';
import type { DType, TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { contiguousStrides, isContiguous, numel } from '../../base/shape.js';

// The kernels take these from here with the rest of their toolkit; the one definition is in base/shape.ts.

/** The typed array behind a view. Buffers made by this backend are typed arrays. */
export function dataOf(v: View): TypedArray {
  return v.buf as TypedArray;
}

/** Drops entry `axis` from a shape or strides array. */
export function without<T>(xs: readonly T[], axis: number): T[] {
  return xs.filter((_, i) => i !== axis);
}

/**
 * Converts float64 results into `dtype` storage. Needed for bool, where a Uint8Array would wrap
 * (256 -> 0, 0.5 -> 0) instead of testing != 0; for the other dtypes the typed array's own conversion
 * (round to float32, truncate to int32) is what we want.
 */
export function storeAs(dtype: DType, values: Float64Array): TypedArray {
  if (dtype === 'float64') return values;
  const out = typedArrayFor(dtype, values.length);
  if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 ? 1 : 0;
  } else {
    out.set(values);
  }
  return out;
}

/** How a strided walk visits its elements: rows of `n` elements, each with its inner strides. */
export interface RowPlan {
  /** Coalesced dims except the innermost one. */
  readonly outerShape: readonly number[];
  /** outerStrides[k][d]: stride of operand k along outer dim d. */
  readonly outerStrides: readonly (readonly number[])[];
  /** Length of the innermost (row) dim; 1 for a scalar iteration space. */
  readonly n: number;
  /** Innermost stride of each operand. */
  readonly inner: readonly number[];
  /** Number of rows, i.e. the product of outerShape. */
  readonly rows: number;
}

/**
 * Plans a row-major walk over `shape` for several operands with the given strides. Dims of size 1 are
 * dropped, and dim i is merged into dim i+1 when stride[i] == stride[i+1] * shape[i+1] for every
 * operand, which keeps the row-major order (so a contiguous output's offset is just row * n + j).
 */
export function planRows(shape: readonly number[], strides: readonly (readonly number[])[]): RowPlan {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => st[k]![last] === s[i]! * d)) {
      // Merge: the previous dim steps exactly over a whole run of this one for every operand.
      dims[last] = dims[last]! * d;
      for (let k = 0; k < strides.length; k++) st[k]![last] = strides[k]![i]!;
    } else {
      dims.push(d);
      for (let k = 0; k < strides.length; k++) st[k]!.push(strides[k]![i]!);
    }
  }
  if (dims.length === 0) {
    return { outerShape: [], outerStrides: strides.map(() => []), n: 1, inner: strides.map(() => 0), rows: 1 };
  }
  const n = dims.pop()!;
  const inner = st.map((s) => s.pop()!);
  return { outerShape: dims, outerStrides: st, n, inner, rows: numel(dims) };
}

/**
 * Calls `body(offs, row)` once per row of the plan, in row-major order, where offs[k] is operand k's
 * offset at the start of the row. `offs` is reused between calls: read it, do not keep or change it.
 */
export function forEachRow(plan: RowPlan, offsets: readonly number[], body: (offs: readonly number[], row: number) => void): void {
  const { outerShape, outerStrides, rows } = plan;
  const rank = outerShape.length;
  const nOps = offsets.length;
  const offs = offsets.slice();
  if (rank === 0) {
    if (rows > 0) body(offs, 0);
    return;
  }
  const counter = new Array<number>(rank).fill(0);
  for (let row = 0; row < rows; row++) {
    body(offs, row);
    // Odometer step: bump the last outer dim, carrying into earlier dims when one wraps.
    let d = rank - 1;
    for (;;) {
      counter[d]!++;
      for (let k = 0; k < nOps; k++) offs[k]! += outerStrides[k]![d]!;
      if (counter[d]! < outerShape[d]! || d === 0) break;
      for (let k = 0; k < nOps; k++) offs[k]! -= outerStrides[k]![d]! * outerShape[d]!;
      counter[d] = 0;
      d--;
    }
  }
}

/**
 * Offsets (relative to the view's start) of every element of `shape` with `strides`, in row-major
 * order. Used where a kernel revisits the same small strided pattern many times (a reduced block).
 */
export function offsetTable(shape: readonly number[], strides: readonly number[]): Float64Array {
  const plan = planRows(shape, [strides]);
  const table = new Float64Array(numel(shape));
  const n = plan.n;
  const s = plan.inner[0]!;
  forEachRow(plan, [0], (offs, row) => {
    const base = offs[0]!;
    const o = row * n;
    for (let j = 0; j < n; j++) table[o + j] = base + j * s;
  });
  return table;
}

/**
 * Copies the strided view `src` into `dst` at `dstOffset` with `dstStrides` (same shape), converting to
 * dst's element type. `toBool` makes the conversion `!= 0`, as a Uint8Array alone would wrap instead.
 */
export function stridedCopy(
  src: TypedArray,
  srcOffset: number,
  srcStrides: readonly number[],
  dst: TypedArray,
  dstOffset: number,
  dstStrides: readonly number[],
  shape: readonly number[],
  toBool: boolean,
): void {
  if (numel(shape) === 0) return;
  const plan = planRows(shape, [srcStrides, dstStrides]);
  const n = plan.n;
  const ss = plan.inner[0]!;
  const ds = plan.inner[1]!;
  forEachRow(plan, [srcOffset, dstOffset], (offs) => {
    let si = offs[0]!;
    let di = offs[1]!;
    if (toBool) {
      for (let j = 0; j < n; j++, si += ss, di += ds) dst[di] = src[si] !== 0 ? 1 : 0;
    } else if (ss === 1 && ds === 1 && src.constructor === dst.constructor) {
      dst.set(src.subarray(si, si + n) as never, di);
    } else {
      for (let j = 0; j < n; j++, si += ss, di += ds) dst[di] = src[si]!;
    }
  });
}

/** A fresh contiguous typed array (of the view's dtype) holding the view's elements. */
export function contiguousCopy(v: View): TypedArray {
  const src = dataOf(v);
  const size = numel(v.shape);
  if (isContiguous(v.shape, v.strides)) {
    // as bytes: V8 copies a Float32Array out of a shared buffer (the WebAssembly heap) element by
    // element, a Uint8Array as one memcpy; 3.2 MB took 11.8 ms by slice, 1.6 ms so (Node 20)
    const out = typedArrayFor(v.dtype, size);
    const bpe = out.BYTES_PER_ELEMENT;
    new Uint8Array(out.buffer).set(new Uint8Array(src.buffer, src.byteOffset + v.offset * bpe, size * bpe));
    return out;
  }
  const out = typedArrayFor(v.dtype, size);
  stridedCopy(src, v.offset, v.strides, out, 0, contiguousStrides(v.shape), v.shape, false);
  return out;
}
