// Making tensors: from data, filled, ranges, identity, and random (seeded by mox.seed).

import { getBackend } from '../backend/registry.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { checkDType, dtypeOfArray, typedArrayFor, type DType, type TypedArray } from '../base/dtype.js';
import { checkShape, numel } from '../base/shape.js';
import { Storage } from './storage.js';
import { Tensor, type NestedArray } from './tensor.js';
import { type Generator, globalGenerator } from './random.js';

/** Options of the tensor constructors: dtype, device and requiresGrad. */
export interface CreateOptions {
  /** Element type (default float32; tensor() infers int32 or bool from the data). */
  dtype?: DType;
  /** Backend name, e.g. 'cpu'. Defaults to the current device (mox.setDevice). */
  device?: string;
  /** Track gradients from the start (floating-point dtypes only). */
  requiresGrad?: boolean;
}

/** Options of tensor(): the constructor options plus a shape for flat data. */
export interface TensorOptions extends CreateOptions {
  /** Shape for flat data (a typed array or flat list); checked against the element count. */
  shape?: readonly number[];
}

function fromTyped(data: TypedArray, shape: readonly number[], opts: CreateOptions): Tensor {
  const backend = getBackend(opts.device);
  const t = new Tensor(new Storage(backend, backend.fromArray(data), dtypeOfArray(data), data.length), shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function inferNested(op: string, data: NestedArray): { shape: number[]; flat: number[]; kind: DType } {
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] as NestedArray;
    if (probe === undefined) break;
  }
  const flat: number[] = [];
  let allBool = true;
  let allInt = true;
  const walk = (v: NestedArray, dim: number): void => {
    if (dim === shape.length) {
      if (Array.isArray(v)) throw new ShapeError(op, `ragged nested array: expected a number at depth ${dim}, shape ${fmtShape(shape)}`);
      if (typeof v === 'boolean') {
        flat.push(v ? 1 : 0);
        allInt = false;
      } else if (typeof v === 'number') {
        flat.push(v);
        allBool = false;
        if (!Number.isInteger(v)) allInt = false;
      } else throw new ValueError(op, `unsupported element ${String(v)} (expected numbers or booleans)`);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new ShapeError(op, `ragged nested array: expected ${shape[dim]} elements at depth ${dim}, shape ${fmtShape(shape)}`);
    }
    for (const e of v) walk(e, dim + 1);
  };
  walk(data, 0);
  const kind: DType = flat.length > 0 && allBool ? 'bool' : allInt && flat.length > 0 ? 'int32' : 'float32';
  return { shape, flat, kind };
}

/**
 * A tensor from nested arrays, a typed array, or a number. The dtype follows the data, as in PyTorch:
 * integers give int32, any fraction float32, booleans bool; a typed array keeps its own dtype.
 */
export function tensor(data: NestedArray | TypedArray | readonly number[], opts: TensorOptions = {}): Tensor {
  const dtype = opts.dtype ? checkDType('tensor', opts.dtype) : undefined;
  let shape: number[];
  let arr: TypedArray;
  if (ArrayBuffer.isView(data)) {
    const typed = data as TypedArray;
    shape = opts.shape ? checkShape('tensor', opts.shape) : [typed.length];
    const target = dtype ?? dtypeOfArray(typed);
    arr = target === dtypeOfArray(typed) ? typed : convert(typed, target);
  } else {
    const inferred = inferNested('tensor', data as NestedArray);
    shape = opts.shape ? checkShape('tensor', opts.shape) : inferred.shape;
    arr = typedArrayFor(dtype ?? inferred.kind, inferred.flat.length);
    for (let i = 0; i < inferred.flat.length; i++) arr[i] = inferred.flat[i]!;
    if (dtype === 'bool') for (let i = 0; i < arr.length; i++) arr[i] = inferred.flat[i] ? 1 : 0;
  }
  if (numel(shape) !== arr.length) {
    throw new ShapeError('tensor', `shape ${fmtShape(shape)} needs ${numel(shape)} elements but the data has ${arr.length}`);
  }
  return fromTyped(arr, shape, opts);
}

function convert(src: TypedArray, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, src.length);
  if (dtype === 'bool') for (let i = 0; i < src.length; i++) out[i] = src[i] ? 1 : 0;
  else if (dtype === 'int32') for (let i = 0; i < src.length; i++) out[i] = Math.trunc(src[i]!);
  else out.set(src);
  return out;
}

