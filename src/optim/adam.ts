// Adam (L2 weight decay added to the gradient) and AdamW (weight decay applied to the weights,
// decoupled from the gradient): torch.optim.Adam / AdamW's update rules (PyTorch 1.13), amsgrad
// included. The step itself is an op (ops/adam-step.ts): the device's fused kernel where it has one,
// one pass over memory per parameter; `fused: false` forces the composed tensor ops, the reference.

import '../ops/tensor-methods.js';
import type { AdamHyper } from '../backend/backend.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { adamStep_ } from '../ops/adam-step.js';
import { Optimizer, type ParamGroup, type ParamState, type Params } from './optimizer.js';

/** Hyperparameters of Adam and AdamW (PyTorch's names and defaults). */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** L2 penalty (Adam) or decoupled weight decay (AdamW) (default 0; AdamW 1e-2). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad). */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing it. */
  maximize: boolean;
  /** Use the device's fused kernel (undefined: where it has one; false: always the composed ops). */
  fused?: boolean;
}

/** Adam (Kingma & Ba), like torch.optim.Adam; weightDecay adds an L2 term to the gradient. */
export class Adam extends Optimizer<AdamOptions> {
  /** AdamW decays the weights directly; Adam adds weightDecay * param to the gradient. */
  protected readonly decoupled: boolean = false;

  /** Adam over params (or groups of them), with PyTorch's defaults for any option not given. */
  constructor(params: Params<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...opts });
  }

  protected override validate(g: AdamOptions): void {
    super.validate(g);
    const name = this.constructor.name;
    if (!(g.eps >= 0)) throw new ValueError(name, `invalid epsilon value: ${g.eps}`);
    g.betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new ValueError(name, `invalid beta parameter at index ${i}: ${b}`);
    });
    if (!(g.weightDecay >= 0)) throw new ValueError(name, `invalid weightDecay value: ${g.weightDecay}`);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>, st: ParamState): void {
    const step = (st.step = ((st.step as number | undefined) ?? 0) + 1);
    const m = this.zerosState(st, 'exp_avg', p);
    const v = this.zerosState(st, 'exp_avg_sq', p);
    const vmax = g.amsgrad ? this.zerosState(st, 'max_exp_avg_sq', p) : null;
    const h: AdamHyper = {
      lr: g.lr,
      beta1: g.betas[0],
      beta2: g.betas[1],
      eps: g.eps,
      weightDecay: g.weightDecay,
      decoupled: this.decoupled,
      step,
      maximize: g.maximize,
    };
    adamStep_(p, grad, { m, v, vmax }, h, { fused: g.fused });
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter), like torch.optim.AdamW. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  /** AdamW over params (or groups of them): weightDecay defaults to 1e-2. */
  constructor(params: Params<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { weightDecay: 1e-2, ...opts });
  }
}
