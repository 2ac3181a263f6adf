// Pooling layers over [N, C, H, W] (or [C, H, W]); the stride defaults to the kernel size, as in PyTorch.

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Pair } from '../../ops/conv.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../../ops/pool.js';
import { Module } from '../module.js';
import { pyBool, pyValue } from './repr.js';

/** Options of MaxPool2d: stride, padding, dilation and rounding of the output size. */
export interface MaxPool2dLayerOptions {
  /** Step of the window (default: the kernel size). */
  stride?: Pair | null;
  /** Implicit padding on each side, with -Infinity (default 0). */
  padding?: Pair;
  /** Spacing between window taps (default 1). */
  dilation?: Pair;
  /** Round the output size up instead of down. */
  ceilMode?: boolean;
}

/** Options of AvgPool2d: stride, padding, rounding, and how each window's sum is divided. */
export interface AvgPool2dLayerOptions {
  /** Step of the window (default: the kernel size). */
  stride?: Pair | null;
  /** Implicit zero padding on each side (default 0). */
  padding?: Pair;
  /** Round the output size up instead of down. */
  ceilMode?: boolean;
  /** Count padding zeros in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
  /** When set, every window divides by this instead of its size. */
  divisorOverride?: number;
}

export class MaxPool2d extends Module {
  /** Window size. */
  readonly kernelSize: Pair;
  /** Step of the window. */
  readonly stride: Pair;
  /** Implicit padding on each side. */
  readonly padding: Pair;
  /** Spacing between window taps. */
  readonly dilation: Pair;
  /** Whether the output size rounds up. */
  readonly ceilMode: boolean;

  /** Max pooling with a kernelSize window. */
  constructor(kernelSize: Pair, opts: MaxPool2dLayerOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = opts.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode });
  }

  override extraRepr(): string {
    return (
      `kernel_size=${pyValue(this.kernelSize)}, stride=${pyValue(this.stride)}, padding=${pyValue(this.padding)}, ` +
      `dilation=${pyValue(this.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`
    );
  }
}

export class AvgPool2d extends Module {
  /** Window size. */
  readonly kernelSize: Pair;
  /** Step of the window. */
  readonly stride: Pair;
  /** Implicit zero padding on each side. */
  readonly padding: Pair;
  /** Whether the output size rounds up. */
  readonly ceilMode: boolean;
  /** Whether padding zeros count in the divisor. */
  readonly countIncludePad: boolean;
  /** A fixed divisor for every window, if set. */
  readonly divisorOverride: number | undefined;

  /** Average pooling with a kernelSize window. */
  constructor(kernelSize: Pair, opts: AvgPool2dLayerOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
    this.divisorOverride = opts.divisorOverride;
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      ceilMode: this.ceilMode,
      countIncludePad: this.countIncludePad,
      divisorOverride: this.divisorOverride,
    });
  }

  override extraRepr(): string {
    return `kernel_size=${pyValue(this.kernelSize)}, stride=${pyValue(this.stride)}, padding=${pyValue(this.padding)}`;
  }
}

/** Average pooling to a fixed output size whatever the input size (null keeps that axis's size). */
export class AdaptiveAvgPool2d extends Module {
  /** The output's [height, width] (null keeps the input's size on that axis). */
  readonly outputSize: Pair | readonly [number | null, number | null];

  /** Average pooling to outputSize. */
  constructor(outputSize: Pair | readonly [number | null, number | null]) {
    super();
    this.outputSize = outputSize;
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  override extraRepr(): string {
    return `output_size=${pyValue(this.outputSize)}`;
  }
}
