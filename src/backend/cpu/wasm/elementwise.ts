// float32 elementwise and reduction fast paths on the WASM kernels in assembly/elementwise.ts and
// assembly/reduce.ts. Every layout is first collapsed (planRows) to rows x n with one stride per
// operand and axis; the rare layouts that need more than two levels loop over the outer ones here.
// Big tensors are split across threads by rows, or by column ranges when there is a single row.

import type { BinaryOp, ReduceOp, UnaryOp, View } from '../../backend.js';
import type { DType, TypedArray } from '../../../base/dtype.js';
import { bytesPerElement } from '../../../base/dtype.js';
import { numel } from '../../../base/shape.js';
import { forEachRow, planRows, type RowPlan } from '../strided.js';
import * as codes from './op-codes.js';
import { TRACE_KERNELS, noteWasmRun } from '../kernel-trace.js';
import type { KernelArgs, KernelName } from './kernels.js';
import type { WasmRuntime } from './runtime.js';

/** Below this many elements an elementwise kernel stays on the calling thread. */
export const PARALLEL_MIN_ELEMENTS = 1 << 16;

/**
 * Calls on fewer elements than this run the WebAssembly kernel even where a native twin is loaded:
 * entering native code through Node-API costs ~0.1 us more than entering WebAssembly, which the
 * native kernel repays only past a few hundred elements of a cheap op (measured on the 2-core dev
 * machine, AVX-512: add, relu, compare, where and the row reductions break even at 250-450).
 */
const NATIVE_MIN = 512;
/** exp, sigmoid, silu, GELU: vector code in both tiers, native ahead from ~65 elements. */
const NATIVE_MIN_VECTOR_MATH = 96;
/** Ops WebAssembly computes with scalar Mathf (log, tanh, sin, pow, ...): native ahead from ~16. */
const NATIVE_MIN_SCALAR_MATH = 16;

function unaryNativeMin(code: number): number {
  if (code < codes.UNARY_EXP) return NATIVE_MIN;
  const vectorInWasm = [codes.UNARY_EXP, codes.UNARY_SIGMOID, codes.UNARY_SILU, codes.UNARY_GELU_TANH, codes.UNARY_GELU_TANH_GRAD];
  return vectorInWasm.includes(code) ? NATIVE_MIN_VECTOR_MATH : NATIVE_MIN_SCALAR_MATH;
}

/** Runs the WebAssembly kernel on this thread, native twin or not (a call too small to pay for one). */
function callWasm<K extends KernelName>(rt: WasmRuntime, kernel: K, args: KernelArgs<K>): void {
  if (TRACE_KERNELS) noteWasmRun(kernel, 1, 'wasm');
  (rt.wasmExports[kernel] as (...a: KernelArgs<K>) => void)(...args);
}

// The Backend's op names -> the kernels' op codes (op-codes.ts, the table assembly/ reads too).
const UNARY: Partial<Record<UnaryOp, number>> = {
  neg: codes.UNARY_NEG,
  abs: codes.UNARY_ABS,
  sqrt: codes.UNARY_SQRT,
  rsqrt: codes.UNARY_RSQRT,
  square: codes.UNARY_SQUARE,
  reciprocal: codes.UNARY_RECIPROCAL,
  relu: codes.UNARY_RELU,
  leakyRelu: codes.UNARY_LEAKY_RELU,
  affine: codes.UNARY_AFFINE,
  clamp: codes.UNARY_CLAMP,
  exp: codes.UNARY_EXP,
  log: codes.UNARY_LOG,
  tanh: codes.UNARY_TANH,
  sigmoid: codes.UNARY_SIGMOID,
  silu: codes.UNARY_SILU,
  softplus: codes.UNARY_SOFTPLUS,
  sin: codes.UNARY_SIN,
  cos: codes.UNARY_COS,
  log1p: codes.UNARY_LOG1P,
  expm1: codes.UNARY_EXPM1,
  geluTanh: codes.UNARY_GELU_TANH,
  geluTanhGrad: codes.UNARY_GELU_TANH_GRAD,
};
const BINARY: Partial<Record<BinaryOp, number>> = {
  add: codes.BINARY_ADD,
  sub: codes.BINARY_SUB,
  mul: codes.BINARY_MUL,
  div: codes.BINARY_DIV,
  maximum: codes.BINARY_MAX,
  minimum: codes.BINARY_MIN,
  pow: codes.BINARY_POW,
};
const COMPARE: Partial<Record<BinaryOp, number>> = {
  eq: codes.COMPARE_EQ,
  ne: codes.COMPARE_NE,
  lt: codes.COMPARE_LT,
  le: codes.COMPARE_LE,
  gt: codes.COMPARE_GT,
  ge: codes.COMPARE_GE,
};
const REDUCE: Partial<Record<ReduceOp, number>> = { sum: codes.REDUCE_SUM, max: codes.REDUCE_MAX, min: codes.REDUCE_MIN };

