// RunLogger: fit()'s metrics as a run log (run-log.ts), as Keras's TensorBoard(log_dir) callback writes
// event files. `fit(..., { runDir })` adds one; it can also be given in `callbacks` like any other.
//
// What it writes into DIR/metrics.jsonl:
//   - a `run` record: the model (class, layers, parameter counts), compile (the optimizer with its
//     hyperparameters, the loss, the metrics), fit (epochs, batch size, ...) and the user's `config`;
//   - `train` scalars every `logEvery` optimizer steps: the epoch's running loss and metrics (Keras's
//     logs after a batch), the learning rate and samples_per_s since the last record; these have no
//     `epoch` field;
//   - at each epoch's end, `train` scalars of the epoch's logs and `val` scalars of its val_* logs (the
//     prefix dropped), both with `epoch`: a record with `epoch` is an epoch's summary;
//   - for a classifier, a `confusion` record on the validation data at the end of training (and at
//     each epoch's end with confusion: 'epoch').
// `step` counts optimizer steps from the run's first, across epochs and resumes. A fit resumed by
// BackupAndRestore goes on from its backup's step; one started at initialEpoch k goes on from the last
// epoch summary before k in the file; either way the records after that step are dropped first.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { scope, keep } from '../tensor/memory.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Callback, type Logs, runDirCallback } from './callback.js';
import { type DataSource, type Source, onDevice, splitBatch, toSource } from './batches.js';
import { forward } from './step.js';
import { METRICS_FILE, type RunKind, RunLog, type Split, readRunLog } from './run-log.js';

/** Options of a RunLogger (and of fit's runDir, through FitOptions.runLog). */
export interface RunLoggerOptions {
  /** Write the running train scalars every this many optimizer steps (default 10; 0: epoch ends only). */
  logEvery?: number;
  /** The run's name in reports (default: the folder's name). */
  name?: string;
  /** Default 'classifier' for a cross-entropy loss, else 'other'. */
  kind?: RunKind;
  /** Anything JSON about the run (data, augmentation, ...), merged into the run record's config. */
  config?: Record<string, unknown>;
  /** Class names for the confusion matrices (default '0' to 'C-1'). */
  labels?: string[];
  /** When a classifier's confusion matrix on the validation data is written (default 'end'). */
  confusion?: 'end' | 'epoch' | 'none';
}

const OP = 'RunLogger';

/** A cross-entropy over classes (not the binary one): the losses whose models a confusion matrix fits. */
function isClassLoss(loss: string): boolean {
  return /crossentropy/i.test(loss) && !/binary/i.test(loss);
}

/** The optimizer's class and hyperparameters (its first group's, as it trains now), as JSON. */
function optimizerConfig(opt: Optimizer | undefined): Record<string, unknown> {
  if (!opt) return {};
  const group = opt.paramGroups[0];
  const hyper: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(group ?? opt.defaults)) {
    if (k === 'params') continue;
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || Array.isArray(v)) hyper[k] = v;
  }
  return { name: opt.constructor.name, ...hyper, groups: opt.paramGroups.length };
}

/** The model's class, top-level layers and parameter counts, as JSON. */
function modelConfig(model: Module): Record<string, unknown> {
  const count = (m: Module, trainableOnly: boolean) =>
    m.parameters().reduce((n, p) => n + (trainableOnly && !p.requiresGrad ? 0 : p.size), 0);
  return {
    class: model.constructor.name,
    parameters: count(model, false),
    trainable: count(model, true),
    layers: model.namedChildren().map(([name, m]) => ({ name, type: m.constructor.name, parameters: count(m, false) })),
  };
}

/**
 * Counts of (true class, predicted class) over `source` in eval mode: the argmax of the model's output
 * [N, C] against integer targets [N] or one-hot targets [N, C]. Null when the shapes are not those of
 * a classifier.
 */
export async function confusionCounts(model: Module, source: Source): Promise<number[][] | null> {
  const prev = model.training;
  const device = model.device;
  model.eval();
  let m: number[][] | null = null;
  try {
    const it = source.iterator(0);
    for (;;) {
      const pair = scope(() =>
        noGrad(() => {
          const next = it.next();
          if (next.done) return null;
          const split = splitBatch('confusion', next.value, true);
          const [target, ...inputs] = onDevice([split.target!, ...split.inputs], device);
          const out = forward('confusion', model, inputs);
          if (out.ndim !== 2 || out.shape[1]! < 2) return [out.shape[1] ?? 0, null, null] as const;
          const t = target!;
          const oneHot = t.ndim === 2 && t.shape[1] === out.shape[1];
          if (!(oneHot || (t.ndim === 1 && t.dtype === 'int32'))) return [out.shape[1]!, null, null] as const;
          return [out.shape[1]!, keep(out.argmax(-1)), keep(oneHot ? t.argmax(-1) : t)] as const;
        }),
      );
      if (!pair) break;
      const [c, pred, truth] = pair;
      if (!pred || !truth) return null;
      try {
        const [p, t] = await Promise.all([pred.data(), truth.data()]);
        m ??= Array.from({ length: c }, () => new Array<number>(c).fill(0));
        for (let i = 0; i < p.length; i++) {
          const ti = Number(t[i]);
          if (ti >= 0 && ti < c) m[ti]![Number(p[i])]!++;
        }
      } finally {
        pred.dispose();
        truth.dispose();
      }
    }
  } finally {
    model.train(prev);
  }
  return m;
}

