// `npm run results`: runs every example in its full (default) configuration, one after another, each a
// child process, reads its `RESULT {json}` line and times it, and rewrites docs/results.md (and the raw
// rows in docs/results.json) from them. The table there is always the output of a run.
//
//   npm run results                                   every program (about an hour on 2 cores)
//   npm run results -- --only linear-regression,gpt   these; the other rows are kept from docs/results.json
//   npm run results -- --dry-run                      list the programs, their commands and data; run nothing
//   npm run results -- --png-docs                     also copy the main runs' charts to docs/img/results/
//
// Each program writes its run folder(s) under runs/results/<name>/ (`--run-dir`, or `--out` for `mox
// train gpt`): metrics.jsonl beside the checkpoint. After each program, `mox report` draws every folder
// there that holds a metrics.jsonl (report.html and the charts as PNG, in that folder; several folders
// are also compared in runs/results/<name>/report.html). docs/reports.md describes the reports.
//
// The data folder is $MOX_DATA_DIR, or ../shared/data when it exists. A program whose files are missing
// there (or whose script is not on this branch) gets a row saying so instead of a figure.
// To add a program: one entry in PROGRAMS.

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildIfStale, root } from './build-if-stale.mjs';
import { mergeRows, parseGptEval, parseResultLine, renderResults } from './results-format.mjs';

const PYTHON = '/usr/bin/python3';
const example = (name) => ({
  script: `examples/${name}.ts`,
  built: `dist/examples/${name}.js`,
  argv: (out) => [`dist/examples/${name}.js`, '--run-dir', out],
  command: `npm run example:${name} -- --run-dir runs/results/${name}`,
});
/** Where each program's run folders go (metrics.jsonl, checkpoints, reports); not in git. */
const RUNS = join(root, 'runs/results');
/** The programs whose charts --png-docs copies into docs/img/results/, and which charts. */
const DOCS_PNGS = {
  'mnist-cnn': ['loss', 'accuracy', 'confusion'],
  'fashion-mnist-cnn': ['loss', 'accuracy', 'confusion'],
  gpt: ['loss', 'lr'],
  'lstm-lm-shakespeare': ['loss'],
  'fedavg-mnist': ['accuracy'],
};
const DOCS_IMG = join(root, 'docs/img/results');
/** A docs PNG above this many bytes is reported (they are committed: keep them small). */
const DOCS_PNG_LIMIT = 80 * 1024;

/**
 * Every program, in the order they run. `target`: checks on the RESULT fields (`{ wall: s }` limits the
 * wall time); `figures`: fields shown beside them; `data`: files needed, relative to the data folder.
 */