const base = (v: View): number => (v.buf as TypedArray).byteOffset;

/** 1 when the view is contiguous, 0 when every stride is 0 (a broadcast scalar), else -1. */
function flatStride(v: View): number {
  const { shape, strides } = v;
  let zero = true;
  let contiguous = true;
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 1) continue;
    if (strides[i] !== 0) zero = false;
    if (strides[i] !== expect) contiguous = false;
    expect *= d;
  }
  return contiguous ? 1 : zero ? 0 : -1;
}

/** The row plan, skipping the general planner in the common flat layouts (it costs as much as a small kernel). */
function plan(shape: readonly number[], views: readonly View[]): RowPlan {
  const flat = views.map(flatStride);
  if (flat.every((f) => f >= 0)) {
    return { outerShape: [], outerStrides: [...flat.map(() => []), []], n: numel(shape), inner: [...flat, 1], rows: 1 };
  }
  return planRows(shape, [...views.map((v) => v.strides), contiguous(shape)]);
}

function owned(rt: WasmRuntime, views: readonly View[], dtypes: readonly DType[]): boolean {
  return views.every((v, i) => v.dtype === dtypes[i] && rt.heap.owns(v.buf as TypedArray));
}

/** The kernels over a rows x n iteration space with one row and one column stride per operand. */
type Kernel2d = 'unaryF32' | 'binaryF32' | 'compareF32' | 'whereF32' | 'copy32';

/**
 * Runs `kernel` over the plan as 2-D pieces: for each combination of the outer-outer dims, one call
 * covering rows x n (split across threads when large). `args(offs, rows, rowStrides, n)` builds the
 * argument list for one piece starting at element offsets `offs` (one per operand, output last).
 */
function run2d<K extends Kernel2d>(
  rt: WasmRuntime,
  kernel: K,
  plan: RowPlan,
  offsets: number[],
  args: (offs: readonly number[], rows: number, rowStrides: readonly number[], n: number) => KernelArgs<K>,
  nativeMin = NATIVE_MIN,
): void {
  const outer = plan.outerShape;
  const rows = outer.length ? outer[outer.length - 1]! : 1;
  const rowStrides = plan.outerStrides.map((s) => (s.length ? s[s.length - 1]! : 0));
  const head: RowPlan = {
    outerShape: outer.slice(0, -1),
    outerStrides: plan.outerStrides.map((s) => s.slice(0, -1)),
    n: 1,
    inner: plan.inner.map(() => 0),
    rows: numel(outer.slice(0, -1)),
  };
  const n = plan.n;
  const total = rows * n;
  const T = Math.min(rt.threads, Math.max(1, Math.floor(total / PARALLEL_MIN_ELEMENTS)));
  forEachRow(head, offsets, (offs) => {
    if (T <= 1) {
      if (total < nativeMin) callWasm(rt, kernel, args(offs, rows, rowStrides, n));
      else rt.pool.call(kernel, args(offs, rows, rowStrides, n));
      return;
    }
    const jobs: KernelArgs<K>[] = [];
    if (rows >= T) {
      for (let t = 0, at = 0; t < T; t++) {
        const cnt = Math.floor((rows * (t + 1)) / T) - at;
        const o = offs.map((x, k) => x + at * rowStrides[k]!);
        jobs.push(args(o, cnt, rowStrides, n));
        at += cnt;
      }
    } else {
      // one (or few) long rows: split the columns; keep SIMD-friendly multiples of 16
      for (let r = 0; r < rows; r++) {
        const band = Math.ceil(n / T / 16) * 16;
        for (let j0 = 0; j0 < n; j0 += band) {
          const o = offs.map((x, k) => x + r * rowStrides[k]! + j0 * plan.inner[k]!);
          jobs.push(args(o, 1, rowStrides, Math.min(band, n - j0)));
        }
      }
    }
    for (let i = 0; i < jobs.length; i += rt.threads) rt.pool.run(kernel, jobs.slice(i, i + rt.threads));
  });
}

