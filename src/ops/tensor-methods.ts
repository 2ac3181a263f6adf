// The Tensor's chainable methods (x.reshape(...).add(y).sum()), installed on Tensor.prototype from
// here so that the Tensor class (tensor/) knows nothing of ops or autograd and the core's floors hold:
// tensor/ < autograd/ < ops/. Each method is a thin wrapper over the op of the same name; the
// declaration merging below is what lets TypeScript see them on every Tensor.
//
// Whatever reaches Tensor methods at run time must have evaluated this file first: the entry points
// (core.ts, index.ts, browser.ts) import it, and so does every module above the core floor that
// imports from it. Files in ops/ that this file imports cannot import it back (that would be a
// cycle); their code runs only once something above has loaded it.

import type { DType } from '../base/dtype.js';
import { checkDType } from '../base/dtype.js';
import { listDevices } from '../backend/registry.js';
import { Tensor, type TensorOrScalar } from '../tensor/tensor.js';
import { backward as runBackward } from '../autograd/backward.js';
import * as U from './unary.js';
import * as B from './binary.js';
import * as R from './reduce.js';
import * as V from './view.js';
import * as J from './join.js';
import * as M from './matmul.js';
import * as I from './indexing.js';
import * as S from './softmax.js';
import type { SliceSpec } from './view.js';
import type { VarOptions } from './reduce.js';

interface TensorMethods {
  // ---- autograd ----
  /**
   * Computes the gradient of this tensor with respect to every leaf that requires grad, accumulating
   * it into their .grad. A one-element tensor needs no `gradient`; any other needs one of its shape.
   */
  backward(gradient?: Tensor, opts?: { retainGraph?: boolean }): void;

