// `npm run bench:cpu`: mox's CPU path against TensorFlow.js (wasm and cpu backends) and PyTorch on the
// same workloads, in one invocation. mox runs in this process at 1 thread and at all threads (when
// mox.setNumThreads exists); each TensorFlow.js backend runs in a child process (this file with
// --peer); PyTorch runs bench/torch_bench.py once per thread setting when /usr/bin/python3 has torch.
// Every peer loads its dataset before it measures anything (real MNIST and Tiny Shakespeare; the
// training steps read their batches from it), as a training script does: docs/benchmarks.md says why.
// Prints markdown tables (ratio = how many times faster mox is; > 1 means mox wins) and writes them to
// bench/results/cpu.md, and everything as JSON to bench/results/cpu.json.
//
//   node dist/bench/cpu.js [--quick] [--only gemm,conv,mlp,cnn,gpt,epoch|<ids>] [--peers mox,tfjs-wasm,tfjs-cpu,torch]
//                          [--threads 1,2] [--budget SECONDS] [--epoch-images N] [--out FILE]

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomicSync as writeFileAtomic } from '../src/io/atomic.js';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import {
  EPOCH_IMAGES,
  EPOCH_IMAGES_QUICK,
  MLP_BATCH,
  RESULT_MARKER,
  WORKLOADS,
  selectWorkloads,
  timingOptions,
  type Measurement,
  type PeerResults,
  type Timing,
  type WorkloadDef,
} from './common.js';
import { loadMnist, loadShakespeare } from './mox-data.js';
import { moxHasThreads, moxSetThreads, runMox } from './mox-peer.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root: this file runs as dist/bench/cpu.js. */
const root = resolve(here, '..', '..');
const TORCH_PY = '/usr/bin/python3';
const PEERS = ['mox', 'tfjs-wasm', 'tfjs-cpu', 'torch'] as const;
type PeerName = (typeof PEERS)[number];

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

interface Options {
  quick: boolean;
  only: string[] | null;
  peers: PeerName[];
  threads: number[];
  budget?: number;
  /** Images in an epoch of the epoch workloads. */
  epochImages: number;
  out: string;
  peer?: string;
}

function usage(msg: string): never {
  process.stderr.write(`bench:cpu: ${msg}\n`);
  process.stderr.write(
    'usage: node dist/bench/cpu.js [--quick] [--only gemm,conv,mlp,cnn,gpt,epoch|ids] [--peers mox,tfjs-wasm,tfjs-cpu,torch] [--threads 1,N] [--budget S] [--epoch-images N] [--out FILE]\n',
  );
  process.exit(2);
}

function parseOptions(): Options {
  const options = {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    peers: { type: 'string' },
    threads: { type: 'string' },
    budget: { type: 'string' },
    'epoch-images': { type: 'string' },
    out: { type: 'string' },
    peer: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  } as const;
  let values: ReturnType<typeof parseArgs<{ options: typeof options; strict: true }>>['values'];
  try {
    ({ values } = parseArgs({ options, strict: true }));
  } catch (e) {
    usage(e instanceof Error ? e.message : String(e));
  }
  if (values.help) usage('help');
  const list = (s: string | undefined): string[] | null =>
    s
      ? s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : null;
  const peers = (list(values.peers) ?? [...PEERS]) as PeerName[];
  for (const p of peers) if (!PEERS.includes(p)) usage(`--peers: unknown peer '${p}' (one of ${PEERS.join(', ')})`);
  const all = os.availableParallelism();
  const threads = list(values.threads)?.map(Number) ?? (all > 1 ? [1, all] : [1]);
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) usage(`--threads: expected positive integers, got ${values.threads}`);
  const budget = values.budget === undefined ? undefined : Number(values.budget);
  if (budget !== undefined && !(budget > 0)) usage(`--budget: expected seconds > 0, got ${values.budget}`);
  const quick = values.quick ?? false;
  const epochImages = values['epoch-images'] === undefined ? (quick ? EPOCH_IMAGES_QUICK : EPOCH_IMAGES) : Number(values['epoch-images']);
  if (!Number.isInteger(epochImages) || epochImages < MLP_BATCH || epochImages > EPOCH_IMAGES) {
    usage(`--epoch-images: expected an integer from ${MLP_BATCH} to ${EPOCH_IMAGES}, got ${values['epoch-images']}`);
  }
  return {
    quick,
    only: list(values.only),
    peers,
    threads,
    budget,
    epochImages,
    // a full run is the record (committed with the docs that quote it); a --quick one is not
    out: resolve(values.out ?? join(root, 'bench', 'results', ...(quick ? ['quick', 'cpu.json'] : ['cpu.json']))),
    peer: values.peer,
  };
}

