// float32 im2col / col2im and direct pooling on the WASM kernels (assembly/window.ts). Each kernel owns
// whole image planes (n, c), so the work splits across threads by plane ranges and the summing
// kernels (col2im, the pooling gradients) never have two threads writing one element.

import type { AvgPoolDivisor, View, Window2d } from '../../backend.js';
import type { KernelArgs, KernelName } from './kernels.js';
import type { WasmRuntime } from './runtime.js';

/**
 * Below this many touched elements a kernel stays on the calling thread. Measured on the 2-core dev
 * machine with im2col (the cheapest per element, ~0.3 ns): one thread 45 us vs two 60 us at 147k
 * elements, 126 us vs 73 us at 461k, so two threads start to pay between the two.
 */
export const PARALLEL_MIN_ELEMENTS = 1 << 18;

const ptr = (v: View): number => (v.buf as Float32Array).byteOffset + v.offset * 4;

function onHeap(rt: WasmRuntime, ...vs: View[]): boolean {
  return vs.every((v) => rt.heap.owns(v.buf as Float32Array));
}

/** Runs `kernel` over planes [0, planes), split in at most rt.threads ranges when `work` is big enough. */
function byPlanes<K extends KernelName>(
  rt: WasmRuntime,
  kernel: K,
  planes: number,
  work: number,
  args: (q0: number, q1: number) => KernelArgs<K>,
): void {
  const T = Math.max(1, Math.min(rt.threads, planes, Math.floor(work / PARALLEL_MIN_ELEMENTS)));
  const jobs: KernelArgs<K>[] = [];
  for (let t = 0; t < T; t++) {
    const q0 = Math.floor((planes * t) / T);
    const q1 = Math.floor((planes * (t + 1)) / T);
    if (q1 > q0) jobs.push(args(q0, q1));
  }
  rt.pool.run(kernel, jobs);
}

/** kh, kw, sh, sw, ph, pw, dh, dw: the window's geometry as the kernels take it. */
const geometry = (w: Window2d): [number, number, number, number, number, number, number, number] => [
  ...w.kernel,
  ...w.stride,
  ...w.padding,
  ...w.dilation,
];

/** A 4-D view's strides as a tuple (the kernels take all four). */
const strides4 = (v: View): [number, number, number, number] => v.strides as [number, number, number, number];

/** x [N, C, H, W] -> [N, C*kh*kw, outH*outW] (or [C*kh*kw, N*outH*outW]), or null when not a float32 heap view. */
export function im2colF32(
  rt: WasmRuntime,
  x: View,
  w: Window2d,
  outH: number,
  outW: number,
  padValue: number,
  batchInColumns = false,
): Float32Array | null {
  if (x.dtype !== 'float32' || x.shape.length !== 4 || !onHeap(rt, x)) return null;
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [sN, sC, sH, sW] = x.strides as [number, number, number, number];
  const rows = C * w.kernel[0] * w.kernel[1];
  const out = rt.heap.allocArray('float32', N * rows * outH * outW, false) as Float32Array;
  if (out.length === 0) return out;
  const P = outH * outW;
  // element strides of the output between consecutive rows (c, i, j) and between images
  const [rowStride, imageStride] = batchInColumns ? [N * P, P] : [P, rows * P];
  byPlanes(rt, 'im2colF32', N * C, out.length, (q0, q1) => [
    ptr(x),
    sN,
    sC,
    sH,
    sW,
    C,
    H,
    W,
    q0,
    q1,
    ...geometry(w),
    outH,
    outW,
    padValue,
    rowStride,
    imageStride,
    out.byteOffset,
  ]);
  return out;
}

/** cols [N, C*kh*kw, outH*outW] summed into [N, C, H, W], or null when not applicable. */
export function col2imF32(
  rt: WasmRuntime,
  cols: View,
  w: Window2d,
  channels: number,
  h: number,
  width: number,
  outH: number,
  outW: number,
): Float32Array | null {
  if (cols.dtype !== 'float32' || cols.shape.length !== 3 || !onHeap(rt, cols)) return null;
  if (cols.shape[1] !== channels * w.kernel[0] * w.kernel[1] || cols.shape[2] !== outH * outW) return null; // the reference names the error
  const N = cols.shape[0]!;
  const [sN, sR, sP] = cols.strides as [number, number, number];
  const out = rt.heap.allocArray('float32', N * channels * h * width, false) as Float32Array;
  if (out.length === 0) return out;
  byPlanes(rt, 'col2imF32', N * channels, Math.max(out.length, N * cols.shape[1] * cols.shape[2]), (q0, q1) => [
    ptr(cols),
    sN,
    sR,
    sP,
    channels,
    h,
    width,
    q0,
    q1,
    ...geometry(w),
    outH,
    outW,
    out.byteOffset,
  ]);
  return out;
}

