// The WebGPU backend: every kernel of the Backend interface in WGSL, on a GPU reached through the
// browser's navigator.gpu or, in Node, the npm package `webgpu` (Dawn).
//
// Kernels are recorded into one command encoder and submitted in batches (engine.ts); nothing waits for
// the GPU until the user reads a tensor back with `await t.data()`. A synchronous read is impossible
// on WebGPU, so `read` raises a DeviceError that says what to call instead. There is no silent fallback
// to the CPU: a kernel this backend lacks is an error. Its fused kernels are registered in
// fused-kernels.ts.

import type {
  AvgPoolDivisor,
  Backend,
  BackendCapabilities,
  BinaryOp,
  Buffer,
  MatmulEpilogue,
  ReduceOp,
  UnaryOp,
  View,
  Window2d,
} from '../backend.js';
import type { DType, TypedArray } from '../../base/dtype.js';
import { DeviceError, ShapeError, ValueError, fmtShape } from '../../errors.js';
import { Engine } from './engine.js';
import { requestGpuDevice, type WebGPUOptions } from './gpu.js';
import { bufOf, wgslType, type GpuBuffer } from './kernels/common.js';
import { contiguousStrides, isContiguous, numel } from '../../base/shape.js';
import * as E from './kernels/elementwise.js';
import { reduce } from './kernels/reduce.js';
import { matmul } from './kernels/matmul.js';
import * as I from './kernels/indexing.js';
import * as R from './kernels/rows.js';
import * as W from './kernels/window.js';

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  /** WGSL has no 64-bit floats, and GPU memory is read back only asynchronously. */
  readonly capabilities: BackendCapabilities = { syncRead: false, dtypes: ['float32', 'int32', 'bool'] };
  readonly engine: Engine;

  constructor(
    readonly device: GPUDevice,
    readonly adapterInfo: string,
  ) {
    this.engine = new Engine(device);
  }

  info(): Record<string, string | number> {
    return { device: 'webgpu', kernels: 'wgsl', adapter: this.adapterInfo };
  }

  // ---- memory ----

  alloc(dtype: DType, size: number, zero = true): Buffer {
    if (!Number.isInteger(size) || size < 0) throw new ValueError('alloc', `size must be a non-negative integer, got ${size}`);
    const b = E.allocate(this.engine, dtype, size);
    if (zero) this.engine.clear(b.buffer, 0, size * 4);
    return b;
  }

  free(buf: Buffer): void {
    this.engine.release(buf as GpuBuffer);
  }

  byteLength(buf: Buffer): number {
    return (buf as GpuBuffer).size * 4;
  }

  fromArray(data: TypedArray): Buffer {
    const dtype: DType =
      data instanceof Float32Array ? 'float32' : data instanceof Int32Array ? 'int32' : data instanceof Uint8Array ? 'bool' : 'float64';
    const b = E.allocate(this.engine, dtype, data.length);
    this.engine.upload(b, dtype === 'bool' ? Uint32Array.from(data as Uint8Array) : data);
    return b;
  }

  read(view: View): TypedArray {
    throw new DeviceError(
      'read',
      `tensor ${fmtShape(view.shape)} ${view.dtype} is on webgpu, whose memory can only be read asynchronously: use await t.data() (or await t.toAsync('cpu'))`,
    );
  }

  async readAsync(view: View): Promise<TypedArray> {
    const size = numel(view.shape);
    let src = bufOf(view);
    let offset = view.offset;
    let temp: GpuBuffer | null = null;
    if (!isContiguous(view.shape, view.strides)) {
      temp = E.allocate(this.engine, view.dtype, size);
      E.stridedCopy(this.engine, view, {
        buf: temp,
        dtype: view.dtype,
        shape: view.shape,
        strides: contiguousStrides(view.shape),
        offset: 0,
      });
      src = temp;
      offset = 0;
    }
    try {
      const bytes = await this.engine.read(src.buffer, offset * 4, size * 4);
      switch (view.dtype) {
        case 'float32':
          return new Float32Array(bytes);
        case 'int32':
          return new Int32Array(bytes);
        case 'bool':
          return Uint8Array.from(new Uint32Array(bytes));
        default:
          throw new DeviceError('read', `${view.dtype} is not stored on webgpu`);
      }
    } finally {
      if (temp) this.engine.release(temp);
    }
  }

  copy(src: View, dst: View): void {
    if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
      throw new ShapeError('copy', `source ${fmtShape(src.shape)} and destination ${fmtShape(dst.shape)} differ`);
    }
    const size = numel(src.shape);
    if (size === 0) return;
    wgslType(dst.dtype, 'copy');
    if (src.dtype === dst.dtype && isContiguous(src.shape, src.strides) && isContiguous(dst.shape, dst.strides) && src.buf !== dst.buf) {
      this.engine.copy(bufOf(src).buffer, src.offset * 4, bufOf(dst).buffer, dst.offset * 4, size * 4);
      return;
    }
    if (src.buf === dst.buf) {
      // A writable and a readable binding of one buffer cannot share a dispatch: stage the source.
      const temp = E.allocate(this.engine, src.dtype, size);
      const tv: View = { buf: temp, dtype: src.dtype, shape: src.shape, strides: contiguousStrides(src.shape), offset: 0 };
      E.stridedCopy(this.engine, src, tv);
      E.stridedCopy(this.engine, tv, dst);
      this.engine.release(temp);
      return;
    }
    E.stridedCopy(this.engine, src, dst);
  }

  fill(dst: View, value: number): void {
    E.fill(this.engine, dst, value);
  }

  /** GPU buffer bytes held by live tensors and kept pooled for reuse (size classes included). */
  memoryInfo(): { heapBytes: number; pooledBytes: number } {
    return { heapBytes: this.engine.stats.live, pooledBytes: this.engine.stats.pooled };
  }

  /** Destroys the pooled (free) buffers; see mox.emptyCache. */
  emptyCache(): void {
    this.engine.emptyCache();
  }

  /** Submits the recorded kernels and resolves when the GPU has run them. */
  sync(): Promise<void> {
    return this.engine.sync();
  }

  // ---- kernels ----

  unary(op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): Buffer {
    return E.unary(this.engine, op, x, outDtype, params);
  }
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Buffer {
    return E.binary(this.engine, op, a, b, outDtype);
  }
  where(cond: View, a: View, b: View, outDtype: DType): Buffer {
    return E.where(this.engine, cond, a, b, outDtype);
  }
  reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): Buffer {
    return reduce(this.engine, op, x, axes, outDtype);
  }
  matmul(a: View, b: View, outDtype: DType, epilogue?: MatmulEpilogue): Buffer {
    return matmul(this.engine, a, b, outDtype, epilogue);
  }
  gather(x: View, dim: number, idx: View): Buffer {
    return I.gather(this.engine, x, dim, idx);
  }
  scatterAdd(base: View, dim: number, idx: View, src: View): Buffer {
    return I.scatterAdd(this.engine, base, dim, idx, src);
  }
  indexSelect(x: View, dim: number, idx: View): Buffer {
    return I.indexSelect(this.engine, x, dim, idx);
  }
  indexAdd(shape: readonly number[], dim: number, idx: View, src: View): Buffer {
    return I.indexAdd(this.engine, shape, dim, idx, src);
  }
  softmax(x: View, axis: number, log: boolean): Buffer {
    return R.softmax(this.engine, x, axis, log);
  }
  im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number, batchInColumns?: boolean): Buffer {
    return W.im2col(this.engine, x, w, outH, outW, padValue, batchInColumns);
  }
  col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Buffer {
    return W.col2im(this.engine, cols, w, channels, h, width, outH, outW);
  }
  maxPool2d(x: View, w: Window2d, outH: number, outW: number): { out: Buffer; argmax: Buffer } {
    return W.maxPool2d(this.engine, x, w, outH, outW);
  }
  maxPool2dBackward(g: View, argmax: View, inShape: readonly number[]): Buffer {
    return W.maxPool2dBackward(this.engine, g, argmax, inShape);
  }
  avgPool2d(x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): Buffer {
    return W.avgPool2d(this.engine, x, w, outH, outW, div);
  }
  avgPool2dBackward(g: View, w: Window2d, inShape: readonly number[], div: AvgPoolDivisor): Buffer {
    return W.avgPool2dBackward(this.engine, g, w, inShape, div);
  }
}

let pending: Promise<WebGPUBackend> | null = null;

/** Opens the GPU once (later calls return the same backend). */
export function openWebGPU(opts: WebGPUOptions = {}): Promise<WebGPUBackend> {
  pending ??= requestGpuDevice(opts).then(({ device, adapterInfo }) => new WebGPUBackend(device, adapterInfo));
  pending.catch(() => (pending = null));
  return pending;
}
