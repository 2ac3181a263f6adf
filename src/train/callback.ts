// The Callback base, as Keras's: fit() calls these hooks with the model attached, and each may be
// async (fit awaits it). Epochs and batches are counted from 0, as in Keras; `logs` hold the numbers
// of the moment: running 'loss' and metrics after a batch, the epoch's figures (and 'val_*') at its end.

import type { Module } from '../nn/module.js';
import type { Source } from './batches.js';

/** The numbers of the moment, by name: 'loss', metrics, 'val_*' (Keras's logs). */
export type Logs = Record<string, number>;

/** What fit() tells its callbacks: epochs, steps per epoch and verbosity (Keras's params). */
export interface TrainParams {
  /** Epochs the fit runs. */
  epochs: number;
  /** Steps (batches) per epoch, when known. */
  steps: number | undefined;
  /** fit()'s verbosity: 0 silent, 1 a progress bar, 2 one line per epoch. */
  verbose: 0 | 1 | 2;
}

type Hook<A extends unknown[]> = (...args: A) => void | Promise<void>;

/**
 * Where fit() stands, as JSON: everything a fit started again needs to go on exactly as this one
 * would (train.BackupAndRestore saves it with the weights and the optimizer state).
 */
export interface FitSnapshot {
  /** Batches trained since the first epoch, over every epoch. */
  step: number;
  /** The epoch to go on with, and the batches of it already trained. */
  epoch: number;
  /** The batch within that epoch. */
  batch: number;
  /** The global generator's state now. */
  rng: number[];
  /** The data source's state now (a DataLoader's epoch counter and generator), or null. */
  data: unknown;
  /** The global generator and data source as the epoch in progress began, before its order was drawn (to draw it again). */
  epochRng: number[];
  /** The data source's state as the epoch in progress began. */
  epochData: unknown;
  /** The epoch's running loss and metric state. */
  tally: {
    /** Sum of the batch losses so far. */
    lossSum: number;
    /** Batches summed. */
    count: number;
    /** Each metric's running state. */
    metrics: unknown[];
  } | null;
  /** The History so far. */
  history: {
    /** Each log's value per epoch, by name. */
    history: Record<string, number[]>;
    /** The epoch numbers run. */
    epoch: number[];
  };
}

/** What fit() was asked to do, for a callback that records the run (train.RunLogger). */
export interface FitInfo {
  /** The epoch fit stops at (Keras's `epochs`: a count from 0, not from initialEpoch). */
  epochs: number;
  /** The epoch fit starts at (Keras's `initial_epoch`). */
  initialEpoch: number;
  /** Examples per batch (a DataLoader's own batch size is not known here: then fit's option). */
  batchSize: number;
  /** Batches whose gradients are summed before each optimizer step (1: none). */
  gradientAccumulationSteps: number;
  /** The compiled loss's name, whether the model outputs logits, and the metrics' names. */
  loss: string;
  /** Whether the model outputs logits rather than probabilities (compile's fromLogits; undefined when unknown). */
  fromLogits: boolean | undefined;
  /** The compiled metrics' names. */
  metrics: string[];
  /** The validation data as fit evaluates it, or null without. */
  validation: Source | null;
}

/** What fit() lets a callback do with its position (Callback.fit). */
export interface FitControl {
  /** What this fit was asked to do. */
  info: FitInfo;
  /** The position now: after a batch, or, from onEpochEnd, the start of the next epoch. */
  snapshot(): FitSnapshot;
  /** Called from onTrainBegin: fit goes on from this snapshot instead of from initialEpoch. */
  resumeFrom(s: FitSnapshot): void;
}

/** Base class of training callbacks, as Keras's: fit() calls its hooks (each may be async) with the model attached. */
export class Callback {
  /** The model being trained; set by fit() before onTrainBegin. */
  model!: Module;
  /** What fit() runs: epochs, steps per epoch and verbosity; set by fit() before onTrainBegin. */
  params: TrainParams = { epochs: 0, steps: undefined, verbose: 0 };
  /** fit()'s position, to save and resume it (see BackupAndRestore); set by fit() before onTrainBegin. */
  fit: FitControl | undefined;

