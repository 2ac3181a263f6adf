// Keras's stock callbacks: EarlyStopping, ModelCheckpoint (safetensors), LearningRateScheduler, a
// wrapper that steps a mox.optim scheduler, and TerminateOnNaN. The CSV/JSONL loggers are in loggers.ts.

import '../ops/tensor-methods.js';
import * as path from 'node:path';
import * as fsp from 'node:fs/promises';
import { ValueError } from '../errors.js';
import { keep } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { maxNorm_ } from '../optim/clip.js';
import { saveSafetensors } from '../io/safetensors-tensors.js';
import { Callback, type Logs } from './callback.js';

/** Whether a monitored value should go down ('min'), up ('max'), or follow its name ('auto': up for accuracies). */
export type MonitorMode = 'auto' | 'min' | 'max';

/** 'auto' means max for accuracy-like metrics (accuracy, precision, recall, f1, auc), min otherwise. */
function resolveMode(mode: MonitorMode, monitor: string): 'min' | 'max' {
  if (mode === 'min' || mode === 'max') return mode;
  if (mode !== 'auto') throw new ValueError('callback', `mode must be 'auto', 'min' or 'max', got '${mode as string}'`);
  return /acc|precision|recall|f1|auc/i.test(monitor) ? 'max' : 'min';
}

const warned = new Set<string>();
function warnMissing(who: string, monitor: string, logs: Logs): void {
  const key = `${who}:${monitor}`;
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(`${who}: the monitored value '${monitor}' is not in the logs (available: ${Object.keys(logs).join(', ')}); skipping`);
}

/** Clones of the model's parameters and buffers, kept past every scope. */
function snapshot(model: Module): Record<string, Tensor> {
  return noGrad(() => Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, keep(t.clone())])));
}

function disposeAll(sd: Record<string, Tensor> | null): void {
  if (sd) for (const t of Object.values(sd)) t.dispose();
}

/** The model's optimizer, or a clear error for a callback that needs one. */
function optimizerOf(who: string, model: Module): Optimizer {
  const opt = model.optimizer;
  if (!opt) throw new ValueError(who, 'the model has no optimizer: call model.compile() first');
  return opt;
}

/** Options of EarlyStopping, as Keras's: monitor, minDelta, patience, mode, baseline, restoreBestWeights. */
export interface EarlyStoppingOptions {
  /** The logged value to watch (default 'val_loss'). */
  monitor?: string;
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** Epochs without improvement before stopping (default 0). */
  patience?: number;
  /** Whether the value should go down or up (default 'auto'). */
  mode?: MonitorMode;
  /** Stop at once if the value does not beat this. */
  baseline?: number;
  /** Put back the weights of the best epoch when training ends (stopped early or not). */
  restoreBestWeights?: boolean;
  /** Epochs to wait before watching at all (warm-up). */
  startFromEpoch?: number;
  /** 1: a line when training stops; 0: silent (default). */
  verbose?: 0 | 1;
}

/** Stops training once the monitored value has not improved for `patience` epochs (Keras's rules). */
export class EarlyStopping extends Callback {
  /** The logged value watched. */
  readonly monitor: string;
  /** Smallest change that counts as an improvement. */
  readonly minDelta: number;
  /** Epochs without improvement before stopping. */
  readonly patience: number;
  /** Whether lower or higher is better. */
  readonly mode: 'min' | 'max';
  /** Epochs since the last improvement. */
  wait = 0;
  /** The epoch training stopped at, or -1. */
  stoppedEpoch = -1;
  /** The best value seen. */
  best = Infinity;
  /** The epoch of the best value, or -1. */
  bestEpoch = -1;
  private bestWeights: Record<string, Tensor> | null = null;

  /** Early stopping with Keras's defaults for any option not given. */
  constructor(private readonly opts: EarlyStoppingOptions = {}) {
    super();
    this.monitor = opts.monitor ?? 'val_loss';
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.patience = opts.patience ?? 0;
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
  }

  private improved(current: number, reference: number): boolean {
    return this.mode === 'min' ? current < reference - this.minDelta : current > reference + this.minDelta;
  }

  override onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = -1;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.bestEpoch = -1;
    disposeAll(this.bestWeights);
    this.bestWeights = null;
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    const current = logs[this.monitor];
    if (current === undefined) {
      warnMissing('EarlyStopping', this.monitor, logs);
      return;
    }
    if (epoch < (this.opts.startFromEpoch ?? 0)) return;
    this.wait++;
    if (this.improved(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.opts.restoreBestWeights) {
        disposeAll(this.bestWeights);
        this.bestWeights = snapshot(this.model);
      }
      const baseline = this.opts.baseline;
      if (baseline === undefined || this.improved(current, baseline)) {
        this.wait = 0;
        return;
      }
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
    }
  }

  override onTrainEnd(): void {
    if (this.stoppedEpoch >= 0 && this.opts.verbose) console.log(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    if (this.bestWeights) {
      if (this.opts.verbose) console.log(`Restoring model weights from the end of the best epoch: ${this.bestEpoch + 1}.`);
      this.model.loadStateDict(this.bestWeights);
      disposeAll(this.bestWeights);
      this.bestWeights = null;
    }
  }
}

