// float32 fused row kernels on assembly/rows.ts: softmax / log-softmax, layer norm and its backward,
// cross-entropy with logits and its backward. Each works on the last axis of a tensor seen as
// [rows, n] with contiguous rows a fixed stride apart; any other layout is first copied into such a
// block (cheaper than falling back to the reference kernel). Large inputs are split across threads by
// rows; every row is computed by the same code whatever the split, so results do not depend on it.

import type { View } from '../../backend.js';
import type { DType, TypedArray } from '../../../base/dtype.js';
import { contiguousStrides, numel } from '../../../base/shape.js';
import { planRows } from '../strided.js';
import { referenceBackend } from '../reference-backend.js';
import type { KernelArgs, KernelName } from './kernels.js';
import type { WasmRuntime } from './runtime.js';

/**
 * Below this many elements a row kernel stays on the calling thread (the pool's dispatch costs ~10-20
 * us). Measured on the 2-core EPYC dev machine, best of 7: softmax runs ~1-4 ns per element (an exp
 * each), so [32, 1024] (32K, ~100 us) already gains from two threads and [16, 1024] does not; layer
 * norm is ~0.6 ns per element, so it needs ~4x more rows before a split pays: [64, 1024] was slower on
 * two threads, [256, 384] at best even.
 */
export const EXP_ROWS_PARALLEL_MIN = 1 << 15;
export const NORM_ROWS_PARALLEL_MIN = 1 << 17;

/** A view as rows of n contiguous elements, `rs` apart, at byte address `ptr`; `tmp` is a copy to free. */
interface Rows {
  ptr: number;
  rs: number;
  rows: number;
  n: number;
  tmp: TypedArray | null;
}

function asRows(rt: WasmRuntime, v: View, dtype: DType): Rows {
  const r = v.shape.length;
  const n = r ? v.shape[r - 1]! : 1;
  const lead = v.shape.slice(0, -1);
  const rows = numel(lead);
  const buf = v.buf as TypedArray;
  if (v.dtype === dtype && rt.heap.owns(buf) && (n <= 1 || v.strides[r - 1] === 1)) {
    const plan = planRows(lead, [v.strides.slice(0, -1)]);
    if (plan.outerShape.length === 0) {
      return { ptr: buf.byteOffset + v.offset * 4, rs: rows > 1 ? plan.inner[0]! : n, rows, n, tmp: null };
    }
  }
  const tmp = rt.heap.allocArray(dtype, rows * n, false);
  // the gradient of a sum arrives as one value broadcast everywhere: a native fill, not a strided walk
  if (v.dtype === dtype && v.strides.every((s) => s === 0)) {
    tmp.fill((v.buf as TypedArray)[v.offset]!);
    return { ptr: tmp.byteOffset, rs: n, rows, n, tmp };
  }
  referenceBackend.copy(v, { buf: tmp, dtype, shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 });
  return { ptr: tmp.byteOffset, rs: n, rows, n, tmp };
}

function release(rt: WasmRuntime, ...rs: (Rows | null)[]): void {
  for (const r of rs) if (r?.tmp) rt.heap.freeArray(r.tmp);
}

/** Runs `kernel` over `rows` rows, split in contiguous row ranges across threads when big enough. */
function byRows<K extends KernelName>(
  rt: WasmRuntime,
  kernel: K,
  rows: number,
  n: number,
  minElements: number,
  args: (r0: number, count: number) => KernelArgs<K>,
): void {
  const T = Math.min(rt.threads, rows, Math.max(1, Math.floor((rows * n) / minElements)));
  const jobs: KernelArgs<K>[] = [];
  for (let t = 0, at = 0; t < T; t++) {
    const count = Math.floor((rows * (t + 1)) / T) - at;
    if (count > 0) jobs.push(args(at, count));
    at += count;
  }
  rt.pool.run(kernel, jobs);
}

const f32Ok = (...vs: (View | null)[]): boolean => vs.every((v) => !v || v.dtype === 'float32');

