// Learning-rate schedules in torch.optim.lr_scheduler's shape. A scheduler owns no parameters: it
// rewrites `optimizer.paramGroups[i].lr` each time step() is called (once per epoch, or once per
// iteration for CosineWithWarmup as nanoGPT does).
//
// Every epoch-based schedule here is written in PyTorch's closed form (lr as a function of the step
// count and the group's initial lr), so a restored scheduler needs nothing but `lastEpoch` and
// `baseLrs`. PyTorch's default "chainable" forms give the same numbers as long as nothing else
// changes the learning rate between steps; composing two schedulers on one optimizer is not supported.

import { ValueError } from '../errors.js';
import type { Optimizer } from './optimizer.js';

/**
 * Any optimizer, whatever its options.
 * @inline
 */
// biome-ignore lint/suspicious/noExplicitAny: a scheduler drives optimizers of any option type
type AnyOptimizer = Optimizer<any>;

/** A serialisable snapshot of a scheduler: its counters and hyperparameters (no optimizer). */
export type SchedulerStateDict = Record<string, unknown>;

/** The group's lr at construction, stored on the group under `initialLr` as PyTorch stores `initial_lr`. */
type GroupWithInitial = { lr: number; initialLr?: number };

function checkPositiveInt(op: string, name: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new ValueError(op, `${name} must be an integer >= ${min}, got ${v}`);
}

function perGroup(op: string, name: string, v: number | readonly number[], n: number): number[] {
  const list = typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];
  if (list.length !== n) throw new ValueError(op, `expected ${n} values of ${name} (one per parameter group), got ${list.length}`);
  for (const x of list) if (!(x >= 0)) throw new ValueError(op, `${name} must be >= 0, got ${x}`);
  return list;
}

/**
 * The base of the epoch-indexed schedules. Subclasses give `lrAt(epoch, baseLr, group)`; the
 * constructor applies the lr of step 0 at once (as PyTorch's does), and each step() advances one.
 */
export abstract class LRScheduler {
  /** The optimizer whose learning rates this schedules. */
  readonly optimizer: AnyOptimizer;
  /** Each group's learning rate before any scheduling. */
  baseLrs: number[];
  /** Steps taken; 0 right after construction. */
  lastEpoch: number;
  /** The learning rates of the last step, per group. */
  protected lastLr: number[] = [];
  /** The class name, used in error messages. */
  protected readonly name: string;

  /** A schedule of optimizer's learning rates; lastEpoch >= 0 resumes one (each group then needs initialLr). */
  constructor(optimizer: AnyOptimizer, lastEpoch = -1) {
    this.name = new.target.name;
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) throw new ValueError(this.name, 'expected an optimizer');
    const groups = optimizer.paramGroups as GroupWithInitial[];
    if (lastEpoch === -1) {
      for (const g of groups) g.initialLr = g.lr;
    } else {
      groups.forEach((g, i) => {
        if (g.initialLr === undefined)
          throw new ValueError(this.name, `lastEpoch is ${lastEpoch} but parameter group ${i} has no initialLr to resume from`);
      });
    }
    this.optimizer = optimizer;
    this.baseLrs = groups.map((g) => g.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /** Called at the end of a subclass constructor: validation first, then the lr of step 0. */
  protected init(): void {
    this.step();
  }

  /** The learning rate of group `i` at step `epoch`. */
  protected abstract lrAt(epoch: number, baseLr: number, i: number): number;

  /** Advances one step and writes the new learning rates into the optimizer. */
  step(): void {
    this.lastEpoch += 1;
    const lrs = this.baseLrs.map((b, i) => this.lrAt(this.lastEpoch, b, i));
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = lrs[i]!;
    });
    this.lastLr = lrs;
  }

  /** The learning rates the last step() set, one per parameter group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Counters and hyperparameters; restore with loadStateDict(). */
  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = {};
    for (const [k, v] of Object.entries(this)) {
      if (k === 'optimizer' || k === 'name' || typeof v === 'function') continue;
      out[k] = structuredClone(v);
    }
    return out;
  }

  /** Restores a stateDict(). The optimizer's learning rates are left as they are (its own stateDict holds them). */
  loadStateDict(sd: SchedulerStateDict): void {
    if (typeof sd !== 'object' || sd === null) throw new ValueError(this.name, 'loadStateDict expects an object from stateDict()');
    for (const [k, v] of Object.entries(sd)) {
      if (k === 'optimizer' || k === 'name' || typeof v === 'function') continue;
      if (!(k in this)) throw new ValueError(this.name, `unexpected key '${k}' in the state dict`);
      (this as unknown as Record<string, unknown>)[k] = structuredClone(v);
    }
  }
}