const PROGRAMS = [
  {
    name: 'linear-regression',
    ...example('linear-regression'),
    target: [{ field: 'max_abs_error', op: '<=', value: 0.01 }],
    figures: ['max_abs_error', 'final_loss'],
  },
  {
    name: 'simple-net',
    ...example('simple-net'),
    target: [{ field: 'final_loss', op: '<=', value: 0.003 }],
    figures: ['initial_loss', 'final_loss', 'reloaded_equal'],
  },
  {
    name: 'mnist-mlp',
    ...example('mnist-mlp'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'test_accuracy', op: '>=', value: 0.975 }],
  },
  {
    name: 'mnist-cnn',
    ...example('mnist-cnn'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'test_accuracy', op: '>=', value: 0.99 }],
  },
  {
    name: 'fashion-mnist-cnn',
    ...example('fashion-mnist-cnn'),
    data: ['fashion-mnist/train-images-idx3-ubyte.gz', 'fashion-mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'test_accuracy', op: '>=', value: 0.885 }],
  },
  {
    // transfer learning: the fine-tuned CNN must beat the same CNN from scratch by at least one test image
    name: 'transfer-fashion-mnist',
    ...example('transfer-fashion-mnist'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'fashion-mnist/train-images-idx3-ubyte.gz', 'fashion-mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'improvement', op: '>=', value: 0.0001 }],
    figures: ['transfer_accuracy', 'scratch_accuracy', 'improvement', 'pretrain_test_accuracy'],
  },
  {
    // pruning: global magnitude masks at 50/80/90% with a fine-tuning epoch each, and half the channels removed
    name: 'prune-mnist-cnn',
    ...example('prune-mnist-cnn'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [
      { field: 'sparse50_drop', op: '<=', value: 0.003 },
      { field: 'sparse90_accuracy', op: '>=', value: 0.985 },
      { field: 'structured_drop', op: '<=', value: 0.01 },
      { field: 'structured_speedup', op: '>=', value: 1.5 },
    ],
    figures: [
      'dense_accuracy',
      'sparse50_accuracy',
      'sparse80_accuracy',
      'sparse90_accuracy',
      'structured_accuracy',
      'dense_params',
      'structured_params',
      'sparse90_nonzeros',
      'dense_gzip_bytes',
      'sparse90_gzip_bytes',
      'structured_bytes',
      'structured_speedup',
    ],
  },
  {
    // distillation: the MNIST CNN teaching a 784-64-10 MLP on 1,000 images must beat the MLP alone by a test image
    name: 'distill-mnist',
    ...example('distill-mnist'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'improvement', op: '>=', value: 0.0001 }],
    figures: ['distilled_accuracy', 'alone_accuracy', 'improvement', 'teacher_accuracy'],
  },
  {
    // quantization: the MNIST CNN's Linear layers to int8 (also dynamic-int8, int4), against the float model
    name: 'quantize-mnist-cnn',
    ...example('quantize-mnist-cnn'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'int8_drop_points', op: '<=', value: 0.2 }],
    figures: ['fp32_accuracy', 'int8_accuracy', 'dynamic_int8_accuracy', 'int4_accuracy'],
  },
  {
    // federated averaging: 10 clients of two digits each, 100 rounds of C 0.5, E 1, B 50; centralized as the reference
    name: 'fedavg-mnist',
    ...example('fedavg-mnist'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'fedavg_accuracy', op: '>=', value: 0.9 }],
    figures: ['fedavg_accuracy', 'centralized_accuracy', 'rounds', 'centralized_epochs'],
  },
  {
    name: 'cifar10-cnn',
    ...example('cifar10-cnn'),
    data: ['cifar10/data_batch_1.bin', 'cifar10/test_batch.bin'],
    target: [{ field: 'test_accuracy', op: '>=', value: 0.5 }],
  },
  {
    name: 'text-cnn-rt-polarity',
    ...example('text-cnn-rt-polarity'),
    data: ['rt-polarity/rt-polarity.pos', 'rt-polarity/rt-polarity.neg'],
    target: [{ field: 'test_accuracy', op: '>=', value: 0.75 }],
  },
  {
    name: 'vit-mnist',
    ...example('vit-mnist'),
    data: ['mnist/train-images-idx3-ubyte.gz', 'mnist/t10k-images-idx3-ubyte.gz'],
    target: [{ field: 'test_accuracy', op: '>=', value: 0.97 }],
  },
  {
    name: 'lstm-lm-shakespeare',
    ...example('lstm-lm-shakespeare'),
    data: ['tinyshakespeare/input.txt'],
    target: [{ field: 'val_loss', op: '<=', value: 1.7 }, { wall: 600 }],
  },
  {
    name: 'gpt',
    script: 'src/cli/commands/train-gpt.ts',
    command: 'npx mox train gpt --dataset tinyshakespeare --out runs/results/gpt',
    argv: (out) => ['dist/src/cli/main.js', 'train', 'gpt', '--dataset', 'tinyshakespeare', '--out', out],
    data: ['tinyshakespeare/input.txt'],
    target: [{ field: 'val_loss', op: '<=', value: 1.88 }],
    figures: ['step', 'val_loss', 'train_loss', 'ms_per_iter'],
    // what it prints has no RESULT line: the last evaluation, or the checkpoint's history
    read: (output, out) => parseGptEval(output) ?? gptFromCheckpoint(out),
  },
  {
    name: 'gpt-finetune-rt-polarity',
    ...example('gpt-finetune-rt-polarity'),
    data: ['tinyshakespeare/input.txt', 'rt-polarity/rt-polarity.pos'],
    target: [
      { field: 'lora_recovery', op: '>=', value: 0.8 },
      { field: 'lora_trainable_percent', op: '<=', value: 2 },
    ],
    figures: ['base_val_loss', 'full_val_loss', 'lora_val_loss', 'lora_recovery', 'lora_trainable_percent'],
  },
  {
    // distillation: the Shakespeare GPT teaching a 2-layer, 64-wide student, against the student alone
    name: 'distill-gpt',
    ...example('distill-gpt'),
    data: ['tinyshakespeare/input.txt'],
    target: [{ field: 'improvement', op: '>=', value: 0.0001 }, { wall: 600 }],
    figures: ['distilled_val_loss', 'alone_val_loss', 'improvement', 'teacher_val_loss'],
  },
  {
    // quantization: the Tiny Shakespeare GPT (trained here) to int8, dynamic-int8 and int4, whole validation split
    name: 'quantize-gpt-shakespeare',
    ...example('quantize-gpt-shakespeare'),
    data: ['tinyshakespeare/input.txt'],
    target: [
      { field: 'int8_rise', op: '<=', value: 0.01 },
      { field: 'int4_rise', op: '<=', value: 0.03 },
      { field: 'int8_size_ratio', op: '<=', value: 0.27 },
      { field: 'int4_size_ratio', op: '<=', value: 0.16 },
    ],
    figures: ['fp32_val_loss', 'int8_val_loss', 'dynamic_int8_val_loss', 'int4_val_loss'],
  },
  {
    name: 'gpt-pytorch',
    script: 'bench/torch_shakespeare.py',
    command: `${PYTHON} bench/torch_shakespeare.py`,
    exe: PYTHON,
    argv: ['bench/torch_shakespeare.py'],
    needsTorch: true,
    data: ['tinyshakespeare/input.txt'],
    figures: ['val_loss', 'seconds'],
  },
];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    'dry-run': { type: 'boolean' },
    list: { type: 'boolean' },
    'png-docs': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npm run results -- [--only name,name] [--dry-run] [--png-docs]\nprograms: ' + PROGRAMS.map((p) => p.name).join(', '));
  process.exit(0);
}
const names = PROGRAMS.map((p) => p.name);
const only = values.only
  ? values.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : names;
