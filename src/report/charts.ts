// A report's charts as Vega-Lite specs, and their rendering to SVG: vega-lite compiles a spec to Vega,
// a vega View with no renderer draws it headless, toSVG() writes the string. vega and vega-lite are
// imported inside renderSvg, never at the top: they take ~200 ms to load, and `import * as mox` should
// not pay that for every program that never draws a chart.

import type { TopLevelSpec } from 'vega-lite';
import type { RunData } from '../train/run-log.js';
import { type Point, thin, lowerIsBetter, metricNames, metricPoints, pickConfusion, throughputPoints } from './series.js';

/** A chart of a report: its file name (without .png), title, text alternative, and Vega-Lite spec. */
export interface Chart {
  /** The file name, without .png (loss, accuracy, lr, ...). */
  name: string;
  /** The heading shown above the chart. */
  title: string;
  /** One sentence for screen readers and the figure's caption: what is plotted against what. */
  description: string;
  /** The Vega-Lite spec that draws it. */
  spec: TopLevelSpec;
  /** For a chart of one run among several (a confusion matrix): that run's index. */
  run?: number;
}

/** The font stack of the charts; resvg picks the first it has (DejaVu Sans on most Linux systems). */
export const CHART_FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const WIDTH = 640;
const HEIGHT = 260;
const CONFIG = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee', titleFontWeight: 'normal' as const },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'right' as const },
  title: { fontSize: 14, anchor: 'start' as const, fontWeight: 'bold' as const },
  range: { category: { scheme: 'tableau10' } },
};

const SPLIT_DASH = { train: [1, 0], val: [6, 3], test: [2, 2] };
/** Readable axis titles for the usual keys. */
const TITLES: Record<string, string> = { loss: 'loss', accuracy: 'accuracy', lr: 'learning rate', perplexity: 'perplexity' };
const axisTitle = (key: string): string => TITLES[key] ?? key.replace(/_/g, ' ');

const finite = (p: Point): boolean => Number.isFinite(p.value);

/**
 * A metric against step: train raw (faint) and smoothed, val and test as lines with points. One run:
 * colour by split. Several: colour by run, dash by split. Non-finite values are left out of the lines
 * (the summary table names their steps). Vertical rules mark where a run resumed.
 */
