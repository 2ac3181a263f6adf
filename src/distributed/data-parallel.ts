// Data-parallel training on one machine, as PyTorch's DistributedDataParallel on one node: N processes
// (rank 0, the caller, and N - 1 forked workers), each with a replica of the model, each taking its
// rows of every batch through forward and backward; the gradients are summed, weighted by shard size,
// into rank 0's parameters. Rank 0 alone holds the optimizer: it steps, and broadcasts the new weights
// with the next step's shards, so every replica computes with rank 0's weights, bit for bit (each
// answer carries a checksum of the weights it used, and a mismatch is a DistributedError). The traffic
// per step and worker is the same as DDP's all-reduce through one hub: gradients up, weights down.
// Why rank 0 steps alone: callbacks, schedulers, gradient clipping and the non-finite checks all act
// on one optimizer, as in a single-process run, and the workers need no optimizer state.
// See docs/data-parallel.md.

import '../ops/tensor-methods.js';
import { type DistributedError, ValueError } from '../errors.js';
import type { TypedArray } from '../base/dtype.js';
import { cpuBackend } from '../backend/cpu/cpu-backend.js';
import { availableParallelism, nodeBuiltin } from '../backend/cpu/wasm/node-builtins.js';
import { noGrad } from '../autograd/grad-mode.js';
import { keep, scope } from '../tensor/memory.js';
import { full } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { narrow } from '../ops/view.js';
import { concat } from '../ops/join.js';
import type { Module } from '../nn/module.js';
import { ProcessGroup } from './process-group.js';
import { type GradReply, type LossMode, type ReplicaFactory, type WireWeights, checksum, fromWire, toWire } from './protocol.js';
import { type ShardLoss, replicaLoss, shardBackward, weightsOf } from './replica.js';

const OP = 'dataParallel';
/** PyTorch's default process-group timeout (torch.distributed's default_pg_timeout): 30 minutes. */
const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

/** How a worker builds its replica: a module (URL or absolute path) whose export returns the model. */
export type ModelFactory =
  | URL
  | string
  | {
      /** The module: a URL, or an absolute path (a worker resolves nothing relative). */
      module: URL | string;
      /** The name of the export that returns the model (default 'default'). */
      export?: string;
      /** Arguments passed to that export (default none). */
      args?: unknown[];
    };

/** The settings of a data-parallel group. */
export interface DataParallelOptions {
  /** Processes in all, rank 0 (the caller) included, as torchrun's --nproc_per_node; 1 runs no worker. */
  workers: number;
  /** How each worker builds its replica; the weights then come from rank 0, so only the architecture matters. */
  modelFactory: ModelFactory;
  /** CPU threads of each process, rank 0 included (default: the cores divided by workers, at least 1). */
  threads?: number;
  /**
   * How long rank 0 waits for a worker's answer to a step before it stops them all (default 30
   * minutes, as PyTorch); starting a worker and building its replica may take 2 minutes, or this if longer.
   */
  timeoutMs?: number;
  /** Seeds the workers' generators (dropout): worker r gets seed + r (default 0). */
  seed?: number;
}

/** The rows of a batch of `n` each of `world` ranks takes: [start, length], the first n % world ranks one more (numpy's array_split). */
export function shardRanges(n: number, world: number): [number, number][] {
  const base = Math.floor(n / world);
  const extra = n % world;
  const out: [number, number][] = [];
  let at = 0;
  for (let r = 0; r < world; r++) {
    const len = base + (r < extra ? 1 : 0);
    out.push([at, len]);
    at += len;
  }
  return out;
}

/** A step's shards under way: rank 0's own result and the workers' answers to come. */
export interface ShardStep {
  /** Examples (rows) in the whole batch. */
  n: number;
  /** Rows of each rank. */
  rows: number[];
  /** Rank 0's shard loss (unscaled, detached, kept: the caller frees it, or reduce does). */
  loss: Tensor;
  /** Rank 0's output, kept, when outputs were asked for. */
  output: Tensor | null;
  /** Each worker's answer to come, by rank (null for rank 0 and for a rank with no rows). */
  replies: (Promise<GradReply> | null)[];
}

