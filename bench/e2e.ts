// The `e2e` group of `npm run bench:cpu`: Tiny Shakespeare end to end, each run a child process, one
// after the other: `mox train gpt --dataset tinyshakespeare` (as scripts/run-results.mjs runs the `gpt`
// example: every core, the CLI's defaults), optionally the same on mox's WebAssembly kernels
// (MOX_CPU_KERNELS=relaxed-simd, `--e2e-wasm`), and PyTorch's bench/torch_shakespeare.py (its
// `--threads auto`: the faster of 1 thread and every core). Each gives its wall time (spawn to exit, as
// the parent sees it), ms/iter (the training iterations only, as each prints it) and the last
// evaluation's losses. `--quick` runs E2E_ITERS_QUICK iterations instead of nanoGPT's 2,000.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { dataDir } from './mox-data.js';

export const E2E_ITERS = 2000;
export const E2E_ITERS_QUICK = 200;

export type E2eName = 'mox' | 'mox-wasm' | 'torch';

export interface E2eResult {
  name: E2eName;
  /** The command line, relative to the repository root. */
  command: string;
  /** mox's kernel tier (backendInfo().kernels in the child's environment), or PyTorch's version and BLAS. */
  tier?: string;
  threads?: number;
  iters: number;
  /** Spawn to exit, seconds. */
  wallS?: number;
  msPerIter?: number;
  valLoss?: number;
  trainLoss?: number;
  /** The last evaluation's step (= iters when the run finished). */
  step?: number;
  /** PyTorch's own loop time (evaluations included, data loading and thread probe not). */
  loopS?: number;
  /** PyTorch's thread probe, ms/iter per thread count. */
  threadsProbeMs?: Record<string, number> | null;
  /** Why there is no figure. */
  note?: string;
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  wallS: number;
  error?: string;
}

/** Runs a child with its output shown on stderr as it comes (stdout is the report's); resolves with its stdout and wall time. */
function runChild(exe: string, argv: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ChildRun> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(exe, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let error: string | undefined;
    const timer = setTimeout(() => {
      error = `killed after ${(timeoutMs / 1000).toFixed(0)} s`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      process.stderr.write(d);
    });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    child.on('error', (e) => {
      error = e.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, wallS: (performance.now() - t0) / 1000, error });
    });
  });
}

/** backendInfo().kernels in a fresh process with this environment: the tier the mox child runs. */
function moxTier(root: string, env: NodeJS.ProcessEnv): string {
  const url = new URL(`file://${join(root, 'dist', 'src', 'index.js')}`).href;
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); process.stdout.write(m.backendInfo().kernels);`],
    { env, encoding: 'utf8', timeout: 60_000 },
  );
  return r.status === 0 && r.stdout ? r.stdout.trim() : 'unknown';
}

function failedHow(r: ChildRun): string {
  return r.error ?? (r.signal ? `signal ${r.signal}` : `exit ${r.code}`);
}

const timeoutMs = (iters: number): number => Math.max(300_000, iters * 600);

/** `mox train gpt --dataset tinyshakespeare`, on this process's tier or (wasm) on MOX_CPU_KERNELS=relaxed-simd. */
export async function runMoxE2e(root: string, iters: number, wasm: boolean, log: (s: string) => void): Promise<E2eResult> {
  const name: E2eName = wasm ? 'mox-wasm' : 'mox';
  const env: NodeJS.ProcessEnv = { ...process.env, MOX_DATA_DIR: dataDir(root) };
  if (wasm) env.MOX_CPU_KERNELS = 'relaxed-simd';
  const tier = moxTier(root, env);
  const out = mkdtempSync(join(os.tmpdir(), `mox-bench-e2e-${name}-`));
  const more = iters !== E2E_ITERS ? ['--max-iters', String(iters)] : [];
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  const args = ['train', 'gpt', '--dataset', 'tinyshakespeare'];
  const argv = [cli, ...args, '--out', out, ...more];
  const command = `${wasm ? 'MOX_CPU_KERNELS=relaxed-simd ' : ''}node ${relative(root, cli)} ${[...args, '--out', '<tmpdir>', ...more].join(' ')}`;
  log(`e2e ${name}: ${command} (kernels ${tier})`);
  try {
    const r = await runChild(process.execPath, argv, root, env, timeoutMs(iters));
    const base: E2eResult = { name, command, tier, iters, wallS: r.wallS };
    const threads = /threads (\d+)/.exec(r.stdout);
    if (threads) base.threads = Number(threads[1]);
    let last: RegExpMatchArray | undefined;
    for (const m of r.stdout.matchAll(/^step (\d+): train loss ([\d.]+|NaN|Infinity), val loss ([\d.]+|NaN|Infinity)/gm)) last = m;
    const done = /^done: \d+ iterations, ([\d.]+) ms\/iter/m.exec(r.stdout);
    if (r.code !== 0 || !last || !done) {
      return { ...base, wallS: undefined, note: `error: mox train gpt failed (${failedHow(r)}${last ? `, last step ${last[1]}` : ''})` };
    }
    return { ...base, step: Number(last[1]), trainLoss: Number(last[2]), valLoss: Number(last[3]), msPerIter: Number(done[1]) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** PyTorch's bench/torch_shakespeare.py at `threads` ('auto', its default: the faster of 1 thread and every core, by a probe). */
export async function runTorchE2e(
  root: string,
  python: string,
  iters: number,
  threads: string,
  log: (s: string) => void,
): Promise<E2eResult> {
  const script = join(root, 'bench', 'torch_shakespeare.py');
  const more = [...(iters !== E2E_ITERS ? ['--max-iters', String(iters)] : []), ...(threads !== 'auto' ? ['--threads', threads] : [])];
  const argv = [script, ...more];
  const command = [python, relative(root, script), ...more].join(' ');
  log(`e2e torch: ${command}`);
  const r = await runChild(python, argv, root, { ...process.env, MOX_DATA_DIR: dataDir(root) }, timeoutMs(iters));
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('RESULT '));
  if (r.code !== 0 || !line) return { name: 'torch', command, iters, note: `error: torch_shakespeare.py failed (${failedHow(r)})` };
  const j = JSON.parse(line.slice('RESULT '.length)) as {
    val_loss: number;
    train_loss: number;
    seconds: number;
    ms_per_iter: number;
    threads: number;
    iters: number;
    torch: string;
    openblas: string | null;
    threads_probe_ms: Record<string, number> | null;
  };
  return {
    name: 'torch',
    command,
    tier: `PyTorch ${j.torch}${j.openblas ? `, OpenBLAS ${j.openblas}` : ''}`,
    threads: j.threads,
    iters: j.iters,
    step: j.iters,
    wallS: r.wallS,
    msPerIter: j.ms_per_iter,
    valLoss: j.val_loss,
    trainLoss: j.train_loss,
    loopS: j.seconds,
    threadsProbeMs: j.threads_probe_ms,
  };
}
