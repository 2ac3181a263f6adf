// The Tensor: a typed, strided view into reference-counted storage on some backend, plus its place
// in the autograd graph. This class knows nothing of ops or autograd: its chainable methods (reshape,
// add, sum, matmul, backward, ...) are installed on the prototype by ops/tensor-methods.ts, one floor
// up, which every entry point imports.

import type { Backend, View } from '../backend/backend.js';
import type { GraphNode } from './graph-node.js';
import { DTypeError, ValueError, fmtShape } from '../errors.js';
import type { DType, TypedArray } from '../base/dtype.js';
import { isFloat } from '../base/dtype.js';
import { contiguousStrides, isContiguous, numel } from '../base/shape.js';
import type { Storage } from './storage.js';
import { DORMANT, UNMANAGED, autoFree, disposedError, registerTensorClass, trackTensor, untrackTensor, wake } from './memory.js';
import { formatTensor } from './print.js';

let nextId = 0;

export type Scalar = number;
/** A tensor or a plain number, which ops treat as a scalar tensor. */
export type TensorOrScalar = Tensor | number;
/** Nested arrays of numbers or booleans, as tensor() takes them and tolist() returns them. */
export type NestedArray = number | boolean | NestedArray[];

/** An n-dimensional array on a device with autograd, like torch.Tensor: a strided view into reference-counted storage. */
export class Tensor {
  /** A number unique to this tensor in the process, in creation order. */
  readonly id = nextId++;
  // storage/strides/offset change only in _rebind (moving a parameter to another device in place)
  /** The reference-counted device memory this tensor views (shared by its views). */
  storage: Storage;
  /** Size of each dim. */
  readonly shape: readonly number[];
  /** Elements to step in storage per index of each dim. */
  strides: readonly number[];
  /** Index of the first element in storage. */
  offset: number;
  /** Element type: 'float32', 'float64', 'int32' or 'bool'. */
  readonly dtype: DType;
  /** Gradient accumulated by backward() for a leaf that requires grad. */
  grad: Tensor | null = null;
  /** @internal the operation that made this tensor, when recorded. */
  _node: GraphNode<Tensor> | null = null;
  /** @internal the scope that will dispose this tensor, if any. */
  _scope: Set<Tensor> | null = null;
  /** @internal keep .grad on a non-leaf (retainGrad()). */
  _retainGrad = false;
  /** @internal automatic freeing at backward() boundaries: whether it manages this tensor (memory.ts). */
  _auto = UNMANAGED;
  /** @internal the generation (completed backward() calls) of the last op that used this tensor. */
  _lastUse = 0;
  private _requiresGrad = false;
  private _disposed = false;

  /** A view of `storage` (ops and mox.tensor() make tensors; this is for backends and internals). */
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
  /** The backend (device implementation) holding the data. */
  get backend(): Backend {
    return this.storage.backend;
  }
  /** Name of the device holding the data, e.g. 'cpu' or 'webgpu'. */
  get device(): string {
    return this.storage.backend.name;
  }
  /** Number of dims. */
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }
  /** Number of elements (as size), like torch.numel. */
  numel(): number {
    return numel(this.shape);
  }
  /** Whether dispose() has freed this tensor. */
  get isDisposed(): boolean {
    return this._disposed;
  }
  /** Whether no recorded op made this tensor (a user-created tensor or a parameter), as PyTorch's is_leaf. */
  get isLeaf(): boolean {
    return this._node === null;
  }
  /** Whether the elements lie row-major and dense in storage. */
  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  /** @internal the strided view kernels read. */
  view_(): View {
    if (this._disposed) throw disposedError(this);
    this._lastUse = autoFree.generation;
    if (this._auto === DORMANT) wake(this);
    return { buf: this.storage.buf, dtype: this.dtype, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  // ---- autograd ----
  /** Whether backward() computes a gradient for this tensor (leaves: accumulated in .grad). */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  /** Makes this leaf track gradients (floating-point only); turning it off on a non-leaf throws. */
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
    this.storage.stats.tensors--;
    storage.stats.tensors++;
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
  /** The tensor printed as PyTorch prints it (values included on devices with synchronous reads). */
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
}

registerTensorClass(Tensor);

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
