// Where batches come from: tensors (x, y), a Dataset or any iterable of batches (a DataLoader) become
// a Source, whose iterator makes one epoch's batches on demand, so each batch is made inside the
// step's scope and freed with it; and how a batch splits into the model's inputs and its target.

import '../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { narrow } from '../ops/view.js';
import { type Dataset, TensorDataset } from '../data/dataset.js';
import { DataLoader } from '../data/dataloader.js';

/** A batch: [input, target], [input] or [input1, ..., inputK, target]. */
export type Batch = readonly Tensor[];

/** What fit/evaluate/predict accept besides (x, y) tensors: a Dataset or any iterable of batches (a DataLoader). */
export type DataSource = Dataset<readonly Tensor[]> | Iterable<Batch | Tensor>;

/**
 * Batches of one epoch, made on demand (so inside the step's scope), and how many there are.
 * @inline
 */
export interface Source {
  /** Batches per epoch, or undefined when an iterable's length is unknown. */
  steps: number | undefined;
  /** Epoch `epoch`'s batches; with `skip`, from batch `skip` on (a resumed epoch), without making the skipped ones where it can. */
  iterator(epoch: number, skip?: number): Iterator<Batch | Tensor>;
  /** What decides the next epoch's order besides the global generator (a DataLoader's counter and generator), as JSON. */
  state?(): unknown;
  /** Puts back what state() returned, so the next epoch's order is as it was then. */
  restore?(state: unknown): void;
}

type LoaderState = ReturnType<DataLoader['stateDict']>;

/** The iterator of an epoch, the first `skip` batches passed over by calling next (fit calls this inside a scope, which frees what they made). */
function skipped(it: Iterator<Batch | Tensor>, skip: number): Iterator<Batch | Tensor> {
  for (let k = 0; k < skip; k++) if (it.next().done) break;
  return it;
}

export function checkBatchSize(op: string, bs: number): number {
  if (!Number.isInteger(bs) || bs < 1) throw new ValueError(op, `batchSize must be a positive integer, got ${bs}`);
  return bs;
}

export function isDataset(d: unknown): d is Dataset<readonly Tensor[]> {
  return typeof d === 'object' && d !== null && typeof (d as Dataset).get === 'function' && typeof (d as Dataset).length === 'number';
}

function isIterable(d: unknown): d is Iterable<Batch | Tensor> {
  return typeof d === 'object' && d !== null && typeof (d as Iterable<unknown>)[Symbol.iterator] === 'function';
}

export function checkPair(op: string, x: unknown, y: unknown): void {
  if (!(x instanceof Tensor)) throw new ValueError(op, 'x must be a Tensor');
  if (!(y instanceof Tensor)) throw new ValueError(op, 'y must be a Tensor');
  if (x.ndim === 0 || y.ndim === 0 || x.shape[0] !== y.shape[0]) {
    throw new ShapeError(op, `x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)} must have the same number of examples (first dimension)`);
  }
}

/** A DataLoader over a dataset, epoch e shuffled as a function of (seed, e) when a seed is given. */
export function loaderSource(ds: Dataset<readonly Tensor[]>, batchSize: number, shuffle: boolean, seed?: number): Source {
  const loader = new DataLoader<readonly Tensor[]>(ds, { batchSize, shuffle, seed });
  return {
    steps: loader.length,
    iterator: (epoch, skip = 0) => {
      loader.setEpoch(epoch);
      return loader.iterate(skip);
    },
  };
}

function iterableSource(op: string, data: Iterable<Batch | Tensor>): Source {
  const len = (data as { length?: unknown }).length;
  if (data instanceof DataLoader) {
    // a loader counts its own epochs: its state says which order comes next
    const loader = data as DataLoader<unknown, Batch | Tensor>;
    return {
      steps: loader.length,
      iterator: (_epoch, skip = 0) => loader.iterate(skip),
      state: () => loader.stateDict(),
      restore: (s) => loader.loadStateDict(s as LoaderState),
    };
  }
  return {
    steps: typeof len === 'number' && Number.isInteger(len) ? len : undefined,
    iterator: (_epoch, skip = 0) => {
      const it = data[Symbol.iterator]();
      if (!it || typeof it.next !== 'function') throw new ValueError(op, 'the data source did not return an iterator');
      return skipped(it, skip);
    },
  };
}

/** Any accepted data (tensors, dataset, loader) as a Source. */
export function toSource(op: string, data: unknown, y: Tensor | undefined, batchSize: number, shuffle: boolean, seed?: number): Source {
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
export function splitBatch(op: string, b: Batch | Tensor, needTarget: boolean): { inputs: Tensor[]; target: Tensor | undefined } {
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

/** Batches that are views of x, no copies: batch i is x[i*bs : (i+1)*bs] (predict's inputs, in order). */
export function sliceSource(op: string, x: Tensor, batchSize: number): Source {
  const n = x.ndim > 0 ? x.shape[0]! : 0;
  if (n === 0) throw new ShapeError(op, `x ${fmtShape(x.shape)} holds no examples`);
  return {
    steps: Math.ceil(n / batchSize),
    iterator: () => {
      let at = 0;
      return {
        next: (): IteratorResult<Tensor> => {
          if (at >= n) return { done: true, value: undefined };
          const b = narrow(x, 0, at, Math.min(batchSize, n - at));
          at += batchSize;
          return { done: false, value: b };
        },
      };
    },
  };
}

/** The batch's tensors on `device` (as they are when it is undefined or already theirs). */
export const onDevice = (ts: Tensor[], device: string | undefined): Tensor[] => (device ? ts.map((t) => t.to(device)) : ts);
