// The Tensor: a typed, strided view into reference-counted storage on some backend, plus its place
// in the autograd graph. Ops live in ops/; the methods here are thin, chainable wrappers over them.

import type { Backend, View } from '../backend/backend.js';
import type { Node } from '../autograd/node.js';
import { DTypeError, DisposedError, ValueError, fmtShape } from '../errors.js';
import type { DType, TypedArray } from '../base/dtype.js';
import { checkDType, isFloat } from '../base/dtype.js';
import { listDevices } from '../backend/registry.js';
import { contiguousStrides, isContiguous, numel } from '../base/shape.js';
import type { Storage } from './storage.js';
import { registerTensorClass, trackTensor, untrackTensor } from './memory.js';
import { formatTensor } from './print.js';
import { backward as runBackward } from '../autograd/backward.js';
import * as U from '../ops/unary.js';
import * as B from '../ops/binary.js';
import * as R from '../ops/reduce.js';
import * as V from '../ops/view.js';
import * as J from '../ops/join.js';
import * as M from '../ops/matmul.js';
import * as I from '../ops/indexing.js';
import * as S from '../ops/softmax.js';

let nextId = 0;

export type Scalar = number;
export type TensorOrScalar = Tensor | number;
export type NestedArray = number | boolean | NestedArray[];

