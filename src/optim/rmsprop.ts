// RMSprop: torch.optim.RMSprop's update rule (PyTorch 1.13), with the centered variant (divide by
// an estimate of the gradient's variance instead of its second moment) and momentum.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroup, type ParamState, type Params } from './optimizer.js';

/** Hyperparameters of RMSprop (PyTorch's names and defaults). */
export interface RMSpropOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** Smoothing constant of the squared-gradient average (default 0.99). */
  alpha: number;
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Normalize by the estimated variance of the gradient rather than its second moment. */
  centered: boolean;
  /** Maximize the objective instead of minimizing it. */
  maximize: boolean;
}

/** RMSprop (Hinton), like torch.optim.RMSprop. */
export class RMSprop extends Optimizer<RMSpropOptions> {
  /** RMSprop over params (or groups of them), with PyTorch's defaults for any option not given. */
  constructor(params: Params<RMSpropOptions>, opts: Partial<RMSpropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, ...opts });
  }

  protected override validate(g: RMSpropOptions): void {
    super.validate(g);
    if (!(g.eps >= 0)) throw new ValueError('RMSprop', `invalid epsilon value: ${g.eps}`);
    if (!(g.momentum >= 0)) throw new ValueError('RMSprop', `invalid momentum value: ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new ValueError('RMSprop', `invalid weightDecay value: ${g.weightDecay}`);
    if (!(g.alpha >= 0)) throw new ValueError('RMSprop', `invalid alpha value: ${g.alpha}`);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<RMSpropOptions>, st: ParamState): void {
    st.step = ((st.step as number | undefined) ?? 0) + 1;
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    const sq = this.setState(
      st,
      'square_avg',
      this.zerosState(st, 'square_avg', p)
        .mul(g.alpha)
        .add(d.mul(d).mul(1 - g.alpha)),
    );
    let avg: Tensor;
    if (g.centered) {
      const ga = this.setState(
        st,
        'grad_avg',
        this.zerosState(st, 'grad_avg', p)
          .mul(g.alpha)
          .add(d.mul(1 - g.alpha)),
      );
      avg = sq.sub(ga.mul(ga)).sqrt();
    } else {
      avg = sq.sqrt();
    }
    avg = avg.add(g.eps);
    if (g.momentum > 0) {
      const buf = this.setState(st, 'momentum_buffer', this.zerosState(st, 'momentum_buffer', p).mul(g.momentum).add(d.div(avg)));
      p.copy_(p.sub(buf.mul(g.lr)));
    } else {
      p.copy_(p.sub(d.div(avg).mul(g.lr)));
    }
  }
}
