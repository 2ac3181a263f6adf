// Does a mox training step depend on the state of the process, as PyTorch's does on glibc's malloc
// (docs/benchmarks.md)? Each workload runs in two fresh child processes: one that loads no data (small
// random batches) and one that loads MNIST and Tiny Shakespeare first, as bench:cpu and a training
// script do. Each child times every step from the first, and counts the minor page faults the process
// takes (process.resourceUsage(): a fresh page of the WebAssembly heap or of V8's heap faults once when
// first touched), so an effect shows even on a loaded machine where the times are noisy.
//
//   node dist/bench/mox-state.js [--only mlp-step,cnn-step,gpt-step] [--steps N] [--threads N]

import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { Rng, WORKLOADS } from './common.js';
import { loadMnist, loadShakespeare } from './mox-data.js';
import { moxSetThreads, prepare } from './mox-peer.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const STEPS: Record<string, number> = { 'mlp-step': 1000, 'cnn-step': 60, 'gpt-step': 60 };
/** Step windows reported: [from, to) */
const WINDOWS: [number, number][] = [
  [0, 1],
  [1, 5],
  [5, 20],
  [20, Infinity],
];

interface ChildResult {
  state: string;
  workload: string;
  loadMs: number;
  /** Per step: ms and minor page faults. */
  ms: number[];
  faults: number[];
  rssMiB: { before: number; after: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function child(state: string, id: string, steps: number, threads: number): void {
  moxSetThreads(threads);
  const t0 = performance.now();
  if (state === 'loaded') {
    loadMnist(root);
    loadShakespeare(root);
  }
  const loadMs = performance.now() - t0;
  const w = WORKLOADS.find((x) => x.id === id)!;
  const p = prepare(w, new Rng(1234), { root, epochImages: 640, noData: state === 'fresh' });
  const rssBefore = process.memoryUsage().rss;
  const ms: number[] = [];
  const faults: number[] = [];
  for (let i = 0; i < steps; i++) {
    const f = process.resourceUsage().minorPageFault;
    const s = performance.now();
    p.step();
    ms.push(performance.now() - s);
    faults.push(process.resourceUsage().minorPageFault - f);
  }
  const out: ChildResult = {
    state,
    workload: id,
    loadMs,
    ms,
    faults,
    rssMiB: { before: rssBefore / 2 ** 20, after: process.memoryUsage().rss / 2 ** 20 },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function main(): void {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, steps: { type: 'string' }, threads: { type: 'string' }, child: { type: 'string' } },
  });
  const threads = Number(values.threads ?? 1);
  if (values.child) {
    const [state, id, steps] = values.child.split(':');
    child(state!, id!, Number(steps), threads);
    return;
  }
  const ids = values.only ? values.only.split(',') : Object.keys(STEPS);
  for (const id of ids)
    if (!(id in STEPS)) throw new Error(`mox-state: --only: unknown workload '${id}' (${Object.keys(STEPS).join(', ')})`);
  console.log(`mox ${JSON.stringify(mox.backendInfo())}, ${threads} thread(s); per window of steps: median ms, minor page faults per step`);
  console.log('| workload | state | load | step 1 | steps 2-5 | steps 6-20 | steps 21+ | RSS MiB before -> after |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const id of ids) {
    for (const state of ['fresh', 'loaded']) {
      const steps = Number(values.steps ?? STEPS[id]);
      const r = spawnSync(
        process.execPath,
        [fileURLToPath(import.meta.url), '--child', `${state}:${id}:${steps}`, '--threads', String(threads)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      if (r.status !== 0) throw new Error(`mox-state: child ${state} ${id} failed (exit ${r.status ?? r.signal})`);
      const c = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
      const cells = WINDOWS.map(([a, b]) => {
        const ms = c.ms.slice(a, b);
        const f = c.faults.slice(a, b);
        return ms.length ? `${median(ms).toFixed(2)} ms, ${(f.reduce((x, y) => x + y, 0) / f.length).toFixed(0)} pf` : '-';
      });
      console.log(
        `| ${id} | ${state === 'fresh' ? 'no data loaded' : 'MNIST + Shakespeare loaded'} | ${(c.loadMs / 1000).toFixed(1)} s | ${cells.join(' | ')} | ${c.rssMiB.before.toFixed(0)} -> ${c.rssMiB.after.toFixed(0)} |`,
      );
    }
  }
}

main();