// ---- child mode: one TensorFlow.js backend ----

async function childMain(o: Options): Promise<void> {
  const backend = o.peer === 'tfjs-wasm' ? 'wasm' : o.peer === 'tfjs-cpu' ? 'cpu' : usage(`--peer: unknown '${o.peer}'`);
  const { runTfjs } = await import('./tfjs-peer.js');
  const out = await runTfjs(backend, selectWorkloads(o.only), timingOptions(o.quick, o.budget), log);
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(out)}\n`);
}

function passThrough(o: Options, workloads: WorkloadDef[]): string[] {
  const args = ['--only', workloads.map((w) => w.id).join(',')];
  if (o.quick) args.push('--quick');
  if (o.budget !== undefined) args.push('--budget', String(o.budget));
  if (workloads.some((w) => w.group === 'epoch')) args.push('--epoch-images', String(o.epochImages));
  return args;
}

/** Generous wall-clock limit for a child: every workload's warmup + budget, for slow peers. */
function childTimeoutMs(o: Options, n: number): number {
  const t = timingOptions(o.quick, o.budget);
  return Math.max(120_000, n * (t.budgetMs * 6 + 30_000));
}

interface PeerRun {
  info: Record<string, unknown>;
  results: PeerResults;
}

function failedRun(workloads: WorkloadDef[], note: string): PeerRun {
  return { info: { error: note }, results: Object.fromEntries(workloads.map((w) => [w.id, { value: null, note }])) };
}

function runTfjsChild(name: 'tfjs-wasm' | 'tfjs-cpu', o: Options, workloads: WorkloadDef[]): PeerRun {
  log(`${name}: running (child process)`);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--peer', name, ...passThrough(o, workloads)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: childTimeoutMs(o, workloads.length),
    maxBuffer: 64 << 20,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT_MARKER));
  if (!line) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    return failedRun(workloads, `error: ${name} child produced no result (${why})`);
  }
  return JSON.parse(line.slice(RESULT_MARKER.length)) as PeerRun;
}

// ---- PyTorch ----

function torchAvailable(): boolean {
  const r = spawnSync(TORCH_PY, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

interface TorchTiming extends Partial<Timing> {
  error?: string;
  note?: string;
}

function runTorch(threads: number, o: Options, workloads: WorkloadDef[]): PeerRun {
  log(`torch@${threads}: running ${relative(process.cwd(), join(root, 'bench', 'torch_bench.py'))}`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  env.OPENBLAS_NUM_THREADS = String(threads);
  env.OMP_NUM_THREADS = String(threads);
  env.MKL_NUM_THREADS = String(threads);
  const r = spawnSync(TORCH_PY, [join(root, 'bench', 'torch_bench.py'), '--threads', String(threads), ...passThrough(o, workloads)], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: childTimeoutMs(o, workloads.length),
    maxBuffer: 64 << 20,
  });
  const line = (r.stdout ?? '')
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    return failedRun(workloads, `error: torch_bench.py failed (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`})`);
  }
  const parsed = JSON.parse(line) as { info: Record<string, unknown>; results: Record<string, TorchTiming> };
  const results: PeerResults = {};
  for (const w of workloads) {
    const t = parsed.results[w.id];
    if (t?.note) {
      results[w.id] = { value: null, note: t.note };
      continue;
    }
    if (!t || t.error || t.medianMs === undefined) {
      results[w.id] = { value: null, note: `error: ${t?.error ?? 'not run'}` };
      continue;
    }
    const timing = t as Timing;
    const m: Measurement = { value: w.unit === 'GFLOP/s' ? w.flops! / (timing.medianMs * 1e6) : timing.medianMs, timing };
    if (w.batch && w.unit === 'ms') m.samplesPerSec = (w.batch * 1000) / timing.medianMs;
    results[w.id] = m;
  }
  return { info: parsed.info, results };
}

