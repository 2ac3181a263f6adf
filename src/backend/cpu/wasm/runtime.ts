// The live WASM runtime of the CPU backend: the heap every CPU tensor lives in, the main thread's
// instance of the kernel module, the thread pool, and per-thread scratch space.

import { availableParallelism } from './node-builtins.js';
import { WasmHeap } from './heap.js';
import { compileKernels, type KernelKind } from './loader.js';
import { kernelExports, type KernelExports } from './kernels.js';
import { ThreadPool } from './threads.js';

export class WasmRuntime {
  readonly heap: WasmHeap;
  readonly exports: KernelExports;
  readonly pool: ThreadPool;
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
    const exports = kernelExports(instance);
    this.exports = exports;
    const zeroBytes = exports.zeroBytes;
    this.heap.zeroFill = (ptr, bytes) => {
      zeroBytes(ptr, bytes);
    };
    this.pool = new ThreadPool({ kind, module }, this.heap.memory, this.exports, defaultThreads());
    const floats = exports.SCRATCH_FLOATS.value as number;
    this.scratchBytes = floats * 4 + 64;
  }

  get threads(): number {
    return this.pool.size;
  }

  /** Thread t's private scratch block (packing buffers), allocated on first use and kept. */
  scratchFor(t: number): number {
    while (this.scratch.length <= t) this.scratch.push(this.heap.malloc(this.scratchBytes, false));
    return this.scratch[t]!;
  }
}

function defaultThreads(): number {
  const env = typeof process !== 'undefined' ? Number(process.env.MOX_NUM_THREADS) : NaN;
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

let runtime: WasmRuntime | null | undefined;

/** The runtime, created on first use; null where WASM SIMD or shared memory is unavailable. */
export function wasmRuntime(): WasmRuntime | null {
  if (runtime === undefined) {
    const k = compileKernels();
    runtime = k ? new WasmRuntime(k.kind, k.module) : null;
  }
  return runtime;
}