/** Softmax / log-softmax over the last axis of x (float32), or null when the axis is not the last. */
export function softmaxRowsF32(rt: WasmRuntime, x: View, axis: number, log: boolean): Float32Array | null {
  if (x.dtype !== 'float32' || axis !== x.shape.length - 1) return null;
  const xr = asRows(rt, x, 'float32');
  const { rows, n } = xr;
  const out = rt.heap.allocArray('float32', rows * n, false) as Float32Array;
  if (rows * n > 0) {
    byRows(rt, 'softmaxRows', rows, n, EXP_ROWS_PARALLEL_MIN, (r0, c) => [
      xr.ptr + r0 * xr.rs * 4,
      xr.rs,
      out.byteOffset + r0 * n * 4,
      c,
      n,
      log ? 1 : 0,
    ]);
  }
  release(rt, xr);
  return out;
}

export interface LayerNormResult {
  y: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
}

export function layerNormF32(rt: WasmRuntime, x: View, weight: View | null, bias: View | null, eps: number): LayerNormResult | null {
  if (!f32Ok(x, weight, bias) || x.shape.length === 0) return null;
  const xr = asRows(rt, x, 'float32');
  const wr = weight ? asRows(rt, weight, 'float32') : null;
  const br = bias ? asRows(rt, bias, 'float32') : null;
  const { rows, n } = xr;
  const y = rt.heap.allocArray('float32', rows * n, false) as Float32Array;
  const mean = rt.heap.allocArray('float32', rows, false) as Float32Array;
  const rstd = rt.heap.allocArray('float32', rows, false) as Float32Array;
  const flags = (wr ? 1 : 0) | (br ? 2 : 0);
  if (rows * n > 0) {
    byRows(rt, 'layerNormRows', rows, n, NORM_ROWS_PARALLEL_MIN, (r0, c) => [
      xr.ptr + r0 * xr.rs * 4,
      xr.rs,
      wr?.ptr ?? 0,
      br?.ptr ?? 0,
      y.byteOffset + r0 * n * 4,
      mean.byteOffset + r0 * 4,
      rstd.byteOffset + r0 * 4,
      c,
      n,
      eps,
      flags,
    ]);
  } else if (n === 0) {
    // torch: the mean of nothing is NaN, and so is everything derived from it
    mean.fill(NaN);
    rstd.fill(NaN);
  }
  release(rt, xr, wr, br);
  return { y, mean, rstd };
}

export interface LayerNormGrads {
  dx: Float32Array;
  dweight: Float32Array | null;
  dbias: Float32Array | null;
}

export function layerNormBackwardF32(
  rt: WasmRuntime,
  g: View,
  x: View,
  mean: View,
  rstd: View,
  weight: View | null,
  withBias: boolean,
): LayerNormGrads | null {
  if (!f32Ok(g, x, mean, rstd, weight) || x.shape.length === 0) return null;
  const gr = asRows(rt, g, 'float32');
  const xr = asRows(rt, x, 'float32');
  const mr = asRows(rt, mean, 'float32');
  const sr = asRows(rt, rstd, 'float32');
  const wr = weight ? asRows(rt, weight, 'float32') : null;
  const { rows, n } = xr;
  // mean/rstd are one value per row: as views they may be [rows] or [..., 1]; either way contiguous
  const mp = mr.ptr;
  const sp = sr.ptr;
  const dx = rt.heap.allocArray('float32', rows * n, false) as Float32Array;
  const dweight = weight ? (rt.heap.allocArray('float32', n, true) as Float32Array) : null;
  const dbias = withBias ? (rt.heap.allocArray('float32', n, true) as Float32Array) : null;
  if (rows * n > 0) {
    byRows(rt, 'layerNormBackwardRows', rows, n, NORM_ROWS_PARALLEL_MIN, (r0, c) => [
      gr.ptr + r0 * gr.rs * 4,
      gr.rs,
      xr.ptr + r0 * xr.rs * 4,
      xr.rs,
      mp + r0 * 4,
      sp + r0 * 4,
      wr?.ptr ?? 0,
      dx.byteOffset + r0 * n * 4,
      c,
      n,
      wr ? 1 : 0,
    ]);
    const flags = (dweight ? 1 : 0) | (dbias ? 2 : 0);
    if (flags) {
      // split by column bands (multiples of 4 for the SIMD body) so each column has one summation order
      const T = Math.min(rt.threads, Math.ceil(n / 4), Math.max(1, Math.floor((rows * n) / NORM_ROWS_PARALLEL_MIN)));
      const band = Math.ceil(n / T / 4) * 4;
      const jobs: KernelArgs<'layerNormParams'>[] = [];
      for (let j0 = 0; j0 < n; j0 += band) {
        jobs.push([
          gr.ptr,
          gr.rs,
          xr.ptr,
          xr.rs,
          mp,
          sp,
          dweight?.byteOffset ?? 0,
          dbias?.byteOffset ?? 0,
          rows,
          j0,
          Math.min(n, j0 + band),
          flags,
        ]);
      }
      rt.pool.run('layerNormParams', jobs);
    }
  }
  release(rt, gr, xr, mr, sr, wr);
  return { dx, dweight, dbias };
}

