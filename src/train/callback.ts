// The Callback base, as Keras's: fit() calls these hooks with the model attached, and each may be
// async (fit awaits it). Epochs and batches are counted from 0, as in Keras; `logs` hold the numbers
// of the moment: running 'loss' and metrics after a batch, the epoch's figures (and 'val_*') at its end.

import type { Module } from '../nn/module.js';
import type { Source } from './batches.js';

export type Logs = Record<string, number>;

export interface TrainParams {
  epochs: number;
  /** Steps (batches) per epoch, when known. */
  steps: number | undefined;
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
  batch: number;
  /** The global generator's state now. */
  rng: number[];
  /** The data source's state now (a DataLoader's epoch counter and generator), or null. */
  data: unknown;
  /** The global generator and data source as the epoch in progress began, before its order was drawn (to draw it again). */
  epochRng: number[];
  epochData: unknown;
  /** The epoch's running loss and metric state. */
  tally: { lossSum: number; count: number; metrics: unknown[] } | null;
  /** The History so far. */
  history: { history: Record<string, number[]>; epoch: number[] };
}

/** What fit() was asked to do, for a callback that records the run (train.RunLogger). */
export interface FitInfo {
  epochs: number;
  initialEpoch: number;
  /** Examples per batch (a DataLoader's own batch size is not known here: then fit's option). */
  batchSize: number;
  gradientAccumulationSteps: number;
  /** The compiled loss's name, whether the model outputs logits, and the metrics' names. */
  loss: string;
  fromLogits: boolean | undefined;
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

export class Callback {
  /** The model being trained; set by fit() before onTrainBegin. */
  model!: Module;
  params: TrainParams = { epochs: 0, steps: undefined, verbose: 0 };
  /** fit()'s position, to save and resume it (see BackupAndRestore); set by fit() before onTrainBegin. */
  fit: FitControl | undefined;

  setModel(model: Module): void {
    this.model = model;
  }
  setParams(params: TrainParams): void {
    this.params = params;
  }

  onTrainBegin(_logs: Logs): void | Promise<void> {}
  onTrainEnd(_logs: Logs): void | Promise<void> {}
  onEpochBegin(_epoch: number, _logs: Logs): void | Promise<void> {}
  onEpochEnd(_epoch: number, _logs: Logs): void | Promise<void> {}
  onBatchBegin(_batch: number, _logs: Logs): void | Promise<void> {}
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
  constructor(readonly callbacks: Callback[]) {}

  private async each<A extends unknown[]>(pick: (c: Callback) => Hook<A>, args: A): Promise<void> {
    for (const c of this.callbacks) {
      const r = pick(c).apply(c, args);
      if (r instanceof Promise) await r;
    }
  }

  setup(model: Module, params: TrainParams, fit?: FitControl): void {
    for (const c of this.callbacks) {
      c.setModel(model);
      c.setParams(params);
      c.fit = fit;
    }
  }

  trainBegin(logs: Logs): Promise<void> {
    return this.each((c) => c.onTrainBegin, [logs]);
  }
  trainEnd(logs: Logs): Promise<void> {
    return this.each((c) => c.onTrainEnd, [logs]);
  }
  epochBegin(epoch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onEpochBegin, [epoch, logs]);
  }
  epochEnd(epoch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onEpochEnd, [epoch, logs]);
  }
  batchBegin(batch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onBatchBegin, [batch, logs]);
  }
  batchEnd(batch: number, logs: Logs): Promise<void> {
    return this.each((c) => c.onBatchEnd, [batch, logs]);
  }
}

/**
 * What fit() returns: `history.loss[i]`, `history.val_accuracy[i]`, ... for each epoch run, and
 * `epoch`, the epoch numbers (from 0, or from initialEpoch). Also a Callback, as in Keras.
 */
export class History extends Callback {
  history: Record<string, number[]> = {};
  epoch: number[] = [];

  override onEpochEnd(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }

  toJSON(): { history: Record<string, number[]>; epoch: number[]; params: TrainParams } {
    return { history: this.history, epoch: this.epoch, params: this.params };
  }
}