export function unaryF32(rt: WasmRuntime, op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): TypedArray | null {
  const code = UNARY[op];
  if (code === undefined || outDtype !== 'float32' || !owned(rt, [x], ['float32'])) return null;
  const size = numel(x.shape);
  const out = rt.heap.allocArray('float32', size, false);
  if (size === 0) return out;
  let p0 = params?.[0] ?? 0;
  let p1 = params?.[1] ?? 0;
  if (op === 'clamp') {
    p0 = params?.[0] ?? -Infinity;
    p1 = params?.[1] ?? Infinity;
  }
  const p = plan(x.shape, [x]);
  const xb = base(x);
  run2d(
    rt,
    'unaryF32',
    p,
    [x.offset, 0],
    (o, rows, rs, n) => [code, rows, n, xb + o[0]! * 4, rs[0]!, p.inner[0]!, out.byteOffset + o[1]! * 4, p0, p1],
    unaryNativeMin(code),
  );
  return out;
}

export function binaryF32(rt: WasmRuntime, op: BinaryOp, a: View, b: View, outDtype: DType): TypedArray | null {
  const arith = BINARY[op];
  const cmp = COMPARE[op];
  if (arith === undefined && cmp === undefined) return null;
  if (!owned(rt, [a, b], ['float32', 'float32'])) return null;
  if (arith !== undefined ? outDtype !== 'float32' : outDtype !== 'bool') return null;
  const size = numel(a.shape);
  const out = rt.heap.allocArray(outDtype, size, false);
  if (size === 0) return out;
  const p = plan(a.shape, [a, b]);
  const [ab, bb] = [base(a), base(b)];
  const ob = out.byteOffset;
  const ebytes = bytesPerElement(outDtype);
  run2d(
    rt,
    arith !== undefined ? 'binaryF32' : 'compareF32',
    p,
    [a.offset, b.offset, 0],
    (o, rows, rs, n) => [
      arith ?? cmp!,
      rows,
      n,
      ab + o[0]! * 4,
      rs[0]!,
      p.inner[0]!,
      bb + o[1]! * 4,
      rs[1]!,
      p.inner[1]!,
      ob + o[2]! * ebytes,
    ],
    arith === codes.BINARY_POW ? NATIVE_MIN_SCALAR_MATH : NATIVE_MIN,
  );
  return out;
}

export function whereF32(rt: WasmRuntime, cond: View, a: View, b: View, outDtype: DType): TypedArray | null {
  if (outDtype !== 'float32' || !owned(rt, [cond, a, b], ['bool', 'float32', 'float32'])) return null;
  const size = numel(a.shape);
  const out = rt.heap.allocArray('float32', size, false);
  if (size === 0) return out;
  const p = plan(a.shape, [cond, a, b]);
  const [cb, ab, bb] = [base(cond), base(a), base(b)];
  run2d(rt, 'whereF32', p, [cond.offset, a.offset, b.offset, 0], (o, rows, rs, n) => [
    rows,
    n,
    cb + o[0]!,
    rs[0]!,
    p.inner[0]!,
    ab + o[1]! * 4,
    rs[1]!,
    p.inner[1]!,
    bb + o[2]! * 4,
    rs[2]!,
    p.inner[2]!,
    out.byteOffset + o[3]! * 4,
  ]);
  return out;
}

/**
 * sum/max/min of float32 over `axes`, when the reduced dims and the kept dims each collapse to one
 * strided run (true of reducing the innermost or the outermost dims of a contiguous tensor).
 */
