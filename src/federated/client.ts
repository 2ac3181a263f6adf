// A federated client: what the server asks of a participant (Flower's Client / NumPyClient), and
// ModelClient, the one that trains a mox model on its own examples. A client never sees another's
// data; it gets the global weights and a config, and returns new weights with the number of examples
// they came from, which FedAvg uses as the client's weight n_k.

import '../ops/tensor-methods.js';
import '../train/model.js';
import { ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { LossFn, LossName } from '../train/losses.js';
import type { MetricName } from '../train/metrics.js';
import { type Weights, checkWeights, cloneWeights } from './weights.js';

/** What the server sends with the weights (Flower's config: a flat record of scalars). */
export type Config = Record<string, number | string | boolean>;

/** Numbers a client reports (its training loss, its accuracy, ...). */
export type Metrics = Record<string, number>;

/**
 * A client's answer to fit: its new weights (or their change, `delta` = new - received) and n_k, the
 * examples it trained on, which FedAvg weighs it by.
 */
export interface FitRes {
  /** The new weights (or else delta). */
  weights?: Weights;
  /** The new weights minus the ones received (or else weights). */
  delta?: Weights;
  /** n_k: the examples trained on. */
  numExamples: number;
  /** The client's own figures (its training loss, accuracy, ...). */
  metrics: Metrics;
}

/** A client's answer to evaluate: the loss of the weights on its own examples. */
export interface EvaluateRes {
  /** The mean loss over its examples. */
  loss: number;
  /** The examples evaluated. */
  numExamples: number;
  /** The other figures (accuracy, ...). */
  metrics: Metrics;
}

/**
 * A participant in federated training (Flower's `Client`): it trains the weights it is sent on its own
 * data (`fit`) and measures them (`evaluate`). In-process (ModelClient) or over HTTP (HttpClient).
 */
export interface Client {
  /** A name for history and messages; the server uses the client's index when absent. */
  readonly id?: string;
  /** Loads `weights`, trains as `config` says (epochs, batchSize, lr, seed), returns the result. */
  fit(weights: Weights, config: Config): Promise<FitRes>;
  /** Loads `weights` and measures them on the client's own examples. */
  evaluate(weights: Weights, config: Config): Promise<EvaluateRes>;
}

/** What a ModelClient trains and how. */
export interface ModelClientOptions {
  /** The model whose state dict the weights are; clients may share one (their calls take turns). */
  model: Module;
  /** This client's training examples. */
  x: Tensor;
  /** The targets of the training examples. */
  y: Tensor;
  /** Examples evaluate() measures (default: the training examples). */
  testX?: Tensor;
  /** The targets of testX. */
  testY?: Tensor;
  /** Default 'sparseCategoricalCrossentropy' (logits and class indices). */
  loss?: LossName | LossFn;
  /** Default ['accuracy']. */
  metrics?: MetricName[];
  /** The local optimizer, made fresh in each fit (default 'sgd', the paper's). */
  optimizer?: 'sgd' | 'adam' | 'adamw' | 'rmsprop';
  /** Learning rate when the config has no `lr` (default 0.01). */
  lr?: number;
  /** Default epochs E and batch size B when the config has none (1 and 32). */
  epochs?: number;
  /** Default batch size B when the config has none (32). */
  batchSize?: number;
  /** The client's name in history and messages (default: its index). */
  id?: string;
}

/** A positive integer from the config, or the default. */
function intOf(config: Config, key: string, dflt: number): number {
  const v = config[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new ValueError('federated.fit', `config.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** The calls of every ModelClient on one model, chained so two never interleave their loads and fits. */
const turns = new WeakMap<Module, Promise<unknown>>();

function takeTurn<T>(model: Module, fn: () => Promise<T>): Promise<T> {
  const prev = turns.get(model) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  turns.set(
    model,
    next.catch(() => undefined),
  );
  return next;
}

/**
 * A client that trains a mox model on its own examples (Flower's NumPyClient around a PyTorch model):
 * fit loads the weights, compiles a fresh optimizer (so no state leaks across rounds), runs
 * `model.fit` for E epochs of batch size B, shuffled with `config.seed`, and returns copies of the new
 * weights with n_k = its number of examples.
 */
export class ModelClient implements Client {
  readonly id?: string;
  /** A client over `options.model` and its examples; x and y must hold the same number of rows. */
  constructor(
    /** What this client trains and how. */
    readonly options: ModelClientOptions,
  ) {
    const { x, y } = options;
    if (!x || !y || x.shape[0] !== y.shape[0] || x.shape[0] === 0) {
      throw new ValueError(
        'federated.ModelClient',
        `x and y must hold the same, positive number of examples, got ${x?.shape[0]} and ${y?.shape[0]}`,
      );
    }
    this.id = options.id;
  }

  /** n_k: this client's training examples. */
  get numExamples(): number {
    return this.options.x.shape[0]!;
  }

  private load(weights: Weights, op: string): void {
    const { model } = this.options;
    checkWeights(op, model.stateDict(), weights, `client ${this.id ?? ''}`.trim());
    model.loadStateDict(weights);
  }

  private compile(lr: number): void {
    const o = this.options;
    o.model.compile({
      optimizer: o.optimizer ?? 'sgd',
      lr,
      loss: o.loss ?? 'sparseCategoricalCrossentropy',
      metrics: o.metrics ?? ['accuracy'],
    });
  }

  /** Loads the weights, trains config.epochs epochs of config.batchSize at config.lr, returns copies of the new weights. */
  fit(weights: Weights, config: Config): Promise<FitRes> {
    const o = this.options;
    return takeTurn(o.model, async () => {
      this.load(weights, 'federated.fit');
      const lr = config.lr ?? o.lr ?? 0.01;
      if (typeof lr !== 'number' || !(lr > 0))
        throw new ValueError('federated.fit', `config.lr must be a positive number, got ${JSON.stringify(lr)}`);
      this.compile(lr);
      const seed = typeof config.seed === 'number' ? config.seed : undefined;
      const history = await o.model.fit(o.x, o.y, {
        epochs: intOf(config, 'epochs', o.epochs ?? 1),
        batchSize: intOf(config, 'batchSize', o.batchSize ?? 32),
        seed,
        verbose: 0,
      });
      const metrics: Metrics = {};
      for (const [k, v] of Object.entries(history.history)) if (v.length) metrics[k] = v.at(-1)!;
      return { weights: cloneWeights(o.model.stateDict()), numExamples: this.numExamples, metrics };
    });
  }

  /** Loads the weights and evaluates them on testX/testY (else the training examples). */
  evaluate(weights: Weights, config: Config): Promise<EvaluateRes> {
    const o = this.options;
    return takeTurn(o.model, async () => {
      this.load(weights, 'federated.evaluate');
      this.compile(o.lr ?? 0.01);
      const x = o.testX ?? o.x;
      const y = o.testY ?? o.y;
      const logs = o.model.evaluate(x, y, { batchSize: intOf(config, 'batchSize', 256) });
      const { loss, ...metrics } = logs;
      return { loss: loss!, numExamples: x.shape[0]!, metrics: metrics as Metrics };
    });
  }
}
