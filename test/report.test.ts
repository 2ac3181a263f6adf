// `mox report` and mox.report.writeReport on run folders built here with RunLog: a classifier, a
// language model, two runs compared, a run whose loss went NaN, a resumed run. The page is read back
// as text (its SVGs parsed for paths and axis titles), the scores checked against numbers worked out by
// hand, and the PNGs decoded with pngjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { RunLog } from '../src/train/run-log.js';
import { writeReport, renderReport } from '../src/report/report.js';
import { classScores, emaSmooth, summaryRows, runNames, thin, wallSeconds } from '../src/report/series.js';
import { pngFonts, textRenders } from '../src/report/png.js';
import { strokePath, strokeText } from '../src/report/stroke-font.js';
import { Resvg } from '@resvg/resvg-js';
import { DataError, ValueError } from '../src/errors.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'mox-report-'));

// matrix[true][predicted]; by hand: precision = tp / column, recall = tp / row
//   cat:    tp 5, column 5+2+0 = 7, row 5+1+0 = 6   -> P 5/7 = 0.7143, R 5/6 = 0.8333, F1 10/13 = 0.7692
//   dog:    tp 7, column 1+7+0 = 8, row 2+7+1 = 10  -> P 7/8 = 0.875,  R 0.7,         F1 0.7778
//   <bird>: tp 4, column 0+1+4 = 5, row 4           -> P 0.8,          R 1,           F1 0.8889
const LABELS = ['cat', 'dog', '<bird>'];
const MATRIX = [
  [5, 1, 0],
  [2, 7, 1],
  [0, 0, 4],
];

function classifierRun(dir: string, name: string, lr = 0.01): string {
  const log = new RunLog(dir, { kind: 'classifier', name, config: { model: { hidden: 64 }, optimizer: 'adam', lr } });
  for (let s = 0; s <= 100; s += 10)
    log.scalars(s, 'train', {
      loss: 2 * Math.exp(-s / 40) + 0.05 * (s % 20 === 0 ? 1 : -1),
      accuracy: 0.1 + 0.008 * s,
      lr: lr * (1 - s / 200),
      samples_per_s: 1000 + s,
    });
  for (let s = 50; s <= 100; s += 50) log.scalars(s, 'val', { loss: 2 * Math.exp(-s / 40) + 0.2, accuracy: 0.7 + s / 1000 }, s / 50);
  log.confusion(100, 'test', LABELS, MATRIX);
  return dir;
}

function lmRun(dir: string): string {
  const log = new RunLog(dir, { kind: 'gpt', name: 'shakespeare', config: { n_layer: 2, n_embd: 64, lr: 1e-3 } });
  for (let s = 0; s <= 60; s += 5) log.scalars(s, 'train', { loss: 4 - s / 30, lr: 1e-3, tokens_per_s: 5000 + s });
  log.scalars(30, 'val', { loss: 3.2 });
  log.scalars(60, 'val', { loss: 2.9 });
  log.samples(30, [{ prompt: 'ROMEO:', text: ' first <script>alert("x")</script> & more' }]);
  log.samples(60, [{ prompt: 'JULIET:', text: ' latest words' }]);
  return dir;
}

/** The inline SVGs of a page, by figure id (chart-loss, ...). */
function figures(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<figure id="chart-([^"]+)">\s*(<svg[\s\S]*?<\/svg>)/g)) out.set(m[1]!, m[2]!);
  return out;
}

/** The text of an SVG's <text> elements. */
const texts = (svg: string): string[] => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

/** Paths of line marks that draw something (at least two points). */
const linePaths = (svg: string): string[] =>
  [...svg.matchAll(/class="mark-line[^"]*"[^>]*>([\s\S]*?)<\/g>/g)].flatMap((m) =>
    [...m[1]!.matchAll(/ d="(M[^"]*L[^"]*)"/g)].map((d) => d[1]!),
  );

