// `npm run bench:cpu`: mox's CPU path against TensorFlow.js (wasm and cpu backends) and PyTorch on the
// same workloads, in one invocation, with the targets of the native-kernels issue checked at the end.
//
// Peers (columns):
// - mox: this process, on the tier MOX_CPU_KERNELS gives it (unset: the widest native level, e.g.
//   native-avx512), at each --threads setting (mox.setNumThreads).
// - mox-wasm: mox on its WebAssembly kernels, a child process (this file with --peer mox-wasm, run with
//   MOX_CPU_KERNELS=relaxed-simd) that runs each --threads setting in turn; its cells' ratios are
//   native vs WebAssembly.
// - tfjs-wasm, tfjs-cpu: each TensorFlow.js backend in a child process (--peer), single-threaded.
// - torch: bench/torch_bench.py once per thread setting, when /usr/bin/python3 has torch.
// The header line names the tier of each mox column (backendInfo().kernels of its process). A peer that
// cannot run (no torch, no tfjs, a crash) gets a note in its cells, not a failed run.
// Every peer loads its dataset before it measures anything (real MNIST and Tiny Shakespeare; the
// training steps read their batches from it), as a training script does: docs/benchmarks.md says why.
//
// Groups: gemm, conv, mlp, cnn, gpt, epoch (workloads timed in turn by every peer) and e2e: Tiny
// Shakespeare end to end (bench/e2e.ts), `mox train gpt --dataset tinyshakespeare` (as
// scripts/run-results.mjs runs the `gpt` example) then PyTorch's bench/torch_shakespeare.py (its auto
// thread choice; --e2e-torch-threads N fixes it), each a child process, one after the other: wall
// seconds, ms/iter, final val loss and the ratio. `--e2e-wasm` adds the mox run on WebAssembly
// kernels (~150 s more). `--quick` runs the e2e group for E2E_ITERS_QUICK (200) iterations instead of
// 2,000, and says so; `--only e2e` runs that group alone.
//
// Prints markdown tables (ratio = how many times faster mox is; > 1 means mox wins), then the issue's
// targets (1-thread GEMM 1024 as a % of the widest FMA peak; MLP, CNN and GPT steps against PyTorch,
// each at its best thread setting; the e2e run) and writes them to bench/results/cpu.md, and
// everything as JSON to bench/results/cpu.json (a --quick run: bench/results/quick/, not committed).
//
//   node dist/bench/cpu.js [--quick] [--only gemm,conv,mlp,cnn,gpt,epoch,e2e|<ids>]
//                          [--peers mox,mox-wasm,tfjs-wasm,tfjs-cpu,torch] [--threads 1,2] [--budget SECONDS]
//                          [--epoch-images N] [--e2e-wasm] [--e2e-iters N] [--e2e-torch-threads auto|N] [--out FILE]
//   node dist/bench/cpu.js --quick --only gemm,mlp --out /tmp/cpu.json      a smoke run
//   node dist/bench/cpu.js --quick --only e2e --out /tmp/e2e.json           the e2e group, 200 iterations

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
import { E2E_ITERS, E2E_ITERS_QUICK, type E2eResult, runMoxE2e, runTorchE2e } from './e2e.js';
import { loadMnist, loadShakespeare } from './mox-data.js';
import { moxHasThreads, moxSetThreads, runMox } from './mox-peer.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root: this file runs as dist/bench/cpu.js. */
const root = resolve(here, '..', '..');
const TORCH_PY = '/usr/bin/python3';
const PEERS = ['mox', 'mox-wasm', 'tfjs-wasm', 'tfjs-cpu', 'torch'] as const;
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
  /** Run the e2e group (Tiny Shakespeare end to end). */
  e2e: boolean;
  /** Add the mox run on WebAssembly kernels to the e2e group. */
  e2eWasm: boolean;
  /** Iterations of each e2e run. */
  e2eIters: number;
  /** PyTorch's --threads in the e2e group: 'auto' (its probe, the default) or a number. */
  e2eTorchThreads: string;
}

