// The report page: one HTML file that needs nothing else (no script, no stylesheet or font from the
// network; charts are inline SVG, the CSS is in a <style>), so it can be mailed, archived or opened
// offline years later. Every string from a run (names, config values, generated text) is escaped.

import type { RunData } from '../train/run-log.js';
import { classScores, flattenConfig, nonFiniteSteps, pickConfusion, type SummaryRow, wallSeconds } from './series.js';

/** A chart as the page shows it: the rendered SVG and its caption. */
export interface RenderedChart {
  /** The file name, without .png (loss, accuracy, lr, ...). */
  name: string;
  /** The heading shown above the chart. */
  title: string;
  /** One sentence for screen readers and the figure's caption: what is plotted against what. */
  description: string;
  /** The chart drawn as inline SVG. */
  svg: string;
  /** For a chart of one run among several (a confusion matrix): that run's index. */
  run?: number;
}

/** What the page is made of. */
export interface PageInput {
  /** The page's title. */
  title: string;
  /** The runs' records, in the order given. */
  runs: readonly RunData[];
  /** Each run's name in legends and tables, in the order of `runs`. */
  names: readonly string[];
  /** The charts to show, in order. */
  charts: readonly RenderedChart[];
  /** The table of final and best values. */
  summary: readonly SummaryRow[];
  /** When the report was made (ISO 8601). */
  generated: string;
  /** Samples per run shown at most (latest evaluations first). */
  maxSampleSteps?: number;
}