/** Options of ModelCheckpoint: the path pattern, monitor, saveBestOnly, mode and verbosity. */
export interface ModelCheckpointOptions {
  /**
   * Where to write; may hold Keras-style fields filled from the epoch (counted from 1) and the logs:
   * 'ckpt/model-{epoch:02d}-{val_loss:.4f}.safetensors'.
   */
  path: string;
  /** The logged value saveBestOnly compares (default 'val_loss'). */
  monitor?: string;
  /** Write only when the monitored value improves on the best so far. */
  saveBestOnly?: boolean;
  /** Whether the value should go down or up (default 'auto'). */
  mode?: MonitorMode;
  /** 1: a line per file written; 0: silent (default). */
  verbose?: 0 | 1;
}

/** Fills '{epoch}', '{epoch:02d}', '{val_loss:.2f}' style fields. */
export function formatPath(template: string, epoch: number, logs: Logs): string {
  return template.replace(
    /\{(\w+)(?::(0?)(\d*)(?:\.(\d+))?([dfe]?))?\}/g,
    (whole, key: string, zero: string, width: string, prec: string, kind: string) => {
      const v = key === 'epoch' ? epoch + 1 : logs[key];
      if (v === undefined)
        throw new ValueError(
          'ModelCheckpoint',
          `path field ${whole} names '${key}', which is not in the logs (${['epoch', ...Object.keys(logs)].join(', ')})`,
        );
      let s =
        kind === 'e'
          ? v.toExponential(prec ? Number(prec) : 6)
          : kind === 'f' || prec
            ? v.toFixed(prec ? Number(prec) : 6)
            : kind === 'd'
              ? String(Math.trunc(v))
              : String(v);
      if (width) s = s.padStart(Number(width), zero ? '0' : ' ');
      return s;
    },
  );
}

/**
 * Saves the model's stateDict() as a safetensors file at the end of each epoch (or only on
 * improvement with saveBestOnly). Writes are atomic; the file's metadata holds the epoch and the
 * logs. Load it back with model.loadStateDict((await mox.loadSafetensors(file)).tensors).
 */
export class ModelCheckpoint extends Callback {
  /** The logged value compared with saveBestOnly. */
  readonly monitor: string;
  /** Whether lower or higher is better. */
  readonly mode: 'min' | 'max';
  /** The best value seen. */
  best: number;
  /** The files written, in order. */
  readonly saved: string[] = [];

  /** Checkpoints at opts.path. */
  constructor(private readonly opts: ModelCheckpointOptions) {
    super();
    if (!opts || typeof opts.path !== 'string' || !opts.path) throw new ValueError('ModelCheckpoint', 'a path is required');
    this.monitor = opts.monitor ?? 'val_loss';
    this.mode = resolveMode(opts.mode ?? 'auto', this.monitor);
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.opts.saveBestOnly) {
      const current = logs[this.monitor];
      if (current === undefined) return warnMissing('ModelCheckpoint', this.monitor, logs);
      const better = this.mode === 'min' ? current < this.best : current > this.best;
      if (!better) return;
      if (this.opts.verbose) console.log(`Epoch ${epoch + 1}: ${this.monitor} improved from ${this.best} to ${current}, saving model`);
      this.best = current;
    }
    const file = formatPath(this.opts.path, epoch, logs);
    await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const metadata: Record<string, string> = { epoch: String(epoch + 1) };
    for (const [k, v] of Object.entries(logs)) metadata[k] = String(v);
    await saveSafetensors(file, this.model.stateDict(), metadata);
    this.saved.push(file);
  }
}

/**
 * Sets the optimizer's learning rate at the start of each epoch to schedule(epoch, lr), as Keras's
 * LearningRateScheduler. The rate in effect is logged as 'lr'.
 */
export class LearningRateScheduler extends Callback {
  /** Sets the learning rate from schedule(epoch, lr) each epoch. */
  constructor(
    private readonly schedule: (epoch: number, lr: number) => number,
    private readonly verbose: 0 | 1 = 0,
  ) {
    super();
  }

