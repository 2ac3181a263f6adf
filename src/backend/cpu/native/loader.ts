// Finds and opens the native CPU kernels (native/*.c, built by scripts/build-native.mjs into
// dist/native/mox-native.node at install): C at the machine's full vector width, through Node-API.
// They stand in for the WebAssembly kernels of the same name (same arguments, same heap addresses),
// so they run on the same shared memory and the same thread pool; the WebAssembly module still runs
// every kernel the native module lacks, and is the whole story in browsers.
//
// MOX_CPU_KERNELS picks the tier: unset or `native`, the widest level this CPU runs;
// `native-avx512`, `native-avx2`, `native-base` (x86-64) or `native-neon` (arm64), that level;
// `relaxed-simd`, `simd`, WebAssembly only; `typescript`, the reference kernels only.

import { nodeBuiltin } from '../wasm/node-builtins.js';

/** The native module as Node-API hands it over: kernels by name, and the three set-up functions. */
export interface NativeModule {
  levels(): string[];
  init(level: string): string;
  setHeap(bytes: Uint8Array): number;
  arity(): Record<string, number>;
  [kernel: string]: unknown;
}

export interface NativeKernels {
  /** The level that runs: avx512, avx2, base or neon. */
  level: string;
  /** Every level this CPU runs, narrowest first. */
  levels: string[];
  /** The module file, for worker threads to open too. */
  path: string;
  /** The kernels, by the name of the WebAssembly kernel each replaces. */
  kernels: Record<string, (...args: number[]) => void>;
}

export interface NativeStatus {
  native: NativeKernels | null;
  /** Why the native kernels do not run (null when they do). */
  reason: string | null;
}

const MODULE_PATH = '../../../../native/mox-native.node';
const STATUS_PATH = '../../../../native/build.json';

/** Opens a native module file (createRequire: Node's only loader for .node files). */
export function openNative(file: string): NativeModule {
  const mod = nodeBuiltin('node:module');
  if (!mod) throw new Error('no Node.js module loader');
  return mod.createRequire(import.meta.url)(file) as NativeModule;
}

function buildReason(): string {
  const fs = nodeBuiltin('node:fs');
  try {
    const status = JSON.parse(fs!.readFileSync(new URL(STATUS_PATH, import.meta.url), 'utf8')) as { ok: boolean; reason?: string };
    if (!status.ok && status.reason) return `not built: ${status.reason}`;
  } catch {
    /* no status file */
  }
  return 'not built (run `node scripts/build-native.mjs`)';
}

/**
 * Opens the native kernels, set to the requested level, over `memory` (the CPU heap). Never throws:
 * where they cannot run, it says why and the WebAssembly kernels run everything.
 */
export function loadNative(memory: WebAssembly.Memory, requested: string | undefined): NativeStatus {
  if (requested !== undefined && requested !== '' && !requested.startsWith('native')) {
    return { native: null, reason: `MOX_CPU_KERNELS=${requested}` };
  }
  const fs = nodeBuiltin('node:fs');
  if (!fs || !nodeBuiltin('node:module')) return { native: null, reason: 'not in Node.js' };
  const url = new URL(MODULE_PATH, import.meta.url);
  if (!fs.existsSync(url)) return { native: null, reason: buildReason() };
  const path = decodeURIComponent(url.pathname); // a file: URL to a POSIX path (spaces arrive as %20)
  let m: NativeModule;
  try {
    m = openNative(path);
  } catch (e) {
    return { native: null, reason: `could not be opened: ${(e as Error).message.split('\n')[0]}` };
  }
  const want = requested && requested !== 'native' ? requested.slice('native-'.length) : 'best';
  let level: string;
  try {
    level = m.init(want);
    m.setHeap(new Uint8Array(memory.buffer));
  } catch (e) {
    const reason = (e as Error).message.replace(/^mox native: /, '');
    if (requested) process.emitWarning(`mox: MOX_CPU_KERNELS=${requested}: ${reason}; running the WebAssembly kernels`);
    return { native: null, reason };
  }
  const kernels: Record<string, (...args: number[]) => void> = {};
  for (const name of Object.keys(m)) kernels[name] = m[name] as (...args: number[]) => void;
  return { native: { level, levels: m.levels(), path, kernels }, reason: null };
}
