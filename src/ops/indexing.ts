// Integer indexing: indexSelect, gather, scatterAdd and embedding. Each forward is one kernel; the
// gradients are the adjoint kernels (indexAdd for indexSelect, scatterAdd for gather).

import { DTypeError, IndexError, ShapeError, fmtShape } from '../errors.js';
import { normAxis } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { filled, record, sameDevice, wrap } from './make.js';
import { where } from './binary.js';
import { reshape } from './view.js';
import { pad } from './join.js';

function checkIndex(op: string, index: Tensor): void {
  if (index.dtype !== 'int32') throw new DTypeError(op, `index must be int32, got ${index.dtype} ${fmtShape(index.shape)}`);
}

/** Picks entries of x along `axis` at the positions in a 1-D index. */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndex('indexSelect', index);
  const backend = sameDevice('indexSelect', x, index);
  if (index.ndim > 1) throw new ShapeError('indexSelect', `index must be 1-D, got ${fmtShape(index.shape)}`);
  const a = normAxis('indexSelect', axis, x.ndim);
  const idx = index.ndim === 0 ? reshape(index, [1]) : index;
  const shape = [...x.shape];
  shape[a] = idx.shape[0]!;
  const out = wrap(backend, backend.indexSelect(x.view_(), a, idx.view_()), shape, x.dtype);
  return record(
    out,
    'indexSelect',
    [x],
    (g) => [wrap(backend, backend.indexAdd(x.shape, a, idx.view_(), g.contiguous().view_()), x.shape, g.dtype)],
    [idx],
  );
}

/** torch.gather: out[i][j] = x[i][index[i][j]] for axis 1; out has index's shape. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndex('gather', index);
  const backend = sameDevice('gather', x, index);
  const a = normAxis('gather', axis, x.ndim);
  if (index.ndim !== x.ndim || index.shape.some((d, i) => i !== a && d > x.shape[i]!)) {
    throw new ShapeError(
      'gather',
      `index ${fmtShape(index.shape)} must have the input's rank and no larger size outside dimension ${a} (input ${fmtShape(x.shape)})`,
    );
  }
  const out = wrap(backend, backend.gather(x.view_(), a, index.view_()), index.shape, x.dtype);
  return record(out, 'gather', [x], (g) => [scatterAdd(filled(backend, x.shape, g.dtype, 0), a, index, g)], [index]);
}

/** x with src added at index along axis (torch.scatter_add, out of place). */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  checkIndex('scatterAdd', index);
  const backend = sameDevice('scatterAdd', x, index, src);
  const a = normAxis('scatterAdd', axis, x.ndim);
  const fits =
    index.ndim === x.ndim && src.ndim === x.ndim && index.shape.every((d, i) => d <= src.shape[i]! && (i === a || d <= x.shape[i]!));
  if (!fits) {
    throw new ShapeError(
      'scatterAdd',
      `index ${fmtShape(index.shape)} must fit in src ${fmtShape(src.shape)} and, outside dimension ${a}, in the input ${fmtShape(x.shape)}`,
    );
  }
  if (src.dtype !== x.dtype) throw new DTypeError('scatterAdd', `src dtype ${src.dtype} differs from the input's ${x.dtype}`);
  const out = wrap(backend, backend.scatterAdd(x.view_(), a, index.view_(), src.view_()), x.shape, x.dtype);
  return record(out, 'scatterAdd', [x, src], (g) => [g, src.requiresGrad ? gatherInto(g, a, index, src.shape) : null], [index]);
}

/** gather, padded with zeros up to `shape` when src was larger than index. */
function gatherInto(g: Tensor, axis: number, index: Tensor, shape: readonly number[]): Tensor {
  const picked = gather(g, axis, index);
  if (picked.shape.every((d, i) => d === shape[i])) return picked;
  const pads: number[] = [];
  for (let i = shape.length - 1; i >= 0; i--) pads.push(0, shape[i]! - picked.shape[i]!);
  return pad(picked, pads);
}

/**
 * Rows of `weight` [num, dim] for each id in `ids` (any shape) -> [...ids.shape, dim]. Rows at
 * paddingIdx get no gradient, as in torch.nn.functional.embedding.
 */
export function embedding(ids: Tensor, weight: Tensor, paddingIdx?: number | null): Tensor {
  checkIndex('embedding', ids);
  if (weight.ndim !== 2) throw new ShapeError('embedding', `weight must be 2-D [num_embeddings, dim], got ${fmtShape(weight.shape)}`);
  const flat = reshape(ids, [ids.size]);
  let rows: Tensor;
  try {
    rows = indexSelect(weight, 0, flat);
  } catch (e) {
    // name the layer-level op and shapes rather than the kernel underneath
    if (e instanceof IndexError)
      throw new IndexError(
        'embedding',
        `${e.message.replace(/^indexSelect: /, '')} (ids ${fmtShape(ids.shape)}, weight ${fmtShape(weight.shape)})`,
      );
    throw e;
  }
  const out = reshape(rows, [...ids.shape, weight.shape[1]!]);
  if (paddingIdx === undefined || paddingIdx === null) return out;
  const pad = paddingIdx < 0 ? paddingIdx + weight.shape[0]! : paddingIdx;
  // route the gradient through a mask so the padding row's gradient is zero
  const keepRow = reshape(ids.ne(pad), [...ids.shape, 1]);
  return maskGrad(out, keepRow);
}

/** Identity forward; zeroes the gradient where mask is false. */
function maskGrad(x: Tensor, mask: Tensor): Tensor {
  const out = x.detach();
  return record(out, 'maskGrad', [x], (g) => [where(mask, g, 0)], [mask]);
}
