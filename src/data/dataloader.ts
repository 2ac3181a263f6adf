// DataLoader: batches of a dataset, in order or shuffled, as torch.utils.data.DataLoader with
// num_workers=0. Iterating it runs one epoch; each new iteration is the next epoch.
//
// Shuffling is reproducible: with `seed`, the order of epoch e depends only on (seed, e), so two
// loaders with one seed agree and a resumed run (setEpoch) sees the orders it would have seen; with a
// `generator`, each epoch draws from it in turn (torch's generator=); with neither, each epoch takes
// a seed from the global generator, so mox.seed() makes the run reproducible.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { stack } from '../ops/join.js';
import { type Dataset, randperm } from './dataset.js';

/** Options of DataLoader: batch size, shuffling, seed or generator, dropLast and collate. */
export interface DataLoaderOptions<T, B> {
  /** Examples per batch (default 1). */
  batchSize?: number;
  /** Visit the examples in a new random order each epoch (default false). */
  shuffle?: boolean;
  /** Seed for the shuffle: the order of epoch e is a function of (seed, e). */
  seed?: number;
  /** Or a generator to draw each epoch's order from. */
  generator?: Generator;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Turns a list of examples into a batch; default: defaultCollate. */
  collate?: (items: T[]) => B;
  /** Applied to each batch after collation, e.g. augmentation of a whole image batch. */
  transform?: (batch: B) => B;
}

/**
 * Stacks a list of examples the way torch's default_collate does: tensors are stacked along a new
 * first dimension; numbers become a tensor (int32 when all are integers, else float32); booleans a
 * bool tensor; arrays (tuples) and plain objects are collated position by position / key by key;
 * anything else is returned as a list.
 */
export function defaultCollate<B = unknown>(items: readonly unknown[]): B {
  if (items.length === 0) throw new ValueError('defaultCollate', 'cannot collate an empty batch');
  const first = items[0];
  if (first instanceof Tensor) return stack(items as Tensor[], 0) as B;
  if (typeof first === 'number') {
    const nums = items as number[];
    const ints = nums.every(Number.isInteger);
    return tensor(ints ? Int32Array.from(nums) : Float32Array.from(nums)) as B;
  }
  if (typeof first === 'boolean') return tensor(Uint8Array.from(items as boolean[], (b) => (b ? 1 : 0))) as B;
  if (Array.isArray(first)) {
    const len = first.length;
    if (items.some((it) => !Array.isArray(it) || it.length !== len)) {
      throw new ValueError('defaultCollate', `examples are arrays of different lengths (the first has ${len} elements)`);
    }
    return Array.from({ length: len }, (_, k) => defaultCollate(items.map((it) => (it as unknown[])[k]))) as B;
  }
  if (first !== null && typeof first === 'object' && Object.getPrototypeOf(first) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) out[key] = defaultCollate(items.map((it) => (it as Record<string, unknown>)[key]));
    return out as B;
  }
  return [...items] as B;
}

/** Mixes a seed and an epoch into one generator seed (splitmix-style), so epochs get unrelated orders. */
function epochSeed(seed: number, epoch: number): number {
  let h = (Math.floor(seed) ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) + Math.floor(seed / 2 ** 32) * 2 ** 32;
}

/** Iterates over a dataset in batches, optionally shuffled each epoch, like torch.utils.data.DataLoader. */
export class DataLoader<T = unknown, B = T> implements Iterable<B> {
  /** The dataset batches are drawn from. */
  readonly dataset: Dataset<T>;
  /** Examples per batch. */
  readonly batchSize: number;
  /** Whether each epoch visits the examples in a new random order. */
  readonly shuffle: boolean;
  /** Whether a last, smaller batch is dropped. */
  readonly dropLast: boolean;
  /** Epochs started so far; the next iteration shuffles for epoch `epoch`. */
  epoch = 0;
  private readonly seed: number | undefined;
  private readonly generator: Generator | undefined;
  private readonly collate: ((items: T[]) => B) | undefined;
  private readonly transform: ((batch: B) => B) | undefined;