export function maxPool2dF32(
  rt: WasmRuntime,
  x: View,
  w: Window2d,
  outH: number,
  outW: number,
): { out: Float32Array; argmax: Int32Array } | null {
  if (x.dtype !== 'float32' || x.shape.length !== 4 || !onHeap(rt, x)) return null;
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [sN, sC, sH, sW] = x.strides as [number, number, number, number];
  const n = N * C * outH * outW;
  const out = rt.heap.allocArray('float32', n, false) as Float32Array;
  const argmax = rt.heap.allocArray('int32', n, false) as Int32Array;
  if (n === 0) return { out, argmax };
  byPlanes(rt, 'maxPool2dF32', N * C, n * w.kernel[0] * w.kernel[1], (q0, q1) => [
    ptr(x),
    sN,
    sC,
    sH,
    sW,
    C,
    H,
    W,
    q0,
    q1,
    ...geometry(w),
    outH,
    outW,
    out.byteOffset,
    argmax.byteOffset,
  ]);
  return { out, argmax };
}

export function maxPool2dBackwardF32(rt: WasmRuntime, g: View, argmax: View, inShape: readonly number[]): Float32Array | null {
  if (g.dtype !== 'float32' || argmax.dtype !== 'int32' || g.shape.length !== 4 || inShape.length !== 4 || !onHeap(rt, g, argmax))
    return null;
  const [N, C, H, W] = inShape as [number, number, number, number];
  if (g.shape[0] !== N || g.shape[1] !== C || argmax.shape.some((d, i) => d !== g.shape[i])) return null;
  const [, , outH, outW] = g.shape as [number, number, number, number];
  const out = rt.heap.allocArray('float32', N * C * H * W, false) as Float32Array;
  if (out.length === 0) return out;
  byPlanes(rt, 'maxPool2dBackwardF32', N * C, out.length + N * C * outH * outW, (q0, q1) => [
    ptr(g),
    ...strides4(g),
    (argmax.buf as Int32Array).byteOffset + argmax.offset * 4,
    ...strides4(argmax),
    C,
    H,
    W,
    q0,
    q1,
    outH,
    outW,
    out.byteOffset,
  ]);
  return out;
}

export function avgPool2dF32(rt: WasmRuntime, x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): Float32Array | null {
  if (x.dtype !== 'float32' || x.shape.length !== 4 || !onHeap(rt, x)) return null;
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [sN, sC, sH, sW] = x.strides as [number, number, number, number];
  const n = N * C * outH * outW;
  const out = rt.heap.allocArray('float32', n, false) as Float32Array;
  if (n === 0) return out;
  byPlanes(rt, 'avgPool2dF32', N * C, n * w.kernel[0] * w.kernel[1], (q0, q1) => [
    ptr(x),
    sN,
    sC,
    sH,
    sW,
    C,
    H,
    W,
    q0,
    q1,
    ...geometry(w),
    outH,
    outW,
    div.countIncludePad ? 1 : 0,
    div.divisorOverride ?? 0,
    out.byteOffset,
  ]);
  return out;
}

export function avgPool2dBackwardF32(
  rt: WasmRuntime,
  g: View,
  w: Window2d,
  inShape: readonly number[],
  div: AvgPoolDivisor,
): Float32Array | null {
  if (g.dtype !== 'float32' || g.shape.length !== 4 || inShape.length !== 4 || !onHeap(rt, g)) return null;
  const [N, C, H, W] = inShape as [number, number, number, number];
  if (g.shape[0] !== N || g.shape[1] !== C) return null;
  const [, , outH, outW] = g.shape as [number, number, number, number];
  const out = rt.heap.allocArray('float32', N * C * H * W, false) as Float32Array;
  if (out.length === 0) return out;
  byPlanes(rt, 'avgPool2dBackwardF32', N * C, out.length + N * C * outH * outW * w.kernel[0] * w.kernel[1], (q0, q1) => [
    ptr(g),
    ...strides4(g),
    C,
    H,
    W,
    q0,
    q1,
    ...geometry(w),
    outH,
    outW,
    div.countIncludePad ? 1 : 0,
    div.divisorOverride ?? 0,
    out.byteOffset,
  ]);
  return out;
}
