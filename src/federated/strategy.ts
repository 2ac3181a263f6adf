// The server's side of a round, in Flower's shape: a Strategy chooses the clients and their configs
// (configureFit), combines what they return (aggregateFit) and measures the result (evaluate, on the
// server's own test set). FedAvg is McMahan et al. 2017, Algorithm 1: each round a seeded sample of
// m = max(floor(C * K), 1) of the K clients, each training E epochs of batch size B from the global
// weights, and the new global weights the mean of theirs weighted by n_k / n.

import '../ops/tensor-methods.js';
import '../train/model.js';
import { ClientFailureError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Config, EvaluateRes, FitRes, Metrics } from './client.js';
import { type Weights, addDelta, weightedAverage } from './weights.js';

/** One sampled client and the config it is sent (Flower's (ClientProxy, FitIns)). */
export interface Instruction {
  /** The client's index in the clients list. */
  client: number;
  /** What the client is told: epochs, batchSize, lr, seed, round. */
  config: Config;
}

/** A client's fit that came back. */
export interface FitResult {
  /** The client's index in the clients list. */
  client: number;
  /** The client's id (its own, or its index). */
  id: string;
  /** What its fit returned: new weights or a delta, n_k and metrics. */
  res: FitRes;
}

/** A client's evaluate that came back. */
export interface EvaluateResult {
  /** The client's index in the clients list. */
  client: number;
  /** The client's id (its own, or its index). */
  id: string;
  /** What its evaluate returned: loss, examples and metrics. */
  res: EvaluateRes;
}

/** A client's call that failed (timed out, died, answered an error). */
export interface Failure {
  /** The client's index in the clients list. */
  client: number;
  /** The client's id (its own, or its index). */
  id: string;
  /** Why it failed, naming the client and the round. */
  error: ClientFailureError;
}

/** A loss and metrics: the server's own test of the weights, or the clients' pooled. */
export interface Evaluation {
  /** The mean loss. */
  loss: number;
  /** The other metrics (accuracy, ...). */
  metrics: Metrics;
}

/**
 * How the server runs a round (Flower's `Strategy`). `null` weights from aggregateFit keep the
 * current ones; `null` from evaluate means the strategy has no test set.
 */
export interface Strategy {
  /** The clients to train this round and each one's config. */
  configureFit(round: number, weights: Weights, clientIds: readonly string[]): Instruction[];
  /** The new global weights from the results (the strategy may throw on failures). */
  aggregateFit(
    round: number,
    results: FitResult[],
    failures: Failure[],
    current: Weights,
  ): Promise<{
    /** The new global weights, or null to keep the current ones. */
    weights: Weights | null;
    /** The clients' training metrics, pooled. */
    metrics: Metrics;
  }>;
  /** The clients that evaluate the new weights on their own data (federated evaluation); may be none. */
  configureEvaluate(round: number, weights: Weights, clientIds: readonly string[]): Instruction[];
  /** The clients' evaluations pooled. */
  aggregateEvaluate(round: number, results: EvaluateResult[], failures: Failure[]): Evaluation | null;
  /** The server's own evaluation of the weights (centralized evaluation); round 0 is the initial weights. */
  evaluate(round: number, weights: Weights): Promise<Evaluation | null>;
}

/** Options of FedAvg; the names follow Flower's FedAvg (fraction_fit, min_fit_clients, accept_failures, ...). */
export interface FedAvgOptions {
  /** C: the fraction of clients sampled each round, in (0, 1] (default 1). */
  fractionFit?: number;
  /** At least this many clients a round (default 1: the paper's max(C * K, 1)). */
  minFitClients?: number;
  /** The fraction of clients that evaluate the new weights on their own data each round (default 0: none). */
  fractionEvaluate?: number;
  /** The config every sampled client gets (E as `epochs`, B as `batchSize`, `lr`), or a function of the round (Flower's on_fit_config_fn). */
  fitConfig?: Config | ((round: number) => Config);
  /** The server's test of the weights after each round (Flower's evaluate_fn). */
  evaluateFn?: (round: number, weights: Weights) => Evaluation | null | Promise<Evaluation | null>;
  /** On a client's failure go on without it (true), or throw its ClientFailureError (false, the default). */
  acceptFailures?: boolean;
  /** Seeds the sampling and each client's shuffle seed (`config.seed` when fitConfig sets none); default 0. */
  seed?: number;
}

/** The mean of each metric over the entries, weighted by their examples (what Flower's examples pass as fit_metrics_aggregation_fn). */
export function weightedMetrics(entries: readonly { numExamples: number; metrics: Metrics }[]): Metrics {
  const sums: Record<string, { sum: number; n: number }> = {};
  for (const { numExamples, metrics } of entries) {
    for (const [k, v] of Object.entries(metrics)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const s = (sums[k] ??= { sum: 0, n: 0 });
      s.sum += v * numExamples;
      s.n += numExamples;
    }
  }
  return Object.fromEntries(Object.entries(sums).map(([k, { sum, n }]) => [k, n > 0 ? sum / n : Number.NaN]));
}

