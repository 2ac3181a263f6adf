// Shape arithmetic shared by tensors and ops: sizes, strides, axes and broadcasting.

import { IndexError, ShapeError, ValueError, fmtShape } from '../errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** Whether `strides` are row-major for `shape` (size-1 dims may carry any stride). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== s) return false;
    s *= shape[i]!;
  }
  return true;
}

/** Resolves a possibly negative axis against `ndim`, with an error naming the op. */
export function normAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis)) throw new IndexError(op, `axis ${axis} is not an integer`);
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= Math.max(ndim, 1)) {
    throw new IndexError(op, `axis ${axis} is out of range for a tensor with ${ndim} dimensions`);
  }
  return a;
}

/** Resolves an axis argument (one, several, or all when undefined/null) to sorted unique axes. */
export function normAxes(op: string, axes: number | readonly number[] | null | undefined, ndim: number): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => normAxis(op, a, ndim));
  const set = new Set(out);
  if (set.size !== out.length) throw new IndexError(op, `repeated axis in [${list.join(',')}]`);
  return [...set].sort((a, b) => a - b);
}

export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Whether two shapes are equal, for callers that choose what to do when they are not. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws a ShapeError naming `op` unless the shapes are equal: kernels that need operands already broadcast. */
export function assertSameShape(op: string, a: Shape, b: Shape): void {
  if (!sameShape(a, b)) throw new ShapeError(op, `shapes differ: ${fmtShape(a)} vs ${fmtShape(b)}`);
}

/**
 * Checks for an [N, C, H, W] shape and returns its four sizes; `what` names the operand in the error
 * ("input", "gradient") where an op has more than one.
 */
export function check4d(op: string, shape: Shape, what?: string): [number, number, number, number] {
  if (shape.length !== 4) throw new ShapeError(op, `expected ${what ? `${what} ` : ''}[N, C, H, W], got ${fmtShape(shape)}`);
  return shape as unknown as [number, number, number, number];
}

export function checkShape(op: string, shape: readonly number[]): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ValueError(op, `invalid shape ${fmtShape(shape)}: sizes must be non-negative integers`);
  }
  return [...shape];
}

/** Resolves a reshape target with at most one -1 against a total size. */
export function inferShape(op: string, from: Shape, to: readonly number[]): number[] {
  const total = numel(from);
  let known = 1;
  let infer = -1;
  for (let i = 0; i < to.length; i++) {
    const d = to[i]!;
    if (d === -1) {
      if (infer >= 0) throw new ShapeError(op, `only one dimension can be -1 in ${fmtShape(to)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(op, `invalid size ${d} in ${fmtShape(to)}`);
    } else known *= d;
  }
  const out = [...to];
  if (infer >= 0) {
    if (known === 0 || total % known !== 0) throw new ShapeError(op, `cannot reshape ${fmtShape(from)} into ${fmtShape(to)}`);
    out[infer] = total / known;
  } else if (known !== total) {
    throw new ShapeError(op, `cannot reshape ${fmtShape(from)} (${total} elements) into ${fmtShape(to)} (${known} elements)`);
  }
  return out;
}
