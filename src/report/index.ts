// mox.report: a training run's report from its metrics.jsonl (see train/run-log.ts): an HTML page with
// the charts inline as SVG, and the charts as PNG. Importing this loads no chart library; vega, vega-lite
// and resvg load on the first report drawn.

export { writeReport, renderReport, defaultReportPath, type ReportOptions, type ReportResult } from './report.js';
export { buildCharts, renderSvg, confusionChart, CHART_FONT, MAX_CONFUSION_LABELS, type Chart } from './charts.js';
export { svgToPng, pngFonts, textRenders, type PngFonts } from './png.js';
export { renderPage, escapeHtml, fmt, type PageInput, type RenderedChart } from './html.js';
export {
  emaSmooth,
  classScores,
  summaryRows,
  metricNames,
  metricPoints,
  throughputPoints,
  runNames,
  flattenConfig,
  lowerIsBetter,
  wallSeconds,
  nonFiniteSteps,
  pickConfusion,
  THROUGHPUT_KEYS,
  MAX_LINE_POINTS,
  thin,
  type Point,
  type SummaryRow,
  type ClassScores,
} from './series.js';
