// Dropout: active in training mode only (model.eval() turns it into the identity).

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Generator } from '../../tensor/random.js';
import { ValueError } from '../../errors.js';
import { dropout } from '../../ops/dropout.js';
import { Module } from '../module.js';
import { pyNum } from './repr.js';

/** Dropout layer: in training zeroes each element with probability p and scales the rest by 1/(1-p). */
export class Dropout extends Module {
  /** Probability of zeroing an element. */
  readonly p: number;
  /** Draw masks from this generator instead of the global one. */
  generator: Generator | undefined;

  /** Dropout with probability p, optionally drawing masks from its own generator. */
  constructor(p = 0.5, opts: { generator?: Generator } = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError('Dropout', `probability must be in [0, 1], got ${p}`);
    this.p = p;
    this.generator = opts.generator;
  }

  /** Applies dropout in training mode; the identity in eval mode. */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }

  override extraRepr(): string {
    return `p=${pyNum(this.p)}, inplace=False`;
  }
}
