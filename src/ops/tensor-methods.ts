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
  reshape(...shape: number[] | [readonly number[]]): Tensor;
  view(...shape: number[] | [readonly number[]]): Tensor;
  transpose(a?: number, b?: number): Tensor;
  /** Transpose of a 2-D tensor (or the last two dims). */
  readonly T: Tensor;
  permute(...axes: number[] | [readonly number[]]): Tensor;
  expand(...shape: number[] | [readonly number[]]): Tensor;
  expandAs(other: Tensor): Tensor;
  squeeze(axis?: number | readonly number[]): Tensor;
  unsqueeze(axis: number): Tensor;
  flatten(startDim?: number, endDim?: number): Tensor;
  /** Python-style slicing per leading axis: [start, stop, step] (null for defaults) or an index. */
  slice(...specs: SliceSpec[]): Tensor;
  narrow(axis: number, start: number, length: number): Tensor;
  contiguous(): Tensor;
  clone(): Tensor;
  /**
   * A dtype ('float32', ...) casts; a device name ('cpu', 'webgpu') copies the tensor there. A GPU tensor
   * cannot be read synchronously, so webgpu -> cpu needs toAsync('cpu'). A device copy is a new leaf
   * (requiresGrad kept), as moving a model's parameters needs.
   */
  to(dtypeOrDevice: DType | string): Tensor;
  /** to(), for any direction between devices (a GPU read is asynchronous). */
  toAsync(dtypeOrDevice: DType | string): Promise<Tensor>;
  float(): Tensor;
  double(): Tensor;
  int(): Tensor;
  bool(): Tensor;
  split(sizeOrSections: number | number[], axis?: number): Tensor[];
  chunk(chunks: number, axis?: number): Tensor[];
  // ---- in place (outside autograd: optimizers, initialisers) ----
  /** Copies src (broadcast to this shape, cast to this dtype) into this tensor's memory. */
  copy_(src: TensorOrScalar): this;
  fill_(value: number): this;
  zero_(): this;
  // ---- elementwise ----
  neg(): Tensor;
  abs(): Tensor;
  sign(): Tensor;
  exp(): Tensor;
  log(): Tensor;
  log1p(): Tensor;
  expm1(): Tensor;
  sqrt(): Tensor;
  rsqrt(): Tensor;
  square(): Tensor;
  reciprocal(): Tensor;
  sin(): Tensor;
  cos(): Tensor;
  tanh(): Tensor;
  sigmoid(): Tensor;
  relu(): Tensor;
  leakyRelu(negativeSlope?: number): Tensor;
  gelu(approximate?: 'none' | 'tanh'): Tensor;
  silu(): Tensor;
  erf(): Tensor;
  softplus(): Tensor;
  floor(): Tensor;
  ceil(): Tensor;
  round(): Tensor;
  clamp(min?: number | null, max?: number | null): Tensor;
  logicalNot(): Tensor;
  add(o: TensorOrScalar): Tensor;
  sub(o: TensorOrScalar): Tensor;
  mul(o: TensorOrScalar): Tensor;
  div(o: TensorOrScalar): Tensor;
  pow(o: TensorOrScalar): Tensor;
  maximum(o: TensorOrScalar): Tensor;
  minimum(o: TensorOrScalar): Tensor;
  eq(o: TensorOrScalar): Tensor;
  ne(o: TensorOrScalar): Tensor;
  lt(o: TensorOrScalar): Tensor;
  le(o: TensorOrScalar): Tensor;
  gt(o: TensorOrScalar): Tensor;
  ge(o: TensorOrScalar): Tensor;
  logicalAnd(o: TensorOrScalar): Tensor;
  logicalOr(o: TensorOrScalar): Tensor;
  maskedFill(mask: Tensor, value: number): Tensor;
  // ---- reductions ----
  sum(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  mean(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  max(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  min(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  prod(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  argmax(axis?: number | null, keepdim?: boolean): Tensor;
  argmin(axis?: number | null, keepdim?: boolean): Tensor;
  var(axis?: number | readonly number[] | null, opts?: VarOptions): Tensor;
  std(axis?: number | readonly number[] | null, opts?: VarOptions): Tensor;
  logsumexp(axis?: number | readonly number[] | null, keepdim?: boolean): Tensor;
  // ---- linear algebra, indexing, softmax ----
  matmul(o: Tensor): Tensor;
  indexSelect(axis: number, index: Tensor): Tensor;
  gather(axis: number, index: Tensor): Tensor;
  scatterAdd(axis: number, index: Tensor, src: Tensor): Tensor;
  softmax(axis?: number): Tensor;
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