  override onEpochBegin(epoch: number): void {
    const opt = optimizerOf('LearningRateScheduler', this.model);
    const lr = this.schedule(epoch, opt.lr);
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
      throw new ValueError('LearningRateScheduler', `the schedule returned ${lr} for epoch ${epoch}; expected a finite number >= 0`);
    }
    opt.lr = lr;
    if (this.verbose) console.log(`\nEpoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${lr}.`);
  }

  override onEpochEnd(_epoch: number, logs: Logs): void {
    logs.lr = optimizerOf('LearningRateScheduler', this.model).lr;
  }
}

/** Anything with step(): the mox.optim schedulers (ReduceLROnPlateau's step takes the metric). */
export interface SteppableScheduler {
  /** Advances the schedule; plateau schedulers take the monitored value. */
  step(metric: number): void;
}

/** Options of SchedulerCallback: step per epoch or per batch, and the value a plateau scheduler watches. */
export interface SchedulerCallbackOptions {
  /** Step after every epoch (default) or after every batch. */
  interval?: 'epoch' | 'batch';
  /**
   * For plateau schedulers: the logged value passed to step() at the end of each epoch (default for
   * a scheduler whose step() takes an argument: 'val_loss' when validating, else 'loss').
   */
  monitor?: string;
}

/**
 * Steps a mox.optim learning-rate scheduler from fit(): once per epoch (like PyTorch's usual
 * `scheduler.step()` after each epoch) or once per batch (warmup and cosine schedules counted in
 * steps). Logs the optimizer's rate as 'lr' at each epoch's end.
 */
export class SchedulerCallback extends Callback {
  /** Whether the scheduler steps after every epoch or every batch. */
  readonly interval: 'epoch' | 'batch';
  /** Steps `scheduler` per epoch or per batch. */
  constructor(
    /** The scheduler stepped. */
    readonly scheduler: SteppableScheduler,
    private readonly opts: SchedulerCallbackOptions = {},
  ) {
    super();
    this.interval = opts.interval ?? 'epoch';
    if (this.interval !== 'epoch' && this.interval !== 'batch') {
      throw new ValueError('SchedulerCallback', `interval must be 'epoch' or 'batch', got '${this.interval as string}'`);
    }
  }

  private stepWithout(): void {
    (this.scheduler as unknown as { step(): void }).step();
  }

  override onBatchEnd(): void {
    if (this.interval === 'batch') this.stepWithout();
  }

  override onEpochEnd(_epoch: number, logs: Logs): void {
    const opt = this.model.optimizer;
    if (opt) logs.lr = opt.lr; // the rate this epoch ran with
    if (this.interval !== 'epoch') return;
    // a scheduler whose step() takes an argument (ReduceLROnPlateau) is given the monitored value
    const monitor = this.opts.monitor ?? (this.scheduler.step.length > 0 ? ('val_loss' in logs ? 'val_loss' : 'loss') : undefined);
    if (monitor) {
      const v = logs[monitor];
      if (v === undefined) {
        warnMissing('SchedulerCallback', monitor, logs);
        return;
      }
      this.scheduler.step(v);
    } else {
      this.stepWithout();
    }
  }
}

/** Stops training as soon as a batch's loss is NaN or infinite. */
export class TerminateOnNaN extends Callback {
  override onBatchEnd(batch: number, logs: Logs): void {
    const loss = logs.loss;
    if (loss !== undefined && !Number.isFinite(loss)) {
      console.log(`Batch ${batch}: invalid loss, terminating training`);
      this.model.stopTraining = true;
    }
  }
}

/**
 * Keras's `kernel_constraint=max_norm(maxValue)` as a callback: after every training batch (the
 * optimizer's step), each of `weights` is capped with optim.maxNorm_(w, maxValue, axis). For the
 * rows of a Linear weight [out, in] (each output unit's incoming weights), axis is 1:
 * `new MaxNorm(model.fc.weight, 3, 1)` is Kim (2014)'s l2 constraint s = 3.
 */
export class MaxNorm extends Callback {
  /** The tensors capped after each batch. */
  readonly weights: Tensor[];

  /** Caps the norm of each of `weights` at maxValue along `axis`. */
  constructor(
    weights: Tensor | Tensor[],
    /** Largest norm allowed. */
    readonly maxValue: number,
    /** The axis (or axes) the norm is taken over. */
    readonly axis: number | readonly number[],
  ) {
    super();
    if (!(maxValue > 0)) throw new ValueError('MaxNorm', `maxValue must be positive, got ${maxValue}`);
    this.weights = Array.isArray(weights) ? [...weights] : [weights];
  }

  override onBatchEnd(): void {
    for (const w of this.weights) maxNorm_(w, this.maxValue, this.axis);
  }
}
