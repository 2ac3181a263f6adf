// Quantized products on the WASM kernels (assembly/quant.ts): the activation rows are quantized once on
// the calling thread (dynamic-int8, int4), then the weight rows are split into bands across threads.

import type { View } from '../../backend.js';
import { INT4_GROUP, type QuantWeightViews } from '../../quant-format.js';
import type { KernelArgs } from './kernels.js';
import type { WasmRuntime } from './runtime.js';
import { PARALLEL_MIN_MACS } from './matmul.js';

const addr = (v: View, bytesPer: number): number => (v.buf as Float32Array).byteOffset + v.offset * bytesPer;

/** x [M, K] @ w^T + bias -> [M, N] in the heap, or null where the kernels do not take the call. */
export function quantMatmulF32(rt: WasmRuntime, x: View, w: QuantWeightViews, bias: View | null): Float32Array | null {
  const heap = rt.heap;
  const { rows: N, cols: K, rowBytes, scheme } = w.layout;
  const views = [x, w.data, w.scales, ...(bias ? [bias] : []), ...(w.rowSums ? [w.rowSums] : [])];
  if (views.some((v) => !heap.owns(v.buf as Float32Array))) return null;
  if (x.dtype !== 'float32' || x.shape.length !== 2 || x.shape[1] !== K || (K > 1 && x.strides[1] !== 1)) return null;
  if (bias && (bias.dtype !== 'float32' || bias.strides[0] !== 1)) return null;
  if (scheme === 'dynamic-int8' && !w.rowSums) return null;
  const M = x.shape[0]!;
  const ldx = M > 1 ? x.strides[0]! : K;
  const out = heap.allocArray('float32', M * N, false) as Float32Array;
  if (out.length === 0) return out;
  const xP = addr(x, 4);
  const wP = addr(w.data, 4);
  const sP = addr(w.scales, 4);
  const bP = bias ? addr(bias, 4) : 0;
  const oP = out.byteOffset;
  // bands of weight rows, a multiple of 4, one per thread
  const T = Math.min(rt.threads, Math.max(1, Math.floor((M * N * K) / PARALLEL_MIN_MACS)));
  const band = Math.ceil(N / T / 4) * 4;
  const bands: [number, number][] = [];
  for (let n0 = 0; n0 < N; n0 += band) bands.push([n0, Math.min(band, N - n0)]);
  const bandBias = (n0: number) => (bP ? bP + n0 * 4 : 0);

  if (scheme === 'int8') {
    const jobs = bands.map(
      ([n0, nb]): KernelArgs<'q8MatmulF32'> => [M, nb, K, xP, ldx, wP + n0 * rowBytes, rowBytes, sP + n0 * 4, bandBias(n0), oP + n0 * 4, N],
    );
    rt.pool.run('q8MatmulF32', jobs);
    return out;
  }
  const Kp = scheme === 'int4' ? w.layout.groups * INT4_GROUP : rowBytes;
  const q = heap.malloc(M * Kp, false);
  try {
    if (scheme === 'dynamic-int8') {
      const params = heap.malloc(M * 8, false);
      try {
        rt.pool.call('quantizeRowsU7', [M, K, Kp, xP, ldx, q, params]);
        const rsP = addr(w.rowSums!, 4);
        const jobs = bands.map(
          ([n0, nb]): KernelArgs<'q8DynMatmul'> => [
            M,
            nb,
            Kp,
            q,
            params,
            wP + n0 * rowBytes,
            sP + n0 * 4,
            rsP + n0 * 4,
            bandBias(n0),
            oP + n0 * 4,
            N,
          ],
        );
        rt.pool.run('q8DynMatmul', jobs);
      } finally {
        heap.free(params);
      }
      return out;
    }
    const G = w.layout.groups;
    const d = heap.malloc(M * G * 4, false);
    const sums = heap.malloc(M * G * 4, false);
    try {
      rt.pool.call('quantizeRowsQ8', [M, K, Kp, xP, ldx, q, d, sums]);
      const jobs = bands.map(
        ([n0, nb]): KernelArgs<'q4MatmulQ8'> => [M, nb, Kp, q, d, sums, wP + n0 * rowBytes, sP + n0 * G * 4, bandBias(n0), oP + n0 * 4, N],
      );
      rt.pool.run('q4MatmulQ8', jobs);
    } finally {
      heap.free(d);
      heap.free(sums);
    }
    return out;
  } finally {
    heap.free(q);
  }
}
