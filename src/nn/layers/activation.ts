// Activation layers: stateless wrappers of the functional forms, so they can sit in a Sequential.

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { gelu, leakyRelu, relu, sigmoid, silu, softplus, tanh } from '../../ops/unary.js';
import { logSoftmax, softmax } from '../../ops/softmax.js';
import { Module } from '../module.js';
import { pyNum } from './repr.js';

/** ReLU layer: max(x, 0) elementwise. */
export class ReLU extends Module {
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Leaky ReLU layer: x for x > 0, negativeSlope * x otherwise. */
export class LeakyReLU extends Module {
  /** Leaky ReLU with the given slope for negative inputs. */
  constructor(
    /** Slope for negative inputs (default 0.01). */
    readonly negativeSlope = 0.01,
  ) {
    super();
  }
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
  override extraRepr(): string {
    return `negative_slope=${pyNum(this.negativeSlope)}`;
  }
}

/** GELU layer, exact (erf) or its tanh approximation. */
export class GELU extends Module {
  /** GELU, exact or with the tanh approximation. */
  constructor(
    /** 'none' for the exact erf form, 'tanh' for GPT-2's approximation. */
    readonly approximate: 'none' | 'tanh' = 'none',
  ) {
    super();
    if (approximate !== 'none' && approximate !== 'tanh')
      throw new ValueError('GELU', `approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  }
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** SiLU (swish) layer: x * sigmoid(x). */
export class SiLU extends Module {
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** Sigmoid layer: 1 / (1 + e^-x). */
export class Sigmoid extends Module {
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** Tanh layer. */
export class Tanh extends Module {
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Softplus layer: log(1 + e^x). */
export class Softplus extends Module {
  /** Applies the activation elementwise. */
  forward(x: Tensor): Tensor {
    return softplus(x);
  }
}

/** Softmax along `dim` (default the last, as Keras; PyTorch asks for it explicitly). */
export class Softmax extends Module {
  /** Softmax along `dim`. */
  constructor(
    /** The axis the probabilities sum to 1 over. */
    readonly dim = -1,
  ) {
    super();
  }
  /** Softmax along `dim`. */
  forward(x: Tensor): Tensor {
    return softmax(x, this.dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

/** Log-softmax layer along `dim` (default the last). */
export class LogSoftmax extends Module {
  /** Log-softmax along `dim`. */
  constructor(
    /** The axis the softmax is taken over. */
    readonly dim = -1,
  ) {
    super();
  }
  /** Log-softmax along `dim`. */
  forward(x: Tensor): Tensor {
    return logSoftmax(x, this.dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}