/** Escapes text for HTML content and attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** A number as a table shows it: 4 significant digits, exponent form for tiny values, NaN as 'NaN'. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

const seconds = (s: number): string =>
  s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${(s / 3600).toFixed(1)} h`;

function table(caption: string, head: string[], rows: string[][], rowClass: (i: number) => string = () => ''): string {
  const th = head.map((h) => `<th scope="col">${h}</th>`).join('');
  const body = rows
    .map((r, i) => {
      const cls = rowClass(i);
      return `<tr${cls ? ` class="${cls}"` : ''}>${r.map((c, j) => (j === 0 ? `<th scope="row">${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`;
    })
    .join('\n');
  return `<table>\n<caption>${caption}</caption>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function runsSection(p: PageInput): string {
  const rows = p.runs.map((r, i) => {
    const steps = r.scalars.reduce((m, s) => Math.max(m, s.step), 0);
    const bad = nonFiniteSteps(r);
    return [
      escapeHtml(p.names[i]!),
      escapeHtml(r.run.kind),
      `<time datetime="${escapeHtml(r.run.time)}">${escapeHtml(r.run.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time>`,
      String(steps),
      seconds(wallSeconds(r)),
      r.resumes.length === 0 ? '—' : escapeHtml(r.resumes.map((x) => `step ${x.resumedFrom ?? '?'}`).join(', ')),
      bad.length === 0 ? '—' : `<span class="warn">non-finite at step ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}</span>`,
      `<code>${escapeHtml(r.dir)}</code>`,
    ];
  });
  return `<section id="runs"><h2>Runs</h2>\n${table('The runs in this report', ['run', 'kind', 'started (UTC)', 'steps', 'wall time', 'resumed from', 'NaN / Inf', 'folder'], rows)}\n</section>`;
}

function configSection(p: PageInput): string {
  const flat = p.runs.map((r) => flattenConfig(r.run.config));
  const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))];
  if (keys.length === 0) return '';
  const several = p.runs.length > 1;
  const differs = keys.map((k) => several && new Set(flat.map((f) => f.get(k) ?? '∅')).size > 1);
  const rows = keys.map((k, i) => [
    `${escapeHtml(k)}${differs[i] ? ' <span class="marker" title="differs between runs">≠</span>' : ''}`,
    ...flat.map((f) => (f.has(k) ? `<code>${escapeHtml(f.get(k)!)}</code>` : '<span class="none">—</span>')),
  ]);
  const n = differs.filter(Boolean).length;
  const note = several
    ? `<p>${n === 0 ? 'The runs share every setting.' : `${n} setting${n === 1 ? '' : 's'} differ between the runs, marked ≠ and highlighted.`}</p>`
    : '';
  return `<section id="config"><h2>Configuration</h2>\n${note}\n${table(
    'Settings of each run (nested keys joined with dots)',
    ['setting', ...p.names.map(escapeHtml)],
    rows,
    (i) => (differs[i] ? 'diff' : ''),
  )}\n</section>`;
}

function summarySection(p: PageInput): string {
  if (p.summary.length === 0) return '';
  const several = p.runs.length > 1;
  const rows = p.summary.map((r) => [
    escapeHtml(several ? `${r.run} · ${r.split} ${r.metric}` : `${r.split} ${r.metric}`),
    `${fmt(r.final)} <span class="step">@ ${r.finalStep}</span>`,
    Number.isNaN(r.best) ? '—' : `${fmt(r.best)} <span class="step">@ ${r.bestStep}</span>`,
  ]);
  return `<section id="summary"><h2>Summary</h2>\n${table('Final and best value of each metric (best: lowest loss, highest otherwise; @ step)', ['metric', 'final', 'best'], rows)}\n</section>`;
}

const figure = (c: RenderedChart): string =>
  `<figure id="chart-${escapeHtml(c.name)}">\n${c.svg}\n<figcaption>${escapeHtml(c.description)}</figcaption>\n</figure>`;

function chartsSection(p: PageInput): string {
  const charts = p.charts.filter((c) => !c.name.startsWith('confusion'));
  if (charts.length === 0) return '';
  return `<section id="charts"><h2>Charts</h2>\n${charts.map(figure).join('\n')}\n</section>`;
}

function classificationSection(p: PageInput): string {
  const parts: string[] = [];
  p.runs.forEach((r, i) => {
    const c = pickConfusion(r);
    if (c === undefined) return;
    const s = classScores(c);
    const chart = p.charts.find((ch) => ch.name.startsWith('confusion') && ch.run === i);
    const rows = s.classes.map((k) => [escapeHtml(k.label), fmt(k.precision), fmt(k.recall), fmt(k.f1), String(k.support)]);
    rows.push(['macro average', fmt(s.macro.precision), fmt(s.macro.recall), fmt(s.macro.f1), String(s.total)]);
    rows.push(['accuracy', '', '', fmt(s.accuracy), String(s.total)]);
    parts.push(
      `<h3>${escapeHtml(p.names[i]!)}: ${escapeHtml(c.split)} split, step ${c.step}</h3>\n` +
        (chart ? figure(chart) + '\n' : '') +
        table(
          `Per-class precision, recall and F1 of ${escapeHtml(p.names[i]!)} (${escapeHtml(c.split)}, step ${c.step})`,
          ['class', 'precision', 'recall', 'F1', 'support'],
          rows,
          (j) => (j >= s.classes.length ? 'total' : ''),
        ),
    );
  });
  return parts.length === 0 ? '' : `<section id="classification"><h2>Classification</h2>\n${parts.join('\n')}\n</section>`;
}

function samplesSection(p: PageInput): string {
  const parts: string[] = [];
  p.runs.forEach((r, i) => {
    if (r.samples.length === 0) return;
    const latest = [...r.samples].sort((a, b) => b.step - a.step).slice(0, p.maxSampleSteps ?? 20);
    const items = latest
      .map(
        (s) =>
          `<h4>step ${s.step}</h4>\n` +
          s.samples
            .map((x) => `<pre class="sample"><span class="prompt">${escapeHtml(x.prompt)}</span>${escapeHtml(x.text)}</pre>`)
            .join('\n'),
      )
      .join('\n');
    parts.push(`<h3>${escapeHtml(p.names[i]!)}</h3>\n${items}`);
  });
  if (parts.length === 0) return '';
  return `<section id="samples"><h2>Samples</h2>\n<p>Generated text at each evaluation, the latest first; the prompt is in bold.</p>\n${parts.join('\n')}\n</section>`;
}

const CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; --accent: #4c78a8; --diff: #fff2c6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; color: var(--fg); margin: 0; background: #f6f7f9; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 60px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 24px; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin: 32px 0 10px; } h3 { font-size: 16px; margin: 22px 0 8px; } h4 { font-size: 14px; margin: 14px 0 4px; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 12px; }
nav a { margin-right: 14px; color: var(--accent); }
section { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 4px 18px 16px; margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { background: #eef1f6; }
tbody th { font-weight: 600; }
td { font-variant-numeric: tabular-nums; }
tr.diff { background: var(--diff); }
tr.total th, tr.total td { border-top: 2px solid #b8bfcc; font-weight: 600; }
.marker { color: #9a6700; font-weight: bold; }
.none, .step { color: var(--muted); font-size: 12px; }
.warn { color: #b42318; font-weight: 600; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
figure { margin: 16px 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; }
pre.sample { white-space: pre-wrap; background: #f3f4f7; border-left: 3px solid var(--accent); padding: 8px 10px; font: 12.5px/1.45 ui-monospace, "DejaVu Sans Mono", monospace; }
.prompt { font-weight: bold; }
`;

/** The whole page. */
export function renderPage(p: PageInput): string {
  const sections = [
    runsSection(p),
    summarySection(p),
    chartsSection(p),
    classificationSection(p),
    samplesSection(p),
    configSection(p),
  ].filter(Boolean);
  const toc = sections.map((s) => {
    const m = /<section id="([^"]+)"><h2>([^<]+)<\/h2>/.exec(s)!;
    return `<a href="#${m[1]}">${m[2]}</a>`;
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mox report">
<title>${escapeHtml(p.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(p.title)}</h1>
<p class="meta">${p.runs.length} run${p.runs.length === 1 ? '' : 's'} · made by <code>mox report</code> on <time datetime="${escapeHtml(p.generated)}">${escapeHtml(p.generated.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time></p>
<nav aria-label="sections">${toc.join('')}</nav>
</header>
${sections.join('\n')}
</main>
</body>
</html>
`;
}
