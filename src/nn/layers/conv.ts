// Conv2d and ConvTranspose2d: the layers around nn.functional's im2col convolutions, with PyTorch's
// weight layouts ([out, in/groups, kh, kw] and [in, out/groups, kh, kw]) and default initialisation.

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { conv2d, convTranspose2d, type Pair } from '../../ops/conv.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { checkFeatures, type LayerOptions } from './linear.js';
import { pyTuple, toPair } from './repr.js';

export interface Conv2dLayerOptions extends LayerOptions {
  /** Step of the window (default 1). */
  stride?: Pair;
  /** Zero padding on each side, or 'valid' (none) or 'same' (output size = input size; stride 1). */
  padding?: Pair | 'same' | 'valid';
  /** Spacing between kernel taps (default 1). */
  dilation?: Pair;
  /** Split input and output channels into this many independent groups (default 1). */
  groups?: number;
  /** Learn a per-channel bias (default true). */
  bias?: boolean;
}

export interface ConvTranspose2dLayerOptions extends LayerOptions {
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
  /** Learn a per-channel bias (default true). */
  bias?: boolean;
}

function checkGroups(op: string, inChannels: number, outChannels: number, groups: number): void {
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError(op, `groups must be a positive integer, got ${groups}`);
  if (inChannels % groups || outChannels % groups) {
    throw new ValueError(op, `groups=${groups} must divide both in_channels ${inChannels} and out_channels ${outChannels}`);
  }
}

/** The configuration part of a conv's repr, in PyTorch's order and with its omissions. */
function convRepr(c: {
  inChannels: number;
  outChannels: number;
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number] | 'same' | 'valid';
  dilation: [number, number];
  outputPadding?: [number, number];
  groups: number;
  bias: Parameter | null;
}): string {
  let s = `${c.inChannels}, ${c.outChannels}, kernel_size=${pyTuple(c.kernelSize)}, stride=${pyTuple(c.stride)}`;
  if (typeof c.padding === 'string') s += `, padding=${c.padding}`;
  else if (c.padding[0] || c.padding[1]) s += `, padding=${pyTuple(c.padding)}`;
  if (c.dilation[0] !== 1 || c.dilation[1] !== 1) s += `, dilation=${pyTuple(c.dilation)}`;
  if (c.outputPadding && (c.outputPadding[0] || c.outputPadding[1])) s += `, output_padding=${pyTuple(c.outputPadding)}`;
  if (c.groups !== 1) s += `, groups=${c.groups}`;
  if (!c.bias) s += ', bias=False';
  return s;
}

/** 2-D convolution over [N, C, H, W] (or unbatched [C, H, W]) input. */
export class Conv2d extends Module {
  /** Channels of the input. */
  readonly inChannels: number;
  /** Channels of the output (number of filters). */
  readonly outChannels: number;
  /** Kernel [height, width]. */
  readonly kernelSize: [number, number];
  /** Step of the window [height, width]. */
  readonly stride: [number, number];
  /** Padding [height, width] on each side, or 'same' / 'valid'. */
  readonly padding: [number, number] | 'same' | 'valid';
  /** Spacing between kernel taps [height, width]. */
  readonly dilation: [number, number];
  /** Number of channel groups. */
  readonly groups: number;
  /** Filters [outChannels, inChannels / groups, kh, kw]. */
  weight: Parameter;
  /** Bias [outChannels], or null without one. */
  bias: Parameter | null;

  /** A convolution from inChannels to outChannels with a kernelSize kernel. */
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dLayerOptions = {}) {
    super();
    checkFeatures('Conv2d', { inChannels, outChannels });
    this.groups = opts.groups ?? 1;
    checkGroups('Conv2d', inChannels, outChannels, this.groups);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = toPair(kernelSize);
    this.stride = toPair(opts.stride ?? 1);
    const p = opts.padding ?? 0;
    this.padding = typeof p === 'string' ? p : toPair(p);
    this.dilation = toPair(opts.dilation ?? 1);
    if (this.padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
      throw new ValueError('Conv2d', "padding='same' is not supported for strided convolutions");
    }
    const dt = { dtype: opts.dtype, device: opts.device };
    this.weight = Parameter.zeros([outChannels, inChannels / this.groups, ...this.kernelSize], dt);
    this.bias = opts.bias === false ? null : Parameter.zeros([outChannels], dt);
    this.resetParameters();
  }

  /** PyTorch's default: kaiming-uniform weight (a = sqrt(5)) and bias U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    return convRepr(this);
  }
}

/** Transposed 2-D convolution (a "deconvolution": the gradient of Conv2d with respect to its input). */
export class ConvTranspose2d extends Module {
  /** Channels of the input. */
  readonly inChannels: number;
  /** Channels of the output. */
  readonly outChannels: number;
  /** Kernel [height, width]. */
  readonly kernelSize: [number, number];
  /** Step of the window over the output [height, width]. */
  readonly stride: [number, number];
  /** Padding removed from each side of the output [height, width]. */
  readonly padding: [number, number];
  /** Extra size on one side of the output [height, width]. */
  readonly outputPadding: [number, number];
  /** Spacing between kernel taps [height, width]. */
  readonly dilation: [number, number];
  /** Number of channel groups. */
  readonly groups: number;
  /** Filters [inChannels, outChannels / groups, kh, kw], as PyTorch lays them out. */
  weight: Parameter;
  /** Bias [outChannels], or null without one. */
  bias: Parameter | null;

  /** A transposed convolution from inChannels to outChannels with a kernelSize kernel. */
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: ConvTranspose2dLayerOptions = {}) {
    super();
    checkFeatures('ConvTranspose2d', { inChannels, outChannels });
    this.groups = opts.groups ?? 1;
    checkGroups('ConvTranspose2d', inChannels, outChannels, this.groups);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = toPair(kernelSize);
    this.stride = toPair(opts.stride ?? 1);
    this.padding = toPair(opts.padding ?? 0);
    this.outputPadding = toPair(opts.outputPadding ?? 0);
    this.dilation = toPair(opts.dilation ?? 1);
    const dt = { dtype: opts.dtype, device: opts.device };
    this.weight = Parameter.zeros([inChannels, outChannels / this.groups, ...this.kernelSize], dt);
    this.bias = opts.bias === false ? null : Parameter.zeros([outChannels], dt);
    this.resetParameters();
  }

  /** As PyTorch: fan-in is read from dim 1 of the weight, here out/groups * kh * kw. */
  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  override extraRepr(): string {
    return convRepr(this);
  }
}
