// fit / evaluate / predict. Every step (fetching its batch included) runs inside one mox.scope, so
// the batch, the activations and the graph are freed when the step ends and a long fit holds steady
// memory. The model is in train() mode while it trains and in eval() mode (under noGrad) while it is
// validated, evaluated or asked for predictions; fit() leaves it in the mode it found it in.

import '../ops/tensor-methods.js';
import { DeviceError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { initDevice } from '../backend/registry.js';
import { keep, scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { concat } from '../ops/join.js';
import { narrow } from '../ops/view.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { type Dataset, TensorDataset, trainValidationSplit } from '../data/dataset.js';
import { DataLoader } from '../data/dataloader.js';
import { type Callback, CallbackList, History, type Logs } from './callback.js';
import type { Metric } from './metrics.js';
import type { LossFn } from './losses.js';
import { modelOutput } from './model-output.js';
import { ProgressBar, type OutputStream } from './progress.js';

/** What compile() sets up. */
export interface Compiled {
  optimizer: Optimizer;
  loss: LossFn;
  metrics: Metric[];
}

/** A batch: [input, target], [input] or [input1, ..., inputK, target]. */
export type Batch = readonly Tensor[];

/** What fit/evaluate/predict accept besides (x, y) tensors: a Dataset or any iterable of batches (a DataLoader). */
export type DataSource = Dataset<readonly Tensor[]> | Iterable<Batch | Tensor>;

export interface FitOptions {
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
}

export interface EvaluateOptions {
  batchSize?: number;
  /** 0 silent (default), 1 progress bar. */
  verbose?: 0 | 1;
  stream?: OutputStream;
}

export interface PredictOptions {
  batchSize?: number;
}

/** Batches of one epoch, made on demand (so inside the step's scope), and how many there are. */
interface Source {
  steps: number | undefined;
  iterator(epoch: number): Iterator<Batch | Tensor>;
}

function checkBatchSize(op: string, bs: number): number {
  if (!Number.isInteger(bs) || bs < 1) throw new ValueError(op, `batchSize must be a positive integer, got ${bs}`);
  return bs;
}

function isDataset(d: unknown): d is Dataset<readonly Tensor[]> {
  return typeof d === 'object' && d !== null && typeof (d as Dataset).get === 'function' && typeof (d as Dataset).length === 'number';
}

function isIterable(d: unknown): d is Iterable<Batch | Tensor> {
  return typeof d === 'object' && d !== null && typeof (d as Iterable<unknown>)[Symbol.iterator] === 'function';
}

function checkPair(op: string, x: unknown, y: unknown): void {
  if (!(x instanceof Tensor)) throw new ValueError(op, 'x must be a Tensor');
  if (!(y instanceof Tensor)) throw new ValueError(op, 'y must be a Tensor');
  if (x.ndim === 0 || y.ndim === 0 || x.shape[0] !== y.shape[0]) {
    throw new ShapeError(op, `x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)} must have the same number of examples (first dimension)`);
  }
}

/** A DataLoader over a dataset, epoch e shuffled as a function of (seed, e) when a seed is given. */
function loaderSource(ds: Dataset<readonly Tensor[]>, batchSize: number, shuffle: boolean, seed?: number): Source {
  const loader = new DataLoader<readonly Tensor[]>(ds, { batchSize, shuffle, seed });
  return {
    steps: loader.length,
    iterator: (epoch) => {
      loader.setEpoch(epoch);
      return loader[Symbol.iterator]();
    },
  };
}

function iterableSource(op: string, data: Iterable<Batch | Tensor>): Source {
  const len = (data as { length?: unknown }).length;
  return {
    steps: typeof len === 'number' && Number.isInteger(len) ? len : undefined,
    iterator: () => {
      const it = data[Symbol.iterator]();
      if (!it || typeof it.next !== 'function') throw new ValueError(op, 'the data source did not return an iterator');
      return it;
    },
  };
}

/** Any accepted data (tensors, dataset, loader) as a Source. */
function toSource(op: string, data: unknown, y: Tensor | undefined, batchSize: number, shuffle: boolean, seed?: number): Source {
  if (data instanceof Tensor) {
    if (y === undefined) return loaderSource(new TensorDataset(data), batchSize, shuffle, seed);
    checkPair(op, data, y);
    return loaderSource(new TensorDataset(data, y), batchSize, shuffle, seed);
  }
  if (y !== undefined)
    throw new ValueError(op, 'a target tensor y goes with an input tensor x; a Dataset or DataLoader carries its own targets');
  if (isDataset(data)) return loaderSource(data, batchSize, shuffle, seed);
  if (isIterable(data)) return iterableSource(op, data);
  throw new ValueError(op, 'expected tensors (x, y), a Dataset, or an iterable of batches such as a DataLoader');
}

/** Splits a batch into the model's inputs and the target (the last element when there are two or more). */
function splitBatch(op: string, b: Batch | Tensor, needTarget: boolean): { inputs: Tensor[]; target: Tensor | undefined } {
  const list = b instanceof Tensor ? [b] : b;
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => t instanceof Tensor)) {
    throw new ValueError(op, 'each batch must be an array of tensors: [x, y], [x] or [x1, ..., y]');
  }
  if (list.length === 1) {
    if (needTarget) throw new ValueError(op, 'the batches hold one tensor but a target is needed: give [x, y] batches');
    return { inputs: [list[0]!], target: undefined };
  }
  return { inputs: list.slice(0, -1), target: list[list.length - 1]! };
}

