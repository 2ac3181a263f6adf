// Classification metrics: accuracy, precision, recall, F1 and the confusion matrix, usable standalone
// (sklearn's argument order: yTrue, yPred) and as accumulating Metric objects in compile(). Metrics
// that are ratios keep integer counts over every batch and divide once at the end, so a result over
// many batches equals the result over the whole data (a mean of per-batch ratios would not).
//
// What counts as a prediction:
// - int32/bool yPred: class labels already.
// - float yPred [N, C, ...] with C > 1 (logits or probabilities): the argmax over axis 1.
// - float yPred [N] or [N, 1]: binary, class 1 where yPred >= threshold (0.5 for probabilities;
//   0 when `fromLogits`, i.e. sigmoid(logit) >= 0.5).
// yTrue holds int labels, or one-hot rows shaped like a multi-class yPred (argmax is taken).

import '../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { isFloat } from '../base/dtype.js';
import { scope } from '../tensor/memory.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';

/** How predictions become labels: logits or probabilities, and the binary threshold. */
export interface LabelOptions {
  /** Binary outputs are logits: threshold them at 0 instead of `threshold`. */
  fromLogits?: boolean;
  /** Decision threshold for binary probability outputs (default 0.5). */
  threshold?: number;
}

function isBinaryScores(t: Tensor): boolean {
  return isFloat(t.dtype) && (t.ndim <= 1 || (t.ndim === 2 && t.shape[1] === 1));
}

/**
 * The position of the largest of the `c` values d[base], d[base + stride], ... as the argmax kernel
 * picks it: the first NaN if there is one, else the first of equal maxima.
 */
function argmaxAt(d: ArrayLike<number>, base: number, c: number, stride: number): number {
  let best = d[base]!;
  if (best !== best) return 0;
  let bi = 0;
  for (let k = 1, p = base + stride; k < c; k++, p += stride) {
    const v = d[p]!;
    if (v !== v) return k;
    if (v > best) {
      best = v;
      bi = k;
    }
  }
  return bi;
}

/** The argmax over axis 1 of a CPU tensor [N, C, ...], as Int32Array [N, ...] in row-major order. */
function argmaxAxis1(t: Tensor): Int32Array {
  const d = t.dataSync();
  const n = t.shape[0]!,
    c = t.shape[1]!;
  const rest = c === 0 ? 0 : t.size / (n * c);
  const out = new Int32Array(n * rest);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < rest; r++) out[i * rest + r] = argmaxAt(d, i * c * rest + r, c, rest);
  }
  return out;
}

/** 1 where the value is >= threshold (NaN is not), else 0, as `t.ge(threshold).int()`. */
function thresholded(t: Tensor, threshold: number): Int32Array {
  const d = t.dataSync();
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! >= threshold ? 1 : 0;
  return out;
}

// Metrics run on every batch, so on the CPU the labels are computed here on the host from one read of
// the values: an op per batch (argmax, cast) costs tens of microseconds in dispatch and allocation,
// the loop over a batch's scores about one. Tensors elsewhere go through the ops.

/** Predicted labels as an Int32Array (see the file comment for the rules). */
export function predictedLabels(yPred: Tensor, opts: LabelOptions = {}): Int32Array {
  const threshold = opts.fromLogits ? 0 : (opts.threshold ?? 0.5);
  if (yPred.backend.capabilities.syncRead) {
    if (!isFloat(yPred.dtype)) return Int32Array.from(yPred.dataSync());
    return isBinaryScores(yPred) ? thresholded(yPred, threshold) : argmaxAxis1(yPred);
  }
  return scope(() =>
    noGrad(() => {
      let labels: Tensor;
      if (!isFloat(yPred.dtype)) labels = yPred.int();
      else if (isBinaryScores(yPred)) labels = yPred.ge(threshold).int();
      else labels = yPred.argmax(1);
      return Int32Array.from(labels.dataSync());
    }),
  );
}