  // ---- views and shape ----
  /** The same data in a new shape (one dim may be -1); a view where the strides allow, else a copy, like torch.reshape. */
  reshape(...shape: number[] | [readonly number[]]): Tensor;
  /** reshape() under PyTorch's other name. */
  view(...shape: number[] | [readonly number[]]): Tensor;
  /** Swaps two dims (0 and 1 by default), as a view. */
  transpose(a?: number, b?: number): Tensor;
  /** Transpose of a 2-D tensor (or the last two dims). */
  readonly T: Tensor;
  /** Reorders the dims, as a view, like torch.permute. */
  permute(...axes: number[] | [readonly number[]]): Tensor;
  /** Broadcasts size-1 dims to a larger shape without copying (-1 keeps a dim). */
  expand(...shape: number[] | [readonly number[]]): Tensor;
  /** expand() to another tensor's shape. */
  expandAs(other: Tensor): Tensor;
  /** Removes size-1 dims: all of them, or the given ones. */
  squeeze(axis?: number | readonly number[]): Tensor;
  /** Inserts a size-1 dim at `axis`. */
  unsqueeze(axis: number): Tensor;
  /** Merges dims startDim..endDim (default: all) into one. */
  flatten(startDim?: number, endDim?: number): Tensor;
  /** Python-style slicing per leading axis: [start, stop, step] (null for defaults) or an index. */
  slice(...specs: SliceSpec[]): Tensor;
  /** The slice start..start+length of one dim, as a view, like torch.narrow. */
  narrow(axis: number, start: number, length: number): Tensor;
  /** This tensor if its memory is row-major and dense, else a row-major copy. */
  contiguous(): Tensor;
  /** A copy with its own memory that stays in the autograd graph. */
  clone(): Tensor;
  /**
   * A dtype ('float32', ...) casts; a device name ('cpu', 'webgpu') copies the tensor there. A GPU tensor
   * cannot be read synchronously, so webgpu -> cpu needs toAsync('cpu'). A device copy is a new leaf
   * (requiresGrad kept), as moving a model's parameters needs.
   */
  to(dtypeOrDevice: DType | string): Tensor;
  /** to(), for any direction between devices (a GPU read is asynchronous). */
  toAsync(dtypeOrDevice: DType | string): Promise<Tensor>;
  /** Cast to float32. */
  float(): Tensor;
  /** Cast to float64. */
  double(): Tensor;
  /** Cast to int32. */
  int(): Tensor;
  /** Cast to bool. */
  bool(): Tensor;
  /** Splits along an axis into pieces of one size (the last may be smaller) or of the given sizes. */
  split(sizeOrSections: number | number[], axis?: number): Tensor[];
  /** Splits along an axis into `chunks` pieces of equal size (the last may be smaller), like torch.chunk. */
  chunk(chunks: number, axis?: number): Tensor[];
  // ---- in place (outside autograd: optimizers, initialisers) ----
  /** Copies src (broadcast to this shape, cast to this dtype) into this tensor's memory. */
  copy_(src: TensorOrScalar): this;
  /** Fills this tensor with a value, in place. */
  fill_(value: number): this;
  /** Sets every element to zero, in place. */
  zero_(): this;
  // ---- elementwise ----
  /** Elementwise -x. */
  neg(): Tensor;
  /** Elementwise |x|. */
  abs(): Tensor;
  /** Elementwise sign: -1, 0 or 1. */
  sign(): Tensor;
  /** Elementwise e^x. */
  exp(): Tensor;
  /** Elementwise natural logarithm. */
  log(): Tensor;
  /** Elementwise log(1 + x), accurate near 0. */
  log1p(): Tensor;
  /** Elementwise e^x - 1, accurate near 0. */
  expm1(): Tensor;
  /** Elementwise square root. */
  sqrt(): Tensor;
  /** Elementwise 1 / sqrt(x). */
  rsqrt(): Tensor;
  /** Elementwise x * x. */
  square(): Tensor;
  /** Elementwise 1 / x. */
  reciprocal(): Tensor;
  /** Elementwise sine. */
  sin(): Tensor;
  /** Elementwise cosine. */
  cos(): Tensor;
  /** Elementwise hyperbolic tangent. */
  tanh(): Tensor;
  /** Elementwise logistic sigmoid, 1 / (1 + e^-x). */
  sigmoid(): Tensor;
  /** Elementwise max(x, 0). */
  relu(): Tensor;
  /** Elementwise x for x > 0, negativeSlope * x otherwise (default slope 0.01). */
  leakyRelu(negativeSlope?: number): Tensor;
  /** GELU: exact (erf) by default, or its tanh approximation (GPT-2's). */
  gelu(approximate?: 'none' | 'tanh'): Tensor;
  /** SiLU (swish): x * sigmoid(x). */
  silu(): Tensor;
  /** Elementwise Gauss error function. */
  erf(): Tensor;
  /** Elementwise log(1 + e^x), a smooth ReLU. */
  softplus(): Tensor;
  /** Elementwise rounding down. */
  floor(): Tensor;
  /** Elementwise rounding up. */
  ceil(): Tensor;
  /** Elementwise rounding to the nearest integer, halves to even (as torch.round). */
  round(): Tensor;
  /** Limits every element to [min, max]; null or omitted leaves that side open. */
  clamp(min?: number | null, max?: number | null): Tensor;
  /** Elementwise NOT of a bool tensor. */
  logicalNot(): Tensor;
  /** Elementwise this + o, broadcasting. */
  add(o: TensorOrScalar): Tensor;
  /** Elementwise this - o, broadcasting. */
  sub(o: TensorOrScalar): Tensor;
  /** Elementwise this * o, broadcasting. */
  mul(o: TensorOrScalar): Tensor;
  /** Elementwise this / o (true division), broadcasting. */
  div(o: TensorOrScalar): Tensor;
  /** Elementwise this ** o, broadcasting. */
  pow(o: TensorOrScalar): Tensor;
  /** Elementwise maximum of this and o, broadcasting. */
  maximum(o: TensorOrScalar): Tensor;
  /** Elementwise minimum of this and o, broadcasting. */
  minimum(o: TensorOrScalar): Tensor;
  /** Elementwise this == o, as a bool tensor. */
  eq(o: TensorOrScalar): Tensor;
  /** Elementwise this != o, as a bool tensor. */
  ne(o: TensorOrScalar): Tensor;
  /** Elementwise this < o, as a bool tensor. */
  lt(o: TensorOrScalar): Tensor;
  /** Elementwise this <= o, as a bool tensor. */
  le(o: TensorOrScalar): Tensor;
  /** Elementwise this > o, as a bool tensor. */
  gt(o: TensorOrScalar): Tensor;
  /** Elementwise this >= o, as a bool tensor. */
  ge(o: TensorOrScalar): Tensor;
  /** Elementwise AND of bool tensors. */
  logicalAnd(o: TensorOrScalar): Tensor;
  /** Elementwise OR of bool tensors. */
  logicalOr(o: TensorOrScalar): Tensor;
  /** Replaces the elements where mask is true with value, like torch.masked_fill. */
  maskedFill(mask: Tensor, value: number): Tensor;
  // ---- reductions ----
  /** Sum over the given axes (all by default). */
  sum(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  /** Mean over the given axes (all by default). */
  mean(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  /** Maximum over the given axes (all by default); the values only (argmax gives the indices). */
  max(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  /** Minimum over the given axes (all by default); the values only (argmin gives the indices). */
  min(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  /** Product over the given axes (all by default). */
  prod(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  /** Index of the largest element along an axis (of the flattened tensor by default), as int32. */
  argmax(axis?: number | null, keepdim?: boolean): Tensor;
  /** Index of the smallest element along an axis (of the flattened tensor by default), as int32. */
  argmin(axis?: number | null, keepdim?: boolean): Tensor;
  /** Variance over the given axes, unbiased unless opts.correction says otherwise. */
  var(axis?: number | readonly number[] | null, opts?: VarOptions): Tensor;
  /** Standard deviation over the given axes, unbiased unless opts.correction says otherwise. */
  std(axis?: number | readonly number[] | null, opts?: VarOptions): Tensor;
  /** log(sum(exp(x))) over the given axes, computed without overflow. */
  logsumexp(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  // ---- linear algebra, indexing, softmax ----
  /** Matrix product with broadcasting batch dims, like torch.matmul. */
  matmul(o: Tensor): Tensor;
  /** Picks whole slices along an axis by an int32 index vector, like torch.index_select. */
  indexSelect(axis: number, index: Tensor): Tensor;
  /** Picks elements along an axis by an index tensor of the output's shape, like torch.gather. */
  gather(axis: number, index: Tensor): Tensor;
  /** A copy with src added at the positions index gives along an axis, like torch.scatter_add. */
  scatterAdd(axis: number, index: Tensor, src: Tensor): Tensor;
  /** Softmax along an axis (the last by default). */
  softmax(axis?: number): Tensor;
  /** Log of the softmax along an axis (the last by default), computed stably. */
  logSoftmax(axis?: number): Tensor;
}

declare module '../tensor/tensor.js' {
  interface Tensor extends TensorMethods {}
}

// ThisType makes `this` a Tensor in every method; the type makes the set complete (T, a getter, apart).
const methods: ThisType<Tensor> & Omit<TensorMethods, 'T'> = {
  // ---- autograd ----
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}) {
    runBackward(this, gradient, opts.retainGraph ?? false);
  },

  // ---- views and shape ----
  reshape(...shape: number[] | [readonly number[]]) {
    return V.reshape(this, flatArgs(shape));
  },
  view(...shape: number[] | [readonly number[]]) {
    return V.reshape(this, flatArgs(shape));
  },
  transpose(a = 0, b = 1) {
    return V.transpose(this, a, b);
  },
  permute(...axes: number[] | [readonly number[]]) {
    return V.permute(this, flatArgs(axes));
  },
  expand(...shape: number[] | [readonly number[]]) {
    return V.expand(this, flatArgs(shape));
  },
  expandAs(other: Tensor) {
    return V.expand(this, other.shape);
  },
  squeeze(axis?: number | readonly number[]) {
    return V.squeeze(this, axis);
  },
  unsqueeze(axis: number) {
    return V.unsqueeze(this, axis);
  },
  flatten(startDim = 0, endDim = -1) {
    return V.flatten(this, startDim, endDim);
  },
  slice(...specs: SliceSpec[]) {
    return V.slice(this, specs);
  },
  narrow(axis: number, start: number, length: number) {
    return V.narrow(this, axis, start, length);
  },
  contiguous() {
    return V.contiguous(this);
  },
  clone() {
    return V.clone(this);
  },
  to(dtypeOrDevice: DType | string) {
    if (!isDeviceName(dtypeOrDevice)) return V.cast(this, checkDType('to', dtypeOrDevice));
    return V.toDevice(this, dtypeOrDevice);
  },
  async toAsync(dtypeOrDevice: DType | string) {
    if (!isDeviceName(dtypeOrDevice)) return V.cast(this, checkDType('to', dtypeOrDevice));
    return V.toDeviceAsync(this, dtypeOrDevice);
  },
  float() {
    return V.cast(this, 'float32');
  },
  double() {
    return V.cast(this, 'float64');
  },
  int() {
    return V.cast(this, 'int32');
  },
  bool() {
    return V.cast(this, 'bool');
  },
  split(sizeOrSections: number | number[], axis = 0) {
    return J.split(this, sizeOrSections, axis);
  },
  chunk(chunks: number, axis = 0) {
    return J.chunk(this, chunks, axis);
  },
  // ---- in place (outside autograd: optimizers, initialisers) ----
  copy_(src: TensorOrScalar) {
    V.copyInto(this, src);
    return this;
  },
  fill_(value: number) {
    V.fillInto(this, value);
    return this;
  },
  zero_() {
    V.fillInto(this, 0);
    return this;
  },
  // ---- elementwise ----
  neg() {
    return U.neg(this);
  },
  abs() {
    return U.abs(this);
  },
  sign() {
    return U.sign(this);
  },
  exp() {
    return U.exp(this);
  },
  log() {
    return U.log(this);
  },
  log1p() {
    return U.log1p(this);
  },
  expm1() {
    return U.expm1(this);
  },
  sqrt() {
    return U.sqrt(this);
  },
  rsqrt() {
    return U.rsqrt(this);
  },
  square() {
    return U.square(this);
  },
  reciprocal() {
    return U.reciprocal(this);
  },
  sin() {
    return U.sin(this);
  },
  cos() {
    return U.cos(this);
  },
  tanh() {
    return U.tanh(this);
  },
  sigmoid() {
    return U.sigmoid(this);
  },
  relu() {
    return U.relu(this);
  },
  leakyRelu(negativeSlope = 0.01) {
    return U.leakyRelu(this, negativeSlope);
  },
  gelu(approximate: 'none' | 'tanh' = 'none') {
    return U.gelu(this, approximate);
  },
  silu() {
    return U.silu(this);
  },
  erf() {
    return U.erf(this);
  },
  softplus() {
    return U.softplus(this);
  },
  floor() {
    return U.floor(this);
  },
  ceil() {
    return U.ceil(this);
  },
  round() {
    return U.round(this);
  },
  clamp(min?: number | null, max?: number | null) {
    return U.clamp(this, min, max);
  },
  logicalNot() {
    return U.logicalNot(this);
  },
  add(o: TensorOrScalar) {
    return B.add(this, o);
  },
  sub(o: TensorOrScalar) {
    return B.sub(this, o);
  },
  mul(o: TensorOrScalar) {
    return B.mul(this, o);
  },
  div(o: TensorOrScalar) {
    return B.div(this, o);
  },
  pow(o: TensorOrScalar) {
    return B.pow(this, o);
  },
  maximum(o: TensorOrScalar) {
    return B.maximum(this, o);
  },
  minimum(o: TensorOrScalar) {
    return B.minimum(this, o);
  },
  eq(o: TensorOrScalar) {
    return B.eq(this, o);
  },
  ne(o: TensorOrScalar) {
    return B.ne(this, o);
  },
  lt(o: TensorOrScalar) {
    return B.lt(this, o);
  },
  le(o: TensorOrScalar) {
    return B.le(this, o);
  },
  gt(o: TensorOrScalar) {
    return B.gt(this, o);
  },
  ge(o: TensorOrScalar) {
    return B.ge(this, o);
  },
  logicalAnd(o: TensorOrScalar) {
    return B.logicalAnd(this, o);
  },
  logicalOr(o: TensorOrScalar) {
    return B.logicalOr(this, o);
  },
  maskedFill(mask: Tensor, value: number) {
    return B.maskedFill(this, mask, value);
  },
  // ---- reductions ----
  sum(axis?: number | readonly number[] | null, keepdim = false) {
    return R.sum(this, axis, keepdim);
  },
  mean(axis?: number | readonly number[] | null, keepdim = false) {
    return R.mean(this, axis, keepdim);
  },
  max(axis?: number | readonly number[] | null, keepdim = false) {
    return R.max(this, axis, keepdim);
  },
  min(axis?: number | readonly number[] | null, keepdim = false) {
    return R.min(this, axis, keepdim);
  },
  prod(axis?: number | readonly number[] | null, keepdim = false) {
    return R.prod(this, axis, keepdim);
  },
  argmax(axis?: number | null, keepdim = false) {
    return R.argmax(this, axis, keepdim);
  },
  argmin(axis?: number | null, keepdim = false) {
    return R.argmin(this, axis, keepdim);
  },
  var(axis?: number | readonly number[] | null, opts: VarOptions = {}) {
    return R.variance(this, axis, opts);
  },
  std(axis?: number | readonly number[] | null, opts: VarOptions = {}) {
    return R.std(this, axis, opts);
  },
  logsumexp(axis?: number | readonly number[] | null, keepdim = false) {
    return R.logsumexp(this, axis, keepdim);
  },
  // ---- linear algebra, indexing, softmax ----
  matmul(o: Tensor) {
    return M.matmul(this, o);
  },
  indexSelect(axis: number, index: Tensor) {
    return I.indexSelect(this, axis, index);
  },
  gather(axis: number, index: Tensor) {
    return I.gather(this, axis, index);
  },
  scatterAdd(axis: number, index: Tensor, src: Tensor) {
    return I.scatterAdd(this, axis, index, src);
  },
  softmax(axis = -1) {
    return S.softmax(this, axis);
  },
  logSoftmax(axis = -1) {
    return S.logSoftmax(this, axis);
  },
};

// Non-enumerable and writable, as class methods are, so printing and Object.keys see no difference.
for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true });
}
Object.defineProperty(Tensor.prototype, 'T', {
  /** Transpose of a 2-D tensor (or the last two dims). */
  get(this: Tensor): Tensor {
    return V.transpose(this, -2, -1);
  },
  configurable: true,
});

/** A device name ('cpu', 'webgpu' -- open or not -- or a registered backend's) rather than a dtype. */
const isDeviceName = (s: string): boolean => s === 'webgpu' || listDevices().includes(s);

function flatArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}