function forward(op: string, model: Module, inputs: Tensor[]): Tensor {
  return modelOutput(op, model, model.forward(...inputs));
}

function lossValue(op: string, c: Compiled, out: Tensor, target: Tensor): Tensor {
  const loss = c.loss(out, target);
  if (!(loss instanceof Tensor) || loss.size !== 1) {
    throw new ValueError(op, `the loss must return a scalar tensor, got ${loss instanceof Tensor ? fmtShape(loss.shape) : typeof loss}`);
  }
  return loss;
}

const examples = (t: Tensor): number => (t.ndim > 0 ? t.shape[0]! : 1);

/** Running sums of the loss (weighted by batch size, as Keras) with the compiled metrics. */
class Tally {
  private lossSum = 0;
  private count = 0;
  constructor(private readonly metrics: Metric[]) {
    for (const m of metrics) m.reset();
  }
  add(loss: number, n: number): void {
    this.lossSum += loss * n;
    this.count += n;
  }
  logs(prefix = ''): Logs {
    const logs: Logs = { [`${prefix}loss`]: this.count ? this.lossSum / this.count : NaN };
    for (const m of this.metrics) logs[prefix + m.name] = m.result();
    return logs;
  }
}

/** What a step leaves to be read once its scope has ended: the loss, and the batch's targets and predictions for the metrics. */
interface StepResult {
  n: number;
  loss: Tensor;
  target: Tensor | null;
  pred: Tensor | null;
}

/** The batch's tensors on `device` (as they are when it is undefined or already theirs). */
const onDevice = (ts: Tensor[], device: string | undefined): Tensor[] => (device ? ts.map((t) => t.to(device)) : ts);

/** Keeps what `settle` reads past the step's scope (detached: the graph is freed with the scope). */
function stepResult(c: Compiled, loss: Tensor, target: Tensor, out: Tensor): StepResult {
  const withMetrics = c.metrics.length > 0;
  return {
    n: examples(target),
    loss: keep(loss.detach()),
    target: withMetrics ? keep(target.detach()) : null,
    pred: withMetrics ? keep(out.detach()) : null,
  };
}

/** Feeds a step's loss (read already) and its host-side targets/predictions to the tally and metrics. */
function count(r: StepResult, c: Compiled, tally: Tally, value: number, target: Tensor | null, pred: Tensor | null): void {
  if (target && pred) {
    noGrad(() => {
      for (const m of c.metrics) m.update(target, pred);
    });
  }
  tally.add(value, r.n);
}

function release(...ts: (Tensor | null)[]): void {
  for (const t of ts) t?.dispose();
}

/** settle() for a CPU step: everything is readable at once. */
function settleSync(r: StepResult, c: Compiled, tally: Tally): void {
  try {
    count(r, c, tally, r.loss.item(), r.target, r.pred);
  } finally {
    release(r.loss, r.target, r.pred);
  }
}

/**
 * Reads a step's loss and feeds its metrics, then frees what the step kept. Reading waits for the
 * device (a GPU read is asynchronous); metrics count on the host, so GPU targets and predictions come
 * back to the CPU first.
 */