/** True labels as an Int32Array: int labels as they are, one-hot (or probability) rows by argmax. */
export function trueLabels(yTrue: Tensor, yPred?: Tensor): Int32Array {
  // rows shaped like multi-class scores are one-hot (or soft) targets, whatever their dtype
  const oneHot = yPred && isFloat(yPred.dtype) && yPred.ndim >= 2 && yPred.shape[1]! > 1 && yTrue.ndim === yPred.ndim;
  if (yTrue.backend.capabilities.syncRead) {
    if (oneHot) return argmaxAxis1(yTrue);
    if (isFloat(yTrue.dtype)) return thresholded(yTrue, 0.5); // binary targets stored as floats
    return Int32Array.from(yTrue.dataSync());
  }
  return scope(() =>
    noGrad(() => {
      let labels: Tensor;
      if (oneHot) labels = yTrue.argmax(1);
      else if (isFloat(yTrue.dtype)) labels = yTrue.ge(0.5).int();
      else labels = yTrue.int();
      return Int32Array.from(labels.dataSync());
    }),
  );
}

/**
 * Sequence outputs: scores [B, T, C] against labels [B, T] (Keras's layout, classes on the last axis)
 * as [B*T, C] against [B*T], what a PyTorch user writes with logits.view(-1, C). Other shapes are
 * returned as they are (PyTorch's [N, C, d1, ...] keeps the classes on axis 1). Labels shaped like the
 * scores without their last axis decide it, so [B, T, T] scores count as sequence outputs.
 */
export function flattenSequence(yPred: Tensor, yTrue: Tensor): [Tensor, Tensor] {
  if (yPred.ndim < 3 || yTrue.ndim !== yPred.ndim - 1 || !isFloat(yPred.dtype)) return [yPred, yTrue];
  for (let i = 0; i < yTrue.ndim; i++) if (yTrue.shape[i] !== yPred.shape[i]) return [yPred, yTrue];
  const c = yPred.shape[yPred.ndim - 1]!;
  return [yPred.reshape(yPred.size / Math.max(c, 1), c), yTrue.reshape(yTrue.size)];
}

function pairs(op: string, yTrue0: Tensor, yPred0: Tensor, opts: LabelOptions): [Int32Array, Int32Array] {
  const [yPred, yTrue] = flattenSequence(yPred0, yTrue0);
  const p = predictedLabels(yPred, opts);
  const t = trueLabels(yTrue, yPred);
  if (p.length !== t.length) {
    throw new ShapeError(
      op,
      `yTrue ${fmtShape(yTrue.shape)} holds ${t.length} labels but yPred ${fmtShape(yPred.shape)} gives ${p.length} predictions`,
    );
  }
  return [t, p];
}

/**
 * Counts of (true, predicted) label pairs, growing as larger labels appear. Row = true class,
 * column = predicted class, as sklearn's confusion_matrix.
 */
export class ConfusionCounts {
  /** Number of classes the matrix covers so far. */
  numClasses: number;
  /** The counts, row-major [numClasses, numClasses]. */
  counts: Float64Array;
  /** Classes seen in yTrue or yPred so far (sklearn averages over these unless labels are given). */
  readonly seen = new Set<number>();

  /** An empty matrix for numClasses classes (it grows as larger labels appear). */
  constructor(numClasses = 0) {
    this.numClasses = numClasses;
    this.counts = new Float64Array(numClasses * numClasses);
  }

  private grow(c: number): void {
    if (c <= this.numClasses) return;
    const next = new Float64Array(c * c);
    for (let i = 0; i < this.numClasses; i++) {
      for (let j = 0; j < this.numClasses; j++) next[i * c + j] = this.counts[i * this.numClasses + j]!;
    }
    this.numClasses = c;
    this.counts = next;
  }

  /** Counts the pairs (t[i], p[i]), growing the matrix for new labels. */
  add(t: Int32Array, p: Int32Array, op = 'confusionMatrix'): void {
    let maxLabel = -1;
    for (let i = 0; i < t.length; i++) {
      const a = t[i]!,
        b = p[i]!;
      if (a < 0 || b < 0) throw new ValueError(op, `labels must be non-negative, got ${a < 0 ? a : b}`);
      if (a > maxLabel) maxLabel = a;
      if (b > maxLabel) maxLabel = b;
    }
    this.grow(maxLabel + 1);
    const c = this.numClasses;
    for (let i = 0; i < t.length; i++) {
      this.counts[t[i]! * c + p[i]!]!++;
      this.seen.add(t[i]!);
      this.seen.add(p[i]!);
    }
  }