export function reduceF32(rt: WasmRuntime, op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): TypedArray | null {
  const code = REDUCE[op];
  if (code === undefined || outDtype !== 'float32' || axes.length === 0 || !owned(rt, [x], ['float32'])) return null;
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outSize = numel(keptAxes.map((a) => x.shape[a]!));
  const redSize = numel(axes.map((a) => x.shape[a]!));
  if (outSize === 0 || redSize === 0) return null;
  const redPlan = planRows(
    axes.map((a) => x.shape[a]!),
    [axes.map((a) => x.strides[a]!)],
  );
  const keptPlan = planRows(
    keptAxes.map((a) => x.shape[a]!),
    [keptAxes.map((a) => x.strides[a]!)],
  );
  if (redPlan.outerShape.length > 0 || keptPlan.outerShape.length > 0) return null;
  const out = rt.heap.allocArray('float32', outSize, false);
  const xb = base(x) + x.offset * 4;
  const keptStride = keptPlan.inner[0]!;
  const redStride = redPlan.inner[0]!;
  if (redStride !== 1 && keptStride === 1) {
    // reducing over outer rows: combine whole rows, SIMD across the contiguous columns
    const k = outSize * redSize < NATIVE_MIN ? rt.wasmExports : rt.exports;
    if (TRACE_KERNELS) noteWasmRun('reduceColsF32', 1, k === rt.wasmExports || !rt.native ? 'wasm' : `native-${rt.native.level}`);
    k.reduceColsF32(code, redSize, outSize, xb, redStride, keptStride, out.byteOffset);
    return out;
  }
  const T = Math.min(rt.threads, outSize, Math.max(1, Math.floor((outSize * redSize) / PARALLEL_MIN_ELEMENTS)));
  const jobs: KernelArgs<'reduceRowsF32'>[] = [];
  for (let t = 0, at = 0; t < T; t++) {
    const cnt = Math.floor((outSize * (t + 1)) / T) - at;
    jobs.push([code, cnt, redSize, xb + at * keptStride * 4, keptStride, redStride, out.byteOffset + at * 4]);
    at += cnt;
  }
  if (outSize * redSize < NATIVE_MIN) callWasm(rt, 'reduceRowsF32', jobs[0]!);
  else rt.pool.run('reduceRowsF32', jobs);
  return out;
}

/** Strided copy between two different heap buffers of the same 4-byte dtype (float32 or int32). */
export function copy32(rt: WasmRuntime, src: View, dst: View): boolean {
  if (src.dtype !== dst.dtype || (src.dtype !== 'float32' && src.dtype !== 'int32')) return false;
  if (src.buf === dst.buf || !rt.heap.owns(src.buf as TypedArray) || !rt.heap.owns(dst.buf as TypedArray)) return false;
  if (numel(dst.shape) === 0) return true;
  const p = planRows(dst.shape, [src.strides, dst.strides]);
  const [sb, db] = [base(src), base(dst)];
  const depth = p.outerShape.length;
  if (depth >= 2) {
    // three strided levels in one call, split across threads by the outermost of them
    const [outer, rows] = [p.outerShape[depth - 2]!, p.outerShape[depth - 1]!];
    const [osS, osD, rsS, rsD] = [
      p.outerStrides[0]![depth - 2]!,
      p.outerStrides[1]![depth - 2]!,
      p.outerStrides[0]![depth - 1]!,
      p.outerStrides[1]![depth - 1]!,
    ];
    const head: RowPlan = {
      outerShape: p.outerShape.slice(0, -2),
      outerStrides: p.outerStrides.map((s) => s.slice(0, -2)),
      n: 1,
      inner: [0, 0],
      rows: numel(p.outerShape.slice(0, -2)),
    };
    const T = Math.min(rt.threads, outer, Math.max(1, Math.floor((outer * rows * p.n) / PARALLEL_MIN_ELEMENTS)));
    forEachRow(head, [src.offset, dst.offset], (offs) => {
      const jobs: KernelArgs<'copy32x3'>[] = [];
      for (let t = 0, at = 0; t < T; t++) {
        const cnt = Math.floor((outer * (t + 1)) / T) - at;
        jobs.push([
          cnt,
          osS,
          osD,
          rows,
          p.n,
          sb + (offs[0]! + at * osS) * 4,
          rsS,
          p.inner[0]!,
          db + (offs[1]! + at * osD) * 4,
          rsD,
          p.inner[1]!,
        ]);
        at += cnt;
      }
      rt.pool.run('copy32x3', jobs);
    });
    return true;
  }
  run2d(rt, 'copy32', p, [src.offset, dst.offset], (o, rows, rs, n) => [
    rows,
    n,
    sb + o[0]! * 4,
    rs[0]!,
    p.inner[0]!,
    db + o[1]! * 4,
    rs[1]!,
    p.inner[1]!,
  ]);
  return true;
}

function contiguous(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
