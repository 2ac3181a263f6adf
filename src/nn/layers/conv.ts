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
  stride?: Pair;
  /** Zero padding on each side, or 'valid' (none) or 'same' (output size = input size; stride 1). */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export interface ConvTranspose2dLayerOptions extends LayerOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
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
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

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
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

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
