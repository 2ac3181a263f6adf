// The CPU backend: tensors live in one shared WebAssembly.Memory (wasm/heap.ts) and each kernel runs
// on the WASM SIMD module when it has a fast path for the case at hand (float32, the layouts that
// matter), split across worker threads when it is big enough, and on the TypeScript reference kernels
// otherwise. Without WASM SIMD or SharedArrayBuffer it is the reference backend over plain arrays.
// MOX_CPU_KERNELS=typescript forces the reference kernels.

import type { Backend, BackendCapabilities, BinaryOp, Buffer, MatmulEpilogue, ReduceOp, UnaryOp, View, Window2d } from '../backend.js';
import { DTYPES, dtypeOfArray, type DType, type TypedArray } from '../../base/dtype.js';
import { referenceBackend } from './reference-backend.js';
import { wasmRuntime, type WasmRuntime } from './wasm/runtime.js';
import { matmulF32 } from './wasm/matmul.js';
import { softmaxRowsF32 } from './wasm/rows.js';
import type { AvgPoolDivisor } from '../backend.js';
import { avgPool2dBackwardF32, avgPool2dF32, col2imF32, im2colF32, maxPool2dBackwardF32, maxPool2dF32 } from './wasm/window.js';
import { indexAddF32, indexSelect32 } from './wasm/indexing.js';
import { traceKernels } from './kernel-trace.js';
import { binaryF32, copy32, reduceF32, unaryF32, whereF32 } from './wasm/elementwise.js';

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly capabilities: BackendCapabilities = { syncRead: true, dtypes: DTYPES };
  private readonly ref = referenceBackend;
  private rtCache: WasmRuntime | null | undefined;

  /** The WASM runtime, or null when the reference kernels are all there is. */
  get rt(): WasmRuntime | null {
    if (this.rtCache === undefined) this.rtCache = wasmRuntime();
    return this.rtCache;
  }

  info(): Record<string, string | number> {
    const rt = this.rt;
    if (!rt) return { device: 'cpu', kernels: 'typescript', threads: 1 };
    const base = { device: 'cpu', threads: rt.threads, wasm: rt.kind };
    // kernels: the tier of the kernels that have a native version (the rest run on WebAssembly: `wasm`)
    return rt.native
      ? { ...base, kernels: `native-${rt.native.level}`, native: rt.native.level, nativeLevels: rt.native.levels.join(',') }
      : { ...base, kernels: `wasm-${rt.kind}`, native: `not running: ${rt.nativeReason}` };
  }

  /** Threads the big kernels may use, the calling thread included. */
  setThreads(n: number): void {
    this.rt?.pool.resize(n);
  }

  /** Kernels run to completion before they return: nothing is ever pending. */
  sync(): Promise<void> {
    return Promise.resolve();
  }

  /** Freed buffers go straight back to the heap: no pool to empty. */
  emptyCache(): void {}

  /** The WebAssembly heap's bytes in use (size classes included; 0 without the module, whose arrays live on the JS heap). */
  memoryInfo(): { heapBytes: number; pooledBytes: number } {
    return { heapBytes: this.rt?.heap.inUse ?? 0, pooledBytes: 0 };
  }

  /** Moves a reference kernel's result into the heap (a no-op when it is there already); fused-kernels.ts uses it too. */
  adopt(arr: Buffer): Buffer {
    const rt = this.rt;
    const a = arr as TypedArray;
    if (!rt || rt.heap.owns(a)) return a;
    const dtype: DType =
      a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : a instanceof Int32Array ? 'int32' : 'bool';
    const out = rt.heap.allocArray(dtype, a.length, false);
    out.set(a as never);
    return out;
  }

  // memory

  alloc(dtype: DType, size: number, zero = true): Buffer {
    const rt = this.rt;
    // the reference validates the size and throws the same error for a bad one
    if (!rt || !Number.isInteger(size) || size < 0) return this.ref.alloc(dtype, size);
    return rt.heap.allocArray(dtype, size, zero);
  }

  free(buf: Buffer): void {
    this.rt?.heap.freeArray(buf as TypedArray);
  }

  byteLength(buf: Buffer): number {
    return (buf as TypedArray).byteLength;
  }

  /** Host data into the heap: one copy, straight from `data` (the reference's copy would be a second). */
  fromArray(data: TypedArray): Buffer {
    const rt = this.rt;
    if (!rt) return this.ref.fromArray(data);
    const out = rt.heap.allocArray(dtypeOfArray(data), data.length, false);
    out.set(data as never);
    return out;
  }

  read(view: View): TypedArray {
    return this.ref.read(view);
  }

  readAsync(view: View): Promise<TypedArray> {
    return Promise.resolve(this.read(view));
  }

  copy(src: View, dst: View): void {
    const rt = this.rt;
    if (rt && copy32(rt, src, dst)) return;
    this.ref.copy(src, dst);
  }

  fill(dst: View, value: number): void {
    this.ref.fill(dst, value);
  }

  // elementwise

  unary(op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): Buffer {
    const rt = this.rt;
    const fast = rt && unaryF32(rt, op, x, outDtype, params);
    if (fast) return fast;
    return this.adopt(this.ref.unary(op, x, outDtype, params));
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Buffer {
    const rt = this.rt;
    const fast = rt && binaryF32(rt, op, a, b, outDtype);
    if (fast) return fast;
    return this.adopt(this.ref.binary(op, a, b, outDtype));
  }

  where(cond: View, a: View, b: View, outDtype: DType): Buffer {
    const rt = this.rt;
    const fast = rt && whereF32(rt, cond, a, b, outDtype);
    if (fast) return fast;
    return this.adopt(this.ref.where(cond, a, b, outDtype));
  }

  // reductions, matmul, indexing

  reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): Buffer {
    const rt = this.rt;
    const fast = rt && reduceF32(rt, op, x, axes, outDtype);
    if (fast) return fast;
    return this.adopt(this.ref.reduce(op, x, axes, outDtype));
  }

  matmul(a: View, b: View, outDtype: DType, epilogue?: MatmulEpilogue): Buffer {
    const rt = this.rt;
    if (rt && outDtype === 'float32') {
      const out = matmulF32(rt, a, b, epilogue);
      if (out) return out;
    }
    return this.adopt(this.ref.matmul(a, b, outDtype, epilogue));
  }

  gather(x: View, dim: number, idx: View): Buffer {
    return this.adopt(this.ref.gather(x, dim, idx));
  }

  scatterAdd(base: View, dim: number, idx: View, src: View): Buffer {
    return this.adopt(this.ref.scatterAdd(base, dim, idx, src));
  }

  indexSelect(x: View, dim: number, idx: View): Buffer {
    const fast = this.rt && indexSelect32(this.rt, x, dim, idx);
    if (fast) return fast;
    return this.adopt(this.ref.indexSelect(x, dim, idx));
  }

  indexAdd(shape: readonly number[], dim: number, idx: View, src: View): Buffer {
    const fast = this.rt && indexAddF32(this.rt, shape, dim, idx, src);
    if (fast) return fast;
    return this.adopt(this.ref.indexAdd(shape, dim, idx, src));
  }

  // rows and windows

  softmax(x: View, axis: number, log: boolean): Buffer {
    const fast = this.rt && softmaxRowsF32(this.rt, x, axis, log);
    if (fast) return fast;
    return this.adopt(this.ref.softmax(x, axis, log));
  }

  im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number, batchInColumns?: boolean): Buffer {
    const fast = this.rt && im2colF32(this.rt, x, w, outH, outW, padValue, batchInColumns);
    if (fast) return fast;
    return this.adopt(this.ref.im2col(x, w, outH, outW, padValue, batchInColumns));
  }

  col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Buffer {
    const fast = this.rt && col2imF32(this.rt, cols, w, channels, h, width, outH, outW);
    if (fast) return fast;
    return this.adopt(this.ref.col2im(cols, w, channels, h, width, outH, outW));
  }

  maxPool2d(x: View, w: Window2d, outH: number, outW: number): { out: Buffer; argmax: Buffer } {
    const fast = this.rt && maxPool2dF32(this.rt, x, w, outH, outW);
    if (fast) return fast;
    const r = this.ref.maxPool2d(x, w, outH, outW);
    return { out: this.adopt(r.out), argmax: this.adopt(r.argmax) };
  }

  maxPool2dBackward(g: View, argmax: View, inShape: readonly number[]): Buffer {
    const fast = this.rt && maxPool2dBackwardF32(this.rt, g, argmax, inShape);
    if (fast) return fast;
    return this.adopt(this.ref.maxPool2dBackward(g, argmax, inShape));
  }

  avgPool2d(x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): Buffer {
    const fast = this.rt && avgPool2dF32(this.rt, x, w, outH, outW, div);
    if (fast) return fast;
    return this.adopt(this.ref.avgPool2d(x, w, outH, outW, div));
  }

  avgPool2dBackward(g: View, w: Window2d, inShape: readonly number[], div: AvgPoolDivisor): Buffer {
    const fast = this.rt && avgPool2dBackwardF32(this.rt, g, w, inShape, div);
    if (fast) return fast;
    return this.adopt(this.ref.avgPool2dBackward(g, w, inShape, div));
  }
}

/** The `cpu` device (wrapped to print which tier runs each call when MOX_TRACE_KERNELS=1). */
export const cpuBackend = traceKernels(new CpuBackend(), 'cpu');
