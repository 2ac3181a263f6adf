// What a report draws, computed from the runs' records and nothing else: the points of each chart, the
// smoothing of noisy training curves, final and best values, and a confusion matrix's per-class scores.
// No vega here: this file is plain data, so it is cheap to import and easy to test by hand.

import type { ConfusionRecord, RunData, Split } from '../train/run-log.js';

/** One point of a chart: a run's value of a metric on a split at a step (`smoothed` only on train curves). */
export interface Point {
  /** The run's name. */
  run: string;
  /** The data measured on: train, val or test. */
  split: Split;
  /** The optimizer step (the x axis). */
  step: number;
  /** The value as logged. */
  value: number;
  /** The EMA-smoothed value, as TensorBoard's smoothing slider draws it. */
  smoothed?: number;
}

/** The values-keys that are a rate of work; a chart of its own, left out of the metric charts. */
export const THROUGHPUT_KEYS = ['tokens_per_s', 'samples_per_s'] as const;
/** Keys that are not a model's metric: the schedule and timings. */
const NOT_METRICS = new Set<string>(['lr', 'ms_per_step', 'time', 'epoch', ...THROUGHPUT_KEYS]);

/**
 * TensorBoard's scalar smoothing: an exponential moving average, debiased (divided by 1 - w^n) so the
 * first points are not pulled towards 0. A non-finite value is passed through and does not enter the
 * average; a constant series stays constant. `weight` in [0, 1): 0 is no smoothing.
 */
export function emaSmooth(values: readonly number[], weight = 0.6): number[] {
  const constant = values.every((v) => v === values[0]);
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (constant || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n++;
    return weight === 0 ? v : last / (1 - weight ** n);
  });
}

/** A display name per run: the run record's name, made unique with #2, #3 where two runs share one. */
export function runNames(runs: readonly RunData[]): string[] {
  const seen = new Map<string, number>();
  return runs.map((r) => {
    const k = (seen.get(r.run.name) ?? 0) + 1;
    seen.set(r.run.name, k);
    return k === 1 ? r.run.name : `${r.run.name} #${k}`;
  });
}

/** The metric names the runs logged (loss first, then in order of first appearance), without lr and rates. */
export function metricNames(runs: readonly RunData[]): string[] {
  const names = new Set<string>();
  for (const r of runs) for (const s of r.scalars) for (const k of Object.keys(s.values)) if (!NOT_METRICS.has(k)) names.add(k);
  return [...names].sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : 0));
}

/** Every run's points of one values-key (all splits), step order; train curves smoothed. */
export function metricPoints(runs: readonly RunData[], names: readonly string[], key: string, smoothing: number): Point[] {
  const out: Point[] = [];
  runs.forEach((r, i) => {
    for (const split of ['train', 'val', 'test'] as const) {
      const pts = r.scalars
        .filter((s) => s.split === split && key in s.values)
        .map((s) => ({ run: names[i]!, split, step: s.step, value: s.values[key]! }))
        .sort((a, b) => a.step - b.step);
      if (split === 'train')
        emaSmooth(
          pts.map((p) => p.value),
          smoothing,
        ).forEach((v, j) => ((pts[j] as Point).smoothed = v));
      out.push(...pts);
    }
  });
  return out;
}

/** Points per line a chart draws at most; a longer run is thinned (after smoothing) to keep pages and PNGs small. */
export const MAX_LINE_POINTS = 1000;

/**
 * Every k-th point of each (run, split) line, k chosen so that no line has more than `max`, the last
 * point always kept. A 5,000-step run logged every step draws 1,000 points: no visible difference at
 * 640 pixels wide, a fifth of the page.
 */
export function thin(points: readonly Point[], max = MAX_LINE_POINTS): Point[] {
  const lines = new Map<string, Point[]>();
  for (const p of points) {
    const k = `${p.run}\u0000${p.split}`;
    if (!lines.has(k)) lines.set(k, []);
    lines.get(k)!.push(p);
  }
  const out: Point[] = [];
  for (const line of lines.values()) {
    const stride = Math.ceil(line.length / max);
    out.push(...line.filter((_p, i) => i % stride === 0 || i === line.length - 1));
  }
  return out;
}

/**
 * Every run's throughput: tokens/s where it logged them, else samples/s, else steps/s from ms_per_step.
 * `unit` is the axis title: the one unit all runs share, or 'per second' when they differ.
 */
export function throughputPoints(
  runs: readonly RunData[],
  names: readonly string[],
): {
  /** The throughput of every run's train steps, by step. */
  points: Point[];
  /** The axis title: tokens/s, samples/s, steps/s, or 'per second' when runs differ. */
  unit: string;
} {
  const points: Point[] = [];
  const units = new Set<string>();
  runs.forEach((r, i) => {
    const train = r.scalars.filter((s) => s.split === 'train');
    const key = ['tokens_per_s', 'samples_per_s', 'ms_per_step'].find((k) => train.some((s) => k in s.values));
    if (key === undefined) return;
    units.add(key === 'tokens_per_s' ? 'tokens/s' : key === 'samples_per_s' ? 'samples/s' : 'steps/s');
    for (const s of train) {
      const v = s.values[key];
      if (v === undefined) continue;
      points.push({ run: names[i]!, split: 'train', step: s.step, value: key === 'ms_per_step' ? 1000 / v : v });
    }
  });
  points.sort((a, b) => a.step - b.step);
  return { points, unit: units.size === 1 ? [...units][0]! : 'per second' };
}

