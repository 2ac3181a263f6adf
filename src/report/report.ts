// `writeReport`: run folders in, one HTML page (and optionally PNG charts) out. Reads each folder's
// metrics.jsonl, builds the charts that have data, renders them to SVG (and PNG), and writes the files
// atomically, so a report being rewritten while a browser reloads it is never half a page.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, MoxError, ValueError } from '../errors.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { METRICS_FILE, type RunData, readRunLog } from '../train/run-log.js';
import { buildCharts, renderSvg } from './charts.js';
import { type RenderedChart, renderPage } from './html.js';
import { pngFonts, svgToPng } from './png.js';
import { runNames, summaryRows } from './series.js';

const OP = 'report';

/** Options of writeReport; every one has a default. */
export interface ReportOptions {
  /** The HTML file: default DIR/report.html for one run, ./report.html for several. */
  out?: string;
  /** A folder to write each chart into as PNG (loss.png, accuracy.png, lr.png, ...). */
  png?: string;
  /** The page's title: default the run's name, or 'Comparing N runs'. */
  title?: string;
  /** TensorBoard-style EMA weight for train curves, in [0, 1) (default 0.6; 0 is none). */
  smoothing?: number;
  /** PNG zoom (default 2: crisp on high-density screens). */
  zoom?: number;
}

/** What writeReport wrote. */
export interface ReportResult {
  /** The HTML file. */
  html: string;
  /** The PNG files, in chart order (empty without `png`). */
  pngs: string[];
  /** The charts drawn, by name (loss, accuracy, lr, throughput, confusion, ...). */
  charts: string[];
  /** Things the user should know: PNGs drawn without text for want of a font. */
  warnings: string[];
}

/** The report's default HTML path for these run folders. */
export function defaultReportPath(dirs: readonly string[]): string {
  return dirs.length === 1 ? path.join(dirs[0]!, 'report.html') : path.resolve('report.html');
}

function readRun(dir: string): RunData {
  try {
    return readRunLog(dir);
  } catch (e) {
    if (e instanceof MoxError) throw e;
    // a system error (EACCES, EISDIR): name the file and the code, as mox's errors do
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new DataError(OP, `cannot read ${path.join(dir, METRICS_FILE)}: ${code}`);
  }
}

/** Reads the runs and renders the page and its charts, writing nothing. */
export async function renderReport(
  dirs: readonly string[],
  opts: Omit<ReportOptions, 'out' | 'png' | 'zoom'> = {},
): Promise<{
  /** The page: one self-contained HTML document. */
  html: string;
  /** The charts, each with its SVG, in page order. */
  charts: RenderedChart[];
  /** The runs' records as read. */
  runs: RunData[];
}> {
  if (dirs.length === 0) throw new ValueError(OP, 'no run folder given');
  const smoothing = opts.smoothing ?? 0.6;
  if (!(smoothing >= 0 && smoothing < 1)) throw new ValueError(OP, `smoothing must be in [0, 1), got ${smoothing}`);
  const runs = dirs.map(readRun);
  const names = runNames(runs);
  const charts: RenderedChart[] = [];
  for (const c of buildCharts(runs, names, smoothing)) {
    const { spec: _spec, ...rest } = c;
    charts.push({ ...rest, svg: await renderSvg(c) });
  }
  const title = opts.title ?? (runs.length === 1 ? `Run ${names[0]!}` : `Comparing ${runs.length} runs: ${names.join(', ')}`);
  const html = renderPage({ title, runs, names, charts, summary: summaryRows(runs, names), generated: new Date().toISOString() });
  return { html, charts, runs };
}

/**
 * Writes the report of one or more run folders: an HTML page that needs no network (charts as inline
 * SVG), and with `png` each chart as a PNG. A folder without metrics.jsonl, or a file that cannot be
 * read or parsed, is a DataError naming it.
 */
export async function writeReport(dirs: string | readonly string[], opts: ReportOptions = {}): Promise<ReportResult> {
  const list = typeof dirs === 'string' ? [dirs] : [...dirs];
  const zoom = opts.zoom ?? 2;
  if (!(zoom > 0 && zoom <= 8)) throw new ValueError(OP, `zoom must be in (0, 8], got ${zoom}`);
  const { html, charts } = await renderReport(list, opts);
  const out = opts.out ?? defaultReportPath(list);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileAtomicSync(out, html);
  const pngs: string[] = [];
  const warnings: string[] = [];
  if (opts.png !== undefined) {
    fs.mkdirSync(opts.png, { recursive: true });
    const fonts = await pngFonts();
    if (!fonts.textRenders)
      warnings.push(
        'no font found that resvg can use: the PNGs have no text (install fonts-dejavu, or set MOX_REPORT_FONT=/path/font.ttf)',
      );
    for (const c of charts) {
      const file = path.join(opts.png, `${c.name}.png`);
      writeFileAtomicSync(file, await svgToPng(c.svg, zoom));
      pngs.push(file);
    }
  }
  return { html: out, pngs, charts: charts.map((c) => c.name), warnings };
}