/** lr = base * gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  /** Epochs between decays. */
  stepSize: number;
  /** Multiplier applied at each decay. */
  gamma: number;
  /** Decays the learning rate by gamma every stepSize epochs. */
  constructor(optimizer: AnyOptimizer, stepSize: number, gamma = 0.1, lastEpoch = -1) {
    super(optimizer, lastEpoch);
    checkPositiveInt(this.name, 'stepSize', stepSize);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = base * gamma^(number of milestones <= epoch). */
export class MultiStepLR extends LRScheduler {
  /** Epochs at which the learning rate decays, ascending. */
  milestones: number[];
  /** Multiplier applied at each milestone. */
  gamma: number;
  /** Decays the learning rate by gamma at each milestone. */
  constructor(optimizer: AnyOptimizer, milestones: readonly number[], gamma = 0.1, lastEpoch = -1) {
    super(optimizer, lastEpoch);
    for (const m of milestones) checkPositiveInt(this.name, 'each milestone', m, 0);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.gamma = gamma;
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    let n = 0;
    for (const m of this.milestones) if (m <= epoch) n++;
    return base * this.gamma ** n;
  }
}

/** lr = base * gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  /** Multiplier applied every epoch. */
  gamma: number;
  /** Decays the learning rate by gamma every epoch. */
  constructor(optimizer: AnyOptimizer, gamma: number, lastEpoch = -1) {
    super(optimizer, lastEpoch);
    if (!(gamma > 0)) throw new ValueError(this.name, `gamma must be > 0, got ${gamma}`);
    this.gamma = gamma;
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** epoch;
  }
}

