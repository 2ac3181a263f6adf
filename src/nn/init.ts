// Weight initialisation, as torch.nn.init: every function fills a tensor in place (outside autograd)
// and returns it. Random values come from mox's seeded global generator unless a Generator is given,
// so `mox.seed(n)` before building a model makes its weights reproducible.

import '../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tensor } from '../tensor/create.js';
import { isFloat, typedArrayFor } from '../base/dtype.js';
import { globalGenerator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/** A nonlinearity calculateGain knows (PyTorch's names, plus leakyRelu). */
export type Nonlinearity =
  | 'linear'
  | 'identity'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'leakyRelu'
  | 'selu';

/** Which fan kaiming initialisation keeps the variance of: the forward pass's (fanIn) or the backward's (fanOut). */
export type FanMode = 'fanIn' | 'fanOut' | 'fan_in' | 'fan_out';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain); `param` is leaky_relu's slope. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'identity':
    case 'sigmoid':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) throw new ValueError('calculateGain', `negative slope must be a number, got ${param}`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ValueError('calculateGain', `unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/**
 * [fanIn, fanOut] of a weight, as torch.nn.init._calculate_fan_in_and_fan_out: dim 1 is the input,
 * dim 0 the output, and any further dims (a kernel's receptive field) multiply both.
 */
export function calculateFanInAndFanOut(t: Tensor | readonly number[]): [number, number] {
  const shape = Array.isArray(t) ? (t as readonly number[]) : (t as Tensor).shape;
  if (shape.length < 2) {
    throw new ShapeError('init', `fan in and fan out need a tensor with at least 2 dimensions, got ${fmtShape(shape)}`);
  }
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i]!;
  return [shape[1]! * receptive, shape[0]! * receptive];
}

function fanFor(t: Tensor, mode: FanMode): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  if (mode === 'fanIn' || mode === 'fan_in') return fanIn;
  if (mode === 'fanOut' || mode === 'fan_out') return fanOut;
  throw new ValueError('init', `mode must be 'fanIn' or 'fanOut', got '${String(mode)}'`);
}

/** Writes sample() into every element of t (values made on the JS side, then one copy to the device). */
function fillWith(op: string, t: Tensor, sample: () => number): Tensor {
  if (!isFloat(t.dtype)) throw new ValueError(op, `expected a floating-point tensor, got ${t.dtype}`);
  const arr = typedArrayFor(t.dtype, t.size);
  for (let i = 0; i < arr.length; i++) arr[i] = sample();
  const src = tensor(arr, { shape: t.shape, dtype: t.dtype, device: t.device });
  noGrad(() => t.copy_(src));
  src.dispose();
  return t;
}

/** Fills with U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1, generator?: Generator): Tensor {
  if (!(a <= b)) throw new ValueError('uniform_', `need a <= b, got a=${a}, b=${b}`);
  const g = generator ?? globalGenerator;
  return fillWith('uniform_', t, () => a + (b - a) * g.random());
}

/** Fills with N(mean, std^2). */
export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  if (!(std >= 0)) throw new ValueError('normal_', `std must be >= 0, got ${std}`);
  const g = generator ?? globalGenerator;
  return fillWith('normal_', t, () => mean + std * g.normal());
}

/** Fills with N(mean, std^2) redrawn until inside [a, b] (torch.nn.init.trunc_normal_). */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, generator?: Generator): Tensor {
  if (!(std > 0) || !(a < b) || mean + 6 * std < a || mean - 6 * std > b) {
    throw new ValueError('truncNormal_', `need std > 0 and [a, b] within 6 std of the mean, got mean=${mean}, std=${std}, a=${a}, b=${b}`);
  }
  const g = generator ?? globalGenerator;
  return fillWith('truncNormal_', t, () => {
    for (;;) {
      const v = mean + std * g.normal();
      if (v >= a && v <= b) return v;
    }
  });
}

/** Fills t with a value, in place; returns t. */
export function constant_(t: Tensor, value: number): Tensor {
  noGrad(() => t.fill_(value));
  return t;
}

/** Fills t with zeros, in place; returns t. */
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
/** Fills t with ones, in place; returns t. */
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/** Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, generator);
}

/** Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

/** Options of the kaiming initialisers: slope, fan mode, nonlinearity and generator. */
export interface KaimingOptions {
  /** The negative slope of the leaky_relu that follows (PyTorch's `a`); 0 by default. */
  a?: number;
  /** 'fanIn' (default) preserves the forward pass's variance, 'fanOut' the backward pass's. */
  mode?: FanMode;
  /** Default 'leaky_relu' (with a=0 that is relu's gain, sqrt(2)), as PyTorch. */
  nonlinearity?: Nonlinearity;
  /** Draw from this generator instead of the global one. */
  generator?: Generator;
}

function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const fan = fanFor(t, o.mode ?? 'fanIn');
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}

/** He uniform: U(-b, b), b = gain * sqrt(3 / fan). */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform_(t, -bound, bound, opts.generator);
}

/** He normal: N(0, std^2), std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, opts), opts.generator);
}

/**
 * PyTorch's default for Linear and Conv layers (their reset_parameters): the weight by kaiming_uniform
 * with a = sqrt(5), which is U(-1/sqrt(fanIn), 1/sqrt(fanIn)), and the bias by the same bound.
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, generator?: Generator): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const [fanIn] = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, generator);
  }
}
