// Embedding lookup and its gradient on the WASM kernels (assembly/indexing.ts): indexSelect and
// indexAdd along dim 0 of a float32 matrix whose rows are contiguous, with int32 indices. indexSelect
// only copies rows, so it takes int32 data too (a batch of class labels). Other layouts go to the
// reference kernels, which also raise the errors for bad indices or shapes.

import type { View } from '../../backend.js';
import type { KernelArgs } from './kernels.js';
import type { WasmRuntime } from './runtime.js';
import { PARALLEL_MIN_ELEMENTS } from './window.js';

/** Rows of length rowLen, contiguous inside each row, with 2-D shape [rows, ...] flattened. */
function rowLayout(v: View): { rows: number; rowLen: number; rowStride: number } | null {
  if (v.shape.length === 0) return null;
  // trailing dims must be one contiguous run so a row is one memcpy
  let expect = 1;
  for (let i = v.shape.length - 1; i >= 1; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== expect) return null;
    expect *= v.shape[i]!;
  }
  return { rows: v.shape[0]!, rowLen: expect, rowStride: v.strides[0]! };
}

/** Every index in [0, size), or false (the reference kernel then throws the IndexError). */
function indicesOk(idx: View, size: number): boolean {
  const d = idx.buf as Int32Array;
  const s = idx.strides[0]!;
  for (let j = 0, p = idx.offset; j < idx.shape[0]!; j++, p += s) {
    const v = d[p]!;
    if (v < 0 || v >= size) return false;
  }
  return true;
}

function usable(rt: WasmRuntime, data: View, idx: View, dim: number, dtypes: readonly string[] = ['float32']): boolean {
  return (
    dim === 0 &&
    dtypes.includes(data.dtype) &&
    idx.dtype === 'int32' &&
    idx.shape.length === 1 &&
    rt.heap.owns(data.buf as Float32Array) &&
    rt.heap.owns(idx.buf as Int32Array)
  );
}

/** x.index_select(0, idx) for float32 or int32 x with contiguous rows, or null when not applicable. */
export function indexSelect32(rt: WasmRuntime, x: View, dim: number, idx: View): Float32Array | Int32Array | null {
  if (!usable(rt, x, idx, dim, ['float32', 'int32'])) return null;
  const lay = rowLayout(x);
  if (!lay || !indicesOk(idx, lay.rows)) return null;
  const n = idx.shape[0]!;
  const out = rt.heap.allocArray(x.dtype, n * lay.rowLen, false) as Float32Array | Int32Array;
  if (out.length === 0) return out;
  const T = Math.max(1, Math.min(rt.threads, n, Math.floor(out.length / PARALLEL_MIN_ELEMENTS)));
  const xP = (x.buf as Float32Array | Int32Array).byteOffset + x.offset * 4;
  const iP = (idx.buf as Int32Array).byteOffset + idx.offset * 4;
  const jobs: KernelArgs<'gatherRowsF32'>[] = [];
  for (let t = 0; t < T; t++) {
    const j0 = Math.floor((n * t) / T);
    const j1 = Math.floor((n * (t + 1)) / T);
    if (j1 > j0) jobs.push([xP, lay.rowStride, iP, idx.strides[0]!, j0, j1, lay.rowLen, out.byteOffset]);
  }
  rt.pool.run('gatherRowsF32', jobs); // a copy of 4-byte words: as right for int32 as for float32
  return out;
}

/** zeros(shape).index_add_(0, idx, src) for float32 src with contiguous rows, or null when not applicable. */
export function indexAddF32(rt: WasmRuntime, shape: readonly number[], dim: number, idx: View, src: View): Float32Array | null {
  if (!usable(rt, src, idx, dim) || shape.length !== src.shape.length) return null;
  if (src.shape[0] !== idx.shape[0] || src.shape.some((d, i) => i > 0 && d !== shape[i])) return null;
  const lay = rowLayout(src);
  if (!lay || !indicesOk(idx, shape[0]!)) return null;
  const out = rt.heap.allocArray('float32', shape[0]! * lay.rowLen, true) as Float32Array;
  const n = idx.shape[0]!;
  if (out.length === 0 || n === 0) return out;
  // Threads take column bands (multiples of 4 floats for the SIMD loop), so a repeated index never
  // has two threads adding into one element, and each element sums its rows in index order.
  const T = Math.max(1, Math.min(rt.threads, Math.floor(lay.rowLen / 4), Math.floor((n * lay.rowLen) / PARALLEL_MIN_ELEMENTS)));
  const band = Math.ceil(lay.rowLen / T / 4) * 4;
  const sP = (src.buf as Float32Array).byteOffset + src.offset * 4;
  const iP = (idx.buf as Int32Array).byteOffset + idx.offset * 4;
  const jobs: KernelArgs<'scatterAddRowsF32'>[] = [];
  for (let c0 = 0; c0 < lay.rowLen; c0 += band) {
    jobs.push([sP, lay.rowStride, iP, idx.strides[0]!, n, lay.rowLen, c0, Math.min(lay.rowLen, c0 + band), out.byteOffset]);
  }
  rt.pool.run('scatterAddRowsF32', jobs);
  return out;
}
