// Worker threads that run the same kernel module on the same shared memory, so a big kernel can be
// split by rows across every core. Dispatch is a few Atomics operations on a shared control block, not
// a message: the main thread writes each worker's arguments, bumps its sequence number and notifies,
// runs its own share, then waits for the done counter. Workers are unref()'d, so an idle pool never
// keeps the process alive.

import type { Worker } from 'node:worker_threads';
import { TRACE_KERNELS, noteWasmRun } from '../kernel-trace.js';
import type { KernelArgs, KernelExports, KernelName } from './kernels.js';
import { availableParallelism, nodeBuiltin } from './node-builtins.js';
import type { KernelModule } from './loader.js';

export const MAX_ARGS = 24;
// per worker: [seq, fn, nargs, failed, ready, -, -, -] as int32, then MAX_ARGS float64 arguments
export const SLOT_HEAD_INTS = 8;
export const SLOT_BYTES = SLOT_HEAD_INTS * 4 + MAX_ARGS * 8;
/** How long a new worker may take to come up before the pool gives up on it and runs without it. */
const STARTUP_TIMEOUT_MS = 20_000;
const MAX_WORKERS = 64;

/**
 * How long a thread that waits for the other side of the pool first polls before it sleeps. Waking a
 * thread asleep in Atomics.wait costs 20-30 us here, and a training step dispatches a split kernel
 * every ~100-200 us (~400 per GPT step), so a short poll catches most of them awake; an idle pool
 * still sleeps after this long (OpenMP's spin-then-sleep wait policy, on a much shorter fuse).
 */
export const SPIN_MS = 0.25;

/** Polls `cond` until it turns false or SPIN_MS pass; the caller then sleeps if it still holds. */
export function spinWhile(cond: () => boolean): void {
  if (!cond()) return;
  const until = performance.now() + SPIN_MS;
  for (let i = 1; cond(); i++) {
    if ((i & 63) === 0 && performance.now() > until) return;
  }
}

