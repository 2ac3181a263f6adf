// One training or evaluation step and what it leaves behind. Every step (fetching its batch included)
// runs inside one mox.scope, so the batch, the activations and the graph are freed when the step ends
// and a long fit holds steady memory; the step keeps only its loss (and, for the metrics, its targets
// and predictions), which settle() reads once the scope has ended and then frees.

import '../ops/tensor-methods.js';
import { ValueError, fmtShape } from '../errors.js';
import { keep, scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Logs } from './callback.js';
import type { Metric } from './metrics.js';
import type { LossFn } from './losses.js';
import { modelOutput } from './model-output.js';
import { type Batch, type Source, onDevice, splitBatch } from './batches.js';

/** What compile() sets up. */
export interface Compiled {
  optimizer: Optimizer;
  loss: LossFn;
  metrics: Metric[];
}

export function forward(op: string, model: Module, inputs: Tensor[]): Tensor {
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
export class Tally {
  private lossSum = 0;
  private count = 0;
  constructor(private readonly metrics: Metric[]) {
    for (const m of metrics) m.reset();
  }
  add(loss: number, n: number): void {
    this.lossSum += loss * n;
    this.count += n;
  }
  /** The running sums and each metric's state, as JSON (for train.BackupAndRestore). */
  getState(): { lossSum: number; count: number; metrics: unknown[] } {
    return { lossSum: this.lossSum, count: this.count, metrics: this.metrics.map((m) => m.getState()) };
  }
  setState(s: { lossSum: number; count: number; metrics: unknown[] }): void {
    this.lossSum = s.lossSum;
    this.count = s.count;
    this.metrics.forEach((m, i) => {
      if (s.metrics[i] !== null && s.metrics[i] !== undefined) m.setState(s.metrics[i]);
    });
  }
  logs(prefix = ''): Logs {
    const logs: Logs = { [`${prefix}loss`]: this.count ? this.lossSum / this.count : NaN };
    for (const m of this.metrics) logs[prefix + m.name] = m.result();
    return logs;
  }
}

/** What a step leaves to be read once its scope has ended: the loss, and the batch's targets and predictions for the metrics. */
export interface StepResult {
  n: number;
  loss: Tensor;
  target: Tensor | null;
  pred: Tensor | null;
}

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
export function settleSync(r: StepResult, c: Compiled, tally: Tally): void {
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
export async function settle(r: StepResult, c: Compiled, tally: Tally): Promise<void> {
  if (r.loss.backend.capabilities.syncRead) return settleSync(r, c, tally);
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

export function trainStep(model: Module, c: Compiled, batch: Batch | Tensor, device: string | undefined): StepResult {
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
export function* evalSteps(model: Module, c: Compiled, source: Source): Generator<StepResult> {
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
