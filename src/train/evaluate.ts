// evaluate / evaluateAsync, and the validation pass fit() runs after each epoch: one pass over the data
// in eval() mode under noGrad (the model's mode is restored afterwards), the loss and metrics tallied.

import '../ops/tensor-methods.js';
import { DeviceError, ValueError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { getBackend } from '../backend/registry.js';
import type { Module } from '../nn/module.js';
import type { Logs } from './callback.js';
import { ProgressBar, type OutputStream } from './progress.js';
import { type Source, checkBatchSize, toSource } from './batches.js';
import { type Compiled, Tally, evalSteps, settle, settleSync } from './step.js';

/** Options of evaluate: batch size, verbosity and output stream. */
export interface EvaluateOptions {
  /** Examples per batch (default 32). */
  batchSize?: number;
  /** 0 silent (default), 1 progress bar. */
  verbose?: 0 | 1;
  /** Where the progress bar goes (default process.stdout). */
  stream?: OutputStream;
}

function evalLogs(step: number, tally: Tally, prefix: string, bar: ProgressBar | null): Logs {
  if (step === 0) throw new ValueError(prefix ? 'fit' : 'evaluate', `the ${prefix ? 'validation ' : ''}data gave no batches`);
  const logs = tally.logs(prefix);
  bar?.finish(step, logs);
  return logs;
}

/** One pass over `source` in eval mode; the logs carry `prefix` ('val_' for validation). */
export async function evaluateSource(model: Module, c: Compiled, source: Source, prefix: string, bar: ProgressBar | null): Promise<Logs> {
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
  if (!getBackend(model.device).capabilities.syncRead) {
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