const unknown = only.filter((n) => !names.includes(n));
if (unknown.length) {
  console.error(`run-results: unknown program ${unknown.map((n) => `'${n}'`).join(', ')} (expected some of ${names.join(', ')})`);
  process.exit(2);
}

const sharedData = resolve(root, '../shared/data');
const dataDir = process.env.MOX_DATA_DIR ? resolve(process.env.MOX_DATA_DIR) : existsSync(sharedData) ? sharedData : undefined;
const torchOk = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** Why a program cannot run here, or null. */
function whyNot(p) {
  if (!existsSync(join(root, p.script))) return `not run: ${p.script} is not on this branch`;
  if (p.needsTorch && !torchOk) return `not run: ${PYTHON} cannot import torch`;
  const missing = (p.data ?? []).filter((f) => !dataDir || !existsSync(join(dataDir, f)));
  if (missing.length) {
    const where = dataDir ?? '$MOX_DATA_DIR (not set, and ../shared/data is absent)';
    const folder = missing[0].split('/')[0];
    return (
      `not run: its figure needs ${missing.map((f) => `\`${f.split('/').pop()}\``).join(' / ')} in ${join(where, folder)}/ ` +
      `(put them there, or set MOX_DATA_DIR to a folder holding ${folder}/; docs/data.md)`
    );
  }
  return null;
}

if (values['dry-run'] || values.list) {
  for (const p of PROGRAMS.filter((p) => only.includes(p.name)))
    console.log(`${p.name.padEnd(22)} ${p.command}${whyNot(p) ? `    [${whyNot(p)}]` : ''}`);
  console.log(`data: ${dataDir ?? '(none)'}`);
  process.exit(0);
}

function git(args) {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** The checkpoint's last evaluation (trainer_state.json's history), for a gpt run whose output lacks it. */
function gptFromCheckpoint(out) {
  const file = join(out, 'trainer_state.json');
  if (!existsSync(file)) return null;
  const last = JSON.parse(readFileSync(file, 'utf8')).history?.at(-1);
  return last ? { example: 'gpt', step: last.step, train_loss: last.train, val_loss: last.val } : null;
}

/**
 * Runs a child with its output shown as it comes, line by line above the progress bar (`bar`, mox's
 * LiveProgress); resolves with the output and the wall time.
 */
function runChild(exe, argv, bar) {
  return new Promise((resolveRun) => {
    const t0 = performance.now();
    const child = spawn(exe, argv, { cwd: root, env: { ...process.env, ...(dataDir ? { MOX_DATA_DIR: dataDir } : {}) } });
    let output = '';
    // whole lines only: a part of a line printed before the bar is drawn again would be cut in two
    const pending = { stdout: '', stderr: '' };
    const pass = (name, to) => (d) => {
      output += d;
      const text = pending[name] + d;
      const cut = text.lastIndexOf('\n');
      pending[name] = text.slice(cut + 1);
      if (cut >= 0) bar.print(text.slice(0, cut), to);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', pass('stdout', process.stdout));
    child.stderr.on('data', pass('stderr', process.stderr));
    child.on('close', (code, signal) => {
      if (pending.stdout) bar.print(pending.stdout, process.stdout);
      if (pending.stderr) bar.print(pending.stderr, process.stderr);
      resolveRun({ code, signal, output, wall: (performance.now() - t0) / 1000 });
    });
    child.on('error', (e) => resolveRun({ code: null, signal: null, output: String(e), wall: (performance.now() - t0) / 1000 }));
  });
}

/** The folders under `dir` (itself included, 3 levels down at most) that hold a metrics.jsonl. */
function runFolders(dir, depth = 0) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const here = existsSync(join(dir, 'metrics.jsonl')) ? [dir] : [];
  if (depth >= 3) return here;
  const subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.'));
  return [...here, ...subs.flatMap((e) => runFolders(join(dir, e.name), depth + 1))];
}

/**
 * `mox report` on each run folder of a program (the page and the PNG charts in that folder), and a page
 * comparing them in `out` when there are several. A report that fails is said and does not fail the row:
 * the figures come from the program's own output.
 */
function reportRuns(name, out, bar) {
  const dirs = runFolders(out);
  if (dirs.length === 0) {
    bar.print(`== ${name}: no metrics.jsonl under ${relative(root, out)}: no report`, process.stderr);
    return [];
  }
  const jobs = dirs.map((d) => [d, '--png', d]);
  if (dirs.length > 1 && !dirs.includes(out))
    jobs.push([...dirs, '--out', join(out, 'report.html'), '--png', join(out, 'compare'), '--title', `${name}: ${dirs.length} runs`]);
  for (const args of jobs) {
    const r = spawnSync(process.execPath, ['dist/src/cli/main.js', 'report', ...args], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) bar.print(`== ${name}: mox report failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  }
  const pages = [...new Set(jobs.map((a) => (a.includes('--out') ? a[a.indexOf('--out') + 1] : join(a[0], 'report.html'))))];
  for (const page of pages.filter((f) => existsSync(f))) bar.print(`== ${name}: report ${relative(root, page)}`, process.stderr);
  return dirs;
}

