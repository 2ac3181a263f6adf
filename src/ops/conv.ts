// Convolutions as im2col + batched matmul (candle and Caffe's approach): unfold turns every receptive
// field into a column, so a convolution is one matmul against the flattened kernel. unfold and fold
// are each other's adjoint, so they are each other's gradient, and autograd does the rest.

import type { Window2d } from '../backend/backend.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { record, sameDevice, wrap } from './make.js';
import { matmul } from './matmul.js';
import { permute, reshape, transpose } from './view.js';
import { pad } from './join.js';
import { check4d } from '../base/shape.js';

/**
 * A 2-d size: one number for both axes, or [height, width].
 * @inline
 */
export type Pair = number | readonly [number, number];

export function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((n) => Number.isInteger(n) && n >= min)) {
    throw new ValueError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Output size of a sliding window along one axis. */
export function windowOut(size: number, k: number, s: number, p: number, d: number, ceil = false): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // with ceil, the last window must start inside the input or the left padding (PyTorch's rule)
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

function checkBias(op: string, bias: Tensor | null | undefined, outChannels: number): void {
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outChannels)) {
    throw new ShapeError(op, `bias must have shape [${outChannels}] (the output channels), got ${fmtShape(bias.shape)}`);
  }
}

/** [N, C, H, W] -> [N, C*kh*kw, OH*OW]; taps outside the image read padValue. */
export function unfold(x: Tensor, w: Window2d, outH: number, outW: number, padValue = 0): Tensor {
  check4d('unfold', x.shape, 'input');
  const [n, c, h, width] = x.shape as [number, number, number, number];
  const b = x.backend;
  const rows = c * w.kernel[0] * w.kernel[1];
  const out = wrap(b, b.im2col(x.view_(), w, outH, outW, padValue), [n, rows, outH * outW], x.dtype);
  return record(out, 'unfold', [x], (g) => [fold(g, w, c, h, width, outH, outW)]);
}

/** The adjoint of unfold: sums columns [N, C*kh*kw, OH*OW] back into [N, C, H, W]. */
export function fold(cols: Tensor, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): Tensor {
  const b = cols.backend;
  const out = wrap(b, b.col2im(cols.view_(), w, channels, h, width, outH, outW), [cols.shape[0]!, channels, h, width], cols.dtype);
  return record(out, 'fold', [cols], (g) => [unfold(g, w, outH, outW, 0)]);
}

/**
 * [N, C, H, W] -> [C*kh*kw, N*OH*OW]: unfold with the batch laid along the columns, so a convolution
 * is one GEMM over the whole batch instead of N small ones (and its weight gradient one GEMM with a
 * long inner dimension rather than N products summed afterwards).
 */
function unfoldBatch(x: Tensor, w: Window2d, outH: number, outW: number): Tensor {
  const [n, c, h, width] = x.shape as [number, number, number, number];
  const b = x.backend;
  const rows = c * w.kernel[0] * w.kernel[1];
  const out = wrap(b, b.im2col(x.view_(), w, outH, outW, 0, true), [rows, n * outH * outW], x.dtype);
  // fold reads the [N, rows, P] view of these columns through strides, no copy
  return record(out, 'unfold', [x], (g) => [fold(transpose(reshape(g, [rows, n, outH * outW]), 0, 1), w, c, h, width, outH, outW)]);
}

/** Options of conv2d: stride, padding, dilation and groups. */
export interface Conv2dOptions {
  /** Step of the window (default 1). */
  stride?: Pair;
  /** Zero padding on each side, or 'valid' (none) / 'same' (output size = input size, stride 1). */
  padding?: Pair | 'valid' | 'same';
  /** Spacing between kernel taps (default 1). */
  dilation?: Pair;
  /** Split input and output channels into this many independent groups (default 1). */
  groups?: number;
}

