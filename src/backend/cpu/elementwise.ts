// Elementwise kernels: unary, binary, where, plus the cast used by copy/fill.
//
// Each kernel plans rows once (see strided.ts), then for each row switches on the op *once* and runs a
// monomorphic loop, so a contiguous tensor costs one switch and one tight loop regardless of rank. All
// arithmetic is in JS numbers (float64); the output typed array rounds/truncates on store.

import type { BinaryOp, UnaryOp, View } from '../backend.js';
import type { DType, TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { cpow, erf, gelu, geluGrad, geluTanh, geluTanhGrad, roundHalfEven, sigmoid, softplus } from './math.js';
import { dataOf, forEachRow, planRows, storeAs } from './strided.js';
import { assertSameShape, numel } from '../../base/shape.js';

type Arr = TypedArray;

// Ops whose results are already 0/1, so a bool output can be written directly.
const LOGICAL_UNARY = new Set<UnaryOp>(['not']);
const LOGICAL_BINARY = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or']);

/** Applies `op` to n elements: x[xi + j*xs] -> out[oi + j]. */
function unaryRow(
  op: UnaryOp,
  p0: number,
  p1: number,
  x: Arr,
  xi: number,
  xs: number,
  out: Arr | Float64Array,
  oi: number,
  n: number,
): void {
  const end = oi + n;
  switch (op) {
    case 'neg':
      for (; oi < end; oi++, xi += xs) out[oi] = -x[xi]!;
      return;
    case 'abs':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.abs(x[xi]!);
      return;
    case 'sign':
      // torch.sign: NaN -> 0 (its kernel is (0 < x) - (x < 0)).
      for (; oi < end; oi++, xi += xs) {
        const v = x[xi]!;
        out[oi] = v > 0 ? 1 : v < 0 ? -1 : 0;
      }
      return;
    case 'exp':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.exp(x[xi]!);
      return;
    case 'log':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.log(x[xi]!);
      return;
    case 'log1p':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.log1p(x[xi]!);
      return;
    case 'expm1':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.expm1(x[xi]!);
      return;
    case 'sqrt':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.sqrt(x[xi]!);
      return;
    case 'rsqrt':
      for (; oi < end; oi++, xi += xs) out[oi] = 1 / Math.sqrt(x[xi]!);
      return;
    case 'square':
      for (; oi < end; oi++, xi += xs) {
        const v = x[xi]!;
        out[oi] = v * v;
      }
      return;
    case 'reciprocal':
      for (; oi < end; oi++, xi += xs) out[oi] = 1 / x[xi]!;
      return;
    case 'sin':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.sin(x[xi]!);
      return;
    case 'cos':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.cos(x[xi]!);
      return;
    case 'tanh':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.tanh(x[xi]!);
      return;
    case 'sigmoid':
      for (; oi < end; oi++, xi += xs) out[oi] = sigmoid(x[xi]!);
      return;
    // `v < 0 ? 0 : v` keeps NaN, as torch.relu does.
    case 'relu':
      for (; oi < end; oi++, xi += xs) {
        const v = x[xi]!;
        // biome-ignore lint/complexity/useMathMinMax: relu keeps -0 as -0, which Math.max(-0, 0) would not
        out[oi] = v < 0 ? 0 : v;
      }
      return;
    case 'erf':
      for (; oi < end; oi++, xi += xs) out[oi] = erf(x[xi]!);
      return;
    case 'gelu':
      for (; oi < end; oi++, xi += xs) out[oi] = gelu(x[xi]!);
      return;
    case 'geluTanh':
      for (; oi < end; oi++, xi += xs) out[oi] = geluTanh(x[xi]!);
      return;
    case 'geluGrad':
      for (; oi < end; oi++, xi += xs) out[oi] = geluGrad(x[xi]!);
      return;
    case 'geluTanhGrad':
      for (; oi < end; oi++, xi += xs) out[oi] = geluTanhGrad(x[xi]!);
      return;
    case 'silu':
      for (; oi < end; oi++, xi += xs) {
        const v = x[xi]!;
        out[oi] = v * sigmoid(v);
      }
      return;
    case 'softplus':
      for (; oi < end; oi++, xi += xs) out[oi] = softplus(x[xi]!);
      return;
    case 'floor':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.floor(x[xi]!);
      return;
    case 'ceil':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.ceil(x[xi]!);
      return;
    case 'round':
      for (; oi < end; oi++, xi += xs) out[oi] = roundHalfEven(x[xi]!);
      return;
    case 'not':
      for (; oi < end; oi++, xi += xs) out[oi] = x[xi] === 0 ? 1 : 0;
      return;
    case 'leakyRelu':
      for (; oi < end; oi++, xi += xs) {
        const v = x[xi]!;
        out[oi] = v > 0 ? v : v * p0;
      }
      return;
    case 'powScalar':
      if (p0 === 2) {
        for (; oi < end; oi++, xi += xs) {
          const v = x[xi]!;
          out[oi] = v * v;
        }
        return;
      }
      for (; oi < end; oi++, xi += xs) out[oi] = cpow(x[xi]!, p0);
      return;
    // min(max(x, lo), hi): NaN stays NaN, and lo > hi gives hi, both as in torch.clamp.
    case 'clamp':
      for (; oi < end; oi++, xi += xs) out[oi] = Math.min(Math.max(x[xi]!, p0), p1);
      return;
    case 'affine':
      for (; oi < end; oi++, xi += xs) out[oi] = x[xi]! * p0 + p1;
      return;
  }
  throw new Error(`unary: unknown op '${String(op)}'`);
}

export function unary(op: UnaryOp, x: View, outDtype: DType, params: readonly number[] = []): TypedArray {
  const size = numel(x.shape);
  // A bool output of a non-logical op must test != 0, so compute in float64 and convert at the end.
  const viaF64 = outDtype === 'bool' && !LOGICAL_UNARY.has(op);
  const out: Arr = viaF64 ? new Float64Array(size) : typedArrayFor(outDtype, size);
  if (size > 0) {
    let p0 = params[0] ?? 0;
    let p1 = params[1] ?? 0;
    if (op === 'clamp') {
      p0 = params[0] ?? -Infinity;
      p1 = params[1] ?? Infinity;
    }
    if (op === 'affine') {
      p0 = params[0] ?? 1;
    }
    const xd = dataOf(x);
    const plan = planRows(x.shape, [x.strides]);
    const n = plan.n;
    const xs = plan.inner[0]!;
    forEachRow(plan, [x.offset], (offs, row) => unaryRow(op, p0, p1, xd, offs[0]!, xs, out, row * n, n));
  }
  return viaF64 ? storeAs(outDtype, out as Float64Array) : out;
}

/** Applies `op` to n element pairs: (a[ai + j*as], b[bi + j*bs]) -> out[oi + j]. */
function binaryRow(
  op: BinaryOp,
  imul: boolean,
  a: Arr,
  ai: number,
  as: number,
  b: Arr,
  bi: number,
  bs: number,
  out: Arr,
  oi: number,
  n: number,
): void {
  const end = oi + n;
  switch (op) {
    case 'add':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! + b[bi]!;
      return;
    case 'sub':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! - b[bi]!;
      return;
    case 'mul':
      // Int32 products can exceed 2^53 before wrapping; Math.imul wraps exactly like torch's int32.
      if (imul) {
        for (; oi < end; oi++, ai += as, bi += bs) out[oi] = Math.imul(a[ai]!, b[bi]!);
        return;
      }
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! * b[bi]!;
      return;
    case 'div':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! / b[bi]!;
      return;
    case 'pow':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = cpow(a[ai]!, b[bi]!);
      return;
    // Math.max/min return NaN if either side is NaN, matching torch.maximum/minimum.
    case 'maximum':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = Math.max(a[ai]!, b[bi]!);
      return;
    case 'minimum':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = Math.min(a[ai]!, b[bi]!);
      return;
    case 'eq':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai] === b[bi] ? 1 : 0;
      return;
    case 'ne':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai] !== b[bi] ? 1 : 0;
      return;
    case 'lt':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! < b[bi]! ? 1 : 0;
      return;
    case 'le':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! <= b[bi]! ? 1 : 0;
      return;
    case 'gt':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! > b[bi]! ? 1 : 0;
      return;
    case 'ge':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! >= b[bi]! ? 1 : 0;
      return;
    // Truthiness is != 0 (NaN counts as true), as torch.logical_and/or.
    case 'and':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai] !== 0 && b[bi] !== 0 ? 1 : 0;
      return;
    case 'or':
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai] !== 0 || b[bi] !== 0 ? 1 : 0;
      return;
  }
  throw new Error(`binary: unknown op '${String(op)}'`);
}

