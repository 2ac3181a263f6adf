// BatchNorm1d/2d and LayerNorm. Batch norm keeps PyTorch's buffers and key names (running_mean,
// running_var, num_batches_tracked), so its state dict loads a PyTorch checkpoint's and vice versa.

import '../../ops/tensor-methods.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ShapeError, ValueError, fmtShape } from '../../errors.js';
import { noGrad } from '../../autograd/grad-mode.js';
import { full, ones, zeros } from '../../tensor/create.js';
import { batchNorm, layerNorm } from '../../ops/norm.js';
import { ones_, zeros_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { checkFeatures, type LayerOptions } from './linear.js';
import { pyBool, pyNum } from './repr.js';

export interface BatchNormLayerOptions extends LayerOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Weight of the newest batch in the running statistics (default 0.1); null: a cumulative average. */
  momentum?: number | null;
  /** Learnable per-channel scale and shift (default true). */
  affine?: boolean;
  /** Keep running statistics for evaluation (default true); without them evaluation uses batch statistics. */
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  /** Number of channels C. */
  readonly numFeatures: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Weight of the newest batch in the running statistics; null for a cumulative average. */
  readonly momentum: number | null;
  /** Whether the layer learns a per-channel scale and shift. */
  readonly affine: boolean;
  /** Whether the layer keeps running statistics for evaluation. */
  readonly trackRunningStats: boolean;
  /** Per-channel scale (gamma) [C], or null when not affine. */
  weight: Parameter | null;
  /** Per-channel shift (beta) [C], or null when not affine. */
  bias: Parameter | null;
  /** Host copy of num_batches_tracked's count, for momentum null on a device read asynchronously. */
  private batchesSeen = 0;

  /** Batch norm over numFeatures channels. */
  constructor(numFeatures: number, opts: BatchNormLayerOptions = {}) {
    super();
    checkFeatures(this.constructor.name, { numFeatures });
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new ValueError(this.constructor.name, `momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    const dt = { dtype: opts.dtype, device: opts.device };
    this.weight = this.affine ? Parameter.zeros([numFeatures], dt) : null;
    this.bias = this.affine ? Parameter.zeros([numFeatures], dt) : null;
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures], dt));
      this.registerBuffer('running_var', ones([numFeatures], dt));
      this.registerBuffer('num_batches_tracked', full([], 0, { dtype: 'int32', device: opts.device }));
    } else {
      this.registerBuffer('running_mean', null);
      this.registerBuffer('running_var', null);
      this.registerBuffer('num_batches_tracked', null);
    }
    this.resetParameters();
  }

  /** Running mean of each channel (the running_mean buffer), or null when not tracked. */
  get runningMean(): Tensor | null {
    return this.buffer('running_mean');
  }
  /** Running variance of each channel (the running_var buffer), or null when not tracked. */
  get runningVar(): Tensor | null {
    return this.buffer('running_var');
  }
  /** Number of batches seen in training (num_batches_tracked), or null when not tracked. */
  get numBatchesTracked(): Tensor | null {
    return this.buffer('num_batches_tracked');
  }

  /** Resets the running statistics to mean 0, variance 1 and no batches. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    noGrad(() => {
      this.runningMean!.zero_();
      this.runningVar!.fill_(1);
      this.numBatchesTracked!.zero_();
      this.batchesSeen = 0;
    });
  }

  /** Resets the running statistics, the scale to 1 and the shift to 0. */
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }

  protected abstract checkInput(x: Tensor): void;

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    if (x.shape[1] !== this.numFeatures) {
      throw new ShapeError(this.constructor.name, `expected ${this.numFeatures} channels in dim 1, got input ${fmtShape(x.shape)}`);
    }
    // as PyTorch: batch statistics while training, or always when no running statistics are kept; as
    // Keras, a layer set `trainable = false` runs in inference mode even while the model trains
    const training = this.training && this._trainableFlag;
    const useBatchStats = training || !this.trackRunningStats;
    let momentum = this.momentum ?? 0;
    if (training && this.trackRunningStats) {
      const nbt = this.numBatchesTracked!;
      noGrad(() => {
        const next = nbt.add(1);
        nbt.copy_(next);
        next.dispose();
      });
      // the cumulative average needs the count on the host: read it where reads are synchronous, count here elsewhere (the GPU)
      this.batchesSeen = nbt.backend.capabilities.syncRead ? nbt.item() : this.batchesSeen + 1;
      if (this.momentum === null) momentum = 1 / this.batchesSeen;
    }
    // in training the running statistics (when kept) are updated in place; in evaluation they normalise
    return batchNorm(x, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum,
      eps: this.eps,
    });
  }

  override extraRepr(): string {
    const m = this.momentum === null ? 'None' : pyNum(this.momentum);
    return `${this.numFeatures}, eps=${pyNum(this.eps)}, momentum=${m}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

/** Batch norm over [N, C] or [N, C, L] (per channel C). */
export class BatchNorm1d extends BatchNormBase {
  /** Throws a ShapeError unless x is [N, C] or [N, C, L]. */
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3)
      throw new ShapeError('BatchNorm1d', `expected 2D or 3D input [N, C] or [N, C, L], got ${fmtShape(x.shape)}`);
  }
}

/** Batch norm over [N, C, H, W] (per channel C). */
export class BatchNorm2d extends BatchNormBase {
  /** Throws a ShapeError unless x is [N, C, H, W]. */
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new ShapeError('BatchNorm2d', `expected 4D input [N, C, H, W], got ${fmtShape(x.shape)}`);
  }
}

export interface LayerNormLayerOptions extends LayerOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Learnable per-element scale (and shift) over normalizedShape (default true). */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, whether to learn the shift too (default true). */
  bias?: boolean;
}

/** Layer norm over the trailing normalizedShape dims. */
export class LayerNorm extends Module {
  /** The trailing shape normalised over. */
  readonly normalizedShape: readonly number[];
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Whether the layer learns a per-element scale (and shift). */
  readonly elementwiseAffine: boolean;
  /** Per-element scale [...normalizedShape], or null. */
  weight: Parameter | null;
  /** Per-element shift [...normalizedShape], or null. */
  bias: Parameter | null;

  /** Layer norm over the trailing normalizedShape. */
  constructor(normalizedShape: number | readonly number[], opts: LayerNormLayerOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (!this.normalizedShape.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new ValueError('LayerNorm', `normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
    }
    this.eps = opts.eps ?? 1e-5;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    const dt = { dtype: opts.dtype, device: opts.device };
    this.weight = this.elementwiseAffine ? Parameter.zeros(this.normalizedShape, dt) : null;
    this.bias = this.elementwiseAffine && opts.bias !== false ? Parameter.zeros(this.normalizedShape, dt) : null;
    this.resetParameters();
  }

  /** Resets the scale to 1 and the shift to 0. */
  resetParameters(): void {
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    const ns = this.normalizedShape.length === 1 ? `(${this.normalizedShape[0]},)` : `(${this.normalizedShape.join(', ')})`;
    return `${ns}, eps=${pyNum(this.eps)}, elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}
