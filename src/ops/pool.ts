// Pooling: direct window kernels (backend maxPool2d / avgPool2d), each one autograd node whose
// backward is one more kernel. maxPool2d keeps the argmax of every window and routes its gradient to
// that one element (the first maximum), as PyTorch does.

import type { AvgPoolDivisor, Window2d } from '../backend/backend.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { isFloat, typedArrayFor } from '../base/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { record, viewOf, wrap } from './make.js';
import { gather } from './indexing.js';
import { matmul } from './matmul.js';
import { reshape, transpose } from './view.js';
import { pair, windowOut, type Pair } from './conv.js';

/** Options of the 2-D pooling functions: stride, padding, dilation and rounding of the output size. */
export interface Pool2dOptions {
  /** Defaults to the kernel size. */
  stride?: Pair | null;
  /** Implicit padding on each side (default 0). */
  padding?: Pair;
  /** Spacing between window taps (default 1). */
  dilation?: Pair;
  /** Round the output size up instead of down. */
  ceilMode?: boolean;
}

interface Geometry {
  n: number;
  c: number;
  h: number;
  w: number;
  win: Window2d;
  outH: number;
  outW: number;
  squeeze: boolean;
}

function geometry(op: string, x: Tensor, kernel: Pair, opts: Pool2dOptions): Geometry {
  const squeeze = x.ndim === 3;
  if (x.ndim !== 4 && !squeeze) throw new ShapeError(op, `expected input [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
  const [n, c, h, w] = (squeeze ? [1, ...x.shape] : x.shape) as [number, number, number, number];
  const k = pair(op, 'kernelSize', kernel, 1);
  const stride = pair(op, 'stride', opts.stride ?? k, 1);
  const padding = pair(op, 'padding', opts.padding ?? 0, 0);
  const dilation = pair(op, 'dilation', opts.dilation ?? 1, 1);
  if (padding[0] * 2 > k[0] || padding[1] * 2 > k[1]) {
    throw new ValueError(op, `padding ${padding.join('x')} must be at most half the kernel ${k.join('x')}`);
  }
  const outH = windowOut(h, k[0], stride[0], padding[0], dilation[0], opts.ceilMode);
  const outW = windowOut(w, k[1], stride[1], padding[1], dilation[1], opts.ceilMode);
  if (outH <= 0 || outW <= 0) throw new ShapeError(op, `kernel ${k.join('x')} is larger than the padded input ${fmtShape(x.shape)}`);
  return { n, c, h, w, win: { kernel: k, stride, padding, dilation }, outH, outW, squeeze };
}

/** x as [N, C, H, W] (a view of an unbatched [C, H, W] input). */
function as4d(x: Tensor, g: Geometry): Tensor {
  return g.squeeze ? reshape(x, [1, ...x.shape]) : x;
}

function finish(y: Tensor, g: Geometry): Tensor {
  return g.squeeze ? reshape(y, [g.c, g.outH, g.outW]) : y;
}

/** One kernel forward, one scatter-add backward; argmax is saved rather than recomputed. */
function maxPoolNode(x: Tensor, g: Geometry): [Tensor, Tensor] {
  const b = x.backend;
  const shape = [g.n, g.c, g.outH, g.outW];
  const r = b.maxPool2d(x.view_(), g.win, g.outH, g.outW);
  const argmax = wrap(b, r.argmax, shape, 'int32');
  const out = wrap(b, r.out, shape, x.dtype);
  return [record(out, 'maxPool2d', [x], (gy) => [maxPoolGrad(gy, argmax, x.shape)], [argmax]), argmax];
}

/** The gradient of maxPool2d: gy added at each window's argmax. Its own gradient gathers there. */
function maxPoolGrad(gy: Tensor, argmax: Tensor, inShape: readonly number[]): Tensor {
  const b = gy.backend;
  const out = wrap(b, b.maxPool2dBackward(gy.view_(), argmax.view_(), inShape), inShape, gy.dtype);
  return record(
    out,
    'maxPool2dBackward',
    [gy],
    (gg) => {
      const [n, c, h, w] = inShape as [number, number, number, number];
      const [, , oh, ow] = argmax.shape as [number, number, number, number];
      const picked = gather(reshape(gg, [n * c, h * w]), 1, reshape(argmax, [n * c, oh * ow]));
      return [reshape(picked, argmax.shape)];
    },
    [argmax],
  );
}

/** 2-D max pooling over x [N, C, H, W], like torch.nn.functional.max_pool2d. */
export function maxPool2d(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): Tensor {
  const g = geometry('maxPool2d', x, kernelSize, opts);
  return finish(maxPoolNode(as4d(x, g), g)[0], g);
}

/** maxPool2d that also returns, for each output, the flat index (h*W + w) of its input element. */
export function maxPool2dWithIndices(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): [Tensor, Tensor] {
  const g = geometry('maxPool2d', x, kernelSize, opts);
  const [out, argmax] = maxPoolNode(as4d(x, g), g);
  // a separate handle on the same storage: disposing the returned indices leaves backward's copy alive
  const indices = viewOf(argmax, argmax.shape, argmax.strides, argmax.offset);
  return [finish(out, g), finish(indices, g)];
}

/** Options of avgPool2d: the pooling options plus how each window's sum is divided. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count padding zeros in the divisor (PyTorch's default true). */
  countIncludePad?: boolean;
  /** When set, every window divides by this instead of its size. */
  divisorOverride?: number;
}

/** 2-D average pooling over x [N, C, H, W], like torch.nn.functional.avg_pool2d. */
export function avgPool2d(x: Tensor, kernelSize: Pair, opts: AvgPool2dOptions = {}): Tensor {
  if (opts.dilation !== undefined && opts.dilation !== 1) throw new ValueError('avgPool2d', 'dilation is not an option of average pooling');
  if (!isFloat(x.dtype)) throw new DTypeError('avgPool2d', `expected a floating-point input, got ${x.dtype}`);
  const g = geometry('avgPool2d', x, kernelSize, opts);
  const div: AvgPoolDivisor = { countIncludePad: opts.countIncludePad ?? true, divisorOverride: opts.divisorOverride };
  return finish(avgPoolNode(as4d(x, g), g, div), g);
}

// avgPool2d and its gradient are a linear map and its transpose, so each is the other's gradient.
function avgPoolNode(x: Tensor, g: Geometry, div: AvgPoolDivisor): Tensor {
  const b = x.backend;
  const out = wrap(b, b.avgPool2d(x.view_(), g.win, g.outH, g.outW, div), [g.n, g.c, g.outH, g.outW], x.dtype);
  return record(out, 'avgPool2d', [x], (gy) => [avgPoolGrad(gy, g, div, x.shape)]);
}

function avgPoolGrad(gy: Tensor, g: Geometry, div: AvgPoolDivisor, inShape: readonly number[]): Tensor {
  const b = gy.backend;
  const out = wrap(b, b.avgPool2dBackward(gy.view_(), g.win, inShape, div), inShape, gy.dtype);
  return record(out, 'avgPool2dBackward', [gy], (gg) => [avgPoolNode(gg, g, div)]);
}

/**
 * Adaptive average pooling to a fixed output size. Bin i along an axis covers
 * [floor(i*H/OH), ceil((i+1)*H/OH)); the 2-D average is separable, so it is P_h @ x @ P_w^T.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair | readonly [number | null, number | null]): Tensor {
  if (x.ndim !== 4 && x.ndim !== 3)
    throw new ShapeError('adaptiveAvgPool2d', `expected input [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
  const h = x.shape[x.ndim - 2]!;
  const w = x.shape[x.ndim - 1]!;
  const os = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  const oh = os[0] ?? h;
  const ow = os[1] ?? w;
  pair('adaptiveAvgPool2d', 'outputSize', [oh, ow], 1);
  const ph = poolMatrix(x, oh, h);
  const pw = poolMatrix(x, ow, w);
  return matmul(matmul(ph, x), transpose(pw, 0, 1));
}

function poolMatrix(like: Tensor, out: number, size: number): Tensor {
  const m = typedArrayFor(like.dtype === 'float64' ? 'float64' : 'float32', out * size);
  for (let i = 0; i < out; i++) {
    const s = Math.floor((i * size) / out);
    const e = Math.ceil(((i + 1) * size) / out);
    for (let j = s; j < e; j++) m[i * size + j] = 1 / (e - s);
  }
  return wrap(like.backend, like.backend.fromArray(m), [out, size], like.dtype === 'float64' ? 'float64' : 'float32');
}
