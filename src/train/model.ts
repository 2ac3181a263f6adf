// The Keras-style methods of every Module: compile, fit, evaluate, predict, with `optimizer`,
// `stopTraining` and `history`. They are declared on Module by declaration merging and installed on
// its prototype here, so src/nn knows nothing of training; importing mox (or src/train) installs them.
//
//   model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
//   const history = await model.fit(x, y, { epochs: 5, validationSplit: 0.1 });
//   model.evaluate(xTest, yTest);   // { loss, accuracy }
//   model.predict(xTest);           // the logits, [N, C]

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { trainableParameters } from './trainable.js';
import { Module } from '../nn/module.js';
import { Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';
import { Adam, AdamW } from '../optim/adam.js';
import { RMSprop } from '../optim/rmsprop.js';
import type { History, Logs } from './callback.js';
import { type LossFn, type LossName, isCrossentropy, lossByName } from './losses.js';
import { Metric, MeanMetric, type MetricFn, type MetricName, metricByName } from './metrics.js';
import { setOutputKey } from './model-output.js';
import type { DataSource } from './batches.js';
import { type Compiled, type NonFiniteMode, checkNonFiniteMode } from './step.js';
import { type FitOptions, fit } from './fit.js';
import { type EvaluateOptions, evaluate, evaluateAsync } from './evaluate.js';
import { type PredictOptions, predict } from './predict.js';

/** An optimizer compile() knows by name. */
export type OptimizerName = 'adam' | 'sgd' | 'adamw' | 'rmsprop';

/** What compile() takes: optimizer, loss, metrics and training options, as Keras's compile. */
export interface CompileConfig {
  /** A name (Keras's default learning rates: adam, adamw, rmsprop 1e-3, sgd 1e-2) or an Optimizer. Default 'rmsprop', as Keras. */
  optimizer?: OptimizerName | Optimizer;
  /**
   * A Keras loss name, or a function (yPred, yTrue) => scalar tensor in PyTorch's argument order,
   * e.g. mox.nn.functional.crossEntropy.
   */
  loss: LossName | LossFn;
  /**
   * Names ('accuracy', 'precision', 'recall', 'f1', 'mse', 'mae'), Metric objects, or functions
   * (yTrue, yPred) => per-sample values, averaged (named after the function).
   */
  metrics?: (MetricName | Metric | MetricFn)[];
  /** Learning rate for a named optimizer (or set on a given one). */
  lr?: number;
  /**
   * Whether the model outputs logits (no final softmax/sigmoid). Default true for the cross-entropy
   * losses and for loss functions, false for mse/mae. With false, cross-entropies take probabilities;
   * binary metrics threshold probabilities at 0.5 (logits at 0).
   */
  fromLogits?: boolean;
  /**
   * For a model whose forward() returns an object of tensors (Hugging Face style, e.g. the LSTM
   * language model's { logits, state }): the entry the loss, the metrics and predict read. Default
   * 'logits'. A model returning a tensor ignores it.
   */
  output?: string;
  /**
   * What fit() does when a step's loss or a gradient is NaN or infinite, checked after backward and
   * before the optimizer step: 'raise' (a NonFiniteError naming the step, the loss and the first
   * parameter whose gradient is non-finite), 'stop' (log that, keep the last good weights, end
   * training), 'skip' (keep the weights, go on; counted in the logs' 'skipped') or 'ignore' (the
   * default: no check). fit's own `nonFinite` overrides it.
   */
  nonFinite?: NonFiniteMode;
}

declare module '../nn/module.js' {
  interface Module {
    /** Sets the optimizer, loss and metrics fit/evaluate use; returns the model. */
    compile(config: CompileConfig): this;
    /** Trains on tensors (x, y); returns the History of per-epoch logs. */
    fit(x: Tensor, y: Tensor, opts?: FitOptions): Promise<History>;
    /** Trains on a Dataset (batched by batchSize) or a DataLoader / iterable of [x, y] batches. */
    fit(data: DataSource, opts?: FitOptions): Promise<History>;
    /** Loss and metrics over (x, y) or a data source, in eval mode: { loss, accuracy, ... }. */
    evaluate(x: Tensor, y: Tensor, opts?: EvaluateOptions): Logs;
    /** Loss and metrics over the batches of a data source, in eval mode. */
    evaluate(data: DataSource, opts?: EvaluateOptions): Logs;
    /** evaluate() for a model on any device (a GPU's results are read back asynchronously). */
    evaluateAsync(x: Tensor, y: Tensor, opts?: EvaluateOptions): Promise<Logs>;
    /** evaluateAsync() over the batches of a data source. */
    evaluateAsync(data: DataSource, opts?: EvaluateOptions): Promise<Logs>;
    /** The outputs for every example of x (or of a data source), concatenated; eval mode, no graph. */
    predict(x: Tensor | DataSource, opts?: PredictOptions): Tensor;
    /** The compiled optimizer (undefined before compile()). */
    optimizer: Optimizer | undefined;
    /** Set to true (e.g. by a callback) to end fit() after the current batch. */
    stopTraining: boolean;
    /** The History of the last fit(). */
    history: History | undefined;
  }
}

interface TrainState {
  compiled?: Compiled;
  stopTraining: boolean;
  history?: History;
}

const states = new WeakMap<Module, TrainState>();

function stateOf(m: Module): TrainState {
  let s = states.get(m);
  if (!s) states.set(m, (s = { stopTraining: false }));
  return s;
}

/** What compile() set up for `m` (its optimizer, loss, metrics); a ValueError naming `op` before compile(). */
export function compiledOf(op: string, m: Module): Compiled {
  const c = stateOf(m).compiled;
  if (!c) throw new ValueError(op, 'the model must be compiled first: model.compile({ optimizer, loss, metrics })');
  return c;
}

const DEFAULT_LR: Record<OptimizerName, number> = { adam: 1e-3, adamw: 1e-3, rmsprop: 1e-3, sgd: 1e-2 };

function makeOptimizer(model: Module, spec: OptimizerName | Optimizer, lr: number | undefined): Optimizer {
  if (spec instanceof Optimizer) {
    if (lr !== undefined) spec.lr = lr;
    return spec;
  }
  const params = trainableParameters(model).map(([, p]) => p);
  if (params.length === 0) throw new ValueError('compile', 'the model has no trainable parameters (every parameter is frozen)');
  const key = typeof spec === 'string' ? (spec.toLowerCase() as OptimizerName) : spec;
  const rate = lr ?? DEFAULT_LR[key as OptimizerName];
  switch (key) {
    case 'adam':
      return new Adam(params, { lr: rate });
    case 'adamw':
      return new AdamW(params, { lr: rate });
    case 'rmsprop':
      return new RMSprop(params, { lr: rate });
    case 'sgd':
      return new SGD(params, { lr: rate });
    default:
      throw new ValueError('compile', `unknown optimizer '${String(spec)}' (known: adam, adamw, sgd, rmsprop, or an Optimizer instance)`);
  }
}

function compile(this: Module, config: CompileConfig): Module {
  if (!config || typeof config !== 'object') throw new ValueError('compile', 'expected a config object: { optimizer, loss, metrics }');
  const { loss } = config;
  if (loss === undefined) throw new ValueError('compile', 'a loss is required');
  const fromLogits = config.fromLogits ?? (typeof loss === 'function' || isCrossentropy(loss));
  const lossFn: LossFn = typeof loss === 'function' ? loss : lossByName(loss, { fromLogits });
  const metrics = (config.metrics ?? []).map((m): Metric => {
    if (m instanceof Metric) return m;
    if (typeof m === 'string') return metricByName(m, { fromLogits });
    if (typeof m === 'function') return new MeanMetric(m.name || 'metric', m);
    throw new ValueError('compile', `a metric must be a name, a Metric or a function, got ${typeof m}`);
  });
  const names = new Set<string>(['loss']);
  for (const m of metrics) {
    if (names.has(m.name)) throw new ValueError('compile', `two metrics are named '${m.name}'`);
    names.add(m.name);
  }
  const optimizer = makeOptimizer(this, config.optimizer ?? 'rmsprop', config.lr);
  setOutputKey(this, config.output);
  const nonFinite = checkNonFiniteMode('compile', config.nonFinite ?? 'ignore');
  const namedOptimizer = !(config.optimizer instanceof Optimizer);
  const trainable = new Set<Tensor>(trainableParameters(this).map(([, p]) => p));
  const lossName = typeof loss === 'function' ? loss.name || 'function' : loss;
  stateOf(this).compiled = { optimizer, loss: lossFn, metrics, nonFinite, namedOptimizer, trainable, lossName, fromLogits };
  return this;
}

function install(): void {
  const proto = Module.prototype as unknown as Record<string, unknown>;
  if (Object.hasOwn(proto, 'compile')) return;
  Object.defineProperties(Module.prototype, {
    compile: { value: compile, writable: true, configurable: true },
    fit: {
      // async, so that every error (not compiled, bad arguments) arrives as a rejection
      value: async function (this: Module, a: unknown, b?: unknown, c?: unknown) {
        return fit(this, compiledOf('fit', this), a, b, c);
      },
      writable: true,
      configurable: true,
    },
    evaluate: {
      value: function (this: Module, a: unknown, b?: unknown, c?: unknown) {
        return evaluate(this, compiledOf('evaluate', this), a, b, c);
      },
      writable: true,
      configurable: true,
    },
    evaluateAsync: {
      value: async function (this: Module, a: unknown, b?: unknown, c?: unknown) {
        return evaluateAsync(this, compiledOf('evaluate', this), a, b, c);
      },
      writable: true,
      configurable: true,
    },
    predict: {
      value: function (this: Module, x: unknown, opts?: PredictOptions) {
        return predict(this, x, opts);
      },
      writable: true,
      configurable: true,
    },
    optimizer: {
      get(this: Module) {
        return stateOf(this).compiled?.optimizer;
      },
      set(this: Module, opt: Optimizer | undefined) {
        const c = stateOf(this).compiled;
        if (!c) throw new ValueError('optimizer', 'compile the model before replacing its optimizer');
        if (!(opt instanceof Optimizer)) throw new ValueError('optimizer', 'expected an Optimizer');
        c.optimizer = opt;
        c.namedOptimizer = false;
        c.trainable = new Set<Tensor>(trainableParameters(this).map(([, p]) => p));
      },
      configurable: true,
    },
    stopTraining: {
      get(this: Module) {
        return stateOf(this).stopTraining;
      },
      set(this: Module, v: boolean) {
        stateOf(this).stopTraining = Boolean(v);
      },
      configurable: true,
    },
    history: {
      get(this: Module) {
        return stateOf(this).history;
      },
      set(this: Module, h: History | undefined) {
        stateOf(this).history = h;
      },
      configurable: true,
    },
  });
}

install();
