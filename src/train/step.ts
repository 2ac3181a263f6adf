// One training or evaluation step and what it leaves behind. Every step (fetching its batch included)
// runs inside one mox.scope, so the batch, the activations and the graph are freed when the step ends
// and a long fit holds steady memory; the step keeps only its loss (and, for the metrics, its targets
// and predictions), which settle() reads once the scope has ended and then frees.

import '../ops/tensor-methods.js';
import { ValueError, fmtShape } from '../errors.js';
import { stack } from '../ops/join.js';
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

/**
 * What a training step does when its loss or a gradient is NaN or infinite (checked after backward,
 * before the optimizer step): 'raise' throws a NonFiniteError naming the step, the loss and the first
 * parameter whose gradient is non-finite; 'stop' logs that message, leaves the weights as they were
 * and ends training (Keras's TerminateOnNaN, one step earlier); 'skip' leaves the weights as they
 * were and goes on (the step counts in the logs' 'skipped', not in the loss or metrics); 'ignore'
 * (the default) checks nothing and steps the optimizer whatever the values.
 * @inline
 */
export type NonFiniteMode = 'raise' | 'stop' | 'skip' | 'ignore';

/** `mode` if it is a NonFiniteMode, else a ValueError naming `op`. */
export function checkNonFiniteMode(op: string, mode: unknown): NonFiniteMode {
  if (mode === 'raise' || mode === 'stop' || mode === 'skip' || mode === 'ignore') return mode;
  throw new ValueError(op, `nonFinite must be 'raise', 'stop', 'skip' or 'ignore', got ${JSON.stringify(mode)}`);
}

/** What compile() sets up. */
export interface Compiled {
  optimizer: Optimizer;
  loss: LossFn;
  metrics: Metric[];
  /** What a non-finite loss or gradient does (compile's `nonFinite`; fit's overrides it). */
  nonFinite: NonFiniteMode;
  /**
   * Whether compile made the optimizer from a name (so fit may give it the parameters that have become
   * trainable since, see syncTrainable) rather than being handed an Optimizer.
   */
  namedOptimizer: boolean;
  /** The parameters that required grad when compile() ran (or fit last synced them): see syncTrainable. */
  trainable: Set<Tensor>;
  /** The loss as compile() was given it: a Keras name, or a function's name (for run records). */
  lossName?: string;
  /** Whether the model outputs logits (compile's `fromLogits`, resolved). */
  fromLogits?: boolean;
}

/** The model's output for `inputs` (the compiled `output` entry of a model that returns an object). */
export function forward(op: string, model: Module, inputs: Tensor[]): Tensor {
  return modelOutput(op, model, model.forward(...inputs));
}