function usage(msg: string): never {
  process.stderr.write(`bench:cpu: ${msg}\n`);
  process.stderr.write(
    `usage: node dist/bench/cpu.js [--quick] [--only gemm,conv,mlp,cnn,gpt,epoch,e2e|ids] [--peers ${PEERS.join(',')}] [--threads 1,N] [--budget S] [--epoch-images N] [--e2e-wasm] [--e2e-iters N] [--e2e-torch-threads auto|N] [--out FILE]\n`,
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
    'e2e-wasm': { type: 'boolean', default: false },
    'e2e-iters': { type: 'string' },
    'e2e-torch-threads': { type: 'string' },
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
  const e2eIters = values['e2e-iters'] === undefined ? (quick ? E2E_ITERS_QUICK : E2E_ITERS) : Number(values['e2e-iters']);
  if (!Number.isInteger(e2eIters) || e2eIters < 1) usage(`--e2e-iters: expected a positive integer, got ${values['e2e-iters']}`);
  const e2eTorchThreads = values['e2e-torch-threads'] ?? 'auto';
  if (e2eTorchThreads !== 'auto' && !(Number.isInteger(Number(e2eTorchThreads)) && Number(e2eTorchThreads) >= 1)) {
    usage(`--e2e-torch-threads: expected 'auto' or a positive integer, got ${e2eTorchThreads}`);
  }
  // `e2e` is a group of its own (child processes, not timed workloads): --only e2e runs it alone
  const only = list(values.only);
  const e2e = !only || only.includes('e2e');
  return {
    quick,
    only: only ? only.filter((x) => x !== 'e2e') : null,
    e2e,
    e2eWasm: values['e2e-wasm'] ?? false,
    e2eIters,
    e2eTorchThreads,
    peers,
    threads,
    budget,
    epochImages,
    // a full run is the record (committed with the docs that quote it); a --quick one is not
    out: resolve(values.out ?? join(root, 'bench', 'results', ...(quick ? ['quick', 'cpu.json'] : ['cpu.json']))),
    peer: values.peer,
  };
}

/** The timed workloads --only picks (none for `--only e2e`). */
function workloadsOf(o: Options): WorkloadDef[] {
  return o.only && o.only.length === 0 ? [] : selectWorkloads(o.only);
}

// ---- child mode: one TensorFlow.js backend, or mox on its WebAssembly kernels ----

/** A mox-wasm child's answer: its backendInfo and data, and its results per thread setting. */
interface MoxWasmOut {
  info: Record<string, unknown>;
  byThreads: Record<string, PeerResults>;
}

/** mox in this process (started with MOX_CPU_KERNELS=relaxed-simd) at each --threads setting. */
async function moxWasmChild(o: Options): Promise<void> {
  const info = mox.backendInfo();
  if (!String(info.kernels).startsWith('wasm')) {
    throw new Error(`--peer mox-wasm: kernels are ${info.kernels}, not WebAssembly (run with MOX_CPU_KERNELS=relaxed-simd)`);
  }
  const workloads = workloadsOf(o);
  const data = [`MNIST: ${loadMnist(root).source}`];
  if (workloads.some((w) => w.group === 'gpt')) data.push(`GPT: ${loadShakespeare(root).source}`);
  const byThreads: Record<string, PeerResults> = {};
  const topts = timingOptions(o.quick, o.budget);
  for (const t of o.threads) {
    moxSetThreads(t);
    log(`mox-wasm@${t}: running (MOX_CPU_KERNELS=relaxed-simd, mox.setNumThreads(${t}))`);
    byThreads[t] = await runMox(workloads, topts, (s) => log(s.replace(/^ {2}mox /, '  mox-wasm ')), { root, epochImages: o.epochImages });
  }
  const out: MoxWasmOut = { info: { backendInfo: info, data }, byThreads };
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(out)}\n`);
}

async function childMain(o: Options): Promise<void> {
  if (o.peer === 'mox-wasm') return moxWasmChild(o);
  const backend = o.peer === 'tfjs-wasm' ? 'wasm' : o.peer === 'tfjs-cpu' ? 'cpu' : usage(`--peer: unknown '${o.peer}'`);
  const { runTfjs } = await import('./tfjs-peer.js');
  const out = await runTfjs(backend, workloadsOf(o), timingOptions(o.quick, o.budget), log);
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

/** The mox-wasm child for these workloads: one run per thread setting, keyed 'mox-wasm@t'. */
function runMoxWasmChild(o: Options, workloads: WorkloadDef[]): Record<string, PeerRun> {
  log('mox-wasm: running (child process, MOX_CPU_KERNELS=relaxed-simd)');
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--peer', 'mox-wasm', '--threads', o.threads.join(','), ...passThrough(o, workloads)],
    {
      env: { ...process.env, MOX_CPU_KERNELS: 'relaxed-simd' },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      timeout: childTimeoutMs(o, workloads.length * o.threads.length),
      maxBuffer: 64 << 20,
    },
  );
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT_MARKER));
  const out: Record<string, PeerRun> = {};
  if (!line) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    for (const t of o.threads) out[`mox-wasm@${t}`] = failedRun(workloads, `error: mox-wasm child produced no result (${why})`);
    return out;
  }
  const parsed = JSON.parse(line.slice(RESULT_MARKER.length)) as MoxWasmOut;
  for (const t of o.threads) {
    const results = parsed.byThreads[t];
    out[`mox-wasm@${t}`] = results
      ? { info: { ...parsed.info, threads: t }, results }
      : failedRun(workloads, `error: mox-wasm child did not run ${t} threads`);
  }
  return out;
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

const COLUMNS = ['mox', 'mox-wasm', 'tfjs-wasm', 'tfjs-cpu', 'torch'] as const;

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
 * compiler), or null where there is none or the CPU is not x86-64 with FMA3. mox's native kernels and
 * native BLAS are read against the widest line; mox's WebAssembly kernels (mox-wasm, 128-bit SIMD)
 * against the 128-bit one.
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

/** The e2e table: each run's wall time, ms/iter and losses, and how many times faster mox is than it. */
function e2eTable(results: E2eResult[], o: Options): string {
  const moxR = results.find((r) => r.name === 'mox');
  const ratio = (mine: number | undefined, theirs: number | undefined): string =>
    mine !== undefined && theirs !== undefined ? `${fmt(theirs / mine)}x` : '-';
  const rows = results.map((r) => {
    const label = `${r.name}${r.tier ? ` (${r.tier})` : ''}`;
    if (r.note) return [label, r.threads === undefined ? '-' : String(r.threads), String(r.iters), r.note, '-', '-', '-', '-'];
    const self = r.name === 'mox';
    return [
      label,
      r.threads === undefined ? '-' : String(r.threads),
      String(r.step ?? r.iters),
      `${r.wallS!.toFixed(1)}${r.loopS !== undefined ? ` (loop ${r.loopS.toFixed(1)})` : ''}`,
      fmt(r.msPerIter!),
      `${r.valLoss!.toFixed(4)} / ${r.trainLoss!.toFixed(4)}`,
      self ? '-' : ratio(moxR?.wallS, r.wallS),
      self ? '-' : ratio(moxR?.msPerIter, r.msPerIter),
    ];
  });
  const torch = results.find((r) => r.name === 'torch');
  const probe = torch?.threadsProbeMs
    ? ` PyTorch's thread probe (ms/iter): ${Object.entries(torch.threadsProbeMs)
        .map(([t, ms]) => `${t} thread${t === '1' ? '' : 's'} ${fmt(ms)}`)
        .join(', ')} -> trained on ${torch.threads}.`
    : '';
  return (
    `End to end: Tiny Shakespeare, ${o.e2eIters} iterations${o.e2eIters !== E2E_ITERS ? ` (${o.quick && o.e2eIters === E2E_ITERS_QUICK ? '--quick' : '--e2e-iters'}: not the issue's 2,000)` : ''}, each a child process, one after the other; ` +
    `wall = spawn to exit (PyTorch's own loop time in parentheses); ms/iter = the training iterations only, as each prints it; ` +
    `mox runs as scripts/run-results.mjs runs the \`gpt\` example (every core), PyTorch ${o.e2eTorchThreads === 'auto' ? 'with its auto thread choice (`--threads auto`: a probe of 11 steps at 1 thread and at every core, in its wall time)' : `with \`--threads ${o.e2eTorchThreads}\``}.${probe}\n\n` +
    markdownTable(
      ['run', 'threads', 'iterations', 'wall s', 'ms / iter', 'val / train loss', 'mox vs this (wall)', 'mox vs this (ms/iter)'],
      rows,
    )
  );
}

async function main(): Promise<void> {
  const o = parseOptions();
  if (o.peer) return childMain(o);
  const workloads = workloadsOf(o);
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
  const moxInfo = mox.backendInfo();
  log(`bench:cpu: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, mox ${pkg.version} ${JSON.stringify(moxInfo)}`);
  log(
    `workloads: ${[...workloads.map((w) => w.id), ...(o.e2e ? ['e2e'] : [])].join(', ')}; threads ${o.threads.join(',')}; budget ${topts.budgetMs / 1000} s per workload per peer${o.quick ? ' (--quick)' : ''}`,
  );

  // peer key ('mox@1', 'mox-wasm@2', 'tfjs-wasm', 'torch@2', ...) -> run
  const runs: Record<string, PeerRun> = {};
  const moxThreads = moxHasThreads();
  const notes: string[] = [];

  // mox loads its data first, as the PyTorch peer does (each of its processes, before any workload)
  const moxCtx = { root, epochImages: o.epochImages };
  const moxData: string[] = [];
  if (o.peers.includes('mox') && workloads.length) {
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
    if (o.peers.includes('mox-wasm')) for (const [k, run] of Object.entries(runMoxWasmChild(o, ws))) merge(k, run);
    for (const name of ['tfjs-wasm', 'tfjs-cpu'] as const) {
      if (!o.peers.includes(name)) continue;
      merge(
        name,
        group === 'epoch' ? failedRun(ws, 'not written for tfjs (the epoch comparison is mox and PyTorch)') : runTfjsChild(name, o, ws),
      );
    }
    if (o.peers.includes('torch')) {
      for (const t of o.threads) merge(`torch@${t}`, torchOk ? runTorch(t, o, ws) : failedRun(ws, 'n/a (no torch)'));
    }
  }
  if (o.peers.includes('mox') && !moxThreads && workloads.length) {
    notes.push(
      'mox has no `setNumThreads` in this build: it ran once, single-threaded; `*` marks that figure reused in multi-thread rows.',
    );
  }
  if (o.peers.some((p) => p.startsWith('tfjs')) && workloads.length) {
    notes.push('TensorFlow.js runs single-threaded in Node (wasm and cpu backends); `*` marks its figure reused in multi-thread rows.');
  }
  if (o.peers.includes('torch') && !torchOk) {
    notes.push(`PyTorch not measured: \`${TORCH_PY} -c "import torch"\` failed (Debian: apt-get install python3-torch).`);
  }

  // the e2e group: Tiny Shakespeare end to end, mox (native), mox on WebAssembly (--e2e-wasm), PyTorch
  const e2e: E2eResult[] = [];
  if (o.e2e) {
    log(`-- e2e (${o.e2eIters} iterations)`);
    const notRun = (name: E2eResult['name'], note: string): E2eResult => ({ name, command: '-', iters: o.e2eIters, note });
    const guard = async (name: E2eResult['name'], f: () => Promise<E2eResult>): Promise<E2eResult> => {
      try {
        return await f();
      } catch (e) {
        return notRun(name, `error: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    if (o.peers.includes('mox')) e2e.push(await guard('mox', () => runMoxE2e(root, o.e2eIters, false, log)));
    if (o.e2eWasm) e2e.push(await guard('mox-wasm', () => runMoxE2e(root, o.e2eIters, true, log)));
    if (o.peers.includes('torch')) {
      e2e.push(
        torchOk
          ? await guard('torch', () => runTorchE2e(root, TORCH_PY, o.e2eIters, o.e2eTorchThreads, log))
          : notRun('torch', `n/a (no torch: ${TORCH_PY} cannot import it)`),
      );
    }
  }
  const fmaEnd = machine.fmaPeakGflops ? fmaPeak() : null;

  // rows: each workload at each thread setting
  const rows: Row[] = [];
  for (const w of workloads) {
    for (const t of o.threads) {
      const cells: Row['cells'] = {};
      const moxRun = runs[`mox@${t}`] ?? runs.mox;
      if (moxRun) cells.mox = { m: moxRun.results[w.id]!, reused: !runs[`mox@${t}`] && t > 1 };
      const wasmRun = runs[`mox-wasm@${t}`];
      if (wasmRun) cells['mox-wasm'] = { m: wasmRun.results[w.id]!, reused: false };
      for (const name of ['tfjs-wasm', 'tfjs-cpu'] as const) {
        const r = runs[name];
        if (r) cells[name] = { m: r.results[w.id]!, reused: t > 1 };
      }
      const tr = runs[`torch@${t}`];
      if (tr) cells.torch = { m: tr.results[w.id]!, reused: false };
      rows.push({ workload: w.id, threads: t, cells });
    }
  }

  // the tier of each mox column, from backendInfo() in its process
  const wasmInfo = o.threads.map((t) => runs[`mox-wasm@${t}`]?.info.backendInfo as { kernels?: string } | undefined).find((x) => x);
  const tiers: Record<string, string> = { mox: String(moxInfo.kernels), 'mox-wasm': wasmInfo?.kernels ?? 'not run' };
  const columns = COLUMNS.filter((c) => rows.some((r) => r.cells[c]));
  const head = (c: string): string => (tiers[c] ? `${c} (${tiers[c]})` : c);

  const byId = new Map(WORKLOADS.map((w) => [w.id, w]));
  const mainTable = rows.length
    ? markdownTable(
        ['workload', 'threads', ...columns.map(head)],
        rows.map((r) => {
          const w = byId.get(r.workload)!;
          const moxM = r.cells.mox?.m;
          return [w.short, String(r.threads), ...columns.map((c) => cellText(w, r.cells[c], moxM, c === 'mox'))];
        }),
      )
    : '';

  // samples/s for the training steps
  const stepRows = rows.filter((r) => ['mlp', 'cnn', 'gpt'].includes(byId.get(r.workload)!.group));
  const throughputTable = stepRows.length
    ? markdownTable(
        ['training step', 'threads', ...columns.map(head)],
        stepRows.map((r) => [
          byId.get(r.workload)!.short.replace(' (ms)', ' (samples/s)'),
          String(r.threads),
          ...columns.map((c) => {
            const cell = r.cells[c];
            if (!cell) return '-';
            return cell.m.samplesPerSec === undefined ? (cell.m.note ?? 'n/a') : fmt(cell.m.samplesPerSec) + (cell.reused ? '*' : '');
          }),
        ]),
      )
    : '';

  // mox, mox on WebAssembly and PyTorch, each at its best thread setting
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
  const bestCell = (b: { v: number; t: number } | null): string => (b ? `${fmt(b.v)} (${b.t}t)` : '-');
  const ratioCell = (w: WorkloadDef, a: { v: number } | null, b: { v: number } | null): string =>
    a && b ? `${fmt(speedup(w, a.v, b.v))}x` : '-';
  const bestRows: string[][] = [];
  for (const w of workloads) {
    const bm = best('mox', w);
    const bw = best('mox-wasm', w);
    const bt = best('torch', w);
    if (!bm || (!bt && !bw)) continue;
    bestRows.push([w.short, bestCell(bm), bestCell(bw), bestCell(bt), ratioCell(w, bm, bt), ratioCell(w, bw, bt), ratioCell(w, bm, bw)]);
  }
  const bestTable = bestRows.length
    ? markdownTable(
        [
          'workload',
          `mox best (${tiers.mox})`,
          `mox-wasm best (${tiers['mox-wasm']})`,
          'torch best',
          'mox vs torch',
          'mox-wasm vs torch',
          'mox vs mox-wasm',
        ],
        bestRows,
      )
    : '';

  // one epoch: ms per epoch and per batch, and fit's overhead per batch over mox's plain loop
  const epochTable = epochComparison(workloads, runs, o);

  const info = {
    mox: { version: pkg.version, backendInfo: moxInfo, setNumThreads: moxThreads },
    ...(wasmInfo ? { 'mox-wasm': runs[`mox-wasm@${o.threads[0]}`]?.info } : {}),
    ...Object.fromEntries(
      Object.entries(runs)
        .filter(([k]) => k !== 'mox' && !k.startsWith('mox@') && !k.startsWith('mox-wasm@'))
        .map(([k, r]) => [k, r.info]),
    ),
  };
  const loadEnd = os.loadavg().map((x) => +x.toFixed(2));
  const tierLine = `mox columns: mox = ${tiers.mox} (${JSON.stringify(moxInfo)})${o.peers.includes('mox-wasm') && workloads.length ? `, mox-wasm = ${tiers['mox-wasm']} (MOX_CPU_KERNELS=relaxed-simd)` : ''}`;
  const machineLine = `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${started.toISOString()}, load avg ${loadStart[0]!.toFixed(2)} -> ${loadEnd[0]!.toFixed(2)}`;
  const torchInfo = o.threads.map((t) => runs[`torch@${t}`]?.info).find((x) => x && !x.error);
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

  // the issue's targets, from this run
  const targets: { target: string; figure: string; met: boolean | null }[] = [];
  const peakOf = (p: { fma128: number; fma256: number; fma512?: number }): { bits: number; v: number } =>
    p.fma512 ? { bits: 512, v: p.fma512 } : { bits: 256, v: p.fma256 };
  if (machine.fmaPeakGflops) {
    const peak = machine.fmaPeakGflops;
    const { fma128, fma256, fma512 } = peak;
    const widest = peakOf(peak);
    if (fmaEnd) {
      notes.push(
        `The same FMA measure at the end of the run: ${fmt(fmaEnd.fma128)} GFLOP/s (128-bit)${fmaEnd.fma512 ? `, ${fmt(fmaEnd.fma512)} (512-bit)` : ''}; a drop between the two means the machine slowed during the run.`,
      );
    }
    const gemms = workloads.filter((w) => w.group === 'gemm');
    const pct = (key: string, line: number): string =>
      gemms
        .map((w) => ({ w, m: runs[key]?.results[w.id] ?? (key === 'mox@1' ? runs.mox?.results[w.id] : undefined) }))
        .filter((x) => x.m && x.m.value !== null)
        .map((x) => `${x.w.short.replace(' (GFLOP/s)', '')} ${((100 * x.m!.value!) / line).toFixed(0)}%`)
        .join(', ');
    const nativePct = pct('mox@1', widest.v);
    const wasmPct = pct('mox-wasm@1', fma128);
    notes.push(
      `One core's FMA peak, measured in this run by bench/fma_peak.c: ${fmt(fma128)} GFLOP/s with 128-bit vectors (WebAssembly SIMD's width, mox-wasm's ceiling), ${fmt(fma256)} with 256-bit (AVX2)${fma512 ? `, ${fmt(fma512)} with 512-bit (AVX-512)` : ''}.` +
        (nativePct ? ` mox's 1-thread GEMM (${tiers.mox}) reaches ${nativePct} of the ${widest.bits}-bit peak.` : '') +
        (wasmPct ? ` mox-wasm's 1-thread GEMM (${tiers['mox-wasm']}) reaches ${wasmPct} of the 128-bit peak.` : ''),
    );
    const g = runs['mox@1']?.results['gemm-1024'] ?? runs.mox?.results['gemm-1024'];
    if (g) {
      targets.push({
        target: `1-thread fp32 GEMM 1024³ >= 80% of the ${widest.bits}-bit FMA peak (mox, ${tiers.mox})`,
        figure:
          g.value === null
            ? (g.note ?? 'n/a')
            : `${((100 * g.value) / widest.v).toFixed(0)}% (${fmt(g.value)} of ${fmt(widest.v)} GFLOP/s)`,
        met: g.value === null ? null : g.value >= 0.8 * widest.v,
      });
    }
  }
  for (const id of ['mlp-step', 'cnn-step', 'gpt-step']) {
    const w = byId.get(id)!;
    if (!workloads.includes(w)) continue;
    const bm = best('mox', w);
    const bt = best('torch', w);
    targets.push({
      target: `${w.short.replace(' (ms)', '')} faster than PyTorch, each at its best thread setting`,
      figure:
        bm && bt
          ? `${fmt(speedup(w, bm.v, bt.v))}x (mox ${fmt(bm.v)} ms at ${bm.t}t, PyTorch ${fmt(bt.v)} ms at ${bt.t}t)`
          : 'n/a (a peer has no figure)',
      met: bm && bt ? speedup(w, bm.v, bt.v) > 1 : null,
    });
  }
  const e2eMox = e2e.find((r) => r.name === 'mox');
  const e2eTorch = e2e.find((r) => r.name === 'torch');
  if (e2eMox && e2eTorch) {
    const both = e2eMox.wallS !== undefined && e2eTorch.wallS !== undefined;
    targets.push({
      target: `Tiny Shakespeare ${o.e2eIters} iterations${o.e2eIters !== E2E_ITERS ? ' (not the issue’s 2,000)' : ''} end to end faster than PyTorch (wall, process to process)`,
      figure: both
        ? `${fmt(e2eTorch.wallS! / e2eMox.wallS!)}x (mox ${e2eMox.wallS!.toFixed(1)} s, PyTorch ${e2eTorch.wallS!.toFixed(1)} s${e2eTorch.loopS !== undefined ? `; against PyTorch's loop alone, ${e2eTorch.loopS.toFixed(1)} s, without its start, data loading and thread probe: ${fmt(e2eTorch.loopS / e2eMox.wallS!)}x` : ''})`
        : (e2eMox.note ?? e2eTorch.note ?? 'n/a'),
      met: both ? e2eTorch.wallS! > e2eMox.wallS! : null,
    });
  }
  const targetTable = targets.length
    ? markdownTable(
        ['target', 'this run', 'met'],
        targets.map((t) => [t.target, t.figure, t.met === null ? '-' : t.met ? 'yes' : 'no']),
      )
    : '';

  const anyCold = Object.values(runs).some((r) => Object.values(r.results).some((m) => m?.timing?.cold));
  const legend = [
    `Machine: ${machineLine}`,
    '',
    tierLine,
    '',
    ...(rows.length
      ? [
          "Cells: the peer's figure (GFLOP/s or ms per rep, median) and, in parentheses, how many times faster mox is (> 1: mox is faster); in the mox-wasm column that is native mox vs WebAssembly mox.",
        ]
      : []),
    ...(anyCold ? [`- † one cold rep, no warmup: the first step took longer than ${(topts.slowMs / 1000).toFixed(0)} s.`] : []),
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  const sections = [legend];
  if (mainTable) sections.push(mainTable);
  if (throughputTable) sections.push(throughputTable);
  if (bestTable) sections.push(`mox, mox on WebAssembly and PyTorch, each at its best thread setting:\n\n${bestTable}`);
  if (epochTable) sections.push(epochTable);
  if (e2e.length) sections.push(e2eTable(e2e, o));
  if (targetTable) {
    sections.push(
      `The native-kernels issue's targets, from this run${o.quick ? ' (--quick: a smoke run, not a measurement)' : ''}:\n\n${targetTable}`,
    );
  }
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
    options: {
      quick: o.quick,
      only: o.only,
      e2e: o.e2e,
      e2eWasm: o.e2eWasm,
      e2eIters: o.e2eIters,
      peers: o.peers,
      threads: o.threads,
      epochImages: o.epochImages,
      timing: topts,
    },
    tiers,
    peers: info,
    workloads: workloads.map((w) => ({
      ...w,
      results: Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r.results[w.id]])),
    })),
    e2e,
    targets,
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
