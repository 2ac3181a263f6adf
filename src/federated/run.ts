// The server loop of federated training (Flower's start_server / start_simulation): for each round,
// the strategy picks clients and configs, the clients fit in parallel (in this process, or in other
// processes through HttpClient), the strategy averages what came back and evaluates the result. The
// history keeps every round: the clients sampled, the failures, the clients' training metrics and the
// server's test loss and metrics.

import '../ops/tensor-methods.js';
import { ClientFailureError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Client, Config, FitRes, Metrics } from './client.js';
import type { EvaluateResult, Failure, FitResult, Instruction, Strategy } from './strategy.js';
import { type Weights, checkWeights, cloneWeights } from './weights.js';

/** What runFederated needs. */
export interface RunFederatedOptions {
  /** The K clients; sampled by index. */
  clients: readonly Client[];
  /** How clients are sampled and their results combined: FedAvg, or your own. */
  strategy: Strategy;
  /** Rounds to run (Flower's num_rounds). */
  rounds: number;
  /** The starting global weights (a model's stateDict(); copied, so the model may go on changing). */
  initialWeights: Weights;
  /** Called after each round, and after the initial evaluation (round 0), e.g. to print progress. */
  onRound?: (record: RoundRecord) => void;
}

/** One round in the history. */
export interface RoundRecord {
  /** From 1; 0 is the evaluation of the initial weights. */
  round: number;
  /** The ids of the clients sampled to fit. */
  clients: string[];
  /** Clients whose fit failed (accepted by the strategy), with the reason. */
  failures: {
    /** The client's id. */
    client: string;
    /** The error's message. */
    error: string;
  }[];
  /** Examples behind the new weights: the sum of n_k over the clients that returned. */
  numExamples: number;
  /** The clients' training metrics, pooled by the strategy (weighted by examples, for FedAvg). */
  fitMetrics: Metrics;
  /** The server's test loss and metrics of the weights after the round (undefined without a test set). */
  loss?: number;
  /** The server's test metrics of the weights after the round (empty without a test set). */
  metrics: Metrics;
  /** The clients' own evaluation, pooled (federated evaluation), when the strategy asks for one. */
  distributed?: {
    /** The clients' mean loss, weighted by their examples. */
    loss: number;
    /** The clients' other metrics, weighted by their examples. */
    metrics: Metrics;
  };
  /** Wall time of the round. */
  seconds: number;
}

/** What runFederated returns: the final global weights (the caller's to keep) and each round's record. */
export interface FederatedHistory {
  /** The final global weights (the caller's to keep and dispose). */
  weights: Weights;
  /** Each round's record, round 0 (the initial evaluation) first. */
  rounds: RoundRecord[];
}

/** A client's id: its own, or its index. */
export function clientId(clients: readonly Client[], i: number): string {
  return clients[i]!.id ?? String(i);
}