/** Anything a browser would fetch: scripts, stylesheets, images, fonts, imports from a URL. */
function assertOffline(html: string): void {
  assert.doesNotMatch(html, /<script/i, 'a <script> element');
  assert.doesNotMatch(html, /<link\b/i, 'a <link> element');
  assert.doesNotMatch(html, /<(img|iframe|embed|object|source|video|audio)\b/i, 'an element that loads a resource');
  assert.doesNotMatch(html, /\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i, 'a src or href to a URL');
  assert.doesNotMatch(html, /url\(\s*["']?\s*(https?:)?\/\//i, 'a CSS url() to a URL');
  assert.doesNotMatch(html, /@import/i, 'a CSS @import');
}

test('TensorBoard smoothing: debiased EMA, non-finite passed through, constants kept', () => {
  // by hand, weight 0.5: last 0.5 -> 0.5/0.5 = 1; 1.25 -> 1.25/0.75; 2.125 -> 2.125/0.875
  const s = emaSmooth([1, 2, 3], 0.5);
  assert.deepEqual(
    s.map((v) => +v.toFixed(6)),
    [1, 1.666667, 2.428571],
  );
  const n = emaSmooth([1, NaN, 3], 0.5);
  assert.ok(Number.isNaN(n[1]));
  assert.equal(+n[2]!.toFixed(6), 2.333333); // 0.5 then 0.25+1.5=1.75, /0.75
  assert.deepEqual(emaSmooth([2, 2, 2], 0.9), [2, 2, 2]);
  assert.deepEqual(emaSmooth([1, 5], 0), [1, 5]);
});

test('a long run is thinned per line to at most 1,000 points, the last kept', () => {
  const pts = Array.from({ length: 5001 }, (_v, i) => ({ run: 'a', split: 'train' as const, step: i, value: i }));
  const val = [{ run: 'a', split: 'val' as const, step: 0, value: 1 }];
  const t = thin([...pts, ...val]);
  const train = t.filter((p) => p.split === 'train');
  assert.ok(train.length <= 1001, `${train.length} points`);
  assert.equal(train.at(-1)!.step, 5000);
  assert.equal(train[1]!.step, 6);
  assert.equal(t.filter((p) => p.split === 'val').length, 1);
  assert.equal(thin(pts.slice(0, 10)).length, 10);
});

test('precision, recall and F1 of a 3-class matrix match the hand computation', () => {
  const s = classScores({ labels: LABELS, matrix: MATRIX });
  const r = (v: number) => +v.toFixed(4);
  assert.deepEqual(
    s.classes.map((c) => [c.label, r(c.precision), r(c.recall), r(c.f1), c.support]),
    [
      ['cat', 0.7143, 0.8333, 0.7692, 6],
      ['dog', 0.875, 0.7, 0.7778, 10],
      ['<bird>', 0.8, 1, 0.8889, 4],
    ],
  );
  assert.equal(r(s.macro.precision), r((5 / 7 + 7 / 8 + 0.8) / 3));
  assert.equal(r(s.macro.recall), r((5 / 6 + 0.7 + 1) / 3));
  assert.equal(s.accuracy, 16 / 20);
  // a class never predicted and never present: 0, not NaN (scikit-learn's zero_division=0)
  const z = classScores({
    labels: ['a', 'b'],
    matrix: [
      [3, 0],
      [0, 0],
    ],
  });
  assert.deepEqual([z.classes[1]!.precision, z.classes[1]!.recall, z.classes[1]!.f1], [0, 0, 0]);
});

test('a classifier: charts with lines and axis titles, confusion counts, scores, PNGs', async () => {
  const dir = classifierRun(tmp(), 'mlp');
  const pngDir = path.join(dir, 'png');
  const r = await writeReport(dir, { png: pngDir });
  assert.equal(r.html, path.join(dir, 'report.html'));
  assert.deepEqual(r.charts, ['loss', 'accuracy', 'lr', 'throughput', 'confusion']);
  const html = fs.readFileSync(r.html, 'utf8');
  assertOffline(html);
  const figs = figures(html);
  assert.deepEqual([...figs.keys()], ['loss', 'accuracy', 'lr', 'throughput', 'confusion']);
  for (const name of ['loss', 'accuracy', 'lr', 'throughput']) {
    const svg = figs.get(name)!;
    assert.ok(linePaths(svg).length >= 1, `${name}: no line drawn`);
    assert.ok(texts(svg).includes('step'), `${name}: no x-axis title 'step'`);
    assert.match(svg, /^<svg[^>]* role="img" aria-label="[^"]+"><title>[^<]+<\/title>/, `${name}: no title / aria-label`);
  }
  assert.ok(texts(figs.get('loss')!).includes('loss'));
  assert.ok(texts(figs.get('accuracy')!).includes('accuracy'));
  assert.ok(texts(figs.get('throughput')!).includes('samples/s'));
  // one run: three lines on the loss chart (train smoothed, val, train raw)
  assert.equal(linePaths(figs.get('loss')!).length, 3);
  // every count of the matrix is written in its cell (the label '<bird>' escaped)
  const cells = texts(figs.get('confusion')!);
  for (const c of MATRIX.flat()) assert.ok(cells.includes(String(c)), `count ${c} missing`);
  assert.ok(cells.includes('&lt;bird&gt;'));
  assert.equal(html.match(/class="mark-rect role-mark/g)?.length, 1);
  // the scores table, by hand (see the matrix above)
  for (const v of ['0.7143', '0.8333', '0.7692', '0.875', '0.7778', '0.8889', '0.7964', '0.8444', '0.812'])
    assert.match(html, new RegExp(`<td>${v.replace('.', '\\.')}</td>`), `score ${v} missing`);
  assert.match(html, /<th scope="row">&lt;bird&gt;<\/th>/);
  // ids unique over the page (vega's clip paths are prefixed per chart)
  const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length);
  // the summary: best val accuracy 0.8 at step 100, best train loss is the lowest
  assert.match(html, /val accuracy<\/th><td>0\.8 <span class="step">@ 100<\/span>/);
  // PNGs: valid, 2x the SVG's size, of sensible weight
  assert.deepEqual(
    r.pngs.map((f) => path.basename(f)),
    ['loss.png', 'accuracy.png', 'lr.png', 'throughput.png', 'confusion.png'],
  );
  for (const f of r.pngs) {
    const bytes = fs.readFileSync(f);
    const png = PNG.sync.read(bytes);
    const name = path.basename(f, '.png');
    const svgW = Number(/^<svg[^>]*width="(\d+)"/.exec(figs.get(name)!)![1]);
    assert.equal(png.width, svgW * 2, `${name}: width ${png.width} is not 2 x ${svgW}`);
    assert.ok(bytes.length > 5_000 && bytes.length < 150_000, `${name}.png is ${bytes.length} bytes`);
    // not blank: some pixels dark (lines, text)
    let dark = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i]! < 100 && png.data[i + 1]! < 100) dark++;
    assert.ok(dark > 200, `${name}.png: ${dark} dark pixels`);
  }
  assert.deepEqual(r.warnings, (await pngFonts()).textRenders ? [] : [r.warnings[0]]);
});

test('PNG text renders with the system fonts (DejaVu Sans when installed)', async (t) => {
  const fonts = await pngFonts();
  if (!fonts.textRenders) return t.skip('no font on this system that resvg can use');
  assert.equal(fonts.font.loadSystemFonts, true);
  if (fonts.family === 'DejaVu Sans') assert.equal(fonts.font.sansSerifFamily, 'DejaVu Sans');
});

test("resvg's font fallback, which pngFonts relies on: another family when DejaVu is missing, no text with no font", async (t) => {
  // what resvg does, pinned: the charts ask for DejaVu Sans; a system without it still gets text
  const other = [
    '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
    '/usr/share/fonts/liberation/LiberationSans-Regular.ttf',
  ].find((f) => fs.existsSync(f));
  if (other === undefined) return t.skip('no Liberation Sans to stand in for a system without DejaVu');
  assert.equal(
    await textRenders({ loadSystemFonts: false, fontFiles: [other], sansSerifFamily: 'DejaVu Sans', defaultFontFamily: 'DejaVu Sans' }),
    true,
  );
  // and with no font at all resvg draws no text and says nothing: hence the probe and the warning
  assert.equal(await textRenders({ loadSystemFonts: false, fontFiles: [] }), false);
});

test('with no font at all, PNG text is drawn with the built-in stroke font', async () => {
  const dir = classifierRun(tmp(), 'a&b');
  const { charts } = await renderReport([dir]);
  const svg = charts.find((c) => c.name === 'loss')!.svg;
  const stroked = strokeText(svg);
  assert.doesNotMatch(stroked, /<text/);
  // one path per text: the title, the axis titles, tick labels, legend
  assert.equal((stroked.match(/stroke-linecap="round" stroke-linejoin="round"/g) ?? []).length, texts(svg).length);
  // entities decoded before drawing: 'a&amp;b' is 3 glyphs wide, not 7
  assert.equal(strokePath('a&b').width, strokePath('abc').width);
  assert.equal(strokePath('').d, '');
  /** Dark pixels in the title's corner (top left, 120 x 24 at 1x) of a PNG drawn with no font loaded. */
  const titleInk = (s: string): number => {
    const img = new Resvg(s, { font: { loadSystemFonts: false, fontFiles: [] }, background: 'white', logLevel: 'off' }).render();
    let n = 0;
    for (let y = 0; y < 24; y++) for (let x = 0; x < 120; x++) if (img.pixels[(y * img.width + x) * 4]! < 128) n++;
    return n;
  };
  assert.equal(titleInk(svg), 0, 'resvg with no font drew text');
  assert.ok(titleInk(stroked) > 30, 'the stroked title drew nothing');
});

test('a metric key that is no file name gets a safe chart name', async () => {
  const dir = tmp();
  new RunLog(dir, { kind: 'other', name: 'k' }).scalars(1, 'train', { 'top5/acc %': 0.5 });
  const r = await writeReport(dir, { png: path.join(dir, 'png') });
  assert.deepEqual(r.charts, ['top5-acc']);
  assert.ok(fs.existsSync(path.join(dir, 'png', 'top5-acc.png')));
});

test('a language model: samples escaped, latest first; no empty charts', async () => {
  const dir = lmRun(tmp());
  const { html, charts } = await renderReport([dir]);
  assertOffline(html);
  assert.deepEqual(
    charts.map((c) => c.name),
    ['loss', 'lr', 'throughput'],
  );
  assert.ok(!html.includes('<script>alert'));
  assert.ok(html.includes('first &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more'));
  assert.ok(html.indexOf('step 60') < html.indexOf('step 30'), 'the latest samples come first');
  assert.ok(html.includes('tokens/s'));
  assert.ok(!html.includes('id="classification"'), 'a classification section without a confusion matrix');
  // a constant learning rate: one flat line, linear axis
  assert.ok(!charts.find((c) => c.name === 'lr')!.description.includes('log scale'));
});

test('two runs compared: one colour each with a legend, config differences highlighted', async () => {
  const root = tmp();
  const a = classifierRun(path.join(root, 'a'), 'mlp', 0.01);
  const b = classifierRun(path.join(root, 'b'), 'mlp', 0.03);
  const out = path.join(root, 'cmp.html');
  const r = await writeReport([a, b], { out, title: 'A <vs> B' });
  assert.equal(r.html, out);
  const html = fs.readFileSync(out, 'utf8');
  assertOffline(html);
  assert.match(html, /<title>A &lt;vs&gt; B<\/title>/);
  // same name twice: told apart
  assert.deepEqual(runNames([{ run: { name: 'mlp' } }, { run: { name: 'mlp' } }] as never), ['mlp', 'mlp #2']);
  const loss = figures(html).get('loss')!;
  assert.ok(texts(loss).includes('mlp') && texts(loss).includes('mlp #2'), 'legend names both runs');
  assert.ok(texts(loss).includes('run') && texts(loss).includes('split'));
  const strokes = new Set(
    [...loss.matchAll(/class="mark-line[^"]*"[^>]*>[\s\S]*?<\/g>/g)].flatMap((m) =>
      [...m[0].matchAll(/stroke="(#[0-9a-f]{6})"/g)].map((s) => s[1]),
    ),
  );
  assert.ok(strokes.size >= 2, `one colour per run, got ${[...strokes].join(', ')}`);
  // lr differs; the model and optimizer do not
  assert.match(
    html,
    /<tr class="diff"><th scope="row">lr <span class="marker"[^>]*>≠<\/span><\/th><td><code>0\.01<\/code><\/td><td><code>0\.03<\/code><\/td><\/tr>/,
  );
  assert.match(html, /<tr><th scope="row">model\.hidden<\/th>/);
  assert.match(html, /1 setting differ/);
  // a confusion matrix per run, with its own name
  assert.deepEqual(
    r.charts.filter((c) => c.startsWith('confusion')),
    ['confusion-mlp', 'confusion-mlp-2'],
  );
});

test('a run whose loss went NaN: drawn up to it, flagged, best ignores it', async () => {
  const dir = tmp();
  const log = new RunLog(dir, { kind: 'other', name: 'diverged' });
  [2, 1.5, 1.2, NaN, Infinity].forEach((loss, i) => log.scalars(i * 10, 'train', { loss }));
  const { html, runs } = await renderReport([dir]);
  assert.match(html, /non-finite at step 30, 40/);
  assert.equal(linePaths(figures(html).get('loss')!).length >= 1, true);
  assert.doesNotMatch(figures(html).get('loss')!, /NaN/);
  const row = summaryRows(runs, ['diverged'])[0]!;
  assert.equal(row.best, 1.2);
  assert.equal(row.bestStep, 20);
  assert.ok(Number.isNaN(row.final), 'Infinity is written as null (JSON) and read back as NaN');
});

test('a resumed run: one continuous curve, the resume marked, wall time summed', async () => {
  const dir = tmp();
  const first = new RunLog(dir, { kind: 'gpt', name: 'resumed' });
  for (let s = 0; s <= 40; s += 10) first.scalars(s, 'train', { loss: 3 - s / 40 });
  // the checkpoint was at step 20: steps 30 and 40 are made again after the resume
  const again = new RunLog(dir, { kind: 'gpt', name: 'resumed', resumeFrom: 20 });
  for (let s = 30; s <= 60; s += 10) again.scalars(s, 'train', { loss: 2.5 - s / 60 });
  const { html, runs } = await renderReport([dir]);
  assert.deepEqual(
    runs[0]!.scalars.map((s) => s.step),
    [0, 10, 20, 30, 40, 50, 60],
  );
  assert.match(html, /<td>step 20<\/td>/);
  const loss = figures(html).get('loss')!;
  assert.match(loss, /class="mark-rule/, 'the resume is marked by a rule');
  assert.match(loss, /aria-label="[^"]*resumes at step 20/);
  // time restarts at the resume: the segments add
  const seg = {
    ...runs[0]!,
    scalars: [0, 1, 2, 0.5, 1.5].map((time, i) => ({ type: 'scalars' as const, step: i, split: 'train' as const, time, values: {} })),
  };
  assert.equal(wallSeconds(seg), 3.5);
});

test('writeReport errors: no folder, no metrics.jsonl, a bad line, bad options', async () => {
  const empty = tmp();
  await assert.rejects(writeReport([]), ValueError);
  await assert.rejects(writeReport(empty), (e: Error) => e instanceof DataError && e.message.includes(`${empty} holds no metrics.jsonl`));
  fs.writeFileSync(path.join(empty, 'metrics.jsonl'), '{"type":"run","name":"x","kind":"gpt","config":{}}\nnot json\n{"type":"scalars"}\n');
  await assert.rejects(writeReport(empty), (e: Error) => e instanceof DataError && /line 2 is not JSON/.test(e.message));
  // a file that cannot be read (a folder in its place): the file and the system's code
  const unreadable = tmp();
  fs.mkdirSync(path.join(unreadable, 'metrics.jsonl'));
  await assert.rejects(
    writeReport(unreadable),
    (e: Error) => e instanceof DataError && /^report: cannot read .*metrics\.jsonl: EISDIR$/.test(e.message),
  );
  const ok = lmRun(tmp());
  await assert.rejects(writeReport(ok, { smoothing: 1 }), ValueError);
  await assert.rejects(writeReport(ok, { zoom: 0 }), ValueError);
});

function mox(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('mox report: writes the page and PNGs; usage errors exit 2, bad folders 1', () => {
  const dir = lmRun(tmp());
  const png = path.join(dir, 'charts');
  const r = mox('report', dir, '--png', png, '--smoothing', '0.9');
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`wrote ${path.join(dir, 'report.html').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(3 charts: loss, lr, throughput\\)`),
  );
  assert.deepEqual(fs.readdirSync(png).sort(), ['loss.png', 'lr.png', 'throughput.png']);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'a temporary file left behind',
  );

  for (const args of [[], [dir, '--bogus'], [dir, '--smoothing', '1'], [dir, '--smoothing', 'x'], [dir, '--out']]) {
    const u = mox('report', ...args);
    assert.equal(u.code, 2, `${args.join(' ')}: exit ${u.code}\n${u.stderr}`);
    assert.match(u.stderr, /run 'mox report --help' for usage/);
  }
  const missing = mox('report', path.join(dir, 'nope'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^mox: report: no such folder: /);
  const notRun = mox('report', tmp());
  assert.equal(notRun.code, 1);
  assert.match(notRun.stderr, /^mox: metrics: .* holds no metrics\.jsonl/);
  const help = mox('report', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: mox report RUN_DIR/);
});

test('importing mox loads no chart library (vega, vega-lite, resvg load on first use)', () => {
  const dist = path.resolve(process.cwd(), 'dist/src');
  const walk = (d: string): string[] =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.js') ? [path.join(d, e.name)] : []));
  for (const f of walk(dist)) {
    const text = fs.readFileSync(f, 'utf8');
    assert.doesNotMatch(
      text,
      /^\s*import\s[^(]*from\s+['"](vega|vega-lite|@resvg\/resvg-js)['"]/m,
      `${f} imports a chart library statically`,
    );
  }
});

test('the page opens in Chromium with no request but itself, every chart drawn', async (t) => {
  const chromiumPath = process.env['MOX_CHROMIUM'] ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) return t.skip(`no Chromium at ${chromiumPath} (set MOX_CHROMIUM)`);
  const { chromium } = await import('playwright-core');
  const root = tmp();
  const r = await writeReport([classifierRun(path.join(root, 'a'), 'a'), lmRun(path.join(root, 'b'))], { out: path.join(root, 'r.html') });
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(`file://${r.html}`);
    assert.deepEqual(requests, [`file://${r.html}`]);
    // each chart is an accessible image with a size in the layout
    const charts = await page.$$eval('figure svg[role="img"]', (svgs) =>
      svgs.map((s) => ({ label: s.getAttribute('aria-label') ?? '', w: s.getBoundingClientRect().width })),
    );
    assert.equal(charts.length, r.charts.length);
    for (const c of charts) assert.ok(c.label.length > 20 && c.w > 100, JSON.stringify(c));
    // the generated text is text, not markup: no element was made from it
    assert.equal(await page.$$eval('pre.sample script', (s) => s.length), 0);
    assert.match((await page.textContent('#samples')) ?? '', /<script>alert\("x"\)<\/script> & more/);
  } finally {
    await browser.close();
  }
});