export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl = new SharedArrayBuffer(16 + MAX_WORKERS * SLOT_BYTES);
  private readonly done = new Int32Array(this.ctrl, 0, 4);
  private readonly names: string[];
  private threads = 1;

  constructor(
    private readonly kernels: KernelModule,
    private readonly memory: WebAssembly.Memory,
    private readonly exports: KernelExports,
    threads = availableParallelism(),
    /** The native kernel module the main thread uses (each worker opens it and uses the same kernels). */
    private readonly native: { path: string; level: string; names: ReadonlySet<string> } | null = null,
  ) {
    // the workers look kernels up by index in this list, so both sides build it the same way
    this.names = Object.keys(exports)
      .filter((k) => typeof exports[k as KernelName] === 'function')
      .sort();
    this.resize(threads);
  }

  get size(): number {
    return this.threads;
  }

  /**
   * Whether waiting threads poll before they sleep: only while the pool has no more threads than
   * the machine has cores, or a polling thread would take a core from one with work.
   */
  get polls(): boolean {
    return Atomics.load(this.done, 1) === 1;
  }

  /** Sets the number of threads kernels may use (the calling thread counts as one). */
  resize(threads: number): void {
    // Workers beyond the new count stay up, idle and unref'd: starting one again costs far more
    // (a thread, an instance, cold code) than keeping it.
    this.threads = Math.max(1, Math.min(Math.floor(threads), MAX_WORKERS + 1));
    Atomics.store(this.done, 1, this.threads <= availableParallelism() ? 1 : 0);
  }

  private readonly slots: { head: Int32Array; args: Float64Array }[] = [];

  /** Worker i's control slot (views made once: run() is called hundreds of times per training step). */
  private slot(i: number): { head: Int32Array; args: Float64Array } {
    while (this.slots.length <= i) {
      const base = 16 + this.slots.length * SLOT_BYTES;
      this.slots.push({
        head: new Int32Array(this.ctrl, base, SLOT_HEAD_INTS),
        args: new Float64Array(this.ctrl, base + SLOT_HEAD_INTS * 4, MAX_ARGS),
      });
    }
    return this.slots[i]!;
  }

  /**
   * Starts workers up to n and waits until each has instantiated the module. A worker that cannot
   * start (a blocked file, an odd execArgv) must not leave run() waiting forever on a job nobody
   * takes: the pool shrinks to the workers that did come up and says so once.
   */
  private ensureWorkers(n: number): number {
    const workerThreads = nodeBuiltin('node:worker_threads');
    if (!workerThreads) {
      // a web page: no worker_threads, so every job runs on the calling thread
      this.startFailed = true;
      this.threads = 1;
    }
    while (this.workers.length < n && !this.startFailed) {
      const index = this.workers.length;
      const w = new workerThreads!.Worker(new URL('./threads-worker.js', import.meta.url), {
        workerData: {
          module: this.kernels.module,
          memory: this.memory,
          ctrl: this.ctrl,
          index,
          names: this.names,
          nativePath: this.native?.path ?? null,
        },
        execArgv: [], // the parent's flags (e.g. --input-type) may not apply to a worker file
      });
      w.on('error', () => {
        /* reported through the ready flag or the failed flag */
      });
      w.unref();
      const { head } = this.slot(index);
      if (Atomics.wait(head, 4, 0, STARTUP_TIMEOUT_MS) === 'timed-out' && Atomics.load(head, 4) === 0) {
        void w.terminate();
        this.startFailed = true;
        this.threads = this.workers.length + 1;
        process.emitWarning(`mox: a CPU worker thread did not start; running kernels on ${this.threads} thread(s)`);
        break;
      }
      this.workers.push(w);
    }
    return Math.min(n, this.workers.length);
  }

  private startFailed = false;

  /** Which tier runs kernel `fn`, for MOX_TRACE_KERNELS. */
  private tierOf(fn: string): string {
    return this.native?.names.has(fn) ? `native-${this.native.level}` : 'wasm';
  }

  /** Runs one kernel call on this thread. */
  call<K extends KernelName>(fn: K, args: KernelArgs<K>): void {
    if (TRACE_KERNELS) noteWasmRun(fn, 1, this.tierOf(fn));
    (this.exports[fn] as (...a: KernelArgs<K>) => void)(...args);
  }

  /**
   * Runs `fn` once per argument list, in parallel: the first on this thread, the rest on workers.
   * Returns when all have finished. Never call with more lists than `size`.
   */
  run<K extends KernelName>(fn: K, jobs: readonly KernelArgs<K>[]): void {
    if (jobs.length === 0) return;
    if (TRACE_KERNELS) noteWasmRun(fn, jobs.length, this.tierOf(fn));
    const f = this.exports[fn] as (...a: KernelArgs<K>) => void;
    if (jobs.length === 1) {
      f(...jobs[0]!);
      return;
    }
    const fnIndex = this.names.indexOf(fn);
    const extra = this.ensureWorkers(jobs.length - 1);
    if (extra < jobs.length - 1) {
      // fewer workers than jobs: this thread takes the jobs no worker can
      for (const job of jobs.slice(extra + 1)) f(...job);
    }
    Atomics.store(this.done, 0, 0);
    for (let w = 0; w < extra; w++) {
      const { head, args } = this.slot(w);
      const job = jobs[w + 1]!;
      for (let i = 0; i < job.length; i++) args[i] = job[i]!;
      head[1] = fnIndex;
      head[2] = job.length;
      head[3] = 0;
      Atomics.add(head, 0, 1);
      Atomics.notify(head, 0);
    }
    let error: unknown = null;
    try {
      f(...jobs[0]!);
    } catch (e) {
      error = e;
    }
    if (this.polls) spinWhile(() => Atomics.load(this.done, 0) < extra);
    for (let cur = Atomics.load(this.done, 0); cur < extra; cur = Atomics.load(this.done, 0)) {
      Atomics.wait(this.done, 0, cur);
    }
    if (error) throw error;
    for (let w = 0; w < extra; w++) {
      if (this.slot(w).head[3] !== 0) throw new Error(`cpu kernel ${fn} failed in worker ${w}`);
    }
  }
}
