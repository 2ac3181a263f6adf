// The Optimizer base class, shaped like torch.optim.Optimizer: parameter groups with their own
// hyperparameters, per-parameter state, step(), zeroGrad(), stateDict()/loadStateDict().
//
// State tensors are kept (mox.keep) so they outlive every scope, like parameters and gradients. Each
// step runs inside a scope and noGrad, so its temporaries are freed and nothing is recorded; parameters
// are written in place, so a parameter is the same Tensor object before and after a step.

import '../ops/tensor-methods.js';
import { ValueError, DTypeError, ShapeError, fmtShape } from '../errors.js';
import { isFloat } from '../base/dtype.js';
import { keep, pin, scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../tensor/create.js';
import { enableGrad, noGrad } from '../autograd/grad-mode.js';

/** Hyperparameters every optimizer has; each optimizer adds its own. */
export interface BaseHyper {
  /** Learning rate. */
  lr: number;
}

/** A group of parameters sharing hyperparameters (PyTorch's param_groups entry). */
export type ParamGroup<H extends BaseHyper> = H & {
  /** The group's parameters. */
  params: Tensor[];
};

/** What a constructor accepts for one group: its parameters and any hyperparameters to override. */
export type ParamGroupSpec<H extends BaseHyper> = Partial<H> & {
  /** The group's parameters. */
  params: Iterable<Tensor>;
};

/** A constructor's first argument: parameters, or groups of them. */
export type Params<H extends BaseHyper> = Iterable<Tensor> | readonly ParamGroupSpec<H>[];

/** One parameter's state: the step count and state tensors, under PyTorch's names (exp_avg, ...). */
export type ParamState = Record<string, Tensor | number>;

/**
 * A snapshot of an optimizer: `state` is keyed by the parameter's index counted across groups in
 * order (as PyTorch numbers them) and `paramGroups` hold the hyperparameters with those indices.
 */
export interface OptimizerStateDict {
  /** Per-parameter state (step count, moment tensors), by parameter index. */
  state: Record<number, ParamState>;
  /** Each group's hyperparameters and the indices of its parameters. */
  paramGroups: (Record<string, unknown> & {
    /** Indices of the group's parameters, counted across groups. */
    params: number[];
  })[];
}

/** Base class of the optimizers, like torch.optim.Optimizer: parameter groups, per-parameter state, step and zeroGrad. */
export abstract class Optimizer<H extends BaseHyper = BaseHyper> {
  /** The hyperparameters given at construction (with defaults filled in), used for groups that do not override them. */
  readonly defaults: H;
  /** The parameter groups, each with its own hyperparameters (PyTorch's param_groups). */
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter state, created on a parameter's first update. */
  protected readonly state = new Map<Tensor, ParamState>();
  private readonly name: string;

  /** An optimizer over params (or groups of them), with `defaults` for the hyperparameters a group does not set. */
  constructor(params: Params<H>, defaults: H) {
    this.name = new.target.name;
    this.defaults = { ...defaults };
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<H>>)];
    if (list.length === 0) throw new ValueError(this.name, 'optimizer got an empty parameter list');
    const groups =
      list[0] instanceof Tensor ? [{ params: list as Tensor[] } as unknown as ParamGroupSpec<H>] : (list as ParamGroupSpec<H>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; hyperparameters it leaves out take the optimizer's defaults. */
  addParamGroup(spec: ParamGroupSpec<H>): void {
    if (spec instanceof Tensor || typeof spec !== 'object' || spec === null || !('params' in spec)) {
      throw new ValueError(this.name, 'a parameter group must be an object with a `params` list');
    }
    const params = spec.params instanceof Tensor ? [spec.params] : [...spec.params];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of params) {
      if (!(p instanceof Tensor)) throw new ValueError(this.name, 'parameters must be tensors');
      if (!isFloat(p.dtype)) throw new DTypeError(this.name, `can only optimize floating-point tensors, got ${p.dtype}`);
      if (!p.isLeaf) throw new ValueError(this.name, "can't optimize a non-leaf tensor");
      if (seen.has(p)) throw new ValueError(this.name, 'some parameters appear in more than one parameter group');
      seen.add(p);
    }
    const group = { ...this.defaults, ...spec, params } as ParamGroup<H>;
    this.validate(group);
    // the optimizer holds its parameters for every later step, used or not: never freed automatically
    for (const p of params) pin(p);
    this.paramGroups.push(group);
  }

  /** Throws a ValueError for an out-of-range hyperparameter. */
  protected validate(group: H): void {
    if (!(group.lr >= 0)) throw new ValueError(this.name, `invalid learning rate: ${group.lr}`);
  }

  /** Updates one parameter in place from its gradient; runs under noGrad inside a scope. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /**
   * One optimization step over every parameter that has a gradient. `closure`, if given, re-evaluates
   * the model and returns the loss (with gradients enabled); its result is returned.
   */
  step<T = undefined>(closure?: () => T): T | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    scope(() =>
      noGrad(() => {
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            if (!p.grad) continue;
            let st = this.state.get(p);
            if (!st) this.state.set(p, (st = {}));
            this.update(p, p.grad, group, st);
          }
        }
      }),
    );
    return loss;
  }

  /**
   * Clears the gradients. By default sets them to null and frees their memory (PyTorch's
   * set_to_none=True); with setToNone false, fills them with zeros instead.
   */
  zeroGrad(setToNone = true): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        const g = p.grad;
        if (!g) continue;
        if (setToNone) {
          p.grad = null;
          g.dispose();
        } else {
          g.zero_();
        }
      }
    }
  }

  /** The first group's learning rate. */
  get lr(): number {
    return this.paramGroups[0]!.lr;
  }

  /** Sets every group's learning rate (set `paramGroups[i].lr` for one group). */
  set lr(value: number) {
    if (!(value >= 0)) throw new ValueError(this.name, `invalid learning rate: ${value}`);
    for (const g of this.paramGroups) g.lr = value;
  }

  /** Replaces a state tensor by a new one, kept past the step's scope; frees the old one. */
  protected setState(st: ParamState, key: string, t: Tensor): Tensor {
    const old = st[key];
    st[key] = keep(t);
    if (old instanceof Tensor && old !== t) old.dispose();
    return t;
  }

  /** A state tensor of zeros shaped like `p`, created on first use. */
  protected zerosState(st: ParamState, key: string, p: Tensor): Tensor {
    const t = st[key];
    if (t instanceof Tensor) return t;
    return this.setState(st, key, zerosLike(p));
  }

  /**
   * A copy of the state and hyperparameters. State tensors are cloned, so the snapshot does not
   * change as training goes on (PyTorch hands out live references; mox updates some state in place).
   */
  /** Frees the state tensors (moments, momentum buffers); stepping again starts from fresh state. */
  dispose(): void {
    for (const st of this.state.values()) {
      for (const v of Object.values(st)) if (typeof v !== 'number') v.dispose();
    }
    this.state.clear();
  }

  /** A snapshot of the state and hyperparameters, keyed by parameter index, for checkpoints. */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    noGrad(() => {
      for (const group of this.paramGroups) {
        const ids: number[] = [];
        for (const p of group.params) {
          const st = this.state.get(p);
          if (st) {
            const copy: ParamState = {};
            for (const [k, v] of Object.entries(st)) copy[k] = v instanceof Tensor ? v.clone() : v;
            state[index] = copy;
          }
          ids.push(index++);
        }
        const { params: _params, ...hyper } = group;
        paramGroups.push({ ...structuredClone(hyper), params: ids });
      }
    });
    return { state, paramGroups };
  }

  /** Restores a stateDict(): the groups must hold the same number of parameters as this optimizer's. */
  loadStateDict(sd: OptimizerStateDict): void {
    const groups = sd.paramGroups;
    if (!Array.isArray(groups) || groups.length !== this.paramGroups.length) {
      throw new ValueError(
        this.name,
        `loaded state dict has ${groups?.length} parameter groups, the optimizer has ${this.paramGroups.length}`,
      );
    }
    const byIndex = new Map<number, Tensor>();
    groups.forEach((g, i) => {
      const mine = this.paramGroups[i]!;
      if (g.params.length !== mine.params.length) {
        throw new ValueError(
          this.name,
          `loaded parameter group ${i} has ${g.params.length} parameters, the optimizer's has ${mine.params.length}`,
        );
      }
      g.params.forEach((id, j) => byIndex.set(id, mine.params[j]!));
    });
    const hypers = groups.map(({ params: _params, ...hyper }, i) => {
      const h = structuredClone(hyper);
      this.validate({ ...this.paramGroups[i]!, ...h });
      return h;
    });
    const next = new Map<Tensor, ParamState>();
    const disposeAll = (m: Map<Tensor, ParamState>): void => {
      for (const st of m.values()) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
      m.clear();
    };
    try {
      scope(() => noGrad(() => this.copyState(sd, byIndex, next)));
    } catch (e) {
      disposeAll(next);
      throw e;
    }
    disposeAll(this.state);
    for (const [p, st] of next) this.state.set(p, st);
    hypers.forEach((h, i) => Object.assign(this.paramGroups[i]!, h));
  }

  /** Copies the loaded state tensors (kept, cast to each parameter's dtype) into `next`. */
  private copyState(sd: OptimizerStateDict, byIndex: Map<number, Tensor>, next: Map<Tensor, ParamState>): void {
    for (const [key, st] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(key));
      if (!p) throw new ValueError(this.name, `loaded state refers to parameter ${key}, which no group holds`);
      const copy: ParamState = {};
      next.set(p, copy); // before filling, so a failure part-way still frees what was copied
      for (const [k, v] of Object.entries(st)) {
        if (v instanceof Tensor) {
          if (v.shape.join() !== p.shape.join()) {
            throw new ShapeError(
              this.name,
              `state '${k}' of parameter ${key} has shape ${fmtShape(v.shape)}, the parameter ${fmtShape(p.shape)}`,
            );
          }
          copy[k] = keep(v.to(p.dtype).contiguous().clone());
        } else {
          copy[k] = v;
        }
      }
    }
  }
}
