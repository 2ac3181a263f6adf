// The CPU backend: tensors live in one shared WebAssembly.Memory (wasm/heap.ts) and each kernel runs
// on the WASM SIMD module when it has a fast path for the case at hand (float32, the layouts that
// matter), split across worker threads when it is big enough, and on the TypeScript reference kernels
// otherwise. Without WASM SIMD or SharedArrayBuffer it is the reference backend over plain arrays.
// MOX_CPU_KERNELS=typescript forces the reference kernels.

import type { Backend, BinaryOp, Buffer, MatmulEpilogue, ReduceOp, UnaryOp, View, Window2d } from '../backend.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { referenceBackend } from './reference-backend.js';
import { wasmRuntime, type WasmRuntime } from './wasm/runtime.js';
import { matmulF32 } from './wasm/matmul.js';

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private readonly ref = referenceBackend;
  private rtCache: WasmRuntime | null | undefined;

  /** The WASM runtime, or null when the reference kernels are all there is. */
  get rt(): WasmRuntime | null {
    if (this.rtCache === undefined) this.rtCache = wasmRuntime();
    return this.rtCache;
  }

  info(): Record<string, string | number> {
    const rt = this.rt;
    return rt ? { device: 'cpu', kernels: `wasm-${rt.kind}`, threads: rt.threads } : { device: 'cpu', kernels: 'typescript', threads: 1 };
  }

  /** Threads the big kernels may use, the calling thread included. */
  setThreads(n: number): void {
    this.rt?.pool.resize(n);
  }

  /** Moves a reference kernel's result into the heap (a no-op when it is there already). */
  private adopt(arr: Buffer): Buffer {
    const rt = this.rt;
    const a = arr as TypedArray;
    if (!rt || rt.heap.owns(a)) return a;
    const dtype: DType = a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : a instanceof Int32Array ? 'int32' : 'bool';
    const out = rt.heap.allocArray(dtype, a.length, false);
    out.set(a as never);
    return out;
  }

  // memory

  alloc(dtype: DType, size: number): Buffer {
    const rt = this.rt;
    if (!rt) return this.ref.alloc(dtype, size);
    this.ref.alloc(dtype, 0); // validates size the same way
    if (!Number.isInteger(size) || size < 0) return this.ref.alloc(dtype, size);
    return rt.heap.allocArray(dtype, size);
  }

  free(buf: Buffer): void {
    this.rt?.heap.freeArray(buf as TypedArray);
  }

  byteLength(buf: Buffer): number {
    return (buf as TypedArray).byteLength;
  }

  fromArray(data: TypedArray): Buffer {
    return this.adopt(this.ref.fromArray(data));
  }

  read(view: View): TypedArray {
    return this.ref.read(view);
  }

  readAsync(view: View): Promise<TypedArray> {
    return Promise.resolve(this.read(view));
  }

  copy(src: View, dst: View): void {
    this.ref.copy(src, dst);
  }

  fill(dst: View, value: number): void {
    this.ref.fill(dst, value);
  }

  // elementwise

  unary(op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): Buffer {
    return this.adopt(this.ref.unary(op, x, outDtype, params));
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Buffer {
    return this.adopt(this.ref.binary(op, a, b, outDtype));
  }

  where(cond: View, a: View, b: View, outDtype: DType): Buffer {
    return this.adopt(this.ref.where(cond, a, b, outDtype));
  }

  // reductions, matmul, indexing

  reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): Buffer {
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
    return this.adopt(this.ref.indexSelect(x, dim, idx));
  }

  indexAdd(shape: readonly number[], dim: number, idx: View, src: View): Buffer {
    return this.adopt(this.ref.indexAdd(shape, dim, idx, src));
  }

  // fused

  softmax(x: View, axis: number, log: boolean): Buffer {
    return this.adopt(this.ref.softmax(x, axis, log));
  }

  im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number): Buffer {
    return this.adopt(this.ref.im2col(x, w, outH, outW, padValue));
  }

  col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Buffer {
    return this.adopt(this.ref.col2im(cols, w, channels, h, width, outH, outW));
  }
}

export const cpuBackend = new CpuBackend();