export class Tensor {
  readonly id = nextId++;
  // storage/strides/offset change only in _rebind (moving a parameter to another device in place)
  storage: Storage;
  readonly shape: readonly number[];
  strides: readonly number[];
  offset: number;
  readonly dtype: DType;
  /** Gradient accumulated by backward() for a leaf that requires grad. */
  grad: Tensor | null = null;
  /** @internal the operation that made this tensor, when recorded. */
  _node: Node | null = null;
  /** @internal the scope that will dispose this tensor, if any. */
  _scope: Set<Tensor> | null = null;
  /** @internal keep .grad on a non-leaf (retainGrad()). */
  _retainGrad = false;
  private _requiresGrad = false;
  private _disposed = false;

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = storage.dtype;
    storage.retain();
    trackTensor(this, storage);
  }

  // ---- facts ----
  get backend(): Backend {
    return this.storage.backend;
  }
  get device(): string {
    return this.storage.backend.name;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }
  numel(): number {
    return numel(this.shape);
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  get isLeaf(): boolean {
    return this._node === null;
  }
  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  /** @internal the strided view kernels read. */
  view_(): View {
    if (this._disposed) throw new DisposedError('tensor', `tensor ${fmtShape(this.shape)} ${this.dtype} was used after dispose()`);
    return { buf: this.storage.buf, dtype: this.dtype, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (v && !isFloat(this.dtype))
      throw new DTypeError('requiresGrad', `only floating-point tensors can require gradients, got ${this.dtype}`);
    if (!v && this._node) throw new ValueError('requiresGrad', 'cannot turn off requiresGrad on a non-leaf tensor; use detach()');
    this._requiresGrad = v;
  }
  /** Sets requiresGrad in place and returns this (PyTorch's requires_grad_()). */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }
  /** Keeps .grad for this non-leaf tensor after backward (PyTorch's retain_grad()). */
  retainGrad(): this {
    this._retainGrad = true;
    return this;
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    runBackward(this, gradient, opts.retainGraph ?? false);
  }
  /** A tensor sharing storage that is cut from the graph. */
  detach(): Tensor {
    this.view_();
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  // ---- memory ----
  /** Frees this tensor's hold on its storage now. Further use throws; a second call does nothing. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    untrackTensor(this);
    this.storage.release();
    this._node = null;
    if (this.grad) {
      const g = this.grad;
      this.grad = null;
      g.dispose();
    }
  }

  /**
   * @internal Points this tensor at new contiguous storage of the same shape and dtype (Module.to moves
   * parameters this way, so optimizers holding them keep working).
   */
  _rebind(storage: Storage): void {
    this.view_();
    storage.retain();
    this.storage.release();
    this.storage = storage;
    this.strides = Object.freeze(contiguousStrides(this.shape));
    this.offset = 0;
  }

  // ---- readout ----
  /** The elements in row-major order, as a new typed array of this dtype. */
  dataSync(): TypedArray {
    return this.backend.read(this.view_());
  }
  /** The elements in row-major order; the way to read a tensor on the GPU. */
  async data(): Promise<TypedArray> {
    return this.backend.readAsync(this.view_());
  }
  /** The single value of a one-element tensor, read asynchronously (works on every device). */
  async itemAsync(): Promise<number> {
    if (this.size !== 1)
      throw new ValueError('item', `only one-element tensors can be converted to a number, got shape ${fmtShape(this.shape)}`);
    return (await this.data())[0]!;
  }
  /** tolist() read asynchronously (works on every device). */
  async array(): Promise<NestedArray> {
    return nestedList(this.shape, await this.data(), this.dtype === 'bool');
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new ValueError('item', `only one-element tensors can be converted to a number, got shape ${fmtShape(this.shape)}`);
    return this.dataSync()[0]!;
  }
  /** Nested arrays of numbers (booleans for bool tensors), like PyTorch's tolist(). */
  tolist(): NestedArray {
    return nestedList(this.shape, this.dataSync(), this.dtype === 'bool');
  }
  toString(): string {
    return formatTensor(this);
  }
  /** toString() with the values, on any device (a GPU tensor is read asynchronously). */
  async toStringAsync(): Promise<string> {
    return formatTensor(this, await this.data());
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return formatTensor(this);
  }

  // ---- views and shape ----
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return V.reshape(this, flatArgs(shape));
  }
  view(...shape: number[] | [readonly number[]]): Tensor {
    return V.reshape(this, flatArgs(shape));
  }
  transpose(a = 0, b = 1): Tensor {
    return V.transpose(this, a, b);
  }
  /** Transpose of a 2-D tensor (or the last two dims). */
  get T(): Tensor {
    return V.transpose(this, -2, -1);
  }
  permute(...axes: number[] | [readonly number[]]): Tensor {
    return V.permute(this, flatArgs(axes));
  }
  expand(...shape: number[] | [readonly number[]]): Tensor {
    return V.expand(this, flatArgs(shape));
  }
  expandAs(other: Tensor): Tensor {
    return V.expand(this, other.shape);
  }
  squeeze(axis?: number | readonly number[]): Tensor {
    return V.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return V.unsqueeze(this, axis);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return V.flatten(this, startDim, endDim);
  }
  /** Python-style slicing per leading axis: [start, stop, step] (null for defaults) or an index. */
  slice(...specs: V.SliceSpec[]): Tensor {
    return V.slice(this, specs);
  }
  narrow(axis: number, start: number, length: number): Tensor {
    return V.narrow(this, axis, start, length);
  }
  contiguous(): Tensor {
    return V.contiguous(this);
  }
  clone(): Tensor {
    return V.clone(this);
  }
  /**
   * A dtype ('float32', ...) casts; a device name ('cpu', 'webgpu') copies the tensor there. A GPU tensor
   * cannot be read synchronously, so webgpu -> cpu needs toAsync('cpu'). A device copy is a new leaf
   * (requiresGrad kept), as moving a model's parameters needs.
   */
  to(dtypeOrDevice: DType | string): Tensor {
    if (!isDeviceName(dtypeOrDevice)) return V.cast(this, checkDType('to', dtypeOrDevice));
    return V.toDevice(this, dtypeOrDevice);
  }
  /** to(), for any direction between devices (a GPU read is asynchronous). */
  async toAsync(dtypeOrDevice: DType | string): Promise<Tensor> {
    if (!isDeviceName(dtypeOrDevice)) return V.cast(this, checkDType('to', dtypeOrDevice));
    return V.toDeviceAsync(this, dtypeOrDevice);
  }
  float(): Tensor {
    return V.cast(this, 'float32');
  }
  double(): Tensor {
    return V.cast(this, 'float64');
  }
  int(): Tensor {
    return V.cast(this, 'int32');
  }
  bool(): Tensor {
    return V.cast(this, 'bool');
  }
  split(sizeOrSections: number | number[], axis = 0): Tensor[] {
    return J.split(this, sizeOrSections, axis);
  }
  chunk(chunks: number, axis = 0): Tensor[] {
    return J.chunk(this, chunks, axis);
  }

  // ---- in place (outside autograd: optimizers, initialisers) ----
  /** Copies src (broadcast to this shape, cast to this dtype) into this tensor's memory. */
  copy_(src: TensorOrScalar): this {
    V.copyInto(this, src);
    return this;
  }
  fill_(value: number): this {
    V.fillInto(this, value);
    return this;
  }
  zero_(): this {
    V.fillInto(this, 0);
    return this;
  }

  // ---- elementwise ----
  neg(): Tensor {
    return U.neg(this);
  }
  abs(): Tensor {
    return U.abs(this);
  }
  sign(): Tensor {
    return U.sign(this);
  }
  exp(): Tensor {
    return U.exp(this);
  }
  log(): Tensor {
    return U.log(this);
  }
  log1p(): Tensor {
    return U.log1p(this);
  }
  expm1(): Tensor {
    return U.expm1(this);
  }
  sqrt(): Tensor {
    return U.sqrt(this);
  }
  rsqrt(): Tensor {
    return U.rsqrt(this);
  }
  square(): Tensor {
    return U.square(this);
  }
  reciprocal(): Tensor {
    return U.reciprocal(this);
  }
  sin(): Tensor {
    return U.sin(this);
  }
  cos(): Tensor {
    return U.cos(this);
  }
  tanh(): Tensor {
    return U.tanh(this);
  }
  sigmoid(): Tensor {
    return U.sigmoid(this);
  }
  relu(): Tensor {
    return U.relu(this);
  }
  leakyRelu(negativeSlope = 0.01): Tensor {
    return U.leakyRelu(this, negativeSlope);
  }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return U.gelu(this, approximate);
  }
  silu(): Tensor {
    return U.silu(this);
  }
  erf(): Tensor {
    return U.erf(this);
  }
  softplus(): Tensor {
    return U.softplus(this);
  }
  floor(): Tensor {
    return U.floor(this);
  }
  ceil(): Tensor {
    return U.ceil(this);
  }
  round(): Tensor {
    return U.round(this);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return U.clamp(this, min, max);
  }
  logicalNot(): Tensor {
    return U.logicalNot(this);
  }

  add(o: TensorOrScalar): Tensor {
    return B.add(this, o);
  }
  sub(o: TensorOrScalar): Tensor {
    return B.sub(this, o);
  }
  mul(o: TensorOrScalar): Tensor {
    return B.mul(this, o);
  }
  div(o: TensorOrScalar): Tensor {
    return B.div(this, o);
  }
  pow(o: TensorOrScalar): Tensor {
    return B.pow(this, o);
  }
  maximum(o: TensorOrScalar): Tensor {
    return B.maximum(this, o);
  }
  minimum(o: TensorOrScalar): Tensor {
    return B.minimum(this, o);
  }
  eq(o: TensorOrScalar): Tensor {
    return B.eq(this, o);
  }
  ne(o: TensorOrScalar): Tensor {
    return B.ne(this, o);
  }
  lt(o: TensorOrScalar): Tensor {
    return B.lt(this, o);
  }
  le(o: TensorOrScalar): Tensor {
    return B.le(this, o);
  }
  gt(o: TensorOrScalar): Tensor {
    return B.gt(this, o);
  }
  ge(o: TensorOrScalar): Tensor {
    return B.ge(this, o);
  }
  logicalAnd(o: TensorOrScalar): Tensor {
    return B.logicalAnd(this, o);
  }
  logicalOr(o: TensorOrScalar): Tensor {
    return B.logicalOr(this, o);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return B.maskedFill(this, mask, value);
  }

  // ---- reductions ----
  sum(axis?: number | readonly number[] | null, keepdim = false): Tensor {
    return R.sum(this, axis, keepdim);
  }
  mean(axis?: number | readonly number[] | null, keepdim = false): Tensor {
    return R.mean(this, axis, keepdim);
  }
  max(axis?: number | readonly number[] | null, keepdim = false): Tensor {
    return R.max(this, axis, keepdim);
  }
  min(axis?: number | readonly number[] | null, keepdim = false): Tensor {
    return R.min(this, axis, keepdim);
  }
  prod(axis?: number | readonly number[] | null, keepdim = false): Tensor {
    return R.prod(this, axis, keepdim);
  }
  argmax(axis?: number | null, keepdim = false): Tensor {
    return R.argmax(this, axis, keepdim);
  }
  argmin(axis?: number | null, keepdim = false): Tensor {
    return R.argmin(this, axis, keepdim);
  }
  var(axis?: number | readonly number[] | null, opts: R.VarOptions = {}): Tensor {
    return R.variance(this, axis, opts);
  }
  std(axis?: number | readonly number[] | null, opts: R.VarOptions = {}): Tensor {
    return R.std(this, axis, opts);
  }
  logsumexp(axis?: number | readonly number[] | null, keepdim = false): Tensor {
    return R.logsumexp(this, axis, keepdim);
  }

  // ---- linear algebra, indexing, softmax ----
  matmul(o: Tensor): Tensor {
    return M.matmul(this, o);
  }
  indexSelect(axis: number, index: Tensor): Tensor {
    return I.indexSelect(this, axis, index);
  }
  gather(axis: number, index: Tensor): Tensor {
    return I.gather(this, axis, index);
  }
  scatterAdd(axis: number, index: Tensor, src: Tensor): Tensor {
    return I.scatterAdd(this, axis, index, src);
  }
  softmax(axis = -1): Tensor {
    return S.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return S.logSoftmax(this, axis);
  }
}

registerTensorClass(Tensor);

/** A device name ('cpu', 'webgpu' -- open or not -- or a registered backend's) rather than a dtype. */
const isDeviceName = (s: string): boolean => s === 'webgpu' || listDevices().includes(s);

function nestedList(shape: readonly number[], data: TypedArray, isBool: boolean): NestedArray {
  const build = (dim: number, off: number): NestedArray => {
    if (dim === shape.length) return isBool ? data[off] !== 0 : data[off]!;
    const out: NestedArray[] = [];
    const step = numel(shape.slice(dim + 1));
    for (let i = 0; i < shape[dim]!; i++) out.push(build(dim + 1, off + i * step));
    return out;
  };
  return build(0, 0);
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}