async function settle(r: StepResult, c: Compiled, tally: Tally): Promise<void> {
  if (r.loss.device === 'cpu') return settleSync(r, c, tally);
  let target: Tensor | null = null;
  let pred: Tensor | null = null;
  try {
    const value = await r.loss.itemAsync();
    if (r.target && r.pred) {
      target = await r.target.toAsync('cpu');
      pred = await r.pred.toAsync('cpu');
    }
    count(r, c, tally, value, target, pred);
  } finally {
    release(r.loss, r.target, r.pred, target, pred);
  }
}

function trainStep(model: Module, c: Compiled, batch: Batch | Tensor, device: string | undefined): StepResult {
  const split = splitBatch('fit', batch, true);
  const [target, ...inputs] = onDevice([split.target!, ...split.inputs], device);
  c.optimizer.zeroGrad();
  const out = forward('fit', model, inputs);
  const loss = lossValue('fit', c, out, target!);
  loss.backward();
  c.optimizer.step();
  return stepResult(c, loss, target!, out);
}

/** The steps of one pass over `source` in eval mode, without a graph (the mode is restored at the end). */
function* evalSteps(model: Module, c: Compiled, source: Source): Generator<StepResult> {
  const prev = model.training;
  const device = model.device;
  model.eval();
  try {
    const it = source.iterator(0);
    for (;;) {
      const r = scope(() =>
        noGrad(() => {
          const next = it.next();
          if (next.done) return null;
          const split = splitBatch('evaluate', next.value, true);
          const [target, ...inputs] = onDevice([split.target!, ...split.inputs], device);
          const out = forward('evaluate', model, inputs);
          return stepResult(c, lossValue('evaluate', c, out, target!), target!, out);
        }),
      );
      if (!r) return;
      yield r;
    }
  } finally {
    model.train(prev);
  }
}

function evalLogs(step: number, tally: Tally, prefix: string, bar: ProgressBar | null): Logs {
  if (step === 0) throw new ValueError(prefix ? 'fit' : 'evaluate', `the ${prefix ? 'validation ' : ''}data gave no batches`);
  const logs = tally.logs(prefix);
  bar?.finish(step, logs);
  return logs;
}

/** One pass over `source` in eval mode; the logs carry `prefix` ('val_' for validation). */
async function evaluateSource(model: Module, c: Compiled, source: Source, prefix: string, bar: ProgressBar | null): Promise<Logs> {
  const tally = new Tally(c.metrics);
  let step = 0;
  for (const r of evalSteps(model, c, source)) {
    await settle(r, c, tally);
    step++;
    bar?.update(step, tally.logs(prefix));
  }
  return evalLogs(step, tally, prefix, bar);
}

function evaluateSourceSync(model: Module, c: Compiled, source: Source, prefix: string, bar: ProgressBar | null): Logs {
  const tally = new Tally(c.metrics);
  let step = 0;
  for (const r of evalSteps(model, c, source)) {
    settleSync(r, c, tally);
    step++;
    bar?.update(step, tally.logs(prefix));
  }
  return evalLogs(step, tally, prefix, bar);
}

function parseFitArgs(a: unknown, b: unknown, c: unknown): { data: unknown; y: Tensor | undefined; opts: FitOptions } {
  if (b instanceof Tensor) return { data: a, y: b, opts: (c ?? {}) as FitOptions };
  if (a instanceof Tensor && b === undefined) throw new ValueError('fit', 'fit(x, y): y is missing');
  return { data: a, y: undefined, opts: (b ?? {}) as FitOptions };
}

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

  const device = opts.device;
  if (device) {
    await initDevice(device);
    model.to(device);
  }

  const history = new History();
  // History goes last (as in Keras), so it records what the other callbacks add to the logs (lr)
  const callbacks = new CallbackList([...(opts.callbacks ?? []), history]);
  callbacks.setup(model, { epochs, steps: train.steps, verbose });
  model.stopTraining = false;
  const wasTraining = model.training;
  try {
    await callbacks.trainBegin({});
    for (let epoch = initialEpoch; epoch < epochs && !model.stopTraining; epoch++) {
      model.train();
      await callbacks.epochBegin(epoch, {});
      if (verbose) stream.write(`Epoch ${epoch + 1}/${epochs}\n`);
      const bar = verbose ? new ProgressBar(train.steps, { verbose, stream }) : null;
      const tally = new Tally(c.metrics);
      const it = train.iterator(epoch);
      let step = 0;
      for (;;) {
        let pending: Promise<void> | undefined;
        const r = scope(() => {
          const next = it.next();
          if (next.done) return null;
          pending = callbacks.batchBegin(step, { batch: step });
          return trainStep(model, c, next.value, device);
        });
        if (pending) await pending;
        if (!r) break;
        const n = r.n;
        await settle(r, c, tally);
        const logs = { batch: step, size: n, ...tally.logs() };
        step++;
        bar?.update(step, logs);
        await callbacks.batchEnd(step - 1, logs);
        if (model.stopTraining) break;
      }
      if (step === 0) throw new ValueError('fit', 'the training data gave no batches');
      const logs = tally.logs();
      if (val) Object.assign(logs, await evaluateSource(model, c, val, 'val_', null));
      await callbacks.epochEnd(epoch, logs);
      bar?.finish(step, logs);
    }
    await callbacks.trainEnd({});
  } finally {
    model.train(wasTraining);
  }
  model.history = history;
  return history;
}