/** Whether a smaller value is better: losses, errors, perplexity. */
export const lowerIsBetter = (metric: string): boolean => /loss|error|perplexity|ppl|mse|mae|rmse/i.test(metric);

/** A run's final and best value of one metric on one split (NaN where it logged no finite value). */
export interface SummaryRow {
  /** The run's name. */
  run: string;
  /** The data measured on: train, val or test. */
  split: Split;
  /** The metric's name (loss, accuracy, ...). */
  metric: string;
  /** The value at the last step logged (NaN if it was not finite). */
  final: number;
  /** The last step logged. */
  finalStep: number;
  /** The best finite value: the lowest for losses and errors, else the highest (NaN if none). */
  best: number;
  /** The step of the best value (-1 if none). */
  bestStep: number;
}

/** Final and best values per run, split and metric (not lr or throughput). */
export function summaryRows(runs: readonly RunData[], names: readonly string[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const metrics = metricNames(runs);
  runs.forEach((r, i) => {
    for (const split of ['train', 'val', 'test'] as const)
      for (const metric of metrics) {
        const pts = r.scalars.filter((s) => s.split === split && metric in s.values).sort((a, b) => a.step - b.step);
        const last = pts.at(-1);
        if (last === undefined) continue;
        const lower = lowerIsBetter(metric);
        let best = NaN;
        let bestStep = -1;
        for (const p of pts) {
          const v = p.values[metric]!;
          if (Number.isFinite(v) && (Number.isNaN(best) || (lower ? v < best : v > best))) [best, bestStep] = [v, p.step];
        }
        rows.push({ run: names[i]!, split, metric, final: last.values[metric]!, finalStep: last.step, best, bestStep });
      }
  });
  return rows;
}

/** The steps at which a run's loss (any split) was NaN or infinite. */
export function nonFiniteSteps(run: RunData): number[] {
  return [...new Set(run.scalars.filter((s) => Object.values(s.values).some((v) => !Number.isFinite(v))).map((s) => s.step))];
}

/**
 * A run's wall time in seconds: `time` restarts at each resume, so the segments' last times are added
 * (a segment ends where time goes back).
 */
export function wallSeconds(run: RunData): number {
  let total = 0;
  let prev = 0;
  for (const s of [...run.scalars].sort((a, b) => a.step - b.step)) {
    if (!Number.isFinite(s.time)) continue;
    if (s.time < prev) total += prev;
    prev = s.time;
  }
  return total + prev;
}

/** The confusion matrix a report shows for a run: the latest one of test, else val, else train. */
export function pickConfusion(run: RunData): ConfusionRecord | undefined {
  for (const split of ['test', 'val', 'train'] as const) {
    const recs = run.confusion.filter((c) => c.split === split);
    if (recs.length > 0) return recs.reduce((a, b) => (b.step >= a.step ? b : a));
  }
  return undefined;
}

/** Per-class precision, recall and F1 (0 where undefined, as scikit-learn's zero_division=0), with support. */
export interface ClassScores {
  /** The class's name. */
  label: string;
  /** Of the examples predicted as this class, the fraction that are (tp / (tp + fp)). */
  precision: number;
  /** Of the examples of this class, the fraction predicted as it (tp / (tp + fn)). */
  recall: number;
  /** The harmonic mean of precision and recall. */
  f1: number;
  /** The examples of this class (its row's sum). */
  support: number;
}

/**
 * Scores from matrix[true][predicted]: precision = tp / column sum, recall = tp / row sum, F1 their
 * harmonic mean; the macro average is the unweighted mean over classes (scikit-learn's
 * classification_report), accuracy the trace over the total.
 */
export function classScores(c: Pick<ConfusionRecord, 'labels' | 'matrix'>): {
  /** Each class's scores, in label order. */
  classes: ClassScores[];
  /** The unweighted mean of the classes' scores. */
  macro: {
    /** The mean of the classes' precisions. */
    precision: number;
    /** The mean of the classes' recalls. */
    recall: number;
    /** The mean of the classes' F1 scores. */
    f1: number;
  };
  /** The fraction of examples predicted right: the trace over the total. */
  accuracy: number;
  /** The examples counted: the matrix's sum. */
  total: number;
} {
  const n = c.labels.length;
  const row = (i: number) => c.matrix[i]!.reduce((a, b) => a + b, 0);
  const col = (j: number) => c.matrix.reduce((a, r) => a + r[j]!, 0);
  const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const classes = c.labels.map((label, i) => {
    const tp = c.matrix[i]![i]!;
    const precision = div(tp, col(i));
    const recall = div(tp, row(i));
    return { label, precision, recall, f1: div(2 * precision * recall, precision + recall), support: row(i) };
  });
  const mean = (k: 'precision' | 'recall' | 'f1') =>
    div(
      classes.reduce((a, s) => a + s[k], 0),
      n,
    );
  const total = c.matrix.reduce((a, _r, i) => a + row(i), 0);
  const trace = c.matrix.reduce((a, r, i) => a + r[i]!, 0);
  return { classes, macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') }, accuracy: div(trace, total), total };
}

/** A run's config flattened to dotted keys with display strings: {model: {n_layer: 4}} -> 'model.n_layer': '4'. */
export function flattenConfig(config: Record<string, unknown>, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(config)) {
    const key = prefix + k;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [kk, vv] of flattenConfig(v as Record<string, unknown>, `${key}.`)) out.set(kk, vv);
    } else out.set(key, typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));
  }
  return out;
}
