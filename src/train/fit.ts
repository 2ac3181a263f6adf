// fit: epochs of training steps in train() mode, callbacks around each batch and epoch, a validation
// pass after each epoch; fit() leaves the model in the mode it found it in.

import '../ops/tensor-methods.js';
import { NonFiniteError, ValueError } from '../errors.js';
import { initDevice } from '../backend/registry.js';
import { scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { type Dataset, TensorDataset, trainValidationSplit } from '../data/dataset.js';
import { globalGenerator } from '../tensor/random.js';
import { crashPoint } from '../io/crash-point.js';
import { type Callback, CallbackList, type FitControl, type FitSnapshot, History, type Logs, runDirCallback } from './callback.js';
import { ProgressBar, type OutputStream } from './progress.js';
import { type DataSource, type Source, checkBatchSize, checkPair, isDataset, loaderSource, toSource } from './batches.js';
import {
  type Compiled,
  type NonFiniteMode,
  type NonFiniteReport,
  type StepResult,
  Tally,
  backwardStep,
  checkNonFiniteMode,
  discard,
  finishCheckedStep,
  finishStep,
  settle,
  stepLoss,
} from './step.js';
import { evaluateSource } from './evaluate.js';
import type { RunLoggerOptions } from './run-logger.js';
import { syncTrainable } from './trainable.js';
import type { DataParallelOptions } from '../distributed/data-parallel.js';
import { FitDataParallel } from '../distributed/fit-data-parallel.js';

/** Options of fit(), as Keras's: epochs, batch size, validation, shuffling, callbacks, verbosity. */
export interface FitOptions {
  /** Epochs to train (default 1). */
  epochs?: number;
  /** Examples per batch for tensors and datasets (default 32); a DataLoader keeps its own. */
  batchSize?: number;
  /** Held-out data evaluated after each epoch: [x, y] tensors, a Dataset or a DataLoader. */
  validationData?: [Tensor, Tensor] | DataSource;
  /** Fraction of (x, y) or of a dataset held out for validation: the last examples, before shuffling (Keras). */
  validationSplit?: number;
  /** Batch size for validation (default: batchSize). */
  validationBatchSize?: number;
  /** Shuffle the training examples each epoch (default true; a DataLoader keeps its own setting). */
  shuffle?: boolean;
  /** Seed for the shuffle; without one, orders come from the global generator (mox.seed). */
  seed?: number;
  /** Callbacks whose hooks fit() calls. */
  callbacks?: Callback[];
  /** 0 silent, 1 progress bar (default), 2 one line per epoch. */
  verbose?: 0 | 1 | 2;
  /** The epoch to start at (to resume a run); epochs counts from 0, so epochs - initialEpoch are run. */
  initialEpoch?: number;
  /** Where progress goes (default process.stdout). */
  stream?: OutputStream;
  /**
   * Train on this device ('cpu', 'webgpu'): the model is moved there first (Module.to) and each batch as
   * it is used. Default: the device the model's parameters are on.
   */
  device?: string;
  /**
   * What a NaN or infinite loss or gradient does: 'raise', 'stop', 'skip' or 'ignore' (see
   * CompileConfig.nonFinite; default: compile's setting, itself 'ignore' by default).
   */
  nonFinite?: NonFiniteMode;
  /**
   * Gradient accumulation (Hugging Face Trainer's `gradient_accumulation_steps`; Keras 3 has it on the
   * optimizer): each optimizer step sums the gradients of this many consecutive batches (default 1),
   * each batch's loss weighted by its examples, so the step is that of one batch of all their examples
   * under a mean loss (batchSize 8 with 4 steps trains as batchSize 32, in a quarter of the memory). A
   * last group of fewer batches at the end of an epoch still steps. Callbacks, the progress bar, the
   * logs' `batch` and `size`, nonFinite and BackupAndRestore count optimizer steps (as the Trainer's
   * global step), so a per-batch scheduler or MaxNorm acts once per update; metrics and the loss still
   * average over every example.
   */
  gradientAccumulationSteps?: number;
  /**
   * Write the run's metrics to RUN_DIR/metrics.jsonl as it trains (adds a train.RunLogger, as Keras's
   * TensorBoard(log_dir) callback): the run's config, the train scalars, the val scalars per epoch and,
   * for a classifier, a confusion matrix on the validation data. See docs/reports.md.
   */
  runDir?: string;
  /** The RunLogger's options for runDir: labels, config, logEvery, ... */
  runLog?: RunLoggerOptions;
  /**
   * Data-parallel training, as PyTorch's DDP on one node: `workers` processes (this one included) split
   * each batch by rows and sum their gradients, so each step equals a single-process one (to float
   * rounding); each worker builds its replica with `modelFactory` (a module URL whose export returns
   * the model, compiled: its loss is the workers'). See docs/data-parallel.md.
   */
  dataParallel?: DataParallelOptions;
}

/** The one-line account of a non-finite step that 'raise' throws and 'stop' and 'skip' log. */
function nonFiniteMessage(step: number, epoch: number, batch: number, r: NonFiniteReport): string {
  const grad = r.parameter ? `the first non-finite gradient is that of '${r.parameter}' (${r.detail})` : 'every gradient is finite';
  return `step ${step} (epoch ${epoch + 1}, batch ${batch}): the loss is ${r.loss}; ${grad}`;
}

function parseFitArgs(a: unknown, b: unknown, c: unknown): { data: unknown; y: Tensor | undefined; opts: FitOptions } {
  if (b instanceof Tensor) return { data: a, y: b, opts: (c ?? {}) as FitOptions };
  if (a instanceof Tensor && b === undefined) throw new ValueError('fit', 'fit(x, y): y is missing');
  return { data: a, y: undefined, opts: (b ?? {}) as FitOptions };
}

/** Trains `model` with what compile() set up (`c`) on the data of model.fit's arguments; returns the History. */
export async function fit(model: Module, c: Compiled, a: unknown, b?: unknown, c3?: unknown): Promise<History> {
  const { data, y, opts } = parseFitArgs(a, b, c3);
  const epochs = opts.epochs ?? 1;
  const initialEpoch = opts.initialEpoch ?? 0;
  const verbose = opts.verbose ?? 1;
  const batchSize = checkBatchSize('fit', opts.batchSize ?? 32);
  const shuffle = opts.shuffle ?? true;
  const stream = opts.stream ?? process.stdout;
  if (!Number.isInteger(epochs) || epochs < 0) throw new ValueError('fit', `epochs must be a non-negative integer, got ${epochs}`);
  if (!Number.isInteger(initialEpoch) || initialEpoch < 0)
    throw new ValueError('fit', `initialEpoch must be a non-negative integer, got ${initialEpoch}`);
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) throw new ValueError('fit', `verbose must be 0, 1 or 2, got ${verbose as number}`);
  const split = opts.validationSplit ?? 0;
  if (!(split >= 0 && split < 1)) throw new ValueError('fit', `validationSplit must be in [0, 1), got ${split}`);
  if (split > 0 && opts.validationData) throw new ValueError('fit', 'give validationData or validationSplit, not both');
  const nonFinite = checkNonFiniteMode('fit', opts.nonFinite ?? c.nonFinite);
  const check = nonFinite !== 'ignore';
  const accum = opts.gradientAccumulationSteps ?? 1;
  if (!Number.isInteger(accum) || accum < 1)
    throw new ValueError('fit', `gradientAccumulationSteps must be a positive integer, got ${accum}`);
  const weighted = accum > 1;

  // training and validation sources
  let train: Source;
  let val: Source | null = null;
  const valBatch = checkBatchSize('fit', opts.validationBatchSize ?? batchSize);
  if (split > 0) {
    let ds: Dataset<readonly Tensor[]>;
    if (data instanceof Tensor) {
      checkPair('fit', data, y);
      ds = new TensorDataset(data, y!);
    } else if (isDataset(data)) {
      ds = data;
    } else {
      throw new ValueError('fit', 'validationSplit needs tensors or a Dataset; for a DataLoader give validationData');
    }
    const [tr, va] = trainValidationSplit(ds, split, { shuffle: false });
    if (tr.length === 0 || va.length === 0)
      throw new ValueError('fit', `validationSplit ${split} of ${ds.length} examples leaves an empty part`);
    train = loaderSource(tr, batchSize, shuffle, opts.seed);
    val = loaderSource(va, valBatch, false);
  } else {
    train = toSource('fit', data, y, batchSize, shuffle, opts.seed);
    const vd = opts.validationData;
    if (vd) {
      if (Array.isArray(vd) && vd.length === 2 && vd[0] instanceof Tensor && vd[1] instanceof Tensor) {
        val = toSource('fit', vd[0], vd[1], valBatch, false);
      } else {
        val = toSource('fit', vd, undefined, valBatch, false);
      }
    }
  }

  syncTrainable(model, c);
  const device = opts.device;
  if (device) {
    await initDevice(device);
    model.to(device);
  }

  const history = new History();
  // History goes last (as in Keras), so it records what the other callbacks add to the logs (lr)
  const runLogger: Callback[] = [];
  if (opts.runDir !== undefined) {
    if (!runDirCallback.make)
      throw new ValueError('fit', "runDir writes files: it needs mox's Node entry (import * as mox from 'mox'), not the browser's");
    runLogger.push(runDirCallback.make(opts.runDir, opts.runLog));
  }
  const callbacks = new CallbackList([...(opts.callbacks ?? []), ...runLogger, history]);
  // where the run stands, for a callback that saves it (BackupAndRestore): the batches trained, the
  // epoch and batch, and the generator and data state the epoch's order was drawn from
  const pos = { step: 0, epoch: initialEpoch, batch: 0, epochEnded: false };
  let epochRng = globalGenerator.getState();
  let epochData: unknown = train.state?.() ?? null;
  let tally: Tally | null = null;
  let epochLogs: Logs | null = null;
  let resume: FitSnapshot | null = null;
  const control: FitControl = {
    info: {
      epochs,
      initialEpoch,
      batchSize,
      gradientAccumulationSteps: accum,
      loss: c.lossName ?? '',
      fromLogits: c.fromLogits,
      metrics: c.metrics.map((m) => m.name),
      validation: val,
    },
    snapshot: () => {
      const h = { history: structuredClone(history.history), epoch: [...history.epoch] };
      const ended = pos.epochEnded;
      // from onEpochEnd, History (the last callback) has yet to record the epoch
      if (ended && epochLogs && h.epoch[h.epoch.length - 1] !== pos.epoch) {
        h.epoch.push(pos.epoch);
        for (const [k, v] of Object.entries(epochLogs)) (h.history[k] ??= []).push(v);
      }
      return {
        step: pos.step,
        epoch: ended ? pos.epoch + 1 : pos.epoch,
        batch: ended ? 0 : pos.batch,
        rng: globalGenerator.getState(),
        data: train.state?.() ?? null,
        epochRng,
        epochData,
        tally: ended || !tally ? null : tally.getState(),
        history: h,
      };
    },
    resumeFrom: (snap) => {
      resume = snap;
    },
  };
  // what callbacks and the progress bar call a step: an optimizer step, of `accum` batches
  const steps = train.steps === undefined ? undefined : Math.ceil(train.steps / accum);
  callbacks.setup(model, { epochs, steps, verbose }, control);
  model.stopTraining = false;
  const dp = await FitDataParallel.start(model, c, opts.dataParallel, device);
  const wasTraining = model.training;
  try {
    await callbacks.trainBegin({});
    const from = resume as FitSnapshot | null;
    let firstEpoch = initialEpoch;
    if (from) {
      firstEpoch = from.epoch;
      pos.step = from.step;
      history.history = structuredClone(from.history.history);
      history.epoch = [...from.history.epoch];
      if (from.batch === 0) {
        globalGenerator.setState(from.rng);
        if (from.data !== null) train.restore?.(from.data);
      }
    }
    for (let epoch = firstEpoch; epoch < epochs && !model.stopTraining; epoch++) {
      model.train();
      Object.assign(pos, { epoch, batch: 0, epochEnded: false });
      await callbacks.epochBegin(epoch, {});
      if (verbose) stream.write(`Epoch ${epoch + 1}/${epochs}\n`);
      const bar = verbose ? new ProgressBar(steps, { verbose, stream }) : null;
      tally = new Tally(c.metrics);
      // a resumed epoch: its order drawn again from the state it was drawn from, the batches already
      // trained passed over, then the generator and the running sums as they were after the last of them
      const skip = from && epoch === from.epoch ? from.batch : 0;
      if (from && skip > 0) {
        globalGenerator.setState(from.epochRng);
        if (from.epochData !== null) train.restore?.(from.epochData);
      }
      epochRng = globalGenerator.getState();
      epochData = train.state?.() ?? null;
      const it = scope(() => train.iterator(epoch, skip * accum));
      if (from && skip > 0) {
        globalGenerator.setState(from.rng);
        if (from.tally) tally.setState(from.tally);
      }
      let step = skip;
      let skipped = 0;
      for (;;) {
        // one optimizer step: up to `accum` batches through backward, then the step (or its check)
        let pending: Promise<void> | undefined;
        const parts: StepResult[] = [];
        let flag: Tensor | null = null;
        try {
          for (let k = 0; k < accum; k++) {
            const r = scope(() => {
              const next = it.next();
              if (next.done) return null;
              if (k === 0) pending = callbacks.batchBegin(step, { batch: step });
              return dp ? dp.backwardStep(next.value, k === 0, weighted) : backwardStep(model, c, next.value, device, k === 0, weighted);
            });
            if (k === 0 && pending) await pending;
            if (!r) break;
            parts.push(r);
            if (dp) await dp.reduce(r); // the workers' gradients, loss and predictions
          }
          if (parts.length > 0) flag = scope(() => finishStep(c, parts, weighted, check));
        } catch (e) {
          for (const r of parts) discard(r);
          throw e;
        }
        if (parts.length === 0) break;
        const n = parts.reduce((sum, r) => sum + r.n, 0);
        let bad: NonFiniteReport | null = null;
        if (check) {
          // the step's loss, for the report: the batch's own, or the weighted mean of the micro-batches'
          const loss = parts.length === 1 ? parts[0]!.loss : stepLoss(parts);
          try {
            bad = await finishCheckedStep(model, c, { flag, loss });
          } finally {
            if (loss !== parts[0]!.loss) loss.dispose();
          }
        }
        if (bad) {
          const message = nonFiniteMessage(pos.step, epoch, step, bad);
          if (nonFinite === 'raise') {
            for (const r of parts) discard(r);
            throw new NonFiniteError('fit', message, { step: pos.step, epoch, batch: step, loss: bad.loss, parameter: bad.parameter });
          }
          if (nonFinite === 'stop') {
            stream.write(`${message}: terminating training\n`);
            model.stopTraining = true;
          } else {
            if (verbose) stream.write(`${message}: step skipped\n`);
            skipped++;
          }
        }
        // a skipped step counts in 'skipped', not in the loss or the metrics
        if (bad && nonFinite === 'skip') for (const r of parts) discard(r);
        else for (const r of parts) await settle(r, c, tally);
        crashPoint('step');
        const logs = { batch: step, size: n, ...tally.logs(), ...(nonFinite === 'skip' ? { skipped } : {}) };
        step++;
        pos.batch = step;
        pos.step++;
        bar?.update(step, logs);
        await callbacks.batchEnd(step - 1, logs);
        if (model.stopTraining) break;
      }
      if (step === 0) throw new ValueError('fit', 'the training data gave no batches');
      const logs = tally.logs();
      if (nonFinite === 'skip') logs.skipped = skipped;
      if (val) Object.assign(logs, await evaluateSource(model, c, val, 'val_', null));
      pos.epochEnded = true;
      epochLogs = logs;
      await callbacks.epochEnd(epoch, logs);
      bar?.finish(step, logs);
    }
    await callbacks.trainEnd({});
  } finally {
    model.train(wasTraining);
    await dp?.close();
  }
  model.history = history;
  return history;
}