function evaluationSource(a: unknown, b?: unknown, c3?: unknown): { source: Source; bar: ProgressBar | null } {
  const y = b instanceof Tensor ? b : undefined;
  const opts = ((y ? c3 : b) ?? {}) as EvaluateOptions;
  const batchSize = checkBatchSize('evaluate', opts.batchSize ?? 32);
  if (a instanceof Tensor && !y) throw new ValueError('evaluate', 'evaluate(x, y): y is missing');
  const source = toSource('evaluate', a, y, batchSize, false);
  const bar = opts.verbose ? new ProgressBar(source.steps, { verbose: 1, stream: opts.stream }) : null;
  return { source, bar };
}

/**
 * The loss and metrics over the data, synchronously: a CPU model. A model on the GPU, whose memory is
 * read asynchronously, needs evaluateAsync.
 */
export function evaluate(model: Module, c: Compiled, a: unknown, b?: unknown, c3?: unknown): Logs {
  if (model.device !== 'cpu') {
    throw new DeviceError(
      'evaluate',
      `the model is on ${model.device}, whose memory can only be read asynchronously: use await model.evaluateAsync(...)`,
    );
  }
  const { source, bar } = evaluationSource(a, b, c3);
  return evaluateSourceSync(model, c, source, '', bar);
}

/** evaluate() on any device (the batches are moved to the model's device). */
export async function evaluateAsync(model: Module, c: Compiled, a: unknown, b?: unknown, c3?: unknown): Promise<Logs> {
  const { source, bar } = evaluationSource(a, b, c3);
  return evaluateSource(model, c, source, '', bar);
}

/** The model's outputs for every example, concatenated along the first axis (eval mode, no graph). */
export function predict(model: Module, data: unknown, opts: PredictOptions = {}): Tensor {
  const batchSize = checkBatchSize('predict', opts.batchSize ?? 32);
  let source: Source;
  if (data instanceof Tensor) {
    // views of x, no copies: batch i is x[i*bs : (i+1)*bs]
    const n = data.ndim > 0 ? data.shape[0]! : 0;
    if (n === 0) throw new ShapeError('predict', `x ${fmtShape(data.shape)} holds no examples`);
    source = {
      steps: Math.ceil(n / batchSize),
      iterator: () => {
        let at = 0;
        return {
          next: (): IteratorResult<Tensor> => {
            if (at >= n) return { done: true, value: undefined };
            const b = narrow(data, 0, at, Math.min(batchSize, n - at));
            at += batchSize;
            return { done: false, value: b };
          },
        };
      },
    };
  } else {
    source = toSource('predict', data, undefined, batchSize, false);
  }
  const prev = model.training;
  model.eval();
  const outs: Tensor[] = [];
  try {
    const it = source.iterator(0);
    for (;;) {
      const out = scope(() =>
        noGrad(() => {
          const next = it.next();
          if (next.done) return null;
          return forward('predict', model, splitBatch('predict', next.value, false).inputs);
        }),
      );
      if (!out) break;
      outs.push(out);
    }
    if (outs.length === 0) throw new ValueError('predict', 'the data gave no batches');
    if (outs.length === 1) return outs[0]!;
    const all = concat(outs, 0);
    for (const o of outs) o.dispose();
    return all;
  } catch (e) {
    for (const o of outs) o.dispose();
    throw e;
  } finally {
    model.train(prev);
  }
}
