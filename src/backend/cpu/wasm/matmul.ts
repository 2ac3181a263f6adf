// float32 matmul on the WASM GEMM: batches whose strides collapse to one uniform step run as a single
// batched call; the work is split across threads by batch, by rows, or (for few rows) by columns.

import type { View } from '../../backend.js';
import { contiguousStrides, numel } from '../../../base/shape.js';
import { forEachRow, planRows } from '../strided.js';
import type { KernelArgs } from './kernels.js';
import type { WasmRuntime } from './runtime.js';

/** Below this many multiply-adds a matmul stays on the calling thread (dispatch costs ~10-20 us). */
export const PARALLEL_MIN_MACS = 1 << 18;
/**
 * The same for the native GEMM, which does the multiply-adds ~4x faster (AVX-512): a dispatch must
 * be paid for by as much time, so by ~4x the work.
 */
export const PARALLEL_MIN_MACS_NATIVE = 1 << 20;

export interface Epilogue {
  /** [N] float32, added to every row. */
  bias?: View | null;
  relu?: boolean;
}

const ptr = (v: View, extra = 0): number => (v.buf as Float32Array).byteOffset + (v.offset + extra) * 4;

/** a [...B, M, K] @ b [...B, K, N] -> contiguous [...B, M, N] in the heap, or null if not applicable. */
export function matmulF32(rt: WasmRuntime, a: View, b: View, epi: Epilogue = {}): Float32Array | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const heap = rt.heap;
  if (!heap.owns(a.buf as Float32Array) || !heap.owns(b.buf as Float32Array)) return null;
  if (epi.bias && (epi.bias.dtype !== 'float32' || !heap.owns(epi.bias.buf as Float32Array) || epi.bias.strides[0] !== 1)) return null;
  const r = a.shape.length;
  const M = a.shape[r - 2]!;
  const K = a.shape[r - 1]!;
  const N = b.shape[r - 1]!;
  const batchShape = a.shape.slice(0, -2);
  const nBatch = numel(batchShape);
  const out = heap.allocArray('float32', nBatch * M * N, false) as Float32Array;
  if (out.length === 0) return out;
  const flags = (epi.bias ? 2 : 0) | (epi.relu ? 4 : 0);
  const biasPtr = epi.bias ? ptr(epi.bias) : 0;
  const [rsA, csA] = [a.strides[r - 2]!, a.strides[r - 1]!];
  const [rsB, csB] = [b.strides[r - 2]!, b.strides[r - 1]!];
  const plan = planRows(batchShape, [a.strides.slice(0, -2), b.strides.slice(0, -2), contiguousStrides(batchShape).map((s) => s * M * N)]);
  const [sA, sB, sC] = plan.inner as [number, number, number];
  const run = plan.n;
  // a batch of inputs times one shared matrix (x [B, T, C] @ W) whose rows follow on from batch to
  // batch is one taller product: B is packed once instead of once per batch entry
  const stacked = run > 1 && sB === 0 && sA === M * rsA && sC === M * N;
  forEachRow(plan, [a.offset, b.offset, 0], (offs) => {
    const aP = (a.buf as Float32Array).byteOffset + offs[0]! * 4;
    const bP = (b.buf as Float32Array).byteOffset + offs[1]! * 4;
    const cP = out.byteOffset + offs[2]! * 4;
    if (stacked) gemmParallel(rt, 1, 0, 0, 0, run * M, N, K, aP, rsA, csA, bP, rsB, csB, cP, N, biasPtr, flags);
    else gemmParallel(rt, run, sA, sB, sC, M, N, K, aP, rsA, csA, bP, rsB, csB, cP, N, biasPtr, flags);
  });
  return out;
}

function gemmParallel(
  rt: WasmRuntime,
  nb: number,
  sA: number,
  sB: number,
  sC: number,
  M: number,
  N: number,
  K: number,
  a: number,
  rsA: number,
  csA: number,
  b: number,
  rsB: number,
  csB: number,
  c: number,
  ldc: number,
  bias: number,
  flags: number,
): void {
  const macs = nb * M * N * Math.max(K, 1);
  const native = rt.runsNative('sgemmBatched');
  const minMacs = native ? PARALLEL_MIN_MACS_NATIVE : PARALLEL_MIN_MACS;
  // bands of whole micro-tiles (WebAssembly: 4 x 8; native: 12 x 32 at AVX-512, 6 x 16 or 6 x 8 below)
  const [mr, nr] = native ? [12, 32] : [4, 8];
  const T = Math.min(rt.threads, Math.max(1, Math.floor(macs / minMacs)));
  const jobs: KernelArgs<'sgemmBatched'>[] = [];
  const job = (nbj: number, aj: number, bj: number, cj: number, Mj: number, Nj: number, biasJ: number): void => {
    jobs.push([nbj, sA, sB, sC, Mj, Nj, K, aj, rsA, csA, bj, rsB, csB, cj, ldc, biasJ, flags, rt.scratchFor(jobs.length)]);
  };
  if (T <= 1) {
    job(nb, a, b, c, M, N, bias);
  } else if (nb >= T) {
    // whole products per thread
    for (let t = 0, at = 0; t < T; t++) {
      const n = Math.floor((nb * (t + 1)) / T) - at;
      if (n > 0) job(n, a + at * sA * 4, b + at * sB * 4, c + at * sC * 4, M, N, bias);
      at += n;
    }
  } else if (M >= mr * T && M >= N / 2) {
    // bands of rows, in multiples of the micro-tile's rows
    const band = Math.ceil(M / T / mr) * mr;
    for (let i0 = 0; i0 < M; i0 += band) {
      job(nb, a + i0 * rsA * 4, b, c + i0 * ldc * 4, Math.min(band, M - i0), N, bias);
    }
  } else {
    // bands of columns, in multiples of the micro-tile's columns
    const band = Math.max(nr, Math.ceil(N / T / nr) * nr);
    for (let j0 = 0; j0 < N; j0 += band) {
      job(nb, a, b + j0 * csB * 4, c + j0 * 4, M, Math.min(band, N - j0), bias ? bias + j0 * 4 : 0);
    }
  }
  rt.pool.run('sgemmBatched', jobs);
}

export { ptr as f32Pointer };
