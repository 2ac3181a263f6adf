// Node's built-in modules, reached at run time through process.getBuiltinModule (Node >= 20.16) rather
// than imported: the CPU backend's fast path needs them (the .wasm file, V8 flags, worker threads),
// but a browser has none of them and its bundlers reject `node:` imports. Where this returns null the
// backend runs its TypeScript kernels on one thread.

import type * as ChildProcess from 'node:child_process';
import type * as Fs from 'node:fs';
import type * as NodeModule from 'node:module';
import type * as Net from 'node:net';
import type * as Os from 'node:os';
import type * as Path from 'node:path';
import type * as Url from 'node:url';
import type * as V8 from 'node:v8';
import type * as WorkerThreads from 'node:worker_threads';

interface Builtins {
  'node:child_process': typeof ChildProcess;
  'node:fs': typeof Fs;
  'node:module': typeof NodeModule;
  'node:net': typeof Net;
  'node:os': typeof Os;
  'node:path': typeof Path;
  'node:url': typeof Url;
  'node:v8': typeof V8;
  'node:worker_threads': typeof WorkerThreads;
}

/** A Node built-in module by name ('node:fs', ...), or null where there is none (a browser). */
export function nodeBuiltin<K extends keyof Builtins>(name: K): Builtins[K] | null {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (p?.getBuiltinModule?.(name) as Builtins[K] | undefined) ?? null;
}

/** os.availableParallelism() in Node, navigator.hardwareConcurrency elsewhere, else 1. */
export function availableParallelism(): number {
  const os = nodeBuiltin('node:os');
  if (os) return os.availableParallelism();
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 1;
}