/** The compiled loss of `out` against `target`, checked to be a scalar tensor. */
export function lossValue(op: string, c: Compiled, out: Tensor, target: Tensor): Tensor {
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
  /**
   * For a checked step (nonFinite other than 'ignore'), whose optimizer step waits for the check: a
   * scalar that is finite when the loss and every gradient are (see finiteFlag); null otherwise.
   */
  flag?: Tensor | null;
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

function release(...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

/** Frees what a step kept without counting it (a skipped or failed step). */
export function discard(r: StepResult): void {
  release(r.loss, r.target, r.pred, r.flag);
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

/**
 * Forward and backward of one batch, or of one micro-batch of an accumulated step (fit's
 * gradientAccumulationSteps). The first micro-batch of a step clears the gradients; backward then adds
 * into them. With `weighted`, the loss times the micro-batch's examples is backpropagated, so the
 * gradients hold the sum of loss * examples over the step's micro-batches, which finishStep divides by
 * their total: the gradient of the mean loss over every example of the step, as one batch of them all.
 */
export function backwardStep(
  model: Module,
  c: Compiled,
  batch: Batch | Tensor,
  device: string | undefined,
  first: boolean,
  weighted: boolean,
): StepResult {
  const split = splitBatch('fit', batch, true);
  const [target, ...inputs] = onDevice([split.target!, ...split.inputs], device);
  if (first) c.optimizer.zeroGrad();
  const out = forward('fit', model, inputs);
  const loss = lossValue('fit', c, out, target!);
  const n = examples(target!);
  (weighted && n !== 1 ? loss.mul(n) : loss).backward();
  return stepResult(c, loss, target!, out);
}

/**
 * Ends an optimizer step whose micro-batches `parts` have been through backwardStep: divides the summed
 * gradients by the step's examples (when `weighted`), then steps the optimizer, or, when `check`,
 * returns a kept flag for finishCheckedStep (finite when every loss and gradient is) and leaves the step
 * to it. Runs in the caller's scope.
 */
export function finishStep(c: Compiled, parts: StepResult[], weighted: boolean, check: boolean): Tensor | null {
  if (weighted) {
    const total = parts.reduce((s, r) => s + r.n, 0);
    if (total !== 1) {
      noGrad(() => {
        for (const p of optimizedParams(c)) {
          const g = p.grad;
          if (!g) continue;
          p.grad = keep(g.div(total));
          g.dispose();
        }
      });
    }
  }
  if (!check) {
    c.optimizer.step();
    return null;
  }
  return keep(
    finiteFlag(
      parts.map((r) => r.loss),
      optimizedParams(c),
    ),
  );
}

/** The mean loss of an accumulated step's micro-batches, weighted by their examples (kept; the caller frees it). */
export function stepLoss(parts: StepResult[]): Tensor {
  const total = parts.reduce((s, r) => s + r.n, 0);
  return keep(noGrad(() => stack(parts.map((r) => r.loss.reshape([]).mul(r.n / total))).sum()));
}

/**
 * Forward, backward and (unless `check`) the optimizer step of one batch. A checked step leaves the
 * optimizer step to finishCheckedStep, which runs it once the flag has been read.
 */
export function trainStep(model: Module, c: Compiled, batch: Batch | Tensor, device: string | undefined, check = false): StepResult {
  const r = backwardStep(model, c, batch, device, true, false);
  const flag = finishStep(c, [r], false, check);
  return check ? { ...r, flag } : r;
}

function optimizedParams(c: Compiled): Tensor[] {
  return c.optimizer.paramGroups.flatMap((g) => g.params);
}

/**
 * One scalar for the whole step: the sum of the loss and of every gradient's sum. It is NaN or
 * infinite whenever one element is (NaN and Inf propagate through sums), so a finite flag clears the
 * step with one reduction per gradient and one read; a non-finite one may still be a false alarm
 * (finite sums that overflow float32), which finishCheckedStep settles element by element.
 */
function finiteFlag(losses: Tensor[], params: Tensor[]): Tensor {
  return noGrad(() => {
    const parts = losses.map((l) => l.detach().reshape([]).to('float32'));
    for (const p of params) if (p.grad) parts.push(p.grad.sum().to('float32'));
    return stack(parts).sum();
  });
}

async function readNumber(t: Tensor): Promise<number> {
  return t.backend.capabilities.syncRead ? t.item() : t.itemAsync();
}

/** What was wrong with a step: its loss, and the first parameter whose gradient is non-finite, with how. */
export interface NonFiniteReport {
  loss: number;
  parameter: string | null;
  detail: string;
}

/** 'NaN in 3 of 10 elements' for a gradient with non-finite elements, else null. */
async function nonFiniteElements(g: Tensor): Promise<string | null> {
  const data = g.backend.capabilities.syncRead ? g.dataSync() : await g.data();
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < data.length; i++) {
    const x = Number(data[i]);
    if (Number.isNaN(x)) nan++;
    else if (!Number.isFinite(x)) inf++;
  }
  if (nan + inf === 0) return null;
  return `${nan && inf ? 'NaN and Inf' : nan ? 'NaN' : 'Inf'} in ${nan + inf} of ${data.length} elements`;
}

/**
 * Reads a checked step's flag; when the loss and gradients are finite, steps the optimizer and
 * returns null. Otherwise finds the first parameter (in namedParameters() order) whose gradient is
 * non-finite, clears the gradients without stepping, and returns what it found.
 */
export async function finishCheckedStep(
  model: Module,
  c: Compiled,
  r: { flag?: Tensor | null; loss: Tensor },
): Promise<NonFiniteReport | null> {
  const flag = r.flag;
  if (!flag) throw new ValueError('fit', 'internal: a checked step without its flag');
  r.flag = null;
  const value = await readNumber(flag);
  flag.dispose();
  if (Number.isFinite(value)) {
    c.optimizer.step();
    return null;
  }
  const loss = await readNumber(r.loss);
  const optimized = new Set(optimizedParams(c));
  const names = new Map<Tensor, string>();
  for (const [name, p] of model.namedParameters()) if (optimized.has(p)) names.set(p, name);
  let i = 0;
  for (const p of optimized) if (!names.has(p)) names.set(p, `parameter ${i++} of the optimizer (not in the model)`);
  let parameter: string | null = null;
  let detail = '';
  for (const [p, name] of names) {
    const bad = p.grad ? await nonFiniteElements(p.grad) : null;
    if (bad) {
      parameter = name;
      detail = bad;
      break;
    }
  }
  if (Number.isFinite(loss) && parameter === null) {
    // a false alarm: finite sums overflowed, every element is finite
    c.optimizer.step();
    return null;
  }
  c.optimizer.zeroGrad();
  return { loss, parameter, detail };
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
