// The seam between tensors and devices. A backend owns memory and runs the primitive kernels; it knows
// nothing of autograd. Ops compose these few kernels; adding a device means implementing this
// interface. Fused kernels (layer norm, attention, ...) are not on it: a device registers them by name
// in fused.ts, and ops fall back to their composed reference where a device has none.
//
// Conventions:
// - A `View` describes strided data inside a backend buffer: shape, strides (in elements), offset.
// - Kernels read strided views and return a *new contiguous* buffer holding the result, in row-major
//   order of the result shape. Broadcasting is done by the caller through stride-0 views.
// - Buffers are opaque handles (`unknown`) outside the backend that made them.

import type { DType, TypedArray } from '../base/dtype.js';

export type Buffer = unknown;

/** A strided window into a buffer, as kernels read and write it: dtype, shape, strides and offset. */
export interface View {
  /** The device buffer. */
  readonly buf: Buffer;
  /** Element type. */
  readonly dtype: DType;
  /** Size of each dim. */
  readonly shape: readonly number[];
  /** Elements to step per index of each dim. */
  readonly strides: readonly number[];
  /** Index of the first element in the buffer. */
  readonly offset: number;
}

/** An elementwise op a backend's unary kernel runs. */
export type UnaryOp =
  | 'neg'
  | 'abs'
  | 'sign'
  | 'exp'
  | 'log'
  | 'log1p'
  | 'expm1'
  | 'sqrt'
  | 'rsqrt'
  | 'square'
  | 'reciprocal'
  | 'sin'
  | 'cos'
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'erf'
  | 'gelu'
  | 'geluTanh'
  | 'silu'
  | 'softplus'
  // derivatives used by backward passes: d/dx gelu(x) in its exact and tanh forms
  | 'geluGrad'
  | 'geluTanhGrad'
  | 'floor'
  | 'ceil'
  | 'round'
  | 'not'
  // ops with scalar parameters, passed in `params`
  | 'leakyRelu' // [negativeSlope]
  | 'powScalar' // [exponent]
  | 'clamp' // [min, max] (use ±Infinity for an open side)
  | 'affine'; // [scale, shift]: x * scale + shift

/** An elementwise op on two operands a backend's binary kernel runs. */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  | 'and'
  | 'or';

/** A reduction a backend's reduce kernel runs. */
export type ReduceOp = 'sum' | 'prod' | 'max' | 'min' | 'argmax' | 'argmin';

/** Geometry of a 2-D sliding window (conv, pooling), resolved to numbers. */
export interface Window2d {
  /** Window [height, width]. */
  kernel: [number, number];
  /** Step of the window [height, width]. */
  stride: [number, number];
  /** Padding on each side [height, width]. */
  padding: [number, number];
  /** Spacing between taps [height, width]. */
  dilation: [number, number];
}

/**
 * How average pooling divides each window's sum (PyTorch's avg_pool2d rules).
 * @inline
 */
export interface AvgPoolDivisor {
  /** Count padding taps in the window area (clipped to the padded input). */
  countIncludePad: boolean;
  /** When set (non-zero), every window divides by this instead. */
  divisorOverride?: number;
}

/**
 * What a matmul kernel applies to its output before writing it: a bias row, then ReLU.
 * @inline
 */
export interface MatmulEpilogue {
  bias?: View | null;
  relu?: boolean;
}

/** One Adam/AdamW step's hyperparameters (PyTorch 1.13's rule); `step` counts from 1. */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: decay the weights directly instead of adding weightDecay * param to the gradient. */
  decoupled: boolean;
  step: number;
  maximize?: boolean;
}

/**
 * Dropout on the attention weights inside a fused attention kernel. The kept entries are a pure
 * function of (seed, b, i, j) -- b the flat batch index over the leading shape (row-major), i the query,
 * j the key -- so the backward regenerates the forward's mask instead of storing it: entry (b, i, j) is
 * kept when pcg4d(seed, b, i, j).x >> 8 >= threshold, with pcg4d the 4-D counter hash of Jarzynski and
 * Olano ("Hash Functions for GPU Rendering", 2020) and threshold = ceil(p * 2^24), and a kept weight is
 * scaled by 1 / (1 - p). src/ops/attention.ts holds the host twin of this rule (attentionDropoutMask).
 */
export interface AttentionDropout {
  /** Probability of dropping a weight, in [0, 1). */
  readonly p: number;
  /** A uint32 drawn from the op's Generator: equal seeds give equal masks. */
  readonly seed: number;
}

/**
 * What a device can do, declared by its backend so callers ask this instead of comparing device names.
 * @inline
 */