export function binary(op: BinaryOp, a: View, b: View, outDtype: DType): TypedArray {
  assertSameShape('binary', a.shape, b.shape);
  const size = numel(a.shape);
  const viaF64 = outDtype === 'bool' && !LOGICAL_BINARY.has(op);
  const out: Arr = viaF64 ? new Float64Array(size) : typedArrayFor(outDtype, size);
  if (size > 0) {
    const imul = outDtype === 'int32' && a.dtype !== 'float32' && a.dtype !== 'float64' && b.dtype !== 'float32' && b.dtype !== 'float64';
    const ad = dataOf(a);
    const bd = dataOf(b);
    const plan = planRows(a.shape, [a.strides, b.strides]);
    const n = plan.n;
    const as = plan.inner[0]!;
    const bs = plan.inner[1]!;
    forEachRow(plan, [a.offset, b.offset], (offs, row) => binaryRow(op, imul, ad, offs[0]!, as, bd, offs[1]!, bs, out, row * n, n));
  }
  return viaF64 ? storeAs(outDtype, out as Float64Array) : out;
}

export function where(cond: View, a: View, b: View, outDtype: DType): TypedArray {
  assertSameShape('where', cond.shape, a.shape);
  assertSameShape('where', a.shape, b.shape);
  const size = numel(a.shape);
  const out = typedArrayFor(outDtype, size);
  if (size === 0) return out;
  const toBool = outDtype === 'bool';
  const cd = dataOf(cond);
  const ad = dataOf(a);
  const bd = dataOf(b);
  const plan = planRows(a.shape, [cond.strides, a.strides, b.strides]);
  const n = plan.n;
  const [cs, as, bs] = plan.inner as [number, number, number];
  forEachRow(plan, [cond.offset, a.offset, b.offset], (offs, row) => {
    let ci = offs[0]!,
      ai = offs[1]!,
      bi = offs[2]!;
    const o = row * n;
    for (let j = 0; j < n; j++, ci += cs, ai += as, bi += bs) {
      const v = cd[ci] !== 0 ? ad[ai]! : bd[bi]!;
      out[o + j] = toBool ? (v !== 0 ? 1 : 0) : v;
    }
  });
  return out;
}

/** Value `value` as stored in a `dtype` array element (bool: != 0; int32: truncation). */
export function castScalar(dtype: DType, value: number): number {
  return dtype === 'bool' ? (value !== 0 ? 1 : 0) : value;
}

export function fill(dst: View, value: number): void {
  if (numel(dst.shape) === 0) return;
  const v = castScalar(dst.dtype, value);
  const dd = dataOf(dst);
  const plan = planRows(dst.shape, [dst.strides]);
  const n = plan.n;
  const ds = plan.inner[0]!;
  forEachRow(plan, [dst.offset], (offs) => {
    const o = offs[0]!;
    if (ds === 1) dd.fill(v, o, o + n);
    else for (let j = 0, di = o; j < n; j++, di += ds) dd[di] = v;
  });
}
