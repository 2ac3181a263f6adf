// Finds and compiles the best kernel module this engine runs: relaxed SIMD, then plain SIMD. Returns
// null where WebAssembly SIMD or SharedArrayBuffer is missing; the backend then uses its TypeScript
// kernels. MOX_CPU_KERNELS=typescript|simd|relaxed-simd forces a choice (for tests and benchmarks).

import { nodeBuiltin } from './node-builtins.js';

/**
 * Which WebAssembly build of the kernels: with relaxed SIMD (fused multiply-add) or plain SIMD.
 * @inline
 */
export type KernelKind = 'relaxed-simd' | 'simd';

export interface KernelModule {
  kind: KernelKind;
  module: WebAssembly.Module;
}

let relaxedFlagSet = false;
/** A module compiled elsewhere and handed in (a web page compiles it asynchronously: load-async.ts). */
let provided: KernelModule | null = null;

/** Makes compileKernels return `k`: for a runtime that cannot read the .wasm file synchronously (a web page). */
export function provideKernels(k: KernelModule): void {
  provided = k;
}

function load(file: string): Uint8Array | null {
  const fs = nodeBuiltin('node:fs');
  if (!fs) return null; // a browser: no synchronous file access, so the TypeScript kernels run
  try {
    return fs.readFileSync(new URL(`../../../../wasm/${file}`, import.meta.url));
  } catch {
    return null;
  }
}

export function requestedKernels(): string | undefined {
  return typeof process !== 'undefined' ? process.env.MOX_CPU_KERNELS : undefined;
}

/**
 * Compiles with the optimizing tier straight away. V8 would otherwise start on its baseline compiler
 * and tier up per function when hot, and each new worker thread's first kernels would run on the
 * baseline code, several times slower. Lazy compilation is turned off too: with it (Node's default)
 * each function is compiled at its first call, after the flags below are restored, so it would start
 * on the baseline compiler anyway (--trace-wasm-compilation-times showed exactly that). The module is
 * small, so this costs a few tens of milliseconds; the flags are restored for everyone else's modules.
 */
function compileOptimized(bytes: Uint8Array): WebAssembly.Module {
  const v8 = nodeBuiltin('node:v8');
  if (!v8) return new WebAssembly.Module(bytes);
  try {
    v8.setFlagsFromString('--no-liftoff');
    v8.setFlagsFromString('--no-wasm-lazy-compilation');
    return new WebAssembly.Module(bytes);
  } finally {
    v8.setFlagsFromString('--wasm-lazy-compilation');
    v8.setFlagsFromString('--liftoff');
  }
}

export function compileKernels(): KernelModule | null {
  const want = requestedKernels();
  if (want === 'typescript') return null;
  if (typeof SharedArrayBuffer === 'undefined' || typeof WebAssembly === 'undefined') return null;
  if (provided) return provided;
  if (want !== 'simd') {
    // Node 20's V8 has relaxed SIMD behind a flag; it must be set before the module is compiled.
    if (!relaxedFlagSet) {
      try {
        nodeBuiltin('node:v8')?.setFlagsFromString('--experimental-wasm-relaxed-simd');
      } catch {
        /* not V8 */
      }
      relaxedFlagSet = true;
    }
    const bytes = load('mox-relaxed.wasm');
    if (bytes && WebAssembly.validate(bytes)) return { kind: 'relaxed-simd', module: compileOptimized(bytes) };
  }
  const bytes = load('mox-simd.wasm');
  if (bytes && WebAssembly.validate(bytes)) return { kind: 'simd', module: compileOptimized(bytes) };
  return null;
}
