// The seam between tensors and devices. A backend owns memory and runs kernels; it knows nothing of
// autograd. Ops compose these few kernels; adding a device means implementing this interface only.
//
// Conventions:
// - A `View` describes strided data inside a backend buffer: shape, strides (in elements), offset.
// - Kernels read strided views and return a *new contiguous* buffer holding the result, in row-major
//   order of the result shape. Broadcasting is done by the caller through stride-0 views.
// - Buffers are opaque handles (`unknown`) outside the backend that made them.

import type { DType, TypedArray } from '../tensor/dtype.js';

export type Buffer = unknown;

export interface View {
  readonly buf: Buffer;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'log1p' | 'expm1' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal'
  | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'erf' | 'gelu' | 'geluTanh' | 'silu' | 'softplus'
  | 'floor' | 'ceil' | 'round' | 'not'
  // ops with scalar parameters, passed in `params`
  | 'leakyRelu' // [negativeSlope]
  | 'powScalar' // [exponent]
  | 'clamp' // [min, max] (use ±Infinity for an open side)
  | 'affine'; // [scale, shift]: x * scale + shift

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'and' | 'or';

export type ReduceOp = 'sum' | 'prod' | 'max' | 'min' | 'argmax' | 'argmin';

/** Geometry of a 2-D sliding window (conv, pooling), resolved to numbers. */
export interface Window2d {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

export interface MatmulEpilogue {
  bias?: View | null;
  relu?: boolean;
}

export interface Backend {
  readonly name: string;
  /** What runs the kernels, e.g. { kernels: 'wasm-relaxed-simd', threads: 2 }. */
  info?(): Record<string, string | number>;

  // memory
  alloc(dtype: DType, size: number): Buffer; // zero-filled
  free(buf: Buffer): void;
  byteLength(buf: Buffer): number;
  fromArray(data: TypedArray): Buffer; // copies
  /** Contiguous copy of a view's elements, as a typed array of its dtype. */
  read(view: View): TypedArray;
  readAsync(view: View): Promise<TypedArray>;
  /** Writes `src` into the (possibly strided) view `dst`, casting to dst's dtype. */
  copy(src: View, dst: View): void;
  fill(dst: View, value: number): void;

  // elementwise
  unary(op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): Buffer;
  /** a and b have the output's shape already (broadcast with stride-0 views). */
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Buffer;
  where(cond: View, a: View, b: View, outDtype: DType): Buffer;

  // reductions: output shape is x.shape without `axes` (keepdim is a view concern)
  reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): Buffer;

  /**
   * a: [...B, M, K], b: [...B, K, N] with equal batch shapes (stride 0 where broadcast) -> [...B, M, N].
   * The optional epilogue adds bias [N] to every row and then applies relu, in the same pass.
   */
  matmul(a: View, b: View, outDtype: DType, epilogue?: MatmulEpilogue): Buffer;

  // indexing
  /** torch.gather: out[i][j][k] = x[i][idx[i][j][k]][k] for dim=1; out has idx's shape. */
  gather(x: View, dim: number, idx: View): Buffer;
  /** base + scatter of src along dim at idx (torch.scatter_add, out of place). */
  scatterAdd(base: View, dim: number, idx: View, src: View): Buffer;
  /** torch.index_select with a 1-D idx. */
  indexSelect(x: View, dim: number, idx: View): Buffer;
  /** zeros(shape) then out.index_add_(dim, idx, src). */
  indexAdd(shape: readonly number[], dim: number, idx: View, src: View): Buffer;

  // fused hot paths (each has an unfused composition in the tests)
  /** softmax or log-softmax along `axis`. */
  softmax(x: View, axis: number, log: boolean): Buffer;
  /** x: [N, C, H, W] -> [N, C*kh*kw, OH*OW], out-of-image taps read `padValue`. */
  im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number): Buffer;
  /** The adjoint of im2col: cols [N, C*kh*kw, OH*OW] summed back into [N, C, H, W]. */
  col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Buffer;
}
