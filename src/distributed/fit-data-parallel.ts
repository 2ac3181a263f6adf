// fit's `dataParallel` option: the training step of train/step.ts across processes. fit calls
// backwardStep in place of step.ts's (inside the step's scope), then reduce once the scope has ended;
// the optimizer step, the non-finite checks, callbacks and metrics stay fit's own, on rank 0.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { keep } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { type Batch, splitBatch } from '../train/batches.js';
import type { Compiled, StepResult } from '../train/step.js';
import { DataParallel, type DataParallelOptions, resolveFactory } from './data-parallel.js';
import { type ShardLoss, replicaLoss } from './replica.js';

/** A data-parallel group as fit uses it. */
export class FitDataParallel {
  private readonly shards = new Map<StepResult, ReturnType<DataParallel['backward']>>();
  private readonly lossOf: ShardLoss;

  private constructor(
    private readonly dp: DataParallel,
    private readonly c: Compiled,
  ) {
    this.lossOf = replicaLoss('compiled', c);
  }

  /** Checks fit's `dataParallel` option and starts the workers; null for none (or workers: 1, a plain fit). */
  static async start(
    model: Module,
    c: Compiled,
    opts: DataParallelOptions | undefined,
    device: string | undefined,
  ): Promise<FitDataParallel | null> {
    if (opts === undefined) return null;
    if (typeof opts !== 'object' || opts === null) throw new ValueError('fit', 'dataParallel must be { workers, modelFactory, ... }');
    const { workers } = opts;
    if (!Number.isInteger(workers) || workers < 1)
      throw new ValueError('fit', `dataParallel.workers must be a positive integer, got ${workers}`);
    if (workers === 1) return null;
    if (device !== undefined && device !== 'cpu') throw new ValueError('fit', `dataParallel runs on the CPU, got device '${device}'`);
    const factory = resolveFactory(opts.modelFactory);
    const dp = await DataParallel.start(model, {
      workers,
      factory,
      loss: 'compiled',
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    return new FitDataParallel(dp, c);
  }

  /**
   * step.ts's backwardStep across the ranks: the first micro-batch of a step clears the gradients and
   * broadcasts the weights; each rank backpropagates its rows' share of the loss (times the batch's
   * examples when `weighted`, as there). The loss and predictions are rank 0's until reduce().
   */
  backwardStep(batch: Batch | Tensor, first: boolean, weighted: boolean): StepResult {
    const split = splitBatch('fit', batch, true);
    const target = split.target!;
    if (first) this.c.optimizer.zeroGrad();
    const n = target.ndim > 0 ? target.shape[0]! : 1;
    const withMetrics = this.c.metrics.length > 0;
    const step = this.dp.backward(split.inputs, target, {
      lossOf: this.lossOf,
      scale: weighted && n !== 1 ? n : 1,
      newWeights: first,
      wantOutput: withMetrics,
    });
    const r: StepResult = { n, loss: step.loss, target: withMetrics ? keep(target.detach()) : null, pred: null };
    this.shards.set(r, step);
    return r;
  }

  /** Adds the workers' gradients of a step from backwardStep; its loss and predictions become the whole batch's. */
  async reduce(r: StepResult): Promise<void> {
    const step = this.shards.get(r);
    if (!step) throw new ValueError('fit', 'internal: reduce of a step that backwardStep did not start');
    this.shards.delete(r);
    const { loss, output } = await this.dp.reduce(step);
    r.loss = loss;
    r.pred = output;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    for (const step of this.shards.values()) {
      step.loss.dispose();
      step.output?.dispose();
    }
    this.shards.clear();
    await this.dp.close();
  }
}