  /** Sets every count to zero. */
  reset(): void {
    this.counts.fill(0);
    this.seen.clear();
  }

  /** Per-class true positives, predicted counts (column sums) and actual counts (row sums). */
  perClass(): {
    /** True positives per class (the diagonal). */
    tp: number[];
    /** Predictions per class (column sums). */
    predicted: number[];
    /** True labels per class (row sums). */
    actual: number[];
  } {
    const c = this.numClasses;
    const tp = new Array<number>(c).fill(0),
      predicted = new Array<number>(c).fill(0),
      actual = new Array<number>(c).fill(0);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++) {
        const n = this.counts[i * c + j]!;
        actual[i]! += n;
        predicted[j]! += n;
        if (i === j) tp[i]! += n;
      }
    }
    return { tp, predicted, actual };
  }
}

/** How per-class scores combine: unweighted mean over classes, pooled counts, or one positive class. */
export type Average = 'macro' | 'micro' | 'binary';
/** Which score: precision, recall or F1. */
export type ScoreKind = 'precision' | 'recall' | 'f1';

/** Options of precision, recall and F1: the averaging, class count and positive label. */
export interface ScoreOptions extends LabelOptions {
  /**
   * 'macro' (default): the unweighted mean over classes of the per-class score; the classes are
   * 0..numClasses-1 when `numClasses` is given, else those that occur in yTrue or yPred (sklearn).
   * 'micro': from the pooled counts (equals accuracy for single-label data). 'binary': class
   * `posLabel` (default 1) only.
   */
  average?: Average;
  /** Number of classes (0..numClasses-1 enter the macro average). */
  numClasses?: number;
  /** The positive class for average 'binary' (default 1). */
  posLabel?: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b); // sklearn's zero_division=0

function classScore(kind: ScoreKind, tp: number, predicted: number, actual: number): number {
  const p = ratio(tp, predicted),
    r = ratio(tp, actual);
  if (kind === 'precision') return p;
  if (kind === 'recall') return r;
  return ratio(2 * p * r, p + r);
}

/** The score from accumulated counts. */
export function scoreFromCounts(kind: ScoreKind, cm: ConfusionCounts, opts: ScoreOptions = {}): number {
  const average = opts.average ?? 'macro';
  const { tp, predicted, actual } = cm.perClass();
  if (average === 'binary') {
    const k = opts.posLabel ?? 1;
    return classScore(kind, tp[k] ?? 0, predicted[k] ?? 0, actual[k] ?? 0);
  }
  if (average === 'micro') {
    const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);
    return classScore(kind, sum(tp), sum(predicted), sum(actual));
  }
  if (average !== 'macro') throw new ValueError(kind, `average must be 'macro', 'micro' or 'binary', got '${average as string}'`);
  const classes = opts.numClasses !== undefined ? Array.from({ length: opts.numClasses }, (_, i) => i) : [...cm.seen].sort((a, b) => a - b);
  if (classes.length === 0) return 0;
  let s = 0;
  for (const k of classes) s += classScore(kind, tp[k] ?? 0, predicted[k] ?? 0, actual[k] ?? 0);
  return s / classes.length;
}

// ---- standalone functions ----

/** Fraction of predictions equal to the true labels. */
export function accuracy(yTrue: Tensor, yPred: Tensor, opts: LabelOptions = {}): number {
  const [t, p] = pairs('accuracy', yTrue, yPred, opts);
  let ok = 0;
  for (let i = 0; i < t.length; i++) if (t[i] === p[i]) ok++;
  return ratio(ok, t.length);
}

function standalone(kind: ScoreKind, yTrue: Tensor, yPred: Tensor, opts: ScoreOptions): number {
  const [t, p] = pairs(kind, yTrue, yPred, opts);
  const cm = new ConfusionCounts(opts.numClasses ?? 0);
  cm.add(t, p, kind);
  return scoreFromCounts(kind, cm, opts);
}

/** Precision, macro-averaged over classes by default (sklearn's precision_score with zero_division=0). */
export function precision(yTrue: Tensor, yPred: Tensor, opts: ScoreOptions = {}): number {
  return standalone('precision', yTrue, yPred, opts);
}