  /** Batches of `dataset`: batch size, shuffling and collation from opts. */
  constructor(dataset: Dataset<T>, opts: DataLoaderOptions<T, B> = {}) {
    const { batchSize = 1, shuffle = false, seed, generator, dropLast = false, collate, transform } = opts;
    if (!dataset || typeof dataset.get !== 'function' || typeof dataset.length !== 'number') {
      throw new ValueError('DataLoader', 'expected a Dataset (an object with length and get(i))');
    }
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ValueError('DataLoader', `batchSize must be a positive integer, got ${batchSize}`);
    if (seed !== undefined && !Number.isFinite(seed)) throw new ValueError('DataLoader', `seed must be a finite number, got ${seed}`);
    if (seed !== undefined && generator) throw new ValueError('DataLoader', 'give seed or generator, not both');
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
    this.generator = generator;
    this.collate = collate;
    this.transform = transform;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Sets the epoch the next iteration runs (to resume a run with the same shuffles). */
  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new ValueError('DataLoader', `epoch must be a non-negative integer, got ${epoch}`);
    this.epoch = epoch;
  }

  /**
   * What decides the next epoch's order, as JSON: the epoch counter and the state of the loader's own
   * generator (null without one). With loadStateDict a loader in a new process visits the examples in
   * the order this one would (train.BackupAndRestore saves it; an order drawn from the global
   * generator also needs that generator's state).
   */
  stateDict(): {
    /** Epochs started so far. */
    epoch: number;
    /** The shuffle generator's state, or null without one. */
    generator: number[] | null;
  } {
    return { epoch: this.epoch, generator: this.generator ? this.generator.getState() : null };
  }
  /** Restores the epoch and generator state from stateDict(). */
  loadStateDict(state: { epoch: number; generator: number[] | null }): void {
    this.setEpoch(state?.epoch);
    if (state.generator && this.generator) this.generator.setState(state.generator);
  }

  /** The order the examples are visited in for epoch `epoch` (consumes the generator, if one was given). */
  private order(epoch: number): number[] {
    const n = this.dataset.length;
    if (!this.shuffle) return Array.from({ length: n }, (_, i) => i);
    const g = this.generator ?? new Generator(this.seed !== undefined ? epochSeed(this.seed, epoch) : globalGenerator.nextU32());
    return randperm(n, g);
  }

  /** One batch of the examples at `indices`. */
  batch(indices: readonly number[]): B {
    const ds = this.dataset;
    let b: B;
    if (!this.collate && ds.getBatch) b = ds.getBatch(indices) as unknown as B;
    else {
      const items = indices.map((i) => ds.get(i));
      b = this.collate ? this.collate(items) : defaultCollate<B>(items);
    }
    return this.transform ? this.transform(b) : b;
  }

  /** Runs one epoch: the order is fixed when iteration starts, each batch is made when it is asked for. */
  [Symbol.iterator](): Iterator<B> {
    return this.iterate(0);
  }

  /** As iterating the loader, but starting after the first `skip` batches of the epoch (none of them is made). */
  iterate(skip: number): Iterator<B> {
    if (!Number.isInteger(skip) || skip < 0) throw new ValueError('DataLoader', `skip must be a non-negative integer, got ${skip}`);
    const order = this.order(this.epoch);
    this.epoch += 1;
    const n = order.length;
    const end = this.dropLast ? n - (n % this.batchSize) : n;
    let at = skip * this.batchSize;
    return {
      next: (): IteratorResult<B> => {
        if (at >= end) return { done: true, value: undefined };
        const idx = order.slice(at, Math.min(at + this.batchSize, end));
        at += this.batchSize;
        return { done: false, value: this.batch(idx) };
      },
      [Symbol.iterator]() {
        return this;
      },
    } as Iterator<B>;
  }
}
