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

export interface LayerOptions {
  dtype?: DType;
  device?: string;
}

export function checkFeatures(op: string, pairs: Record<string, number>): void {
  for (const [name, v] of Object.entries(pairs)) {
    if (!Number.isInteger(v) || v < 1) throw new ValueError(op, `${name} must be a positive integer, got ${v}`);
  }
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Parameter;
  bias: Parameter | null;

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

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}

/** Passes its input through unchanged (a placeholder, e.g. for a removed layer). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