/** Recall, macro-averaged over classes by default. */
export function recall(yTrue: Tensor, yPred: Tensor, opts: ScoreOptions = {}): number {
  return standalone('recall', yTrue, yPred, opts);
}

/** F1, per class from that class's precision and recall, then macro-averaged by default. */
export function f1Score(yTrue: Tensor, yPred: Tensor, opts: ScoreOptions = {}): number {
  return standalone('f1', yTrue, yPred, opts);
}

/**
 * The confusion matrix as an int32 tensor [C, C]: entry [i, j] counts samples of true class i
 * predicted as class j. C is `numClasses`, or 1 + the largest label seen. `.tolist()` gives the
 * nested array.
 */
export function confusionMatrix(yTrue: Tensor, yPred: Tensor, numClasses?: number, opts: LabelOptions = {}): Tensor {
  const [t, p] = pairs('confusionMatrix', yTrue, yPred, opts);
  const cm = new ConfusionCounts(numClasses ?? 0);
  cm.add(t, p);
  if (numClasses !== undefined && cm.numClasses > numClasses) {
    throw new ValueError('confusionMatrix', `a label ${cm.numClasses - 1} is outside [0, ${numClasses})`);
  }
  const c = cm.numClasses;
  return tensor(Int32Array.from(cm.counts), { shape: [c, c] });
}

// ---- accumulating metrics, for compile() and for streaming use ----

/**
 * A metric accumulated over batches: update() with each batch, result() at any point, reset() to
 * start over. Subclass it for a custom metric; compile() also accepts a plain function.
 */
export abstract class Metric {
  /** A metric logged as `name`. */
  constructor(
    /** The name under which fit() logs the metric. */
    readonly name: string,
  ) {}
  /** Adds one batch of true labels and predictions. */
  abstract update(yTrue: Tensor, yPred: Tensor): void;
  /** The metric over every batch since the last reset. */
  abstract result(): number;
  /** Starts over. */
  abstract reset(): void;
  /**
   * The accumulated state as JSON, so a run resumed mid-epoch (train.BackupAndRestore) goes on with
   * the epoch's counts; null (the default, for a metric that does not say) starts it over.
   */
  getState(): unknown {
    return null;
  }
  /** Restores what getState() returned. */
  setState(_state: unknown): void {}
}

function numbers(op: string, state: unknown, n: number): number[] {
  if (!Array.isArray(state) || state.length !== n || !state.every((v) => typeof v === 'number'))
    throw new ValueError(op, `expected a saved state of ${n} numbers, got ${JSON.stringify(state)}`);
  return state as number[];
}

export class Accuracy extends Metric {
  private correct = 0;
  private total = 0;
  /** Accuracy of class predictions (argmax, or a threshold for binary outputs). */
  constructor(private readonly opts: LabelOptions & { name?: string } = {}) {
    super(opts.name ?? 'accuracy');
  }
  update(yTrue: Tensor, yPred: Tensor): void {
    const [t, p] = pairs(this.name, yTrue, yPred, this.opts);
    for (let i = 0; i < t.length; i++) if (t[i] === p[i]) this.correct++;
    this.total += t.length;
  }
  result(): number {
    return ratio(this.correct, this.total);
  }
  reset(): void {
    this.correct = this.total = 0;
  }
  override getState(): unknown {
    return [this.correct, this.total];
  }
  override setState(state: unknown): void {
    [this.correct, this.total] = numbers(this.name, state, 2) as [number, number];
  }
}

/** Precision / recall / F1 from a confusion matrix accumulated over every batch. */
class CountingScore extends Metric {
  /** The confusion matrix accumulated so far. */
  protected readonly cm: ConfusionCounts;
  constructor(
    private readonly kind: ScoreKind,
    private readonly opts: ScoreOptions & { name?: string },
  ) {
    super(opts.name ?? kind);
    this.cm = new ConfusionCounts(opts.numClasses ?? 0);
  }
  update(yTrue: Tensor, yPred: Tensor): void {
    const [t, p] = pairs(this.name, yTrue, yPred, this.opts);
    this.cm.add(t, p, this.name);
  }
  result(): number {
    return scoreFromCounts(this.kind, this.cm, this.opts);
  }
  reset(): void {
    this.cm.reset();
  }
  override getState(): unknown {
    return { numClasses: this.cm.numClasses, counts: Array.from(this.cm.counts), seen: [...this.cm.seen].sort((a, b) => a - b) };
  }
  override setState(state: unknown): void {
    const s = state as { numClasses: number; counts: number[]; seen: number[] };
    if (!Number.isInteger(s?.numClasses) || !Array.isArray(s.counts) || s.counts.length !== s.numClasses ** 2 || !Array.isArray(s.seen))
      throw new ValueError(this.name, 'the saved state is not a confusion matrix');
    this.cm.numClasses = s.numClasses;
    this.cm.counts = Float64Array.from(s.counts);
    this.cm.seen.clear();
    for (const c of s.seen) this.cm.seen.add(c);
  }
}