/** 2-D convolution (cross-correlation, as in PyTorch): x [N, C, H, W], weight [O, C/groups, kh, kw]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  sameDevice('conv2d', x, weight);
  if (x.ndim === 3) {
    const y = conv2d(reshape(x, [1, ...x.shape]), weight, bias, opts);
    return reshape(y, y.shape.slice(1));
  }
  check4d('conv2d', x.shape, 'input');
  if (weight.ndim !== 4) throw new ShapeError('conv2d', `weight must be [out, in/groups, kh, kw], got ${fmtShape(weight.shape)}`);
  const groups = opts.groups ?? 1;
  const [n, c] = x.shape as [number, number, number, number];
  const [o, cg, kh, kw] = weight.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || o % groups !== 0) {
    throw new ValueError('conv2d', `groups=${groups} must divide both input channels ${c} and output channels ${o}`);
  }
  if (cg * groups !== c) {
    throw new ShapeError(
      'conv2d',
      `input ${fmtShape(x.shape)} has ${c} channels but weight ${fmtShape(weight.shape)} expects ${cg * groups} (groups=${groups})`,
    );
  }
  checkBias('conv2d', bias, o);
  const stride = pair('conv2d', 'stride', opts.stride ?? 1, 1);
  const dilation = pair('conv2d', 'dilation', opts.dilation ?? 1, 1);
  let padding: [number, number];
  let input = x;
  if (opts.padding === 'valid') padding = [0, 0];
  else if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ValueError('conv2d', "padding='same' needs stride 1");
    const th = dilation[0] * (kh - 1);
    const tw = dilation[1] * (kw - 1);
    padding = [Math.floor(th / 2), Math.floor(tw / 2)];
    // an odd total puts the extra row/column at the end, as PyTorch does
    if (th % 2 || tw % 2) input = pad(x, [0, tw % 2, 0, th % 2]);
  } else padding = pair('conv2d', 'padding', opts.padding ?? 0, 0);
  const [hh, ww] = [input.shape[2]!, input.shape[3]!];
  const outH = windowOut(hh, kh, stride[0], padding[0], dilation[0]);
  const outW = windowOut(ww, kw, stride[1], padding[1], dilation[1]);
  if (outH <= 0 || outW <= 0) {
    throw new ShapeError(
      'conv2d',
      `kernel ${kh}x${kw} (dilation ${dilation.join('x')}) is larger than the padded input ${fmtShape(x.shape)}`,
    );
  }
  const win: Window2d = { kernel: [kh, kw], stride, padding, dilation };
  if (groups === 1) {
    // y^T [O, N*P] = W [O, C*kh*kw] @ cols, then viewed as [N, O, OH, OW]; the bias adds along rows
    let yt = matmul(reshape(weight, [o, cg * kh * kw]), unfoldBatch(input, win, outH, outW));
    if (bias) yt = yt.add(reshape(bias, [o, 1]));
    return permute(reshape(yt, [o, n, outH, outW]), [1, 0, 2, 3]);
  }
  const cols = reshape(unfold(input, win, outH, outW), [n, groups, cg * kh * kw, outH * outW]);
  const wmat = reshape(weight, [groups, o / groups, cg * kh * kw]);
  let y = reshape(matmul(wmat, cols), [n, o, outH, outW]);
  if (bias) y = y.add(reshape(bias, [1, o, 1, 1]));
  return y;
}

/** Options of convTranspose2d: stride, padding, output padding, dilation and groups. */
export interface ConvTranspose2dOptions {
  /** Step of the window over the output (default 1). */
  stride?: Pair;
  /** Removed from each side of the output (default 0). */
  padding?: Pair;
  /** Extra size added to one side of the output, to pick among the sizes a stride allows (default 0). */
  outputPadding?: Pair;
  /** Spacing between kernel taps (default 1). */
  dilation?: Pair;
  /** Split input and output channels into this many independent groups (default 1). */
  groups?: number;
}

/** Transposed convolution (the gradient of conv2d w.r.t. its input): weight [C_in, C_out/groups, kh, kw]. */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTranspose2dOptions = {}): Tensor {
  sameDevice('convTranspose2d', x, weight);
  check4d('convTranspose2d', x.shape, 'input');
  if (weight.ndim !== 4) throw new ShapeError('convTranspose2d', `weight must be [in, out/groups, kh, kw], got ${fmtShape(weight.shape)}`);
  const groups = opts.groups ?? 1;
  const [n, c, h, width] = x.shape as [number, number, number, number];
  const [ci, og, kh, kw] = weight.shape as [number, number, number, number];
  if (ci !== c)
    throw new ShapeError(
      'convTranspose2d',
      `input ${fmtShape(x.shape)} has ${c} channels but weight ${fmtShape(weight.shape)} expects ${ci}`,
    );
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0)
    throw new ValueError('convTranspose2d', `groups=${groups} must divide input channels ${c}`);
  const stride = pair('convTranspose2d', 'stride', opts.stride ?? 1, 1);
  const padding = pair('convTranspose2d', 'padding', opts.padding ?? 0, 0);
  const outPad = pair('convTranspose2d', 'outputPadding', opts.outputPadding ?? 0, 0);
  const dilation = pair('convTranspose2d', 'dilation', opts.dilation ?? 1, 1);
  if (outPad[0] >= Math.max(stride[0], dilation[0]) || outPad[1] >= Math.max(stride[1], dilation[1])) {
    throw new ValueError('convTranspose2d', `outputPadding ${outPad.join('x')} must be smaller than stride or dilation`);
  }
  const outH = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + outPad[0] + 1;
  const outW = (width - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + outPad[1] + 1;
  if (outH <= 0 || outW <= 0)
    throw new ShapeError('convTranspose2d', `output size ${outH}x${outW} is not positive for input ${fmtShape(x.shape)}`);
  const o = og * groups;
  checkBias('convTranspose2d', bias, o);
  const xg = reshape(x, [n, groups, c / groups, h * width]);
  const wT = transpose(reshape(weight, [groups, c / groups, og * kh * kw]), 1, 2);
  const cols = reshape(matmul(wT, xg), [n, o * kh * kw, h * width]);
  const win: Window2d = { kernel: [kh, kw], stride, padding, dilation };
  let y = fold(cols, win, o, outH, outW, h, width);
  if (bias) y = y.add(reshape(bias, [1, o, 1, 1]));
  return y;
}
