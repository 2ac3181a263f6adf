// Datasets in torch.utils.data's shape: anything with a length and get(i). TensorDataset indexes
// tensors along their first dimension; Subset, randomSplit and trainValidationSplit carve one up.
//
// A dataset may also offer getBatch(indices), which returns a whole batch already collated; the
// DataLoader uses it when present (TensorDataset gathers the rows with one indexSelect per tensor
// instead of making and stacking one small tensor per example).

import '../ops/tensor-methods.js';
import { IndexError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { pin } from '../tensor/memory.js';
import { tensor } from '../tensor/create.js';
import { indexSelect } from '../ops/indexing.js';
import { slice } from '../ops/view.js';
import { noGrad } from '../autograd/grad-mode.js';

/** Base class of map-style datasets, like torch.utils.data.Dataset: a length and get(index). */
export abstract class Dataset<T = unknown> implements Iterable<T> {
  /** The number of examples. */
  abstract get length(): number;
  /** Example `index` (0 <= index < length; negative counts from the end). */
  abstract get(index: number): T;
  /** Optional: the examples at `indices`, already collated into one batch. */
  getBatch?(indices: readonly number[]): T;

  /** Iterates over the examples in order. */
  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** A dataset whose examples are fn(example, index), computed on access. */
  map<U>(fn: (item: T, index: number) => U): Dataset<U> {
    return new MappedDataset(this, fn);
  }
}

/** Checks an index against a length and resolves a negative one; throws an IndexError naming `op`. */
export function checkIndex(op: string, index: number, length: number): number {
  if (!Number.isInteger(index) || index >= length || index < -length) {
    throw new IndexError(op, `index ${index} is out of range for a dataset of ${length} examples`);
  }
  return index < 0 ? index + length : index;
}

class MappedDataset<T, U> extends Dataset<U> {
  constructor(
    private readonly source: Dataset<T>,
    private readonly fn: (item: T, index: number) => U,
  ) {
    super();
  }
  get length(): number {
    return this.source.length;
  }
  get(index: number): U {
    const i = checkIndex('Dataset.map', index, this.length);
    return this.fn(this.source.get(i), i);
  }
}

/**
 * Examples are rows of the given tensors along their first dimension: get(i) is [x[i], y[i], ...]
 * (views sharing the tensors' memory), and a batch is [x[idx], y[idx], ...] gathered in one kernel.
 */
export class TensorDataset extends Dataset<Tensor[]> {
  /** The tensors whose rows are the examples. */
  readonly tensors: readonly Tensor[];

  /** A dataset over tensors of equal first dimension. */
  constructor(...tensors: Tensor[]) {
    super();
    if (tensors.length === 0) throw new ValueError('TensorDataset', 'needs at least one tensor');
    for (const t of tensors) {
      if (!(t instanceof Tensor)) throw new ValueError('TensorDataset', 'every argument must be a tensor');
      if (t.ndim === 0) throw new ShapeError('TensorDataset', 'tensors must have at least one dimension, got a scalar');
    }
    const n = tensors[0]!.shape[0]!;
    if (tensors.some((t) => t.shape[0] !== n)) {
      throw new ShapeError(
        'TensorDataset',
        `all tensors must have the same size in the first dimension: ${tensors.map((t) => fmtShape(t.shape)).join(', ')}`,
      );
    }
    // held for every epoch, read or not at each backward(): never freed automatically
    for (const t of tensors) pin(t);
    this.tensors = tensors;
  }

  get length(): number {
    return this.tensors[0]!.shape[0]!;
  }

  get(index: number): Tensor[] {
    const i = checkIndex('TensorDataset', index, this.length);
    return this.tensors.map((t) => slice(t, [i]));
  }

  override getBatch(indices: readonly number[]): Tensor[] {
    const n = this.length;
    const idx = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) idx[k] = checkIndex('TensorDataset', indices[k]!, n);
    const byDevice = new Map<string, Tensor>();
    const out = this.tensors.map((t) => {
      let it = byDevice.get(t.device);
      if (!it) byDevice.set(t.device, (it = tensor(idx, { device: t.device })));
      return noGrad(() => indexSelect(t, 0, it!));
    });
    for (const it of byDevice.values()) it.dispose(); // the outputs are copies: the index is no longer needed
    return out;
  }
}