export interface CrossEntropyResult {
  loss: Float32Array;
  lse: Float32Array;
}

/** Per-row cross-entropy of logits [N, C] at int32 targets [N] (already checked to be in range). */
export function crossEntropyF32(
  rt: WasmRuntime,
  logits: View,
  target: View,
  ignoreIndex: number,
  smoothing: number,
): CrossEntropyResult | null {
  if (logits.dtype !== 'float32' || logits.shape.length !== 2 || target.dtype !== 'int32') return null;
  const xr = asRows(rt, logits, 'float32');
  const tr = asRows(rt, target, 'int32');
  const { rows, n } = xr;
  const loss = rt.heap.allocArray('float32', rows, false) as Float32Array;
  const lse = rt.heap.allocArray('float32', rows, false) as Float32Array;
  if (rows > 0) {
    byRows(rt, 'crossEntropyRows', rows, n, EXP_ROWS_PARALLEL_MIN, (r0, c) => [
      xr.ptr + r0 * xr.rs * 4,
      xr.rs,
      tr.ptr + r0 * 4,
      loss.byteOffset + r0 * 4,
      lse.byteOffset + r0 * 4,
      c,
      n,
      ignoreIndex,
      smoothing,
    ]);
  }
  release(rt, xr, tr);
  return { loss, lse };
}

/** dlogits [N, C] from the per-row upstream gradient gout [N] (stride 0 where one value is shared). */
export function crossEntropyBackwardF32(
  rt: WasmRuntime,
  gout: View,
  logits: View,
  target: View,
  lse: View,
  ignoreIndex: number,
  smoothing: number,
): Float32Array | null {
  if (!f32Ok(gout, logits, lse) || logits.shape.length !== 2 || target.dtype !== 'int32') return null;
  const xr = asRows(rt, logits, 'float32');
  const tr = asRows(rt, target, 'int32');
  const lr = asRows(rt, lse, 'float32');
  const { rows, n } = xr;
  // a shared scalar gradient (reduction 'mean' / 'sum') is read with stride 0 instead of being expanded
  const scalarG = gout.shape.every((d, i) => d === 1 || gout.strides[i] === 0);
  const gv: View = scalarG ? { ...gout, shape: [1], strides: [1] } : gout;
  const grr = asRows(rt, gv, 'float32');
  const gPtr = grr.ptr;
  const gStride = scalarG ? 0 : 1;
  const dx = rt.heap.allocArray('float32', rows * n, false) as Float32Array;
  if (rows * n > 0) {
    byRows(rt, 'crossEntropyBackwardRows', rows, n, EXP_ROWS_PARALLEL_MIN, (r0, c) => [
      xr.ptr + r0 * xr.rs * 4,
      xr.rs,
      tr.ptr + r0 * 4,
      lr.ptr + r0 * 4,
      gPtr + r0 * gStride * 4,
      gStride,
      dx.byteOffset + r0 * n * 4,
      c,
      n,
      ignoreIndex,
      smoothing,
    ]);
  }
  release(rt, xr, tr, lr, grr);
  return dx;
}