/**
 * lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2: from base down to etaMin over
 * tMax steps (SGDR without restarts). Past tMax the cosine goes on, rising again, as PyTorch's does.
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Steps from the base rate down to etaMin. */
  tMax: number;
  /** The lowest learning rate. */
  etaMin: number;
  /** Anneals the learning rate from its base to etaMin over tMax steps. */
  constructor(optimizer: AnyOptimizer, tMax: number, etaMin = 0, lastEpoch = -1) {
    super(optimizer, lastEpoch);
    checkPositiveInt(this.name, 'tMax', tMax);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.init();
  }
  protected lrAt(epoch: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/** lr = base * fn(epoch), for any schedule the others do not cover. */
export class LambdaLR extends LRScheduler {
  private readonly fn: (epoch: number, group: number) => number;
  /** Sets the learning rate to base * fn(epoch, group). */
  constructor(optimizer: AnyOptimizer, fn: (epoch: number, group: number) => number, lastEpoch = -1) {
    super(optimizer, lastEpoch);
    if (typeof fn !== 'function') throw new ValueError(this.name, 'expected a function of the epoch');
    this.fn = fn;
    this.init();
  }
  protected lrAt(epoch: number, base: number, i: number): number {
    return base * this.fn(epoch, i);
  }
}

/** Options of CosineWithWarmup: warmup steps, total steps and the floor. */
export interface CosineWithWarmupOptions {
  /** Steps of linear warmup from base/(warmupSteps+1) up to base. */
  warmupSteps: number;
  /** The step at which the cosine reaches minLr; after it the lr stays at minLr (nanoGPT's lr_decay_iters). */
  totalSteps: number;
  /** The floor, for every group or one per group (default 0). */
  minLr?: number | readonly number[];
}

/**
 * nanoGPT's get_lr, stepped once per iteration: a linear warmup, lr = base * (it+1) / (warmupSteps+1)
 * for it < warmupSteps; then a cosine from base down to minLr at totalSteps; minLr after that.
 */
export class CosineWithWarmup extends LRScheduler {
  /** Steps of linear warmup. */
  warmupSteps: number;
  /** The step at which the cosine reaches the floor. */
  totalSteps: number;
  /** The floor, per group. */
  minLrs: number[];
  /** Linear warmup then cosine decay, stepped per iteration. */
  constructor(optimizer: AnyOptimizer, opts: CosineWithWarmupOptions, lastEpoch = -1) {
    super(optimizer, lastEpoch);
    const { warmupSteps, totalSteps, minLr = 0 } = opts ?? ({} as CosineWithWarmupOptions);
    checkPositiveInt(this.name, 'warmupSteps', warmupSteps, 0);
    checkPositiveInt(this.name, 'totalSteps', totalSteps);
    if (totalSteps <= warmupSteps)
      throw new ValueError(this.name, `totalSteps (${totalSteps}) must be greater than warmupSteps (${warmupSteps})`);
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.minLrs = perGroup(this.name, 'minLr', minLr, this.baseLrs.length);
    this.init();
  }
  protected lrAt(it: number, base: number, i: number): number {
    const minLr = this.minLrs[i]!;
    if (it < this.warmupSteps) return (base * (it + 1)) / (this.warmupSteps + 1);
    if (it > this.totalSteps) return minLr;
    const ratio = (it - this.warmupSteps) / (this.totalSteps - this.warmupSteps);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (base - minLr);
  }
}

/** Options of ReduceLROnPlateau, as PyTorch's. */
export interface ReduceLROnPlateauOptions {
  /** 'min': lower is better (a loss); 'max': higher is better (an accuracy). Default 'min'. */
  mode?: 'min' | 'max';
  /** lr *= factor on a plateau; must be < 1. Default 0.1. */
  factor?: number;
  /** Epochs with no improvement tolerated before reducing. Default 10. */
  patience?: number;
  /** How much better counts as an improvement. Default 1e-4. */
  threshold?: number;
  /** 'rel': better than best * (1 ∓ threshold); 'abs': better than best ∓ threshold. Default 'rel'. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. Default 0. */
  cooldown?: number;
  /** The floor, for every group or one per group. Default 0. */
  minLr?: number | readonly number[];
  /** A reduction smaller than eps is skipped. Default 1e-8. */
  eps?: number;
}

/** Lowers the learning rate when a metric stops improving; step(metric) once per epoch. */
export class ReduceLROnPlateau {
  /** The optimizer whose learning rates this lowers. */
  readonly optimizer: AnyOptimizer;
  /** 'min' when lower is better (a loss), 'max' when higher is (an accuracy). */
  mode: 'min' | 'max';
  /** lr *= factor on a plateau. */
  factor: number;
  /** Epochs without improvement tolerated before reducing. */
  patience: number;
  /** How much better counts as an improvement. */
  threshold: number;
  /** 'rel' compares with best * (1 ∓ threshold), 'abs' with best ∓ threshold. */
  thresholdMode: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. */
  cooldown: number;
  /** The floor, per group. */
  minLrs: number[];
  /** A reduction smaller than this is skipped. */
  eps: number;
  /** The best metric value seen. */
  best: number;
  /** Epochs since the last improvement. */
  numBadEpochs = 0;
  /** Epochs left in the current cooldown. */
  cooldownCounter = 0;
  /** Number of step() calls so far. */
  lastEpoch = 0;
  /** The learning rates after the last step, per group. */
  protected lastLr: number[];

  /** Lowers optimizer's learning rates on a plateau of the metric step() is given. */
  constructor(optimizer: AnyOptimizer, opts: ReduceLROnPlateauOptions = {}) {
    const op = 'ReduceLROnPlateau';
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) throw new ValueError(op, 'expected an optimizer');
    const {
      mode = 'min',
      factor = 0.1,
      patience = 10,
      threshold = 1e-4,
      thresholdMode = 'rel',
      cooldown = 0,
      minLr = 0,
      eps = 1e-8,
    } = opts;
    if (mode !== 'min' && mode !== 'max') throw new ValueError(op, `mode must be 'min' or 'max', got '${String(mode)}'`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs')
      throw new ValueError(op, `thresholdMode must be 'rel' or 'abs', got '${String(thresholdMode)}'`);
    if (!(factor < 1) || !(factor >= 0)) throw new ValueError(op, `factor must be in [0, 1), got ${factor}`);
    checkPositiveInt(op, 'patience', patience, 0);
    checkPositiveInt(op, 'cooldown', cooldown, 0);
    this.optimizer = optimizer;
    this.mode = mode;
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.cooldown = cooldown;
    this.minLrs = perGroup(op, 'minLr', minLr, optimizer.paramGroups.length);
    this.eps = eps;
    this.best = mode === 'min' ? Infinity : -Infinity;
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  private isBetter(a: number): boolean {
    const { best, threshold } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return this.thresholdMode === 'rel' ? a > best * (1 + threshold) : a > best + threshold;
  }

  /** Records this epoch's metric; reduces the learning rates after `patience` epochs without improvement. */
  step(metric?: number | { item(): number }): void {
    if (metric === undefined || metric === null)
      throw new ValueError('ReduceLROnPlateau', 'step() needs the metric to watch, e.g. scheduler.step(valLoss)');
    const current = typeof metric === 'number' ? metric : metric.item();
    if (Number.isNaN(current)) throw new ValueError('ReduceLROnPlateau', 'step() got NaN for the metric');
    this.lastEpoch += 1;
    if (this.isBetter(current)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const next = Math.max(g.lr * this.factor, this.minLrs[i]!);
        if (g.lr - next > this.eps) g.lr = next;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The learning rates after the last step, per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The scheduler's counters and settings, for checkpoints. */
  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = {};
    for (const [k, v] of Object.entries(this)) if (k !== 'optimizer') out[k] = structuredClone(v);
    return out;
  }

  /** Restores counters and settings from stateDict(). */
  loadStateDict(sd: SchedulerStateDict): void {
    if (typeof sd !== 'object' || sd === null)
      throw new ValueError('ReduceLROnPlateau', 'loadStateDict expects an object from stateDict()');
    for (const [k, v] of Object.entries(sd)) {
      if (k === 'optimizer') continue;
      if (!(k in this)) throw new ValueError('ReduceLROnPlateau', `unexpected key '${k}' in the state dict`);
      (this as unknown as Record<string, unknown>)[k] = structuredClone(v);
    }
  }
}