/** The examples of `dataset` at `indices`, in that order. */
export class Subset<T> extends Dataset<T> {
  /** The examples of `dataset` at `indices`. */
  constructor(
    /** The dataset the examples come from. */
    readonly dataset: Dataset<T>,
    /** The indices of the examples, in this subset's order. */
    readonly indices: readonly number[],
  ) {
    super();
    const n = dataset.length;
    for (const i of indices) checkIndex('Subset', i, n);
    // offered only when the dataset has one, so the DataLoader's fast path stays exact
    if (dataset.getBatch) {
      this.getBatch = (idx: readonly number[]): T => dataset.getBatch!(idx.map((i) => this.indices[checkIndex('Subset', i, this.length)]!));
    }
  }
  get length(): number {
    return this.indices.length;
  }
  get(index: number): T {
    return this.dataset.get(this.indices[checkIndex('Subset', index, this.length)]!);
  }
}

/** A random permutation of 0..n-1 (Fisher-Yates) drawn from `g`. */
export function randperm(n: number, g: Generator = globalGenerator): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(g.random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

function generatorFrom(seedOrGen: number | Generator | undefined): Generator {
  if (seedOrGen instanceof Generator) return seedOrGen;
  if (seedOrGen === undefined) return new Generator(globalGenerator.nextU32());
  if (!Number.isFinite(seedOrGen)) throw new ValueError('randomSplit', `seed must be a finite number, got ${seedOrGen}`);
  return new Generator(seedOrGen);
}

/**
 * Splits a dataset into non-overlapping random subsets, like torch.utils.data.random_split. `lengths`
 * are counts summing to the dataset's length, or fractions summing to 1 (the remainder of flooring
 * goes one by one to the first subsets). Equal seeds give equal splits.
 */
export function randomSplit<T>(dataset: Dataset<T>, lengths: readonly number[], seed?: number | Generator): Subset<T>[] {
  const n = dataset.length;
  if (lengths.length === 0) throw new ValueError('randomSplit', 'lengths is empty');
  if (lengths.some((l) => !(l >= 0))) throw new ValueError('randomSplit', `lengths must be non-negative, got [${lengths.join(', ')}]`);
  let counts: number[];
  const total = lengths.reduce((a, b) => a + b, 0);
  if (lengths.every(Number.isInteger) && total === n) {
    counts = [...lengths];
  } else if (Math.abs(total - 1) < 1e-9 && lengths.every((l) => l <= 1)) {
    counts = lengths.map((f) => Math.floor(n * f));
    let rest = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; rest > 0; i = (i + 1) % counts.length, rest--) counts[i]! += 1;
  } else {
    throw new ValueError(
      'randomSplit',
      `lengths [${lengths.join(', ')}] must be counts summing to the dataset's length (${n}) or fractions summing to 1`,
    );
  }
  const perm = randperm(n, generatorFrom(seed));
  const out: Subset<T>[] = [];
  let at = 0;
  for (const c of counts) {
    out.push(new Subset(dataset, perm.slice(at, at + c)));
    at += c;
  }
  return out;
}

/** Options of trainValidationSplit: shuffle, seed and the validation share. */
export interface TrainValidationSplitOptions {
  /** Shuffle before splitting (default true). With false, validation is the last fraction, as Keras's validation_split. */
  shuffle?: boolean;
  /** Seed or generator for the shuffle. */
  seed?: number | Generator;
}

/** [train, validation]: `validationFraction` (in (0, 1)) of the examples go to validation, rounded down. */
export function trainValidationSplit<T>(
  dataset: Dataset<T>,
  validationFraction: number,
  opts: TrainValidationSplitOptions = {},
): [Subset<T>, Subset<T>] {
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new ValueError('trainValidationSplit', `validationFraction must be in (0, 1), got ${validationFraction}`);
  }
  const n = dataset.length;
  const nVal = Math.floor(n * validationFraction);
  const order = opts.shuffle === false ? Array.from({ length: n }, (_, i) => i) : randperm(n, generatorFrom(opts.seed));
  return [new Subset(dataset, order.slice(0, n - nVal)), new Subset(dataset, order.slice(n - nVal))];
}
