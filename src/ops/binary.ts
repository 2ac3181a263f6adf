// Elementwise functions of two tensors (or a tensor and a number), broadcasting like PyTorch.
// Broadcasting is a stride-0 view; the gradient of a broadcast input is summed back to its shape.

import type { BinaryOp } from '../backend/backend.js';
import { DTypeError, ValueError, fmtShape } from '../errors.js';
import { isFloat, promote, type DType } from '../base/dtype.js';
import { broadcastShapes, sameShape } from '../base/shape.js';
import type { Tensor, TensorOrScalar } from '../tensor/tensor.js';
import { broadcastView, record, sameDevice, scalarLike, wrap } from './make.js';
import { sumTo } from './view.js';
import { affine, powScalar } from './unary.js';
import { where } from './where.js';

// where() has its own file so that unary.ts (whose gradients use it) need not import this one, which
// imports unary.ts; it stays exported from here, next to maskedFill, where its users look for it.
export { where };

function lift(a: TensorOrScalar, b: TensorOrScalar, op: string): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new ValueError(op, 'at least one argument must be a tensor');
  const ta = typeof a === 'number' ? scalarLike(b as Tensor, a) : a;
  const tb = typeof b === 'number' ? scalarLike(ta, b) : b;
  return [ta, tb];
}

function run(op: BinaryOp, a: Tensor, b: Tensor, outDtype: DType): Tensor {
  const backend = sameDevice(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const buf = backend.binary(op, broadcastView(a, shape), broadcastView(b, shape), outDtype);
  return wrap(backend, buf, shape, outDtype);
}

function arith(
  op: BinaryOp,
  x: TensorOrScalar,
  y: TensorOrScalar,
  grad: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null],
  outDtype?: DType,
): Tensor {
  const [a, b] = lift(x, y, op);
  let dtype = outDtype ?? promote(a.dtype, b.dtype);
  if (dtype === 'bool' && op !== 'maximum' && op !== 'minimum') dtype = 'int32';
  const out = run(op, a, b, dtype);
  return record(
    out,
    op,
    [a, b],
    (g) => {
      const [ga, gb] = grad(g, a, b, out);
      return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
    },
    [out],
  );
}

const floatScalarOk = (x: TensorOrScalar, y: TensorOrScalar): x is Tensor =>
  typeof y === 'number' && typeof x !== 'number' && isFloat(x.dtype);

/** Elementwise x + y, broadcasting (a number counts as a scalar tensor). */
export function add(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  if (floatScalarOk(x, y)) return affine(x, 1, y as number);
  return arith('add', x, y, (g) => [g, g]);
}
/** Elementwise x - y, broadcasting. */
export function sub(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  if (floatScalarOk(x, y)) return affine(x, 1, -(y as number));
  return arith('sub', x, y, (g) => [g, g.neg()]);
}
/** Elementwise x * y, broadcasting. */
export function mul(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  if (floatScalarOk(x, y)) return affine(x, y as number, 0);
  return arith('mul', x, y, (g, a, b) => [g.mul(b), g.mul(a)]);
}
/** True division: integer inputs give a float result, as in PyTorch. */
export function div(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  const [a, b] = lift(x, y, 'div');
  const dtype = promote(promote(a.dtype, b.dtype), 'float32');
  return arith('div', a, b, (g, a, b) => [g.div(b), g.mul(a).div(b.square()).neg()], dtype);
}
/** Elementwise x ** y, broadcasting. */
export function pow(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  if (typeof y === 'number' && typeof x !== 'number') return powScalar(x, y);
  return arith('pow', x, y, (g, a, b, out) => [
    g.mul(b).mul(pow(a, b.sub(1))),
    // d/db a^b = a^b log a; defined as 0 where a == 0 and b >= 0 (PyTorch's convention)
    where(a.eq(0).logicalAnd(b.ge(0)), 0, g.mul(out).mul(a.log())),
  ]);
}
/** Elementwise maximum of x and y, broadcasting. */
export function maximum(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  return arith('maximum', x, y, (g, a, b) => minmaxGrad(g, a, b, 'gt'));
}
/** Elementwise minimum of x and y, broadcasting. */
export function minimum(x: TensorOrScalar, y: TensorOrScalar): Tensor {
  return arith('minimum', x, y, (g, a, b) => minmaxGrad(g, a, b, 'lt'));
}
/** The winner takes the gradient; a tie splits it in half, as PyTorch does. */
function minmaxGrad(g: Tensor, a: Tensor, b: Tensor, cmp: 'gt' | 'lt'): [Tensor, Tensor] {
  const wa = a[cmp](b).float().add(a.eq(b).float().mul(0.5)).to(g.dtype);
  return [g.mul(wa), g.mul(wa.neg().add(1))];
}

function compare(op: BinaryOp, x: TensorOrScalar, y: TensorOrScalar): Tensor {
  const [a, b] = lift(x, y, op);
  return run(op, a, b, 'bool');
}
/** Elementwise x == y, as a bool tensor. */
export const eq = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('eq', x, y);
/** Elementwise x != y, as a bool tensor. */
export const ne = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('ne', x, y);
/** Elementwise x < y, as a bool tensor. */
export const lt = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('lt', x, y);
/** Elementwise x <= y, as a bool tensor. */
export const le = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('le', x, y);
/** Elementwise x > y, as a bool tensor. */
export const gt = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('gt', x, y);
/** Elementwise x >= y, as a bool tensor. */
export const ge = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('ge', x, y);
/** Elementwise AND, as a bool tensor. */
export const logicalAnd = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('and', x, y);
/** Elementwise OR, as a bool tensor. */
export const logicalOr = (x: TensorOrScalar, y: TensorOrScalar): Tensor => compare('or', x, y);

/** x with `value` wherever mask is true (mask broadcasts to x's shape). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  if (mask.dtype !== 'bool') throw new DTypeError('maskedFill', `mask must be bool, got ${mask.dtype} ${fmtShape(mask.shape)}`);
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (!sameShape(shape, x.shape)) {
    throw new ValueError('maskedFill', `mask ${fmtShape(mask.shape)} must broadcast to the input ${fmtShape(x.shape)}`);
  }
  return where(mask, value, x);
}