/** The last step of an epoch before `epoch` in a run folder's file, or null when there is none. */
function lastStepBefore(dir: string, epoch: number): number | null {
  if (!fs.existsSync(path.join(dir, METRICS_FILE))) return null;
  let last: number | null = null;
  for (const r of readRunLog(dir).scalars) if (r.epoch !== undefined && r.epoch < epoch) last = Math.max(last ?? 0, r.step);
  return last;
}

/** Writes fit()'s run record, scalars and confusion matrices into DIR/metrics.jsonl (see the top of this file). */
export class RunLogger extends Callback {
  /** Running train scalars are written every this many optimizer steps (0: at epoch ends only). */
  readonly logEvery: number;
  /** The run log, once training has begun. */
  log: RunLog | null = null;
  private step = 0;
  private mark = { step: 0, samples: 0, time: 0 };
  private samples = 0;
  /** Examples of this epoch so far, and the running sums at the last record (for windowed means). */
  private epochSeen = 0;
  private window: { seen: number; sums: Record<string, number> } = { seen: 0, sums: {} };
  private classes: boolean | null = null;

  /** A logger into run folder `dir`, like Keras's TensorBoard(log_dir). */
  constructor(
    /** The run folder: metrics.jsonl is written there (beside a checkpoint). */
    readonly dir: string,
    private readonly opts: RunLoggerOptions = {},
  ) {
    super();
    if (typeof dir !== 'string' || dir === '') throw new ValueError(OP, `the run folder must be a path, got ${JSON.stringify(dir)}`);
    this.logEvery = opts.logEvery ?? 10;
    if (!Number.isInteger(this.logEvery) || this.logEvery < 0)
      throw new ValueError(OP, `logEvery must be a non-negative integer, got ${this.logEvery}`);
    if (opts.labels !== undefined && !(Array.isArray(opts.labels) && opts.labels.every((l) => typeof l === 'string')))
      throw new ValueError(OP, 'labels must be an array of strings');
    const when = opts.confusion ?? 'end';
    if (when !== 'end' && when !== 'epoch' && when !== 'none')
      throw new ValueError(OP, `confusion must be 'end', 'epoch' or 'none', got ${JSON.stringify(when)}`);
  }

  override onTrainBegin(): void {
    this.log = null;
  }

  /** Opens the log at the first epoch, once fit has applied any resume (BackupAndRestore's comes in onTrainBegin). */
  private open(): RunLog {
    if (this.log) return this.log;
    const info = this.fit?.info;
    const snap = this.fit?.snapshot();
    const resumed = snap?.step ?? 0;
    let from: number | undefined;
    if (resumed > 0) from = resumed;
    else if (info && info.initialEpoch > 0) from = lastStepBefore(this.dir, info.initialEpoch) ?? 0;
    this.step = from ?? 0;
    const loss = info?.loss ?? '';
    const config: Record<string, unknown> = {
      model: modelConfig(this.model),
      compile: { optimizer: optimizerConfig(this.model.optimizer), loss, metrics: info?.metrics ?? [], fromLogits: info?.fromLogits },
      fit: info
        ? {
            epochs: info.epochs,
            initialEpoch: info.initialEpoch,
            batchSize: info.batchSize,
            gradientAccumulationSteps: info.gradientAccumulationSteps,
            stepsPerEpoch: this.params.steps ?? null,
            validation: info.validation !== null,
          }
        : {},
      ...(this.opts.labels ? { labels: this.opts.labels } : {}),
      ...this.opts.config,
    };
    this.log = new RunLog(this.dir, {
      name: this.opts.name,
      kind: this.opts.kind ?? (isClassLoss(loss) ? 'classifier' : 'other'),
      config,
      resumeFrom: from,
    });
    this.mark = { step: this.step, samples: 0, time: this.log.elapsed() };
    this.samples = 0;
    if (resumed > 0 && snap) this.restoreEpochSummary(this.log, snap.batch, snap.history);
    return this.log;
  }

  /**
   * A backup made at an epoch's end (BackupAndRestore) is written by a callback before this one: a kill
   * between the two leaves the backup without the epoch's summary here. The resumed fit's History holds
   * that epoch's logs, so the summary is written from them (the file then reads as one uninterrupted run).
   */
  private restoreEpochSummary(log: RunLog, batch: number, h: { history: Record<string, number[]>; epoch: number[] }): void {
    const epoch = h.epoch.at(-1);
    if (batch !== 0 || epoch === undefined) return;
    if (readRunLog(this.dir).scalars.some((r) => r.epoch === epoch && r.split === 'train')) return;
    const logs: Logs = {};
    for (const [k, v] of Object.entries(h.history)) if (v.length === h.epoch.length) logs[k] = v.at(-1)!;
    this.writeEpochSummary(log, epoch, logs);
  }