// ---- report ----

/**
 * The epoch comparison: per peer and thread setting, ms per epoch and per batch; for mox, fit's
 * overhead per batch over its own plain loop, as a share of that loop's time per batch.
 */
function epochComparison(workloads: WorkloadDef[], runs: Record<string, PeerRun>, o: Options): string {
  const ids = ['mlp-epoch-loop', 'mlp-epoch-dataloader', 'mlp-epoch-fit', 'mlp-epoch-fit-v1'];
  if (!workloads.some((w) => w.group === 'epoch')) return '';
  const batches = Math.ceil(o.epochImages / MLP_BATCH);
  const rows: string[][] = [];
  for (const key of Object.keys(runs).filter((k) => k.startsWith('mox') || k.startsWith('torch'))) {
    const r = runs[key]!.results;
    const loop = r['mlp-epoch-loop']?.value ?? null;
    for (const id of ids) {
      const m = r[id];
      if (!m || m.value === null) continue;
      const perBatch = m.value / batches;
      const overhead =
        loop !== null && id !== 'mlp-epoch-loop'
          ? `${fmt((m.value - loop) / batches)} ms (${((100 * (m.value - loop)) / loop).toFixed(0)}%)`
          : '-';
      rows.push([key, byIdShort(id), fmt(m.value), fmt(perBatch), overhead]);
    }
  }
  if (!rows.length) return '';
  return (
    `One epoch of the MNIST MLP, ${o.epochImages} images (${batches} batches of ${MLP_BATCH})` +
    `${o.epochImages < EPOCH_IMAGES ? ' (a subset: not the full 60,000)' : ''}; overhead = (this - the same peer's plain loop) per batch, as a share of the plain loop's time:\n\n` +
    markdownTable(['peer', 'loop', 'ms / epoch', 'ms / batch', 'overhead per batch vs plain loop'], rows)
  );
}

function byIdShort(id: string): string {
  return WORKLOADS.find((w) => w.id === id)!
    .short.replace(/^MLP epoch, /, '')
    .replace(' (ms)', '');
}

