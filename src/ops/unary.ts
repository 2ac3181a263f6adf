// Elementwise functions of one tensor. Forward is one backend kernel; backward is written with other
// ops, so it runs on any device and can itself be checked by gradcheck.

import type { UnaryOp } from '../backend/backend.js';
import { DTypeError, ValueError } from '../errors.js';
import { isFloat, type DType } from '../base/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { record, wrap } from './make.js';
import { where } from './where.js';

type Grad = (g: Tensor, x: Tensor, out: Tensor) => Tensor;

/** Float ops lift int/bool inputs to float32 (exp of an int tensor is a float, as in PyTorch). */
function floatOut(x: Tensor): DType {
  return isFloat(x.dtype) ? x.dtype : 'float32';
}

export function unaryOp(op: UnaryOp, x: Tensor, grad: Grad | null, params?: readonly number[], outDtype: DType = floatOut(x)): Tensor {
  const out = wrap(x.backend, x.backend.unary(op, x.view_(), outDtype, params), x.shape, outDtype);
  if (!grad) return out;
  return record(out, op, [x], (g) => [grad(g, x, out)], [out]);
}

/** Elementwise -x (bool becomes int32). */
export const neg = (x: Tensor): Tensor => unaryOp('neg', x, (g) => neg(g), undefined, x.dtype === 'bool' ? 'int32' : x.dtype);
/** Elementwise |x|. */
export const abs = (x: Tensor): Tensor => unaryOp('abs', x, (g, x) => g.mul(sign(x)), undefined, x.dtype === 'bool' ? 'int32' : x.dtype);
/** Elementwise sign: -1, 0 or 1. */
export const sign = (x: Tensor): Tensor => unaryOp('sign', x, null, undefined, x.dtype === 'bool' ? 'int32' : x.dtype);
/** Elementwise e^x. */
export const exp = (x: Tensor): Tensor => unaryOp('exp', x, (g, _x, out) => g.mul(out));
/** Elementwise e^x - 1, accurate near 0. */
export const expm1 = (x: Tensor): Tensor => unaryOp('expm1', x, (g, _x, out) => g.mul(out.add(1)));
/** Elementwise natural logarithm. */
export const log = (x: Tensor): Tensor => unaryOp('log', x, (g, x) => g.div(x));
/** Elementwise log(1 + x), accurate near 0. */
export const log1p = (x: Tensor): Tensor => unaryOp('log1p', x, (g, x) => g.div(x.add(1)));
/** Elementwise square root. */
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x, (g, _x, out) => g.div(out.mul(2)));
/** Elementwise 1 / sqrt(x). */
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x, (g, _x, out) => g.mul(out.pow(3)).mul(-0.5));
/** Elementwise x * x. */
export const square = (x: Tensor): Tensor =>
  unaryOp('square', x, (g, x) => g.mul(x).mul(2), undefined, x.dtype === 'bool' ? 'int32' : x.dtype);
/** Elementwise 1 / x. */
export const reciprocal = (x: Tensor): Tensor => unaryOp('reciprocal', x, (g, _x, out) => g.mul(out.square()).neg());
/** Elementwise sine. */
export const sin = (x: Tensor): Tensor => unaryOp('sin', x, (g, x) => g.mul(cos(x)));
/** Elementwise cosine. */
export const cos = (x: Tensor): Tensor => unaryOp('cos', x, (g, x) => g.mul(sin(x)).neg());
/** Elementwise hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x, (g, _x, out) => g.mul(out.square().neg().add(1)));
/** Elementwise logistic sigmoid, 1 / (1 + e^-x). */
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x, (g, _x, out) => g.mul(out).mul(out.neg().add(1)));
/** Elementwise log(1 + e^x), a smooth ReLU. */
export const softplus = (x: Tensor): Tensor => unaryOp('softplus', x, (g, x) => g.mul(sigmoid(x)));
/** Elementwise Gauss error function. */
export const erf = (x: Tensor): Tensor => unaryOp('erf', x, (g, x) => g.mul(x.square().neg().exp()).mul(2 / Math.sqrt(Math.PI)));
/** Elementwise max(x, 0). */
export const relu = (x: Tensor): Tensor =>
  unaryOp('relu', x, (g, x) => where(x.gt(0), g, 0), undefined, x.dtype === 'bool' ? 'int32' : x.dtype);
/** SiLU (swish): x * sigmoid(x). */
export const silu = (x: Tensor): Tensor =>
  unaryOp('silu', x, (g, x) => {
    const s = sigmoid(x);
    return g.mul(s.mul(x.mul(s.neg().add(1)).add(1)));
  });
/** Elementwise rounding down. */
export const floor = (x: Tensor): Tensor => unaryOp('floor', x, null, undefined, x.dtype);
/** Elementwise rounding up. */
export const ceil = (x: Tensor): Tensor => unaryOp('ceil', x, null, undefined, x.dtype);
/** Elementwise rounding to the nearest integer, halves to even (as torch.round). */
export const round = (x: Tensor): Tensor => unaryOp('round', x, null, undefined, x.dtype);
/** Elementwise NOT, as a bool tensor. */
export const logicalNot = (x: Tensor): Tensor => unaryOp('not', x, null, undefined, 'bool');

/** Elementwise x for x > 0, negativeSlope * x otherwise (default slope 0.01). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return unaryOp('leakyRelu', x, (g, x) => where(x.gt(0), g, g.mul(negativeSlope)), [negativeSlope]);
}

/** GELU, exact (erf) or with PyTorch's tanh approximation. The backward is one derivative kernel. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate !== 'none' && approximate !== 'tanh')
    throw new ValueError('gelu', `approximate must be 'none' or 'tanh', got '${approximate}'`);
  const tanhForm = approximate === 'tanh';
  return unaryOp(tanhForm ? 'geluTanh' : 'gelu', x, (g, x) => g.mul(geluDerivative(x, tanhForm)));
}

/** d/dx gelu(x) in one kernel (backward passes run without recording, so it needs no gradient of its own). */
function geluDerivative(x: Tensor, tanhForm: boolean): Tensor {
  return unaryOp(tanhForm ? 'geluTanhGrad' : 'geluGrad', x, null);
}

/** x ** p for a number p. */
export function powScalar(x: Tensor, p: number): Tensor {
  if (p === 1) return unaryOp('affine', x, (g) => g, [1, 0], isFloat(x.dtype) ? x.dtype : 'int32');
  const outDtype = isFloat(x.dtype) || !Number.isInteger(p) || p < 0 ? floatOut(x) : 'int32';
  return unaryOp('powScalar', x, (g, x) => (p === 0 ? g.mul(0) : g.mul(powScalar(x, p - 1)).mul(p)), [p], outDtype);
}

/** Limits values to [min, max]; either side may be omitted. Gradient flows where min <= x <= max. */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  if ((min === undefined || min === null) && (max === undefined || max === null)) {
    throw new ValueError('clamp', 'at least one of min and max must be given');
  }
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (x.dtype === 'bool') throw new DTypeError('clamp', 'bool tensors cannot be clamped');
  const outDtype =
    isFloat(x.dtype) || ((Number.isInteger(lo) || !Number.isFinite(lo)) && (Number.isInteger(hi) || !Number.isFinite(hi)))
      ? x.dtype
      : 'float32';
  return unaryOp('clamp', x, (g, x) => where(x.ge(lo).logicalAnd(x.le(hi)), g, 0), [lo, hi], outDtype);
}

/** x * scale + shift in one kernel. */
export function affine(x: Tensor, scale: number, shift: number): Tensor {
  return unaryOp('affine', x, (g) => g.mul(scale), [scale, shift]);
}