  private writeEpochSummary(log: RunLog, epoch: number, logs: Logs): void {
    const train: Record<string, number> = {};
    const val: Record<string, number> = {};
    for (const [k, v] of Object.entries(logs)) {
      if (k.startsWith('val_')) val[k.slice(4)] = v;
      else train[k] = v;
    }
    // a scheduler callback's 'lr' in the logs is the rate the epoch ran with; the optimizer may be past it
    log.scalars(this.step, 'train', { ...this.lr(), ...train }, epoch);
    if (Object.keys(val).length > 0) log.scalars(this.step, 'val', val, epoch);
  }

  private lr(): Record<string, number> {
    const opt = this.model.optimizer;
    return opt ? { lr: opt.lr } : {};
  }

  override onEpochBegin(): void {
    this.open();
    this.window = { seen: 0, sums: {} };
    this.epochSeen = 0;
  }

  override onBatchEnd(_batch: number, logs: Logs): void {
    const log = this.open();
    this.step++;
    this.samples += logs.size ?? 0;
    this.epochSeen += logs.size ?? 0;
    if (this.logEvery === 0 || this.step % this.logEvery !== 0) return;
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(logs)) if (k !== 'batch' && k !== 'size') values[k] = v;
    // fit's logs hold the epoch's running means, which jump where an epoch starts; the loss and the
    // accuracies (means over examples) are recorded as the mean over the batches since the last record,
    // as TensorBoard's per-step scalars are. Other metrics (precision, F1: not means) stay running.
    const sums: Record<string, number> = {};
    const span = this.epochSeen - this.window.seen;
    for (const k of Object.keys(values)) {
      if (k !== 'loss' && !k.endsWith('accuracy')) continue;
      sums[k] = values[k]! * this.epochSeen;
      if (span > 0) values[k] = (sums[k] - (this.window.sums[k] ?? 0)) / span;
    }
    this.window = { seen: this.epochSeen, sums };
    const now = log.elapsed();
    const dt = now - this.mark.time;
    if (dt > 0) values.samples_per_s = Math.round((this.samples - this.mark.samples) / dt);
    this.mark = { step: this.step, samples: this.samples, time: now };
    log.scalars(this.step, 'train', { ...values, ...this.lr() });
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    this.writeEpochSummary(this.open(), epoch, logs);
    if (this.opts.confusion === 'epoch') await this.logConfusionOnValidation();
  }

  override async onTrainEnd(): Promise<void> {
    if (!this.log) return; // no epoch ran
    if ((this.opts.confusion ?? 'end') === 'end') await this.logConfusionOnValidation();
  }

  private async logConfusionOnValidation(): Promise<void> {
    const val = this.fit?.info.validation;
    if (!val || !isClassLoss(this.fit?.info.loss ?? '') || this.classes === false) return;
    this.classes = await this.writeConfusion(val, 'val');
  }

  /** Appends scalars measured outside fit (a test set's evaluate()), at the step training reached. */
  logScalars(split: Split, values: Record<string, number>): void {
    (this.log ?? this.open()).scalars(this.step, split, values);
  }

  /** Appends a language model's generations, at the step training reached. */
  logSamples(samples: { prompt: string; text: string }[]): void {
    (this.log ?? this.open()).samples(this.step, samples);
  }

  /**
   * Writes a confusion record of the model on other data (a test set), at the step training reached:
   * [x, y] tensors or a data source of [x, y] batches. Returns false when the model and targets are not
   * a classifier's (an output [N, C] and integer or one-hot targets); then nothing is written.
   */
  async logConfusion(data: [Tensor, Tensor] | DataSource, split: Split = 'test', batchSize = 256): Promise<boolean> {
    const source =
      Array.isArray(data) && data.length === 2 && data[0] instanceof Tensor && data[1] instanceof Tensor
        ? toSource(OP, data[0], data[1], batchSize, false)
        : toSource(OP, data, undefined, batchSize, false);
    return this.writeConfusion(source, split);
  }

  private async writeConfusion(source: Source, split: Split): Promise<boolean> {
    const log = this.log ?? this.open();
    const m = await confusionCounts(this.model, source);
    if (!m) return false;
    const labels = this.opts.labels ?? m.map((_, i) => String(i));
    if (labels.length !== m.length)
      throw new ValueError(
        OP,
        `${labels.length} labels given for a model with ${m.length} classes: ${JSON.stringify(labels.slice(0, 12))}`,
      );
    log.confusion(this.step, split, labels, m);
    return true;
  }
}

// fit's runDir option makes one of these (see runDirCallback)
runDirCallback.make = (dir, opts) => new RunLogger(dir, opts as RunLoggerOptions | undefined);