function fmt(v: number): string {
  if (v >= 1000) return v.toFixed(0);
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** How many times faster mox is than the peer (> 1: mox wins). */
function speedup(w: WorkloadDef, moxV: number, peerV: number): number {
  return w.unit === 'GFLOP/s' ? moxV / peerV : peerV / moxV;
}

interface Row {
  workload: string;
  threads: number;
  /** Peer name -> measurement and whether it is a single-threaded figure reused for this row. */
  cells: Record<string, { m: Measurement; reused: boolean } | undefined>;
}

const COLUMNS = ['mox', 'tfjs-wasm', 'tfjs-cpu', 'torch'] as const;

function cellText(w: WorkloadDef, c: Row['cells'][string], moxM: Measurement | undefined, isMox: boolean): string {
  if (!c) return '-';
  if (c.m.value === null) return c.m.note ?? 'n/a';
  let s = fmt(c.m.value) + (c.m.timing?.cold ? '†' : '') + (c.reused ? '*' : '');
  if (!isMox && moxM && moxM.value !== null) s += ` (${fmt(speedup(w, moxM.value, c.m.value))}x)`;
  return s;
}

function markdownTable(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/**
 * The core's FMA peak in GFLOP/s at 128 and 256 bits (and 512 where the CPU has AVX-512) (bench/fma_peak.c, built with the system's C
 * compiler), or null where there is none or the CPU is not x86-64 with FMA3. mox's kernels are 128-bit
 * WebAssembly SIMD, so its GEMM is read against the 128-bit line; native BLAS against the widest.
 */
function fmaPeak(): { fma128: number; fma256: number; fma512?: number } | null {
  if (os.arch() !== 'x64') return null;
  let avx512 = false;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    if (!/^flags\s*:.*\bfma\b/m.test(info)) return null;
    avx512 = /^flags\s*:.*\bavx512f\b/m.test(info);
  } catch {
    return null;
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'mox-fma-'));
  try {
    const exe = join(dir, 'fma_peak');
    const cc = spawnSync('cc', ['-O2', '-mavx2', '-mfma', ...(avx512 ? ['-mavx512f'] : []), join(root, 'bench', 'fma_peak.c'), '-o', exe], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (cc.status !== 0) return null;
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) return null;
    const peak = JSON.parse(r.stdout) as { fma128: number; fma256: number; fma512?: number };
    return peak.fma128 > 0 && peak.fma256 > 0 ? peak : null;
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const o = parseOptions();
  if (o.peer) return childMain(o);
  const workloads = selectWorkloads(o.only);
  const topts = timingOptions(o.quick, o.budget);
  const started = new Date();
  const loadStart = os.loadavg();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const machine = {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavgStart: loadStart.map((x) => +x.toFixed(2)),
    openblasEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('OPENBLAS_'))),
    fmaPeakGflops: workloads.some((w) => w.group === 'gemm') ? fmaPeak() : null,
  };
  log(`bench:cpu: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, mox ${pkg.version} ${JSON.stringify(mox.backendInfo())}`);
  log(
    `workloads: ${workloads.map((w) => w.id).join(', ')}; threads ${o.threads.join(',')}; budget ${topts.budgetMs / 1000} s per workload per peer${o.quick ? ' (--quick)' : ''}`,
  );

  // peer key ('mox@1', 'tfjs-wasm', 'torch@2', ...) -> run
  const runs: Record<string, PeerRun> = {};
  const moxThreads = moxHasThreads();
  const notes: string[] = [];

  // mox loads its data first, as the PyTorch peer does (each of its processes, before any workload)
  const moxCtx = { root, epochImages: o.epochImages };
  const moxData: string[] = [];
  if (o.peers.includes('mox')) {
    const t0 = performance.now();
    moxData.push(`MNIST: ${loadMnist(root).source}`);
    if (workloads.some((w) => w.group === 'gpt')) moxData.push(`GPT: ${loadShakespeare(root).source}`);
    log(`mox: data loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s (${moxData.join('; ')})`);
  }

  // Peers take turns workload group by workload group (GEMM, conv, MLP, GPT, CNN), so a slow spell
  // of this shared machine, which can last a minute, lands on every peer of a group alike instead of
  // on one peer's whole run.
  const groups = [...new Set(workloads.map((w) => w.group))];
  const torchOk = o.peers.includes('torch') && torchAvailable();
  const merge = (key: string, run: PeerRun): void => {
    const have = runs[key];
    if (!have) runs[key] = { info: { ...run.info }, results: { ...run.results } };
    else {
      Object.assign(have.results, run.results);
      // each PyTorch process (one per group) reports what it loaded: keep every distinct line
      const data = [...((have.info.data as string[] | undefined) ?? []), ...((run.info.data as string[] | undefined) ?? [])];
      if (data.length) have.info.data = [...new Set(data)];
    }
  };
  for (const group of groups) {
    const ws = workloads.filter((w) => w.group === group);
    log(`-- ${group}`);
    if (o.peers.includes('mox')) {
      if (moxThreads) {
        for (const t of o.threads) {
          log(`mox@${t}: running (mox.setNumThreads(${t}))`);
          moxSetThreads(t);
          merge(`mox@${t}`, { info: { threads: t, data: moxData }, results: await runMox(ws, topts, log, moxCtx) });
        }
        moxSetThreads(os.availableParallelism());
      } else {
        log('mox: running (no mox.setNumThreads: single-thread only)');
        merge('mox', {
          info: { threads: 1, data: moxData, note: 'no mox.setNumThreads: single-thread only' },
          results: await runMox(ws, topts, log, moxCtx),
        });
      }
    }
    for (const name of ['tfjs-wasm', 'tfjs-cpu'] as const) {
      if (!o.peers.includes(name)) continue;
      merge(
        name,
        group === 'epoch' ? failedRun(ws, 'not written for tfjs (the epoch comparison is mox and PyTorch)') : runTfjsChild(name, o, ws),
      );
    }
    if (torchOk) for (const t of o.threads) merge(`torch@${t}`, runTorch(t, o, ws));
  }
  if (o.peers.includes('mox') && !moxThreads) {
    notes.push(
      'mox has no `setNumThreads` in this build: it ran once, single-threaded; `*` marks that figure reused in multi-thread rows.',
    );
  }
  if (o.peers.some((p) => p.startsWith('tfjs'))) {
    notes.push('TensorFlow.js runs single-threaded in Node (wasm and cpu backends); `*` marks its figure reused in multi-thread rows.');
  }
  if (o.peers.includes('torch') && !torchOk) {
    notes.push(`PyTorch not measured: \`${TORCH_PY} -c "import torch"\` failed (Debian: apt-get install python3-torch).`);
  }
  const fmaEnd = machine.fmaPeakGflops ? fmaPeak() : null;

  // rows: each workload at each thread setting
  const rows: Row[] = [];
  for (const w of workloads) {
    for (const t of o.threads) {
      const cells: Row['cells'] = {};
      const moxRun = runs[`mox@${t}`] ?? runs.mox;
      if (moxRun) cells.mox = { m: moxRun.results[w.id]!, reused: !runs[`mox@${t}`] && t > 1 };
      for (const name of ['tfjs-wasm', 'tfjs-cpu'] as const) {
        const r = runs[name];
        if (r) cells[name] = { m: r.results[w.id]!, reused: t > 1 };
      }
      const tr = runs[`torch@${t}`];
      if (tr) cells.torch = { m: tr.results[w.id]!, reused: false };
      rows.push({ workload: w.id, threads: t, cells });
    }
  }

  const byId = new Map(WORKLOADS.map((w) => [w.id, w]));
  const mainTable = markdownTable(
    ['workload', 'threads', ...COLUMNS],
    rows.map((r) => {
      const w = byId.get(r.workload)!;
      const moxM = r.cells.mox?.m;
      return [w.short, String(r.threads), ...COLUMNS.map((c) => cellText(w, r.cells[c], moxM, c === 'mox'))];
    }),
  );

  // samples/s for the training steps
  const stepRows = rows.filter((r) => ['mlp', 'cnn', 'gpt'].includes(byId.get(r.workload)!.group));
  const throughputTable = stepRows.length
    ? markdownTable(
        ['training step', 'threads', ...COLUMNS],
        stepRows.map((r) => [
          byId.get(r.workload)!.short.replace(' (ms)', ' (samples/s)'),
          String(r.threads),
          ...COLUMNS.map((c) => {
            const cell = r.cells[c];
            if (!cell) return '-';
            return cell.m.samplesPerSec === undefined ? (cell.m.note ?? 'n/a') : fmt(cell.m.samplesPerSec) + (cell.reused ? '*' : '');
          }),
        ]),
      )
    : '';

  // mox and PyTorch, each at its best thread setting
  const best = (prefix: string, w: WorkloadDef): { v: number; t: number } | null => {
    let b: { v: number; t: number } | null = null;
    for (const t of o.threads) {
      const m = (runs[`${prefix}@${t}`] ?? (prefix === 'mox' && t === o.threads[0] ? runs.mox : undefined))?.results[w.id];
      if (!m || m.value === null) continue;
      const better = !b || (w.unit === 'GFLOP/s' ? m.value > b.v : m.value < b.v);
      if (better) b = { v: m.value, t };
    }
    return b;
  };
  const bestRows: string[][] = [];
  for (const w of workloads) {
    const bm = best('mox', w);
    const bt = best('torch', w);
    if (!bm || !bt) continue;
    bestRows.push([w.short, `${fmt(bm.v)} (${bm.t}t)`, `${fmt(bt.v)} (${bt.t}t)`, `${fmt(speedup(w, bm.v, bt.v))}x`]);
  }
  const bestTable = bestRows.length ? markdownTable(['workload', 'mox best', 'torch best', 'mox vs torch'], bestRows) : '';

  // one epoch: ms per epoch and per batch, and fit's overhead per batch over mox's plain loop
  const epochTable = epochComparison(workloads, runs, o);

  const info = {
    mox: { version: pkg.version, backendInfo: mox.backendInfo(), setNumThreads: moxThreads },
    ...Object.fromEntries(
      Object.entries(runs)
        .filter(([k]) => !k.startsWith('mox'))
        .map(([k, r]) => [k, r.info]),
    ),
  };
  const loadEnd = os.loadavg().map((x) => +x.toFixed(2));
  const machineLine = `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, mox ${JSON.stringify(mox.backendInfo())}, ${started.toISOString()}, load avg ${loadStart[0]!.toFixed(2)} -> ${loadEnd[0]!.toFixed(2)}`;
  const torchInfo = o.threads.map((t) => runs[`torch@${t}`]?.info).find((x) => x);
  if (torchInfo) {
    const blas = torchInfo.blas as { corename?: string; config?: string } | null | undefined;
    notes.push(
      `PyTorch ${String(torchInfo.version)}${blas ? `, OpenBLAS kernel ${blas.corename} (${blas.config})` : ''}; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for it; torch.set_num_threads = OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads; ${torchInfo.sdpa ? 'F.scaled_dot_product_attention' : 'manual attention (no F.scaled_dot_product_attention in this torch)'}; no dropout modules.`,
    );
    const malloc = torchInfo.mallocEnv as Record<string, string> | undefined;
    notes.push(
      `Data loaded before measuring: PyTorch ${((torchInfo.data as string[] | undefined) ?? []).join('; ')}${malloc && Object.keys(malloc).length ? ` (malloc variables set: ${JSON.stringify(malloc)})` : ' (no malloc variables)'}; mox ${moxData.join('; ') || '-'}.`,
    );
  }
  if (machine.fmaPeakGflops) {
    const { fma128, fma256, fma512 } = machine.fmaPeakGflops;
    if (fmaEnd) {
      notes.push(
        `The same FMA measure at the end of the run: ${fmt(fmaEnd.fma128)} GFLOP/s (128-bit); a drop between the two means the machine slowed during the run.`,
      );
    }
    const single = workloads
      .filter((w) => w.group === 'gemm')
      .map((w) => ({ w, m: runs[`mox@1`]?.results[w.id] ?? runs.mox?.results[w.id] }))
      .filter((x) => x.m && x.m.value !== null)
      .map((x) => `${x.w.short.replace(' (GFLOP/s)', '')} ${((100 * x.m!.value!) / fma128).toFixed(0)}%`);
    notes.push(
      `One core's FMA peak, measured in this run by bench/fma_peak.c: ${fmt(fma128)} GFLOP/s with 128-bit vectors (WebAssembly SIMD's width, mox's ceiling), ${fmt(fma256)} with 256-bit (AVX2)${fma512 ? `, ${fmt(fma512)} with 512-bit (AVX-512: OpenBLAS's Cooperlake/SkylakeX kernels)` : ''}.${single.length ? ` mox's 1-thread GEMM reaches ${single.join(', ')} of the 128-bit peak.` : ''}`,
    );
  }
  const anyCold = Object.values(runs).some((r) => Object.values(r.results).some((m) => m?.timing?.cold));
  const legend = [
    `Machine: ${machineLine}`,
    '',
    "Cells: the peer's figure (GFLOP/s or ms per rep, median) and, in parentheses, how many times faster mox is (> 1: mox is faster).",
    ...(anyCold ? [`- † one cold rep, no warmup: the first step took longer than ${(topts.slowMs / 1000).toFixed(0)} s.`] : []),
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  const sections = [legend, mainTable];
  if (throughputTable) sections.push(throughputTable);
  if (bestTable) sections.push(`mox and PyTorch, each at its best thread setting:\n\n${bestTable}`);
  if (epochTable) sections.push(epochTable);
  const report = sections.join('\n\n');
  process.stdout.write(`\n${report}\n`);

  const json = {
    machine: {
      ...machine,
      fmaPeakGflopsEnd: fmaEnd,
      loadavgEnd: loadEnd,
      timestamp: started.toISOString(),
      durationS: +((Date.now() - started.getTime()) / 1000).toFixed(1),
    },
    options: { quick: o.quick, only: o.only, peers: o.peers, threads: o.threads, epochImages: o.epochImages, timing: topts },
    peers: info,
    workloads: workloads.map((w) => ({
      ...w,
      results: Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.results[w.id]])),
    })),
    notes,
    markdown: report,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileAtomic(o.out, `${JSON.stringify(json, null, 2)}\n`);
  const md = o.out.replace(/\.json$/, '') + '.md';
  writeFileAtomic(md, `# bench:cpu, ${started.toISOString()}\n\n${report}\n`);
  log(`\nwrote ${relative(process.cwd(), o.out)} and ${relative(process.cwd(), md)}`);
}

await main();
