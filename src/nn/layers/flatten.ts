// Flatten: collapses dims startDim..endDim into one (by default everything but the batch axis).

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import { flatten } from '../../ops/view.js';
import { Module } from '../module.js';

/** Flattens dims startDim..endDim into one (by default all but the batch dim), like torch.nn.Flatten. */
export class Flatten extends Module {
  /** Flattens dims startDim..endDim. */
  constructor(
    /** First dim to flatten (default 1: keeps the batch dim). */
    readonly startDim = 1,
    /** Last dim to flatten (default -1: the last). */
    readonly endDim = -1,
  ) {
    super();
  }

  /** Flattens x. */
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** Expands one dim into `unflattenedSize` (the inverse of Flatten), as torch.nn.Unflatten. */
export class Unflatten extends Module {
  /** Expands dim `dim` into unflattenedSize. */
  constructor(
    /** The dim to expand. */
    readonly dim: number,
    /** The shape it expands into (its product must equal that dim's size). */
    readonly unflattenedSize: readonly number[],
  ) {
    super();
  }

  /** Expands the dim. */
  forward(x: Tensor): Tensor {
    const d = this.dim < 0 ? this.dim + x.ndim : this.dim;
    return x.reshape([...x.shape.slice(0, d), ...this.unflattenedSize, ...x.shape.slice(d + 1)]);
  }

  override extraRepr(): string {
    return `dim=${this.dim}, unflattened_size=(${this.unflattenedSize.join(', ')}${this.unflattenedSize.length === 1 ? ',' : ''})`;
  }
}