/** The factory as a worker imports it. */
export function resolveFactory(f: ModelFactory): ReplicaFactory {
  const spec = f instanceof URL || typeof f === 'string' ? { module: f } : f;
  if (!spec || (typeof spec.module !== 'string' && !(spec.module instanceof URL)))
    throw new ValueError(OP, 'modelFactory must be a module URL or path, or { module, export, args }');
  let url: string;
  if (spec.module instanceof URL) url = spec.module.href;
  else if (spec.module.startsWith('file:')) url = spec.module;
  else if (nodeBuiltin('node:path')?.isAbsolute(spec.module)) url = nodeBuiltin('node:url')!.pathToFileURL(spec.module).href;
  else
    throw new ValueError(
      OP,
      `modelFactory.module must be a URL or an absolute path (a worker resolves nothing relative), got '${spec.module}'`,
    );
  const args = spec.args ?? [];
  if (!Array.isArray(args)) throw new ValueError(OP, 'modelFactory.args must be an array');
  return { module: url, export: spec.export ?? 'default', args };
}

/** Rank 0's side of a data-parallel run: start it, compute steps across the ranks, close it. */
export class DataParallel {
  /** Which broadcast of the weights is current, and which each worker holds. */
  private version = -1;
  private readonly held: number[];
  private weights: WireWeights & { sum: number } = { version: -1, params: new Float32Array(0), buffers: [], sum: 0 };

  private constructor(
    private readonly model: Module,
    private readonly group: ProcessGroup,
    /** Processes in all, rank 0 included. */
    readonly world: number,
    private readonly trains: Tensor[],
    private readonly threadsBefore: number,
    /** Where the workers' loss comes from. */
    readonly loss: LossMode,
  ) {
    this.held = new Array<number>(world).fill(-1);
  }

