// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay:
// torch.optim.SGD's update rule (PyTorch 1.13). The momentum buffer starts as the first gradient.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroup, type ParamState, type Params } from './optimizer.js';

/** Hyperparameters of SGD (PyTorch's names; lr has no default). */
export interface SGDOptions {
  /** Learning rate (required). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Dampening of the momentum (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Use Nesterov momentum. */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing it. */
  maximize: boolean;
}

/** Stochastic gradient descent with optional momentum and Nesterov, like torch.optim.SGD. */
export class SGD extends Optimizer<SGDOptions> {
  /** SGD over params (or groups of them); lr is required, as in PyTorch. */
  constructor(params: Params<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    if (opts?.lr === undefined) throw new ValueError('SGD', 'lr is required');
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts });
  }

  protected override validate(g: SGDOptions): void {
    super.validate(g);
    if (!(g.momentum >= 0)) throw new ValueError('SGD', `invalid momentum value: ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new ValueError('SGD', `invalid weightDecay value: ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      throw new ValueError('SGD', 'nesterov momentum requires a momentum and zero dampening');
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>, st: ParamState): void {
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    if (g.momentum !== 0) {
      const prev = st.momentum_buffer;
      const buf =
        prev === undefined
          ? this.setState(st, 'momentum_buffer', d.contiguous().clone())
          : this.setState(st, 'momentum_buffer', (prev as Tensor).mul(g.momentum).add(d.mul(1 - g.dampening)));
      d = g.nesterov ? d.add(buf.mul(g.momentum)) : buf;
    }
    p.copy_(p.sub(d.mul(g.lr)));
  }
}