async function runProgram(p, run, bar) {
  const base = { name: p.name, command: p.command, target: p.target, figures: p.figures, run };
  const why = whyNot(p);
  if (why) return { ...base, status: 'skipped', note: why };
  // a fresh folder per program: the run folders of an earlier `npm run results` are replaced
  const out = join(RUNS, p.name);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  bar.print(`\n== ${p.name}: ${p.command}`);
  const argv = typeof p.argv === 'function' ? p.argv(out) : p.argv;
  const r = await runChild(p.exe ?? process.execPath, argv, bar);
  const result = p.read ? p.read(r.output, out) : parseResultLine(r.output);
  const wall_s = Number(r.wall.toFixed(2));
  if (!p.exe) reportRuns(p.name, out, bar);
  if (r.code !== 0 || !result) {
    const last = r.output.trim().split('\n').at(-1) ?? '';
    return {
      ...base,
      status: 'failed',
      wall_s,
      note: `failed (exit ${r.code ?? r.signal}${result ? '' : ', no result'}): ${last.slice(0, 300)}`,
    };
  }
  return { ...base, status: 'ok', wall_s, result };
}

/**
 * --png-docs: the charts of the main runs into docs/img/results/<program>-<chart>.png, for the README
 * and docs. The program's own folder when it holds metrics.jsonl, else its first run folder.
 */
function copyDocsPngs(programs) {
  mkdirSync(DOCS_IMG, { recursive: true });
  for (const name of programs.filter((n) => Object.hasOwn(DOCS_PNGS, n))) {
    // the charts comparing its runs when it has several (e.g. FedAvg beside centralized training), else its run's
    const dir = existsSync(join(RUNS, name, 'compare')) ? join(RUNS, name, 'compare') : runFolders(join(RUNS, name))[0];
    if (!dir) continue;
    for (const chart of DOCS_PNGS[name]) {
      const src = join(dir, `${chart}.png`);
      if (!existsSync(src)) continue;
      const dest = join(DOCS_IMG, `${name}-${chart}.png`);
      copyFileSync(src, dest);
      const size = statSync(dest).size;
      console.error(
        `== ${name}: ${relative(root, dest)} (${Math.round(size / 1024)} KB${size > DOCS_PNG_LIMIT ? `, over ${DOCS_PNG_LIMIT / 1024} KB` : ''})`,
      );
    }
  }
}

