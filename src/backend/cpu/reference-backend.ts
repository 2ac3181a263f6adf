// The CPU reference backend: every kernel in plain TypeScript over typed arrays.
//
// It is the correctness baseline that faster kernels (WASM SIMD, WebGPU) are tested against, and the
// fallback for every case they do not cover (cpu-backend.ts dispatches; the fused kernels' TypeScript forms
// are in rows.ts and optim.ts, registered by fused-kernels.ts). A buffer is a typed array of its dtype (Float32Array,
// Float64Array, Int32Array, Uint8Array for bool). Kernels address it only through a view's offset and
// strides, so a later allocator can hand out typed arrays that are slices of one shared
// WebAssembly.Memory without any kernel changing.

import type { Backend, BackendCapabilities, BinaryOp, Buffer, MatmulEpilogue, ReduceOp, UnaryOp, View, Window2d } from '../backend.js';
import type { DType, TypedArray } from '../../base/dtype.js';
import { DTYPES, typedArrayFor } from '../../base/dtype.js';
import { ValueError } from '../../errors.js';
import { binary, fill, unary, where } from './elementwise.js';
import { reduce } from './reduce.js';
import { matmul } from './matmul.js';
import { gather, indexAdd, indexSelect, scatterAdd } from './indexing.js';
import { softmax } from './rows.js';
import { col2im, im2col } from './window.js';
import type { AvgPoolDivisor } from '../backend.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from './pool.js';
import { contiguousCopy, dataOf, stridedCopy } from './strided.js';
import { assertSameShape, contiguousStrides, numel } from '../../base/shape.js';

export class ReferenceBackend implements Backend {
  readonly name: string = 'cpu';
  readonly capabilities: BackendCapabilities = { syncRead: true, dtypes: DTYPES };

  sync(): Promise<void> {
    return Promise.resolve();
  }

  emptyCache(): void {}

  // memory

  alloc(dtype: DType, size: number): Buffer {
    if (!Number.isInteger(size) || size < 0) throw new ValueError('alloc', `size must be a non-negative integer, got ${size}`);
    return typedArrayFor(dtype, size);
  }

  free(_buf: Buffer): void {
    // Typed arrays are garbage collected; a pooled/wasm allocator will reclaim here.
  }

  byteLength(buf: Buffer): number {
    return (buf as TypedArray).byteLength;
  }

  fromArray(data: TypedArray): Buffer {
    return data.slice();
  }

  read(view: View): TypedArray {
    return contiguousCopy(view);
  }

  readAsync(view: View): Promise<TypedArray> {
    return Promise.resolve(this.read(view));
  }

  copy(src: View, dst: View): void {
    assertSameShape('copy', src.shape, dst.shape);
    if (numel(src.shape) === 0) return;
    let s = dataOf(src);
    let sOff = src.offset;
    let sStrides = src.strides;
    // Source and destination in one buffer may overlap; read the source out first so no element is
    // overwritten before it is read.
    if (s === dst.buf) {
      s = contiguousCopy(src);
      sOff = 0;
      sStrides = contiguousStrides(src.shape);
    }
    stridedCopy(s, sOff, sStrides, dataOf(dst), dst.offset, dst.strides, dst.shape, dst.dtype === 'bool');
  }

  fill(dst: View, value: number): void {
    fill(dst, value);
  }

  // elementwise

  unary(op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): Buffer {
    return unary(op, x, outDtype, params);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Buffer {
    return binary(op, a, b, outDtype);
  }

  where(cond: View, a: View, b: View, outDtype: DType): Buffer {
    return where(cond, a, b, outDtype);
  }

  // reductions, matmul, indexing

  reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): Buffer {
    return reduce(op, x, axes, outDtype);
  }

  matmul(a: View, b: View, outDtype: DType, epilogue?: MatmulEpilogue): Buffer {
    const out = matmul(a, b, outDtype);
    if (epilogue?.bias || epilogue?.relu) {
      const n = b.shape[b.shape.length - 1]!;
      const bias = epilogue.bias ? contiguousCopy(epilogue.bias) : null;
      for (let i = 0; i < out.length; i++) {
        let v = out[i]! + (bias ? bias[i % n]! : 0);
        if (epilogue.relu && !(v > 0)) v = Number.isNaN(v) ? v : 0;
        out[i] = v;
      }
    }
    return out;
  }

  gather(x: View, dim: number, idx: View): Buffer {
    return gather(x, dim, idx);
  }

  scatterAdd(base: View, dim: number, idx: View, src: View): Buffer {
    return scatterAdd(base, dim, idx, src);
  }

  indexSelect(x: View, dim: number, idx: View): Buffer {
    return indexSelect(x, dim, idx);
  }

  indexAdd(shape: readonly number[], dim: number, idx: View, src: View): Buffer {
    return indexAdd(shape, dim, idx, src);
  }

  // rows and windows

  softmax(x: View, axis: number, log: boolean): Buffer {
    return softmax(x, axis, log);
  }

  im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number, batchInColumns?: boolean): Buffer {
    return im2col(x, w, outH, outW, padValue, batchInColumns);
  }

  col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Buffer {
    return col2im(cols, w, channels, h, width, outH, outW);
  }

  maxPool2d(x: View, w: Window2d, outH: number, outW: number): { out: Buffer; argmax: Buffer } {
    return maxPool2d(x, w, outH, outW);
  }

  maxPool2dBackward(g: View, argmax: View, inShape: readonly number[]): Buffer {
    return maxPool2dBackward(g, argmax, inShape);
  }

  avgPool2d(x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): Buffer {
    return avgPool2d(x, w, outH, outW, div);
  }

  avgPool2dBackward(g: View, w: Window2d, inShape: readonly number[], div: AvgPoolDivisor): Buffer {
    return avgPool2dBackward(g, w, inShape, div);
  }
}

export const referenceBackend = new ReferenceBackend();