export interface BackendCapabilities {
  /** `read` returns data at once; false where memory can only be read asynchronously (WebGPU). */
  readonly syncRead: boolean;
  /** The dtypes its buffers and kernels take. */
  readonly dtypes: readonly DType[];
}

/** A device's kernels and memory: the small interface every device (CPU, WebGPU) implements. */
export interface Backend {
  /** The device's name, e.g. 'cpu'. */
  readonly name: string;
  /** What the device can do (synchronous reads, dtypes). */
  readonly capabilities: BackendCapabilities;
  /** What runs the kernels, e.g. { kernels: 'wasm-relaxed-simd', threads: 2 }. */
  info?(): Record<string, string | number>;
  /** Resolves when every kernel queued so far has finished (at once where kernels run synchronously). */
  sync(): Promise<void>;
  /** Frees memory kept pooled for reuse (a no-op where nothing is pooled); live buffers are untouched. */
  emptyCache(): void;
  /** Bytes the allocator has handed out (heapBytes) and keeps pooled for reuse (pooledBytes); mox.memory({ heap: true }). */
  memoryInfo?(): {
    /** Bytes handed out and not taken back. */
    heapBytes: number;
    /** Bytes kept for reuse. */
    pooledBytes: number;
  };

  // memory
  /** A buffer of `size` elements, zero-filled unless `zero` is false (then its contents are undefined). */
  alloc(dtype: DType, size: number, zero?: boolean): Buffer;
  /** Gives a buffer's memory back. */
  free(buf: Buffer): void;
  /** Size of a buffer in bytes. */
  byteLength(buf: Buffer): number;
  /** A new buffer holding a copy of the array. */
  fromArray(data: TypedArray): Buffer; // copies
  /** Contiguous copy of a view's elements, as a typed array of its dtype. */
  read(view: View): TypedArray;
  /** read(), for devices whose memory can only be read asynchronously. */
  readAsync(view: View): Promise<TypedArray>;
  /** Writes `src` into the (possibly strided) view `dst`, casting to dst's dtype. */
  copy(src: View, dst: View): void;
  /** Sets every element of the view to a value. */
  fill(dst: View, value: number): void;

  // elementwise
  /** Applies an elementwise op (params: e.g. clamp's [min, max]) to a view. */
  unary(op: UnaryOp, x: View, outDtype: DType, params?: readonly number[]): Buffer;
  /** a and b have the output's shape already (broadcast with stride-0 views). */
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Buffer;
  /** Picks a where cond is true, b elsewhere (all three already broadcast). */
  where(cond: View, a: View, b: View, outDtype: DType): Buffer;

  // reductions: output shape is x.shape without `axes` (keepdim is a view concern)
  /** Reduces over `axes`; the output shape is x's without them. */
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

  // hot paths kept as primitives (each has an unfused composition in the tests)
  /** softmax or log-softmax along `axis`. */
  softmax(x: View, axis: number, log: boolean): Buffer;
  /**
   * x: [N, C, H, W] -> [N, C*kh*kw, OH*OW], out-of-image taps read `padValue`. With batchInColumns the
   * result is [C*kh*kw, N*OH*OW] instead (image n's columns at n*OH*OW): one GEMM covers the batch.
   */
  im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number, batchInColumns?: boolean): Buffer;
  /** The adjoint of im2col: cols [N, C*kh*kw, OH*OW] summed back into [N, C, H, W]. */
  col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Buffer;
  /**
   * Max pooling of x [N, C, H, W] -> out [N, C, outH, outW] and argmax (int32, same shape): the flat
   * index h*W + w, within its plane, of each output's input element. The first maximum in the window
   * wins and NaN propagates (the first NaN wins); taps outside the image never win. A window with no
   * tap inside the image (possible with dilation) gives -inf and argmax -1, which the backward skips.
   */
  maxPool2d(
    x: View,
    w: Window2d,
    outH: number,
    outW: number,
  ): {
    /** The pooled values [N, C, outH, outW]. */
    out: Buffer;
    /** int32 [N, C, outH, outW]: where each maximum was, within its plane. */
    argmax: Buffer;
  };
  /** zeros(inShape) [N, C, H, W] with each g [N, C, outH, outW] added at its argmax position in its plane. */
  maxPool2dBackward(g: View, argmax: View, inShape: readonly number[]): Buffer;
  /** Average pooling of x [N, C, H, W] -> [N, C, outH, outW]; out-of-image taps add nothing. */
  avgPool2d(x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): Buffer;
  /** The adjoint of avgPool2d: g [N, C, outH, outW] spread back over zeros(inShape). */
  avgPool2dBackward(g: View, w: Window2d, inShape: readonly number[], div: AvgPoolDivisor): Buffer;
}