  /** Attaches the model being trained (called by fit()). */
  setModel(model: Module): void {
    this.model = model;
  }
  /** Sets what fit() runs (called by fit()). */
  setParams(params: TrainParams): void {
    this.params = params;
  }

  /** Called once when fit() starts. */
  onTrainBegin(_logs: Logs): void | Promise<void> {}
  /** Called once when fit() ends (also after an early stop). */
  onTrainEnd(_logs: Logs): void | Promise<void> {}
  /** Called at the start of each epoch. */
  onEpochBegin(_epoch: number, _logs: Logs): void | Promise<void> {}
  /** Called at the end of each epoch, with its figures (and 'val_*') in logs. */
  onEpochEnd(_epoch: number, _logs: Logs): void | Promise<void> {}
  /** Called before each batch. */
  onBatchBegin(_batch: number, _logs: Logs): void | Promise<void> {}
  /** Called after each batch, with the running loss and metrics in logs. */
  onBatchEnd(_batch: number, _logs: Logs): void | Promise<void> {}
}

/**
 * How fit() makes the callback of its `runDir` option: set when train/run-logger.ts loads (the Node
 * entry loads it). The logger writes files; this slot keeps fit and this file free of the file system,
 * so they still bundle for a web page.
 */
export const runDirCallback: { make: ((dir: string, opts: unknown) => Callback) | null } = { make: null };

/** Calls every callback's hook in order, awaiting only those that return a promise. */
export class CallbackList {
  /** Calls the given callbacks. */
  constructor(
    /** The callbacks, called in this order. */
    readonly callbacks: Callback[],
  ) {}

  private async each<A extends unknown[]>(pick: (c: Callback) => Hook<A>, args: A): Promise<void> {
    for (const c of this.callbacks) {
      const r = pick(c).apply(c, args);
      if (r instanceof Promise) await r;
    }
  }

  /** Attaches the model, fit()'s parameters and its position to every callback. */
  setup(model: Module, params: TrainParams, fit?: FitControl): void {
    for (const c of this.callbacks) {
      c.setModel(model);
      c.setParams(params);
      c.fit = fit;
    }
  }

  /** Calls every onTrainBegin. */
  trainBegin(logs: Logs): Promise<void> {
    return this.each((c) => c.onTrainBegin, [logs]);
  }
  /** Calls every onTrainEnd. */
  trainEnd(logs: Logs): Promise<void> {
    return this.each((c) => c.onTrainEnd, [logs]);
  }
  /** Calls every onEpochBegin. */
  epochBegin(epoch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onEpochBegin, [epoch, logs]);
  }
  /** Calls every onEpochEnd. */
  epochEnd(epoch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onEpochEnd, [epoch, logs]);
  }
  /** Calls every onBatchBegin. */
  batchBegin(batch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onBatchBegin, [batch, logs]);
  }
  /** Calls every onBatchEnd. */
  batchEnd(batch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onBatchEnd, [batch, logs]);
  }
}

/**
 * What fit() returns: `history.loss[i]`, `history.val_accuracy[i]`, ... for each epoch run, and
 * `epoch`, the epoch numbers (from 0, or from initialEpoch). Also a Callback, as in Keras.
 */
export class History extends Callback {
  /** Each log's value per epoch, by name ('loss', 'val_accuracy', ...). */
  history: Record<string, number[]> = {};
  /** The epoch numbers run. */
  epoch: number[] = [];

  /** Records the epoch's logs. */
  override onEpochEnd(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }

  /** The history as JSON: per-epoch logs, epoch numbers and fit's parameters. */
  toJSON(): {
    /** Each log's value per epoch, by name. */
    history: Record<string, number[]>;
    /** The epoch numbers run. */
    epoch: number[];
    /** What fit() ran. */
    params: TrainParams;
  } {
    return { history: this.history, epoch: this.epoch, params: this.params };
  }
}
