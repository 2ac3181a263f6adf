// Pooling, on the same unfold as convolution: each window becomes a column, then a reduction.
// maxPool2d routes its gradient to one element per window (the first maximum), as PyTorch does.

import type { Window2d } from '../backend/backend.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { typedArrayFor } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { wrap } from './make.js';
import { gather } from './indexing.js';
import { matmul } from './matmul.js';
import { reshape, transpose } from './view.js';
import { pair, unfold, windowOut, type Pair } from './conv.js';

export interface Pool2dOptions {
  /** Defaults to the kernel size. */
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

interface Geometry { n: number; c: number; h: number; w: number; win: Window2d; outH: number; outW: number; squeeze: boolean }

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

/** Unfolds every channel separately: [N*C, kh*kw, OH*OW]. */
function windows(x: Tensor, g: Geometry, padValue: number): Tensor {
  return unfold(reshape(x, [g.n * g.c, 1, g.h, g.w]), g.win, g.outH, g.outW, padValue);
}

function finish(y: Tensor, g: Geometry): Tensor {
  return reshape(y, g.squeeze ? [g.c, g.outH, g.outW] : [g.n, g.c, g.outH, g.outW]);
}

export function maxPool2d(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): Tensor {
  const g = geometry('maxPool2d', x, kernelSize, opts);
  const cols = windows(x, g, -Infinity);
  const idx = cols.argmax(1, true);
  return finish(gather(cols, 1, idx), g);
}

/** maxPool2d that also returns, for each output, the flat index (h*W + w) of its input element. */
export function maxPool2dWithIndices(x: Tensor, kernelSize: Pair, opts: Pool2dOptions = {}): [Tensor, Tensor] {
  const g = geometry('maxPool2d', x, kernelSize, opts);
  const cols = windows(x, g, -Infinity);
  const idx = cols.argmax(1, true);
  const out = finish(gather(cols, 1, idx), g);
  const k = idx.dataSync();
  const flat = new Int32Array(k.length);
  const kw = g.win.kernel[1];
  for (let i = 0; i < k.length; i++) {
    const l = i % (g.outH * g.outW);
    const oh = Math.floor(l / g.outW);
    const ow = l % g.outW;
    const ki = Math.floor(k[i]! / kw);
    const kj = k[i]! % kw;
    const hh = oh * g.win.stride[0] - g.win.padding[0] + ki * g.win.dilation[0];
    const ww = ow * g.win.stride[1] - g.win.padding[1] + kj * g.win.dilation[1];
    flat[i] = hh * g.w + ww;
  }
  const indices = finish(wrap(x.backend, x.backend.fromArray(flat), [flat.length], 'int32'), g);
  return [out, indices];
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count padding zeros in the divisor (PyTorch's default true). */
  countIncludePad?: boolean;
  divisorOverride?: number;
}

export function avgPool2d(x: Tensor, kernelSize: Pair, opts: AvgPool2dOptions = {}): Tensor {
  if (opts.dilation !== undefined && opts.dilation !== 1) throw new ValueError('avgPool2d', 'dilation is not an option of average pooling');
  const g = geometry('avgPool2d', x, kernelSize, opts);
  const sums = windows(x, g, 0).sum(1); // [N*C, L]
  const div = divisors(g, opts.countIncludePad ?? true, opts.divisorOverride);
  return finish(sums.div(wrap(x.backend, x.backend.fromArray(div), [div.length], 'float32').to(x.dtype)), g);
}

/** PyTorch's avg-pool divisor per output position: window area, clipped to the padded or real input. */
function divisors(g: Geometry, includePad: boolean, override?: number): Float32Array {
  const out = typedArrayFor('float32', g.outH * g.outW) as Float32Array;
  const [kh, kw] = g.win.kernel;
  const [sh, sw] = g.win.stride;
  const [ph, pw] = g.win.padding;
  for (let oh = 0; oh < g.outH; oh++) {
    for (let ow = 0; ow < g.outW; ow++) {
      if (override) {
        out[oh * g.outW + ow] = override;
        continue;
      }
      let hs = oh * sh - ph;
      let ws = ow * sw - pw;
      let he = Math.min(hs + kh, g.h + ph);
      let we = Math.min(ws + kw, g.w + pw);
      if (!includePad) {
        hs = Math.max(hs, 0);
        ws = Math.max(ws, 0);
        he = Math.min(he, g.h);
        we = Math.min(we, g.w);
      }
      out[oh * g.outW + ow] = (he - hs) * (we - ws);
    }
  }
  return out;
}

/**
 * Adaptive average pooling to a fixed output size. Bin i along an axis covers
 * [floor(i*H/OH), ceil((i+1)*H/OH)); the 2-D average is separable, so it is P_h @ x @ P_w^T.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair | readonly [number | null, number | null]): Tensor {
  if (x.ndim !== 4 && x.ndim !== 3) throw new ShapeError('adaptiveAvgPool2d', `expected input [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
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
