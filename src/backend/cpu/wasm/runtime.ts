// The live WASM runtime of the CPU backend: the heap every CPU tensor lives in, the main thread's
// instance of the kernel module, the native kernels that stand in for some of its functions (when
// built and allowed; ../native/loader.ts), the thread pool, and per-thread scratch space.

import { availableParallelism, nodeBuiltin } from './node-builtins.js';
import { WasmHeap } from './heap.js';
import { compileKernels, requestedKernels, type KernelKind } from './loader.js';
import { loadNative, type NativeKernels } from '../native/loader.js';
import { kernelExports, type KernelExports, type KernelName } from './kernels.js';
import { ThreadPool } from './threads.js';

export class WasmRuntime {
  readonly heap: WasmHeap;
  /** The kernels callers run: the WebAssembly module's, with the native ones in place of their twins. */
  readonly exports: KernelExports;
  /** The WebAssembly module's own kernels (for differential tests of the native ones). */
  readonly wasmExports: KernelExports;
  readonly pool: ThreadPool;
  /** The native kernels in use, or null (then nativeReason says why). */
  readonly native: NativeKernels | null;
  readonly nativeReason: string | null;
  private readonly scratch: number[] = [];
  private readonly scratchBytes: number;

  constructor(
    readonly kind: KernelKind,
    module: WebAssembly.Module,
  ) {
    this.heap = new WasmHeap();
    const instance = new WebAssembly.Instance(module, {
      env: {
        memory: this.heap.memory,
        abort: () => {
          throw new Error('mox wasm kernel aborted');
        },
      },
    });
    const wasm = kernelExports(instance);
    this.wasmExports = wasm;
    const { native, reason } = loadNative(this.heap.memory, requestedKernels());
    this.native = native;
    this.nativeReason = reason;
    // a native kernel replaces its WebAssembly twin by name, here and in every worker (threads-worker.ts)
    const overrides = native ? nativeOverrides(wasm, native) : {};
    this.nativeNames = new Set(Object.keys(overrides));
    const exports = native ? (Object.assign(Object.create(null), wasm, overrides) as typeof wasm) : wasm;
    this.exports = exports;
    const zeroBytes = exports.zeroBytes;
    this.heap.zeroFill = (ptr, bytes) => {
      zeroBytes(ptr, bytes);
    };
    this.pool = new ThreadPool(
      { kind, module },
      this.heap.memory,
      this.exports,
      defaultThreads(),
      native ? { path: native.path, level: native.level, names: this.nativeNames } : null,
    );
    const floats = exports.SCRATCH_FLOATS.value as number;
    this.scratchBytes = floats * 4 + 64;
  }

  /** Whether kernel `name` runs natively (its callers may then split work more coarsely: it runs faster). */
  runsNative(name: KernelName): boolean {
    return this.nativeNames.has(name);
  }

  private readonly nativeNames: ReadonlySet<string>;

  get threads(): number {
    return this.pool.size;
  }

  /** Thread t's private scratch block (packing buffers), allocated on first use and kept. */
  scratchFor(t: number): number {
    while (this.scratch.length <= t) this.scratch.push(this.heap.malloc(this.scratchBytes, false));
    return this.scratch[t]!;
  }
}

/** The native kernels that have a WebAssembly twin of the same name (the only ones callers reach). */
function nativeOverrides(wasm: KernelExports, native: NativeKernels): Partial<KernelExports> {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(native.kernels)) {
    if (typeof (wasm as unknown as Record<string, unknown>)[name] === 'function') out[name] = fn;
  }
  return out as Partial<KernelExports>;
}

function defaultThreads(): number {
  // a web page has no worker_threads (and may not block in Atomics.wait on its main thread): one thread
  if (!nodeBuiltin('node:worker_threads')) return 1;
  const env = typeof process !== 'undefined' ? Number(process.env.MOX_NUM_THREADS) : NaN;
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

let runtime: WasmRuntime | null | undefined;

/** Whether the runtime was already created (or found impossible): kernels handed in later would not be used. */
export function wasmRuntimeStarted(): boolean {
  return runtime !== undefined;
}

/** The runtime, created on first use; null where WASM SIMD or shared memory is unavailable. */
export function wasmRuntime(): WasmRuntime | null {
  if (runtime === undefined) {
    const k = compileKernels();
    runtime = k ? new WasmRuntime(k.kind, k.module) : null;
  }
  return runtime;
}