/** opts.dtype, checked so a bad name (from untyped callers) is a DTypeError naming the op; or the default. */
function dtypeArg(op: string, opts: CreateOptions, dflt: DType): DType {
  return opts.dtype === undefined ? dflt : checkDType(op, opts.dtype);
}

function shapeArgs(op: string, shape: readonly number[]): number[] {
  return checkShape(op, shape);
}

/** A tensor of the given shape filled with one value, like torch.full. */
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const s = shapeArgs('full', shape);
  const dtype = dtypeArg('full', opts, typeof value === 'boolean' ? 'bool' : 'float32');
  const arr = typedArrayFor(dtype, numel(s));
  if (value !== 0) arr.fill(value);
  return fromTyped(arr, s, opts);
}
/** A tensor of zeros, like torch.zeros. */
export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
/** A tensor of ones, like torch.ones. */
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, opts);

const likeOpts = (t: Tensor, opts: CreateOptions): CreateOptions => ({ dtype: t.dtype, device: t.device, ...opts });
/** Zeros with t's shape, dtype and device. */
export const zerosLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 0, likeOpts(t, opts));
/** Ones with t's shape, dtype and device. */
export const onesLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 1, likeOpts(t, opts));
/** A tensor of one value with t's shape, dtype and device. */
export const fullLike = (t: Tensor, value: number, opts: CreateOptions = {}): Tensor => full(t.shape, value, likeOpts(t, opts));

/** Values from start (inclusive) to end (exclusive) by step; arange(n) is 0..n-1. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new ValueError('arange', `step must be a non-zero finite number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInt = [start, end, step].every(Number.isInteger);
  const arr = typedArrayFor(dtypeArg('arange', opts, allInt ? 'int32' : 'float32'), n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return fromTyped(arr, [n], opts);
}

/** `steps` evenly spaced values from start to end, both included. */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ValueError('linspace', `steps must be a non-negative integer, got ${steps}`);
  const arr = typedArrayFor(dtypeArg('linspace', opts, 'float32'), steps);
  const delta = steps > 1 ? (end - start) / (steps - 1) : 0;
  // fill from both ends so the last value is exactly `end`, as PyTorch does
  for (let i = 0; i < steps; i++) arr[i] = i < steps / 2 ? start + i * delta : end - (steps - 1 - i) * delta;
  return fromTyped(arr, [steps], opts);
}

/** Identity matrix [n, m] (ones on the diagonal), like torch.eye. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  const s = shapeArgs('eye', [n, m]);
  const arr = typedArrayFor(dtypeArg('eye', opts, 'float32'), n * m);
  for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
  return fromTyped(arr, s, opts);
}

/** Options of the random constructors: the constructor options plus a generator. */
export interface RandomOptions extends CreateOptions {
  /** Draw from this generator instead of the global one (mox.seed). */
  generator?: Generator;
}

/** Uniform in [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const s = shapeArgs('rand', shape);
  const g = opts.generator ?? globalGenerator;
  const arr = typedArrayFor(dtypeArg('rand', opts, 'float32'), numel(s));
  g.fillRandom(arr);
  return fromTyped(arr, s, opts);
}

/** Standard normal. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const s = shapeArgs('randn', shape);
  const g = opts.generator ?? globalGenerator;
  const arr = typedArrayFor(dtypeArg('randn', opts, 'float32'), numel(s));
  for (let i = 0; i < arr.length; i++) arr[i] = g.normal();
  return fromTyped(arr, s, opts);
}

/** Uniform integers in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ValueError('randint', `need integers low < high, got [${low}, ${high})`);
  }
  const s = shapeArgs('randint', shape);
  const g = opts.generator ?? globalGenerator;
  const arr = typedArrayFor(dtypeArg('randint', opts, 'int32'), numel(s));
  for (let i = 0; i < arr.length; i++) arr[i] = g.int(low, high);
  return fromTyped(arr, s, opts);
}

/** Uniform [0, 1) values with t's shape, dtype and device. */
export const randLike = (t: Tensor, opts: RandomOptions = {}): Tensor => rand(t.shape, { dtype: t.dtype, device: t.device, ...opts });
/** Standard normal values with t's shape, dtype and device. */
export const randnLike = (t: Tensor, opts: RandomOptions = {}): Tensor => randn(t.shape, { dtype: t.dtype, device: t.device, ...opts });