function metricChart(runs: readonly RunData[], names: readonly string[], key: string, smoothing: number): Chart | undefined {
  const points = thin(metricPoints(runs, names, key, smoothing).filter(finite));
  if (points.length === 0) return undefined;
  const several = runs.length > 1;
  const data = points.map((p) => ({ ...p, series: several ? p.run : p.split }));
  const splitsPresent = (['train', 'val', 'test'] as const).filter((s) => data.some((d) => d.split === s));
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 2 };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: several ? 'run' : 'split',
    sort: several ? [...names] : splitsPresent,
    legend,
  };
  const dashScale = { domain: splitsPresent, range: splitsPresent.map((s) => SPLIT_DASH[s]) };
  const dash = several
    ? {
        strokeDash: {
          field: 'split',
          type: 'nominal' as const,
          title: 'split',
          scale: dashScale,
          legend: { ...legend, symbolStrokeColor: '#555' },
        },
      }
    : {};
  const x = { field: 'step', type: 'quantitative' as const, title: 'step', axis: { tickMinStep: 1, format: 'd' } };
  const hasTrain = data.some((d) => d.split === 'train');
  const resumes = runs.flatMap((r) => r.resumes.map((s) => s.resumedFrom)).filter((s): s is number => s !== undefined);
  // y is not pinned to 0 (as TensorBoard): a loss falling from 2.9 to 2.7 should fill the chart
  // the faint raw train line is drawn last: the legend takes its symbols from the first layer
  const layers: object[] = [];
  if (hasTrain) {
    layers.push({
      transform: [{ filter: "datum.split === 'train' && isFinite(datum.smoothed)" }],
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x,
        y: { field: 'smoothed', type: 'quantitative', title: axisTitle(key), scale: { zero: false } },
        color,
        ...dash,
        detail: { field: 'run' },
      },
    });
  }
  if (data.some((d) => d.split !== 'train')) {
    const y = { field: 'value', type: 'quantitative', title: axisTitle(key), scale: { zero: false } };
    const held = [{ filter: "datum.split !== 'train'" }];
    layers.push({
      transform: held,
      mark: { type: 'line', strokeWidth: 2 },
      encoding: { x, y, color, ...dash, detail: { field: 'split' } },
    });
    // the points of an evaluation, a layer of their own: a line's point overlay would turn the
    // legend's dash symbols into filled dots
    layers.push({ transform: held, mark: { type: 'point', filled: true, size: 30, opacity: 1 }, encoding: { x, y, color } });
  }
  if (hasTrain) {
    layers.push({
      transform: [{ filter: "datum.split === 'train'" }],
      mark: { type: 'line', strokeWidth: 1, opacity: 0.3 },
      encoding: {
        x,
        y: { field: 'value', type: 'quantitative', title: axisTitle(key), scale: { zero: false } },
        color,
        detail: { field: 'run' },
      },
    });
  }
  if (resumes.length > 0) {
    layers.push({
      data: { values: resumes.map((step) => ({ step })) },
      mark: { type: 'rule', strokeDash: [2, 3], color: '#888' },
      encoding: { x: { field: 'step', type: 'quantitative' } },
    });
  }
  const splits = splitsPresent.join(', ');
  const title = key === 'loss' ? 'Loss' : axisTitle(key)[0]!.toUpperCase() + axisTitle(key).slice(1);
  return {
    name: fileSafe(key),
    title,
    description:
      `${title} against step (${splits}${hasTrain ? `; train smoothed with EMA weight ${smoothing}, raw values faint` : ''})` +
      `${several ? ` for ${runs.length} runs, one colour per run` : ''}; ${lowerIsBetter(key) ? 'lower' : 'higher'} is better` +
      `${resumes.length > 0 ? `; dotted rules mark resumes at step ${resumes.join(', ')}` : ''}.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      width: WIDTH,
      height: HEIGHT,
      config: CONFIG,
      data: { values: data },
      layer: layers,
      resolve: { scale: { color: 'shared' } },
    } as TopLevelSpec,
  };
}

/** One line per run of `points` against step (the learning rate, the throughput). */
function simpleChart(
  name: string,
  title: string,
  yTitle: string,
  description: string,
  points: Point[],
  several: boolean,
  log = false,
): Chart | undefined {
  const data = thin(points.filter(finite));
  if (data.length === 0) return undefined;
  return {
    name,
    title,
    description,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      width: WIDTH,
      height: HEIGHT * 0.75,
      config: CONFIG,
      data: { values: data },
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: yTitle, ...(log ? { scale: { type: 'log' } } : {}) },
        color: several ? { field: 'run', type: 'nominal', title: 'run' } : { value: '#4c78a8' },
      },
    } as TopLevelSpec,
  };
}

/** Labels beyond this many make a heatmap no one can read (a language model's vocabulary): left out. */
export const MAX_CONFUSION_LABELS = 40;

/** A confusion matrix as a heatmap with the count in each cell; rows are true classes. */
export function confusionChart(name: string, runName: string, run: RunData, index = 0): Chart | undefined {
  const c = pickConfusion(run);
  if (c === undefined || c.labels.length === 0 || c.labels.length > MAX_CONFUSION_LABELS) return undefined;
  const values = c.matrix.flatMap((row, i) => row.map((count, j) => ({ actual: c.labels[i]!, predicted: c.labels[j]!, count })));
  const max = Math.max(1, ...values.map((v) => v.count));
  const side = Math.min(480, Math.max(160, 28 * c.labels.length));
  const title = `Confusion matrix: ${runName} (${c.split}, step ${c.step})`;
  // column labels upright while they fit a cell (digits), slanted when they do not (Fashion-MNIST's names)
  const cell = side / c.labels.length;
  const slant = Math.max(...c.labels.map((l) => l.length)) * 6.5 > cell;
  const ord = (field: string, t: string, x = false) => ({
    field,
    type: 'ordinal' as const,
    title: t,
    sort: [...c.labels],
    axis: x && slant ? { labelAngle: -40, labelAlign: 'right' as const } : { labelAngle: 0 },
  });
  return {
    name,
    run: index,
    title,
    description: `${title}: counts of ${c.split} examples by true class (rows) and predicted class (columns); the diagonal is correct.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      width: side,
      height: side,
      config: CONFIG,
      data: { values },
      encoding: { x: ord('predicted', 'predicted', true), y: ord('actual', 'true class') },
      layer: [
        { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', title: 'count', scale: { scheme: 'blues' } } } },
        {
          mark: { type: 'text', fontSize: c.labels.length > 15 ? 8 : 11 },
          encoding: {
            text: { field: 'count', type: 'quantitative' },
            color: { condition: { test: `datum.count > ${max / 2}`, value: 'white' }, value: 'black' },
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/** A metric key as a chart (and PNG file) name: 'val/top5 acc' -> 'val-top5-acc'; letters, digits, _ . - kept. */
export const fileSafe = (key: string): string => key.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+|-+$/g, '') || 'metric';

/** File-name-safe form of a run name for per-run charts (confusion-<run>.png). */
export const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'run';

/**
 * Every chart the runs have data for, in report order: loss, the other metrics, learning rate,
 * throughput, confusion matrices. A chart with no data is not made.
 */
export function buildCharts(runs: readonly RunData[], names: readonly string[], smoothing: number): Chart[] {
  const charts: (Chart | undefined)[] = [];
  const several = runs.length > 1;
  for (const key of metricNames(runs)) charts.push(metricChart(runs, names, key, smoothing));
  const lr = metricPoints(runs, names, 'lr', 0).filter((p) => p.split === 'train');
  const positive = lr.filter(finite).every((p) => p.value > 0);
  const lrRange = lr.filter(finite).map((p) => p.value);
  // a schedule spanning decades (warmup from ~0, cosine to a floor) reads better on a log axis
  const log = positive && lrRange.length > 0 && Math.max(...lrRange) / Math.min(...lrRange) > 100;
  charts.push(
    simpleChart(
      'lr',
      'Learning rate',
      'learning rate',
      `The learning rate at each step${log ? ' (log scale)' : ''}${several ? ', one line per run' : ''}.`,
      lr,
      several,
      log,
    ),
  );
  const tp = throughputPoints(runs, names);
  charts.push(
    simpleChart(
      'throughput',
      'Throughput',
      tp.unit,
      `Training throughput (${tp.unit}) at each logged step${several ? ', one line per run' : ''}.`,
      tp.points,
      several,
    ),
  );
  const withConfusion = runs.map((r, i) => [r, names[i]!, i] as const).filter(([r]) => pickConfusion(r) !== undefined);
  for (const [r, n, i] of withConfusion)
    charts.push(confusionChart(withConfusion.length === 1 ? 'confusion' : `confusion-${slug(n)}`, n, r, i));
  return charts.filter((c): c is Chart => c !== undefined);
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Renders a chart to an SVG string that stands alone and can sit beside others in one page: a
 * <title> and aria-label for screen readers, role="img", and every id (vega's clip paths) prefixed
 * with `idPrefix`, since ids must be unique in the whole HTML document.
 */
export async function renderSvg(chart: Chart, idPrefix = chart.name): Promise<string> {
  const [vl, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  // vega-lite's warnings (a legend property two layers set differently) are about the spec, not the
  // user's run: kept off the user's terminal
  const logger = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(vl.compile(chart.spec, { logger }).spec), { renderer: 'none', logger });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const p = `${slug(idPrefix)}-`;
  svg = svg
    .replace(/\bid="([^"]+)"/g, `id="${p}$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${p}$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${p}$1"`);
  return svg.replace(
    /^<svg\b([^>]*)>/,
    `<svg$1 role="img" aria-label="${escapeXml(chart.description)}"><title>${escapeXml(chart.title)}</title><desc>${escapeXml(chart.description)}</desc>`,
  );
}