/** Any error a client's call ends in, as a ClientFailureError naming the client and the round. */
function asFailure(e: unknown, id: string, round: number, what: string): ClientFailureError {
  if (e instanceof ClientFailureError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ClientFailureError('federated', `client ${id} failed to ${what} in round ${round}: ${msg}`, { client: id, round });
}

/** Checks a client's fit result (n_k, weights or delta with the global weights' names and shapes). */
function checkFitRes(res: FitRes, current: Weights, id: string): void {
  const op = 'federated';
  if (typeof res !== 'object' || res === null)
    throw new ValueError(op, `client ${id}: fit returned ${res === null ? 'null' : typeof res}, not a FitRes`);
  if (!(Number.isFinite(res.numExamples) && res.numExamples >= 0)) {
    throw new ValueError(op, `client ${id}: numExamples must be a finite number >= 0, got ${res.numExamples}`);
  }
  if (!res.weights === !res.delta) throw new ValueError(op, `client ${id}: fit must return exactly one of weights and delta`);
  checkWeights(op, current, (res.weights ?? res.delta)!, `client ${id}`);
}

/** Calls `call` on each instructed client at once; the results and the failures, in instruction order. */
async function callAll<R>(
  clients: readonly Client[],
  instructions: Instruction[],
  round: number,
  what: string,
  call: (c: Client, config: Config) => Promise<R>,
): Promise<{ ok: { client: number; id: string; res: R }[]; failures: Failure[] }> {
  const settled = await Promise.allSettled(instructions.map(({ client, config }) => call(clients[client]!, config)));
  const ok: { client: number; id: string; res: R }[] = [];
  const failures: Failure[] = [];
  settled.forEach((s, i) => {
    const client = instructions[i]!.client;
    const id = clientId(clients, client);
    if (s.status === 'fulfilled') ok.push({ client, id, res: s.value });
    else failures.push({ client, id, error: asFailure(s.reason, id, round, what) });
  });
  return { ok, failures };
}

/** Frees the tensors of a client's result that are not the global weights' own. */
function disposeResult(res: FitRes, keep: Set<Tensor>): void {
  for (const t of Object.values(res.weights ?? res.delta ?? {})) if (!keep.has(t)) t.dispose();
}

/**
 * Runs `rounds` rounds of federated training with `strategy` over `clients`, from `initialWeights`.
 * Clients' results are checked against the global weights (names, shapes, numExamples) and freed
 * after aggregation, so a client must return copies, never a model's live tensors.
 */
export async function runFederated(opts: RunFederatedOptions): Promise<FederatedHistory> {
  const op = 'federated';
  const { clients, strategy, rounds } = opts;
  if (!Array.isArray(clients) || clients.length === 0) throw new ValueError(op, 'no clients: runFederated needs at least one');
  if (!Number.isInteger(rounds) || rounds < 0) throw new ValueError(op, `rounds must be an integer >= 0, got ${rounds}`);
  if (typeof opts.initialWeights !== 'object' || opts.initialWeights === null || Object.keys(opts.initialWeights).length === 0) {
    throw new ValueError(op, 'initialWeights must hold the named tensors of a model (model.stateDict())');
  }
  const ids = clients.map((_, i) => clientId(clients, i));
  if (new Set(ids).size !== ids.length) throw new ValueError(op, `client ids must differ, got [${ids.join(', ')}]`);

  let current = cloneWeights(opts.initialWeights);
  const history: RoundRecord[] = [];
  const record = (r: RoundRecord): void => {
    history.push(r);
    opts.onRound?.(r);
  };

  const t0 = performance.now();
  const initial = await strategy.evaluate(0, current);
  record({
    round: 0,
    clients: [],
    failures: [],
    numExamples: 0,
    fitMetrics: {},
    loss: initial?.loss,
    metrics: initial?.metrics ?? {},
    seconds: (performance.now() - t0) / 1000,
  });

  for (let round = 1; round <= rounds; round++) {
    const start = performance.now();
    const instructions = strategy.configureFit(round, current, ids);
    for (const { client } of instructions) {
      if (!Number.isInteger(client) || client < 0 || client >= clients.length) {
        throw new ValueError(op, `round ${round}: the strategy chose client ${client}, but there are ${clients.length}`);
      }
    }
    const fit = await callAll(clients, instructions, round, 'fit', (c, config) => c.fit(current, config));
    const previous = new Set(Object.values(current));
    let next: Weights | null = null;
    let fitMetrics: Metrics;
    try {
      for (const r of fit.ok) checkFitRes(r.res, current, r.id);
      ({ weights: next, metrics: fitMetrics } = await strategy.aggregateFit(round, fit.ok as FitResult[], fit.failures, current));
      if (next) checkWeights(op, current, next, `round ${round}'s aggregate`);
    } finally {
      // the results are freed, except tensors the global weights (old or new) still hold
      const keep = new Set([...previous, ...Object.values(next ?? {})]);
      for (const r of fit.ok) if (r.res && typeof r.res === 'object') disposeResult(r.res, keep);
    }
    if (next) {
      const kept = new Set(Object.values(next));
      for (const t of previous) if (!kept.has(t)) t.dispose();
      current = next;
    }

    const evalInstructions = strategy.configureEvaluate(round, current, ids);
    let distributed: { loss: number; metrics: Metrics } | undefined;
    if (evalInstructions.length) {
      const ev = await callAll(clients, evalInstructions, round, 'evaluate', (c, config) => c.evaluate(current, config));
      distributed = strategy.aggregateEvaluate(round, ev.ok as EvaluateResult[], ev.failures) ?? undefined;
    }
    const central = await strategy.evaluate(round, current);
    record({
      round,
      clients: instructions.map(({ client }) => ids[client]!),
      failures: fit.failures.map((f) => ({ client: f.id, error: f.error.message })),
      numExamples: fit.ok.reduce((s, r) => s + r.res.numExamples, 0),
      fitMetrics,
      loss: central?.loss,
      metrics: central?.metrics ?? {},
      distributed,
      seconds: (performance.now() - start) / 1000,
    });
  }
  return { weights: current, rounds: history };
}
