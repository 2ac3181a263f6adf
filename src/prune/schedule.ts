// Gradual magnitude pruning during fit (Zhu & Gupta 2017, "To prune, or not to prune"; TF-MOT's
// PolynomialDecay schedule): the sparsity rises from `initialSparsity` at `beginStep` to
// `finalSparsity` at `endStep` along
//   s(t) = final + (initial - final) * (1 - (t - begin) / (end - begin))^power,
// pruning every `frequency` steps (and at endStep), so the network recovers between prunings. After
// every batch the pruned entries of the trainable tensors are set to zero again (applyMasks_), so
// what the optimizer moved there (momentum, weight decay) never comes back.

import { ValueError } from '../errors.js';
import { Callback, type Logs } from '../train/callback.js';
import type { Module } from '../nn/module.js';
import { applyMasks_, globalUnstructured, isPrunedParameter, l1Unstructured, prunableWeights } from './unstructured.js';

/** The polynomial-decay sparsity at `step` (TF-MOT's PolynomialDecay): initial before beginStep, final from endStep on. */
export function polynomialSparsity(
  step: number,
  s: { initialSparsity?: number; finalSparsity: number; beginStep?: number; endStep: number; power?: number },
): number {
  const initial = s.initialSparsity ?? 0;
  const begin = s.beginStep ?? 0;
  const power = s.power ?? 3;
  if (step <= begin) return initial;
  if (step >= s.endStep) return s.finalSparsity;
  const p = (step - begin) / (s.endStep - begin);
  return s.finalSparsity + (initial - s.finalSparsity) * (1 - p) ** power;
}

/** Options of PruningSchedule: target sparsity, steps, frequency, power and which parameters. */
export interface PruningScheduleOptions {
  /** The sparsity to reach (a fraction in [0, 1)). */
  finalSparsity: number;
  /** The sparsity at beginStep (default 0). */
  initialSparsity?: number;
  /** The step (batch, counted from 0 over the whole fit) where pruning starts (default 0). */
  beginStep?: number;
  /** The step where finalSparsity is reached (default: the last step of the fit, epochs * steps per epoch). */
  endStep?: number;
  /** Steps between prunings (default 100, TF-MOT's). */
  frequency?: number;
  /** The exponent of the schedule (default 3, as Zhu & Gupta). */
  power?: number;
  /** The [module, name] pairs to prune (default: the weight of every Linear and Conv of the model). */
  parameters?: [Module, string][];
  /** Rank all the parameters' entries together (default true, globalUnstructured), or each tensor alone. */
  global?: boolean;
}

function checkFraction(what: string, v: number, max: number): void {
  if (typeof v !== 'number' || !(v >= 0 && v < max)) throw new ValueError('PruningSchedule', `${what} must be in [0, ${max}), got ${v}`);
}

/**
 * A fit callback that prunes gradually (magnitude, unstructured) along a polynomial schedule and keeps
 * the masks in force after each optimizer step. The masks stay at the end: removeAllPruning(model)
 * makes them permanent. `history` holds [step, sparsity] of each pruning.
 */
export class PruningSchedule extends Callback {
  /** The options given. */
  readonly opts: PruningScheduleOptions;
  /** Steps counted since the start of the fit. */
  step = 0;
  /** [step, sparsity] of each pruning so far. */
  readonly history: [number, number][] = [];
  private endStep = 0;
  private targets: [Module, string][] = [];

  /** A gradual pruning schedule reaching opts.finalSparsity. */
  constructor(opts: PruningScheduleOptions) {
    super();
    checkFraction('finalSparsity', opts.finalSparsity, 1);
    checkFraction('initialSparsity', opts.initialSparsity ?? 0, 1);
    if ((opts.initialSparsity ?? 0) > opts.finalSparsity)
      throw new ValueError('PruningSchedule', `initialSparsity ${opts.initialSparsity} is above finalSparsity ${opts.finalSparsity}`);
    for (const k of ['beginStep', 'endStep', 'frequency'] as const) {
      const v = opts[k];
      if (v !== undefined && (!Number.isInteger(v) || v < (k === 'frequency' ? 1 : 0)))
        throw new ValueError('PruningSchedule', `${k} must be a ${k === 'frequency' ? 'positive' : 'non-negative'} integer, got ${v}`);
    }
    if (opts.endStep !== undefined && opts.endStep <= (opts.beginStep ?? 0))
      throw new ValueError('PruningSchedule', `endStep ${opts.endStep} must be after beginStep ${opts.beginStep ?? 0}`);
    this.opts = opts;
  }

  /** Resolves the parameters to prune and the end step from the fit. */
  override onTrainBegin(_logs: Logs): void {
    this.targets = this.opts.parameters ?? prunableWeights(this.model);
    if (this.targets.length === 0) throw new ValueError('PruningSchedule', `${this.model.name} has no Linear or Conv weight to prune`);
    const total = this.params.steps === undefined ? undefined : this.params.epochs * this.params.steps;
    const end = this.opts.endStep ?? (total === undefined ? undefined : total - 1);
    if (end === undefined) throw new ValueError('PruningSchedule', 'endStep is needed when fit does not know its steps per epoch');
    if (end <= (this.opts.beginStep ?? 0))
      throw new ValueError('PruningSchedule', `endStep ${end} must be after beginStep ${this.opts.beginStep ?? 0}`);
    this.endStep = end;
  }

  /** The sparsity the schedule asks for at `step`. */
  sparsityAt(step: number): number {
    return polynomialSparsity(step, { ...this.opts, endStep: this.endStep || (this.opts.endStep ?? 1) });
  }

  /** Prunes when the schedule says so, and keeps the masks in force after each step. */
  override onBatchEnd(_batch: number, _logs: Logs): void {
    const t = this.step++;
    const begin = this.opts.beginStep ?? 0;
    const freq = this.opts.frequency ?? 100;
    if (t >= begin && t <= this.endStep && ((t - begin) % freq === 0 || t === this.endStep)) {
      const s = this.sparsityAt(t);
      this.pruneTo(s);
      this.history.push([t, s]);
    }
    applyMasks_(this.model);
  }

  /** Raises the targets' sparsity to `s` (never lowers it: a pruned entry stays pruned). */
  pruneTo(s: number): void {
    const zerosNow = this.targets.map(([m, n]) => maskedCount(m, n));
    const sizes = this.targets.map(([m, n]) => sizeOf(m, n));
    if (this.opts.global ?? true) {
      const total = sizes.reduce((a, b) => a + b, 0);
      const want = Math.round(s * total) - zerosNow.reduce((a, b) => a + b, 0);
      globalUnstructured(this.targets, { count: Math.max(0, want) });
    } else {
      this.targets.forEach(([m, n], i) => {
        l1Unstructured(m, n, { count: Math.max(0, Math.round(s * sizes[i]!) - zerosNow[i]!) });
      });
    }
  }
}

function sizeOf(m: Module, n: string): number {
  const t = (m as unknown as Record<string, { size: number }>)[n];
  return t?.size ?? 0;
}

/** Entries the mask of m[n] prunes now (0 when not pruned). */
function maskedCount(m: Module, n: string): number {
  if (!isPrunedParameter(m, n)) return 0;
  const d = m.buffer(`${n}_mask`)!.dataSync();
  let z = 0;
  for (let i = 0; i < d.length; i++) if (d[i] === 0) z++;
  return z;
}
