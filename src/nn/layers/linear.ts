// Linear (Keras's Dense without the activation): y = x W^T + b, weight [out, in] as in PyTorch.

import '../../ops/tensor-methods.js';
import type { DType } from '../../base/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { linear } from '../../ops/matmul.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { pyBool } from './repr.js';

/** Where a layer creates its parameters: dtype (default float32) and device (default the current one). */
export interface LayerOptions {
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default the current device). */
  device?: string;
}

export function checkFeatures(op: string, pairs: Record<string, number>): void {
  for (const [name, v] of Object.entries(pairs)) {
    if (!Number.isInteger(v) || v < 1) throw new ValueError(op, `${name} must be a positive integer, got ${v}`);
  }
}

/** Fully connected layer, y = x W^T + b, like torch.nn.Linear. */
export class Linear extends Module {
  /** Size of each input sample. */
  readonly inFeatures: number;
  /** Size of each output sample. */
  readonly outFeatures: number;
  /** Weight [outFeatures, inFeatures]. */
  weight: Parameter;
  /** Bias [outFeatures], or null without one. */
  bias: Parameter | null;

  /** A layer from inFeatures to outFeatures, with a bias unless `bias` is false. */
  constructor(inFeatures: number, outFeatures: number, bias = true, opts: LayerOptions = {}) {
    super();
    checkFeatures('Linear', { inFeatures, outFeatures });
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = Parameter.zeros([outFeatures, inFeatures], opts);
    this.bias = bias ? Parameter.zeros([outFeatures], opts) : null;
    this.resetParameters();
  }

  /** PyTorch's default: weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
  resetParameters(): void {
    defaultLayerInit_(this.weight, this.bias);
  }

  /** Applies the layer to x [..., inFeatures]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}

/** Passes its input through unchanged (a placeholder, e.g. for a removed layer). */
export class Identity extends Module {
  /** Returns x unchanged. */
  forward(x: Tensor): Tensor {
    return x;
  }
}
