// Joining and cutting: concat, stack, split, chunk, pad. Joins copy each piece into a slice of one
// new buffer; cuts are views. Each is the other's gradient.

import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { promote } from '../base/dtype.js';
import { normAxis } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { empty, filled, record, sameDevice } from './make.js';
import { copyInto, narrow, slice, unsqueeze, type SliceSpec } from './view.js';

/** Joins tensors along an existing axis (also exported as cat), like torch.cat. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('concat', 'needs at least one tensor');
  const first = tensors[0]!;
  const backend = sameDevice('concat', ...tensors);
  const a = normAxis('concat', axis, first.ndim);
  let total = 0;
  let dtype = first.dtype;
  for (const t of tensors) {
    const ok = t.ndim === first.ndim && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!ok) {
      throw new ShapeError('concat', `shapes must match except in dimension ${a}: ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`);
    }
    total += t.shape[a]!;
    dtype = promote(dtype, t.dtype);
  }
  const shape = [...first.shape];
  shape[a] = total;
  const out = empty(backend, shape, dtype); // the pieces cover it
  let at = 0;
  noGrad(() => {
    for (const t of tensors) {
      const len = t.shape[a]!;
      if (len > 0) copyInto(narrow(out, a, at, len), t);
      at += len;
    }
  });
  return record(out, 'concat', [...tensors], (g) => {
    let pos = 0;
    return tensors.map((t) => {
      const len = t.shape[a]!;
      const piece = t.requiresGrad ? narrow(g, a, pos, len) : null;
      pos += len;
      return piece;
    });
  });
}

/** Joins tensors of one shape along a new axis, like torch.stack. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('stack', 'needs at least one tensor');
  const first = tensors[0]!;
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((d, i) => d !== first.shape[i])) {
      throw new ShapeError('stack', `all tensors must have the same shape: ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`);
    }
  }
  const a = normAxis('stack', axis, first.ndim + 1);
  return concat(
    tensors.map((t) => unsqueeze(t, a)),
    a,
  );
}

/** Splits into pieces of `size` along axis (the last may be smaller), or into the given sizes. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis('split', axis, x.ndim);
  const dim = x.shape[a]!;
  let sizes: number[];
  if (typeof sizeOrSections === 'number') {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections <= 0)
      throw new ValueError('split', `split size must be a positive integer, got ${sizeOrSections}`);
    sizes = [];
    for (let at = 0; at < dim; at += sizeOrSections) sizes.push(Math.min(sizeOrSections, dim - at));
    if (dim === 0) sizes.push(0);
  } else {
    sizes = [...sizeOrSections];
    const total = sizes.reduce((p, s) => p + s, 0);
    if (total !== dim || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new ShapeError(
        'split',
        `sizes [${sizes.join(',')}] do not add up to ${dim}, the size of dimension ${a} of ${fmtShape(x.shape)}`,
      );
    }
  }
  let at = 0;
  return sizes.map((s) => {
    const piece = narrow(x, a, at, s);
    at += s;
    return piece;
  });
}

/** Splits into `chunks` pieces of equal size (the last may be smaller), like torch.chunk. */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError('chunk', `chunks must be a positive integer, got ${chunks}`);
  const a = normAxis('chunk', axis, x.ndim);
  return split(x, Math.max(1, Math.ceil(x.shape[a]! / chunks)), a);
}

/**
 * Constant padding like torch.nn.functional.pad: `pads` lists (before, after) pairs starting from the
 * last axis, e.g. [left, right, top, bottom]. Negative amounts crop.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new ValueError('pad', `padding [${pads.join(',')}] must hold (before, after) pairs for at most ${x.ndim} dimensions`);
  }
  if (pads.some((p) => !Number.isInteger(p))) throw new ValueError('pad', `padding amounts must be integers, got [${pads.join(',')}]`);
  const shape = [...x.shape];
  const outSpecs: SliceSpec[] = shape.map(() => null);
  const inSpecs: SliceSpec[] = shape.map(() => null);
  for (let i = 0; i < pads.length / 2; i++) {
    const axis = x.ndim - 1 - i;
    const before = pads[2 * i]!;
    const after = pads[2 * i + 1]!;
    const size = x.shape[axis]!;
    const outSize = size + before + after;
    if (outSize < 0) throw new ShapeError('pad', `padding [${pads.join(',')}] makes dimension ${axis} of ${fmtShape(x.shape)} negative`);
    shape[axis] = outSize;
    // the overlap of the input with the output window, in each one's coordinates
    const inStart = Math.max(0, -before);
    const inStop = Math.min(size, size + after);
    const len = Math.max(0, inStop - inStart);
    inSpecs[axis] = [inStart, inStart + len, 1];
    outSpecs[axis] = [inStart + before, inStart + before + len, 1];
  }
  const out = filled(x.backend, shape, x.dtype, value);
  noGrad(() => copyInto(slice(out, outSpecs), slice(x, inSpecs)));
  return record(out, 'pad', [x], (g) => {
    const gx = filled(g.backend, x.shape, g.dtype, 0);
    noGrad(() => copyInto(slice(gx, inSpecs), slice(g, outSpecs)));
    return [gx];
  });
}