  /**
   * Forks workers - 1 processes, builds a replica in each from `factory` and checks it against `model`
   * (parameter names and shapes); rank 0 then runs with `threads` CPU threads until close().
   */
  static async start(
    model: Module,
    opts: { workers: number; factory: ReplicaFactory; loss: LossMode; threads?: number; timeoutMs?: number; seed?: number },
  ): Promise<DataParallel> {
    const world = opts.workers;
    if (!Number.isInteger(world) || world < 2) throw new ValueError(OP, `workers must be an integer >= 2 here, got ${world}`);
    const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / world));
    if (!Number.isInteger(threads) || threads < 1) throw new ValueError(OP, `threads must be a positive integer, got ${threads}`);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new ValueError(OP, `timeoutMs must be positive, got ${timeoutMs}`);
    const named = model.namedParameters();
    for (const [k, p] of named) {
      if (p.device !== 'cpu') throw new ValueError(OP, `parameter '${k}' is on ${p.device}: data-parallel training runs on the CPU`);
      if (p.dtype !== 'float32') throw new ValueError(OP, `parameter '${k}' is ${p.dtype}: data-parallel training sends float32 weights`);
    }
    const group = new ProcessGroup(new URL('./worker.js', import.meta.url), world, timeoutMs);
    const threadsBefore = Number(cpuBackend.info().threads);
    const dp = new DataParallel(
      model,
      group,
      world,
      named.filter(([, p]) => p.requiresGrad).map(([, p]) => p),
      threadsBefore,
      opts.loss,
    );
    try {
      await group.ready();
      const params = named.map(([name, p]) => ({ name, shape: [...p.shape], trains: p.requiresGrad }));
      const buffers = model.namedBuffers().map(([name, b]) => ({ name, shape: [...b.shape] }));
      const seed = opts.seed ?? 0;
      const inits = [];
      for (let rank = 1; rank < world; rank++) {
        const init = { type: 'init' as const, rank, world, threads, seed, factory: opts.factory, loss: opts.loss, params, buffers };
        inits.push(group.request(rank, init, 'init (building the replica)'));
      }
      await Promise.all(inits);
    } catch (e) {
      await group.close();
      throw e;
    }
    cpuBackend.setThreads(threads);
    return dp;
  }

  /** Takes the model's current weights as the ones to broadcast with the next shards (after an optimizer step). */
  private snapshot(): void {
    this.version++;
    const params = weightsOf(this.model);
    const buffers: TypedArray[] = this.model.namedBuffers().map(([, b]) => b.dataSync());
    this.weights = { version: this.version, params, buffers, sum: checksum(params) };
  }

  /**
   * Starts one batch across the ranks: sends each worker its rows (with the weights, when `newWeights`
   * or it has never had them), then runs rank 0's rows here, adding `scale` times the gradient of the
   * shard's share of the mean loss into the parameters' gradients. Synchronous (call it inside a
   * scope); reduce() then waits for the workers and adds their gradients.
   */
  backward(inputs: Tensor[], target: Tensor, o: { lossOf: ShardLoss; scale: number; newWeights: boolean; wantOutput: boolean }): ShardStep {
    if (this.group.failed) throw this.group.failed;
    if (target.ndim === 0) throw new ValueError(OP, 'the target must have a first dimension of rows to split, got a scalar');
    const n = target.shape[0]!;
    for (const x of inputs) {
      if (x.ndim === 0 || x.shape[0] !== n)
        throw new ValueError(OP, `every input must have the target's ${n} rows to be split, got shape [${x.shape.join(',')}]`);
    }
    if (o.newWeights || this.version < 0) this.snapshot();
    const ranges = shardRanges(n, this.world);
    const rows = (t: Tensor, [start, len]: [number, number]) => (len === n ? t : narrow(t, 0, start, len));
    const replies: (Promise<GradReply> | null)[] = [null];
    for (let rank = 1; rank < this.world; rank++) {
      const range = ranges[rank]!;
      if (range[1] === 0) {
        replies.push(null);
        continue;
      }
      const stale = this.held[rank]! < this.version;
      const { sum: _, ...weights } = this.weights;
      const req = {
        type: 'step' as const,
        weights: stale ? weights : null,
        inputs: inputs.map((x) => toWire(rows(x, range))),
        target: toWire(rows(target, range)),
        scale: (o.scale * range[1]) / n,
        wantOutput: o.wantOutput,
      };
      this.held[rank] = this.version;
      replies.push(this.group.request(rank, req, 'a training step') as Promise<GradReply>);
    }
    const own = ranges[0]!;
    const local = shardBackward(
      this.model,
      o.lossOf,
      inputs.map((x) => rows(x, own)),
      rows(target, own),
      (o.scale * own[1]) / n,
    );
    return {
      n,
      rows: ranges.map(([, len]) => len),
      loss: keep(local.loss),
      output: o.wantOutput ? keep(local.output) : null,
      replies,
    };
  }

  /**
   * Waits for the workers' gradients of a step from backward() and adds them into rank 0's (an
   * all-reduce of shard-weighted sums). Returns the batch's mean loss and, when asked for, the whole
   * batch's output (rank 0's rows then each worker's), both kept; frees the step's own tensors.
   */
  async reduce(step: ShardStep): Promise<{
    /** The whole batch's mean loss, a scalar. */
    loss: Tensor;
    /** The whole batch's output, rank 0's rows first, or null when not asked for. */
    output: Tensor | null;
  }> {
    const answers: (GradReply | null)[] = [];
    try {
      for (const r of step.replies) answers.push(r ? await r : null);
    } catch (e) {
      step.loss.dispose();
      step.output?.dispose();
      throw e;
    }
    try {
      for (let rank = 1; rank < this.world; rank++) {
        const a = answers[rank];
        if (!a) continue;
        if (a.version !== this.weights.version || a.checksum !== this.weights.sum) {
          throw this.group.abort(
            rank,
            'drift',
            `worker ${rank} computed with weights of version ${a.version} (checksum ${a.checksum}), rank 0's are version ${this.weights.version} (checksum ${this.weights.sum})`,
          );
        }
      }
      this.addGradients(answers.filter((a): a is GradReply => a !== null));
      const lossSum = step.rows.reduce((s, len, rank) => s + len * (rank === 0 ? step.loss.item() : (answers[rank]?.loss ?? 0)), 0);
      const loss = keep(full(step.loss.shape, lossSum / step.n, { dtype: step.loss.dtype }));
      let output: Tensor | null = null;
      if (step.output) {
        const outs = answers.filter((a): a is GradReply => a?.output != null);
        output =
          outs.length === 0
            ? keep(step.output.detach())
            : keep(scope(() => concat([step.output!, ...outs.map((a) => fromWire(a.output!))], 0)));
      }
      return { loss, output };
    } finally {
      step.loss.dispose();
      step.output?.dispose();
    }
  }

  /** Adds the workers' gradients into the trainable parameters' (a parameter without one gets theirs). */
  private addGradients(answers: GradReply[]): void {
    if (answers.length === 0) return;
    noGrad(() => {
      let at = 0;
      this.trains.forEach((p, i) => {
        const from = answers.filter((a) => a.present[i]);
        const end = at + p.size;
        if (from.length > 0) {
          // the workers' sum first, in rank order, in float32 as a kernel would
          const sum = from.length === 1 ? from[0]!.grads.subarray(at, end) : new Float32Array(p.size);
          if (from.length > 1) for (const a of from) for (let j = 0; j < p.size; j++) sum[j]! += a.grads[at + j]!;
          const g = p.grad;
          p.grad = keep(
            scope(() =>
              g
                ? g.add(fromWire({ data: sum, shape: [...p.shape], dtype: 'float32' }))
                : fromWire({ data: sum.slice(), shape: [...p.shape], dtype: 'float32' }),
            ),
          );
          g?.dispose();
        }
        at = end;
      });
    });
  }

  /**
   * One optimizer step's gradients for a model that computes its own loss (forward(...inputs,
   * target).loss, a GPT): `micro` batches from `next`, each split across the ranks, each loss scaled by
   * 1 / micro, so the gradients are those of their mean (gradient accumulation). The first broadcasts
   * the weights. Returns the mean loss; the caller then clips and steps.
   */
  async accumulate(micro: number, next: () => { inputs: Tensor[]; target: Tensor }): Promise<number> {
    if (this.loss !== 'model')
      throw new ValueError(OP, "accumulate computes the model's own loss (loss 'model'); with 'compiled', call backward and reduce");
    if (!Number.isInteger(micro) || micro < 1) throw new ValueError(OP, `micro-batches must be a positive integer, got ${micro}`);
    const lossOf = replicaLoss('model', null);
    let sum = 0;
    for (let k = 0; k < micro; k++) {
      const step = scope(() => {
        const b = next();
        return this.backward(b.inputs, b.target, { lossOf, scale: 1 / micro, newWeights: k === 0, wantOutput: false });
      });
      const { loss } = await this.reduce(step);
      sum += loss.item();
      loss.dispose();
    }
    return sum / micro;
  }

  /**
   * Each worker's replica as it is now: its parameters (float32, in parameters() order) and buffers,
   * and the version of rank 0's weights it holds. To check that no replica drifted.
   */
  async replicaStates(): Promise<
    {
      /** The parameters' values concatenated, in parameters() order. */
      params: Float32Array;
      /** Each buffer's values, in namedBuffers() order. */
      buffers: TypedArray[];
      /** Which broadcast of rank 0's weights the worker holds. */
      version: number;
    }[]
  > {
    const out = [];
    for (let rank = 1; rank < this.world; rank++) {
      const r = await this.group.request(rank, { type: 'state' }, 'a state request');
      if (r.type !== 'state') throw this.group.abort(rank, 'error', `worker ${rank} answered a state request with '${r.type}'`);
      out.push({ params: r.params, buffers: r.buffers, version: r.version });
    }
    return out;
  }

  /** The first failure of a worker, if any. */
  get failed(): DistributedError | null {
    return this.group.failed;
  }

  /** Stops the workers and gives rank 0 its thread count back. */
  async close(): Promise<void> {
    cpuBackend.setThreads(this.threadsBefore);
    await this.group.close();
  }
}