/** m of the indices 0..k-1 without replacement, in the order drawn (a partial Fisher-Yates shuffle). */
export function sampleClients(k: number, m: number, gen: Generator): number[] {
  const idx = Array.from({ length: k }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + (gen.nextU32() % (k - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, m);
}

/** The error a round's failures raise when they are not accepted: the first one's, with the count. */
function failureError(round: number, failures: Failure[]): ClientFailureError {
  const f = failures[0]!;
  const more = failures.length > 1 ? ` (${failures.length} clients failed in round ${round}; this is the first)` : '';
  return new ClientFailureError(
    'federated',
    `${f.error.message.replace(/^federated: /, '')}${more}; FedAvg({ acceptFailures: true }) goes on without failed clients`,
    {
      client: f.id,
      round,
    },
  );
}

/** A fraction in (0, 1], or a ValueError naming the option. */
function fraction(name: string, v: number, allowZero: boolean): number {
  if (typeof v !== 'number' || !(allowZero ? v >= 0 : v > 0) || v > 1) {
    throw new ValueError('federated.FedAvg', `${name} must be in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${v}`);
  }
  return v;
}

/** Federated averaging (McMahan et al. 2017, Algorithm 1) as a Strategy; see FedAvgOptions. */
export class FedAvg implements Strategy {
  /** C, the fraction of clients sampled to fit each round. */
  readonly fractionFit: number;
  /** The fewest clients a round samples. */
  readonly minFitClients: number;
  /** The fraction of clients that evaluate each round (0: none). */
  readonly fractionEvaluate: number;
  /** Whether a round goes on without the clients that failed. */
  readonly acceptFailures: boolean;
  /** The seed of the sampling and of the clients' shuffle seeds. */
  readonly seed: number;
  private readonly options: FedAvgOptions;

  /** A FedAvg strategy; options are checked here (a ValueError names the one at fault). */
  constructor(options: FedAvgOptions = {}) {
    this.options = options;
    this.fractionFit = fraction('fractionFit (C)', options.fractionFit ?? 1, false);
    this.fractionEvaluate = fraction('fractionEvaluate', options.fractionEvaluate ?? 0, true);
    const min = options.minFitClients ?? 1;
    if (!Number.isInteger(min) || min < 1) throw new ValueError('federated.FedAvg', `minFitClients must be a positive integer, got ${min}`);
    this.minFitClients = min;
    this.acceptFailures = options.acceptFailures ?? false;
    this.seed = options.seed ?? 0;
    if (!Number.isFinite(this.seed)) throw new ValueError('federated.FedAvg', `seed must be a finite number, got ${this.seed}`);
  }

  /** m = max(floor(C * K), minFitClients), at most K. */
  numFitClients(k: number): number {
    // the epsilon keeps 0.3 * 10 = 3.0000000000000004 and 0.29 * 100 = 28.999999999999996 whole
    return Math.min(k, Math.max(Math.floor(this.fractionFit * k + 1e-9), this.minFitClients));
  }

  /** This round's generator: the same for the same seed and round, whatever ran before. */
  private generator(round: number, stream: number): Generator {
    return new Generator(this.seed * 1_000_003 + round * 4 + stream);
  }

  configureFit(round: number, _weights: Weights, clientIds: readonly string[]): Instruction[] {
    const gen = this.generator(round, 0);
    const chosen = sampleClients(clientIds.length, this.numFitClients(clientIds.length), gen);
    const fc = this.options.fitConfig;
    const base = typeof fc === 'function' ? fc(round) : (fc ?? {});
    return chosen.map((client) => ({ client, config: { seed: gen.nextU32(), ...base, round } }));
  }

  async aggregateFit(
    round: number,
    results: FitResult[],
    failures: Failure[],
    current: Weights,
  ): Promise<{
    /** The examples-weighted mean of the clients' weights, or null when none returned. */
    weights: Weights | null;
    /** The clients' training metrics, weighted by their examples. */
    metrics: Metrics;
  }> {
    if (failures.length && !this.acceptFailures) throw failureError(round, failures);
    if (results.length === 0) return { weights: null, metrics: {} };
    const made: Weights[] = [];
    try {
      const entries = results.map(({ id, res }) => {
        if (res.weights) return { weights: res.weights, numExamples: res.numExamples };
        const w = addDelta(current, res.delta!, `client ${id}`);
        made.push(w);
        return { weights: w, numExamples: res.numExamples };
      });
      return { weights: await weightedAverage(entries), metrics: weightedMetrics(results.map((r) => r.res)) };
    } finally {
      for (const w of made) for (const t of Object.values(w)) t.dispose();
    }
  }

  configureEvaluate(round: number, _weights: Weights, clientIds: readonly string[]): Instruction[] {
    if (this.fractionEvaluate === 0) return [];
    const k = clientIds.length;
    const m = Math.min(k, Math.max(Math.floor(this.fractionEvaluate * k + 1e-9), 1));
    return sampleClients(k, m, this.generator(round, 1)).map((client) => ({ client, config: { round } }));
  }

  aggregateEvaluate(round: number, results: EvaluateResult[], failures: Failure[]): Evaluation | null {
    if (failures.length && !this.acceptFailures) throw failureError(round, failures);
    if (results.length === 0) return null;
    const pooled = weightedMetrics(
      results.map(({ res }) => ({ numExamples: res.numExamples, metrics: { ...res.metrics, loss: res.loss } })),
    );
    const { loss, ...metrics } = pooled;
    return { loss: loss!, metrics };
  }

  async evaluate(round: number, weights: Weights): Promise<Evaluation | null> {
    return (await this.options.evaluateFn?.(round, weights)) ?? null;
  }
}

/**
 * An evaluateFn for FedAvg: loads the weights into `model` (compiled with the loss and metrics to
 * report) and evaluates it on the server's test set (x, y).
 */
export function evaluateOn(
  model: Module,
  x: Tensor,
  y: Tensor,
  opts: { batchSize?: number } = {},
): (round: number, weights: Weights) => Evaluation {
  return (_round, weights) => {
    model.loadStateDict(weights);
    const { loss, ...metrics } = model.evaluate(x, y, { batchSize: opts.batchSize ?? 256 });
    return { loss: loss!, metrics };
  };
}