/** The machine, as mox sees it (a child: importing mox here would start its thread pool). */
function machine() {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const m = await import('./dist/src/index.js'); console.log(JSON.stringify({ ...m.backendInfo(), threads: m.getNumThreads() })); process.exit(0);",
    ],
    { cwd: root, encoding: 'utf8' },
  );
  const info = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)) : {};
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    node: process.version,
    device: info.device ?? '?',
    kernels: info.kernels ?? '?',
    threads: info.threads ?? '?',
  };
}

buildIfStale(['dist/src/cli/main.js', ...PROGRAMS.filter((p) => p.built && existsSync(join(root, p.script))).map((p) => p.built)]);
const run = {
  commit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
  dirty: git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':!docs/results.md', ':!docs/results.json']) !== '',
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  machine: machine(),
  dataDir: dataDir ?? null,
};

// mox's own atomic write (a temporary name, then a rename) and progress bar, from the build just checked
const { writeFileAtomicSync } = await import(pathToFileURL(join(root, 'dist/src/io/atomic.js')).href);
const { LiveProgress } = await import(pathToFileURL(join(root, 'dist/src/train/live-progress.js')).href);

const fresh = [];
const selected = PROGRAMS.filter((p) => only.includes(p.name));
// programs done of all, with the current one's name, on stderr (plain lines every 30 s in a log)
const bar = new LiveProgress({ desc: 'results', total: selected.length, unit: 'program' });
for (const [i, p] of selected.entries()) {
  bar.update(i, p.name);
  const row = await runProgram(p, { commit: run.commit, dirty: run.dirty, date: run.date }, bar);
  fresh.push(row);
  bar.print(`== ${p.name}: ${row.status}${row.wall_s !== undefined ? `, ${row.wall_s} s` : ''}${row.note ? ` (${row.note})` : ''}`);
}
bar.update(selected.length, '');
bar.close();

if (values['png-docs']) copyDocsPngs(fresh.filter((r) => r.status !== 'skipped').map((r) => r.name));

const jsonPath = join(root, 'docs/results.json');
const previous = values.only && existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')).rows : [];
const rows = mergeRows(
  previous,
  fresh.filter((r) => r.status !== 'skipped'),
  PROGRAMS,
).map((r) => {
  // a program without a figure (not run, or skipped): why it cannot run here now, if it cannot
  if (r.status !== 'not run' && r.status !== 'skipped') return r;
  const why = whyNot(PROGRAMS.find((p) => p.name === r.name));
  return why ? { ...r, status: 'skipped', note: why, run: { commit: run.commit, dirty: run.dirty, date: run.date } } : r;
});

// PyTorch beside mox's GPT: the ratio of the wall times, when both ran
const gpt = rows.find((r) => r.name === 'gpt' && r.status === 'ok');
const torch = rows.find((r) => r.name === 'gpt-pytorch' && r.status === 'ok');
if (gpt && torch)
  torch.note = `mox's wall time / PyTorch's: ${(gpt.wall_s / torch.wall_s).toFixed(2)}x; val_loss mox ${gpt.result.val_loss} vs PyTorch ${torch.result.val_loss}`;

const saved = { run, rows };
writeFileAtomicSync(jsonPath, JSON.stringify(saved, null, 2) + '\n');
// the charts in docs/img/results/ (--png-docs, this run's or an earlier one's), in DOCS_PNGS' order
const charts = Object.entries(DOCS_PNGS).flatMap(([name, list]) =>
  list
    .filter((chart) => existsSync(join(DOCS_IMG, `${name}-${chart}.png`)))
    .map((chart) => ({ name, chart, file: `img/results/${name}-${chart}.png` })),
);
writeFileAtomicSync(join(root, 'docs/results.md'), renderResults(saved, charts));
console.error(`\nwrote docs/results.md and docs/results.json (${fresh.length} run, ${rows.length} rows)`);