/** Precision accumulated over batches (sklearn's average rules). */
export class Precision extends CountingScore {
  /** Precision with the given averaging. */
  constructor(opts: ScoreOptions & { name?: string } = {}) {
    super('precision', opts);
  }
}

/** Recall accumulated over batches (sklearn's average rules). */
export class Recall extends CountingScore {
  /** Recall with the given averaging. */
  constructor(opts: ScoreOptions & { name?: string } = {}) {
    super('recall', opts);
  }
}

/** F1 score accumulated over batches (sklearn's average rules). */
export class F1Score extends CountingScore {
  /** F1 score with the given averaging. */
  constructor(opts: ScoreOptions & { name?: string } = {}) {
    super('f1', opts);
  }
}

/** A per-sample function of (yTrue, yPred), averaged over samples (batch results weighted by size). */
export type MetricFn = (yTrue: Tensor, yPred: Tensor) => Tensor | number;

export class MeanMetric extends Metric {
  private sum = 0;
  private count = 0;
  /** The mean of fn over every sample, logged as `name`. */
  constructor(
    name: string,
    private readonly fn: MetricFn,
  ) {
    super(name);
  }
  update(yTrue: Tensor, yPred: Tensor): void {
    const n = yPred.ndim > 0 ? yPred.shape[0]! : 1;
    const v = scope(() =>
      noGrad(() => {
        const r = this.fn(yTrue, yPred);
        return typeof r === 'number' ? r : r.mean().item();
      }),
    );
    this.sum += v * n;
    this.count += n;
  }
  result(): number {
    return ratio(this.sum, this.count);
  }
  reset(): void {
    this.sum = this.count = 0;
  }
  override getState(): unknown {
    return [this.sum, this.count];
  }
  override setState(state: unknown): void {
    [this.sum, this.count] = numbers(this.name, state, 2) as [number, number];
  }
}

/** yTrue brought to yPred's shape and dtype, for regression metrics and losses. */
export function alignTarget(op: string, yTrue: Tensor, yPred: Tensor): Tensor {
  let y = yTrue.dtype === yPred.dtype ? yTrue : yTrue.to(yPred.dtype);
  if (y.shape.join() !== yPred.shape.join()) {
    if (y.size !== yPred.size) throw new ShapeError(op, `target ${fmtShape(yTrue.shape)} does not match output ${fmtShape(yPred.shape)}`);
    y = y.reshape(yPred.shape);
  }
  return y;
}

/** A metric compile() knows by name. */
export type MetricName = 'accuracy' | 'acc' | 'precision' | 'recall' | 'f1' | 'f1Score' | 'mse' | 'mae';

/** A metric by its Keras-style name; `fromLogits` sets how binary outputs are thresholded. */
export function metricByName(name: string, opts: LabelOptions = {}): Metric {
  switch (name) {
    case 'accuracy':
    case 'acc':
      return new Accuracy({ ...opts, name });
    case 'precision':
      return new Precision({ ...opts, name });
    case 'recall':
      return new Recall({ ...opts, name });
    case 'f1':
    case 'f1Score':
    case 'f1_score':
      return new F1Score({ ...opts, name });
    case 'mse':
      return new MeanMetric(name, (t, p) => p.sub(alignTarget(name, t, p)).square());
    case 'mae':
      return new MeanMetric(name, (t, p) => p.sub(alignTarget(name, t, p)).abs());
    default:
      throw new ValueError('compile', `unknown metric '${name}' (known: accuracy, precision, recall, f1, mse, mae)`);
  }
}
