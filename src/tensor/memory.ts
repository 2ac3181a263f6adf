// Memory without ceremony. Ordinary code never calls dispose(): `scope(fn)` frees every tensor made
// inside fn that does not escape (returned, kept, or needed by the autograd graph of something that
// escapes); outside every scope, "use it or lose it" generations free the temporaries of a training
// loop at backward() boundaries (below, and docs/memory.md); a FinalizationRegistry returns the
// storage of tensors nobody disposed once they are collected. dispose() stays available for code that
// wants memory back at a precise point.

import { DisposedError, fmtShape } from '../errors.js';
import type { Storage } from './storage.js';
import { deviceStats, memoryStats } from './storage.js';

/**
 * What memory management reads and writes of a tensor. The Tensor class satisfies it; naming it here
 * rather than importing the class keeps this file below tensor.ts, whose constructor calls it.
 */
export interface Tracked {
  readonly storage: Storage;
  _scope: Set<Tracked> | null;
  readonly _node: { readonly backward: unknown; readonly inputs: readonly (Tracked | null)[]; readonly saved: readonly Tracked[] } | null;
  /** Automatic freeing: UNMANAGED, MANAGED (in a generation list) or AUTO_FREED. */
  _auto: number;
  /** The generation of the last op that used this tensor (written by Tensor.view_()). */
  _lastUse: number;
  readonly shape: readonly number[];
  readonly dtype: string;
  dispose(): void;
}

type ScopeSet = Set<Tracked>;
const scopes: ScopeSet[] = [];

const registry = new FinalizationRegistry<Storage>((storage) => {
  memoryStats.tensors--;
  storage.stats.tensors--;
  storage.release();
});

// A tensor inside a scope is held by the scope's set until the scope disposes it, so it cannot be
// collected first: only tensors outside every scope need the (not free) finalization backstop.
const registered = new WeakSet<Tracked>();

function arm(t: Tracked): void {
  if (!registered.has(t)) {
    registered.add(t);
    registry.register(t, t.storage, t);
  }
}

// ---- "use it or lose it": generations at backward() boundaries ----
//
// In a loop written without scope or dispose(), V8 feels no pressure from the WebAssembly heap or GPU
// buffers behind tensors, so neither the collector nor the FinalizationRegistry (whose callbacks run
// between tasks) frees anything while the loop runs; a WeakRef's target stays alive to the end of the
// synchronous job too. So freeing is deterministic: every completed backward() ends a generation.
// A tensor made outside every scope after the first backward() belongs to the generation it was made
// in; every use by an op (Tensor.view_(), which kernels and reads go through) stamps it with the
// current generation. When generation g ends, tensors last used in generation g - 1 or earlier are
// disposed, unless pinned (keep(), parameters, .grad, optimizer state, module buffers, what library
// objects store). Tensors made before the first backward() (data, test sets, the model) are never
// managed. A list per generation means a boundary visits only the tensors of the generation before
// the one that ended; a survivor moves to the list of its last use (lazily, when its list comes up).

/** Not freed automatically: in a scope, pinned, made before the first backward(), or switched off. */
export const UNMANAGED = 0;
/** In a generation list: freed at a boundary when unused for two generations. */
export const MANAGED = 1;
/** Disposed by a boundary: a later use throws a DisposedError that says so. */
export const AUTO_FREED = 2;

/** The state Tensor.view_() reads: the current generation (completed backward() calls while on). */
export const autoFree = { enabled: true, generation: 0, freed: 0 };

/** Tensors managed in the generation that ended last, and in the current one. */
let previous: Tracked[] = [];
let current: Tracked[] = [];

function manage(t: Tracked): void {
  t._auto = MANAGED;
  t._lastUse = autoFree.generation;
  current.push(t);
}

/** Marks a use that reads no elements (backward() of a root, a gradient reaching a leaf). */
export function markUsed(t: Tracked): void {
  t._lastUse = autoFree.generation;
}

/**
 * Ends a generation: called when a backward() completes. Disposes the managed tensors not used in
 * the generation that just ended nor in this one, and moves the others on.
 */
export function endGeneration(): void {
  if (!autoFree.enabled) return;
  const ended = autoFree.generation++;
  const old = previous;
  previous = current;
  current = [];
  for (const t of old) {
    if (t._auto !== MANAGED) continue; // disposed, kept or pinned since
    if (t._lastUse >= ended) {
      previous.push(t);
    } else {
      t.dispose();
      t._auto = AUTO_FREED;
      autoFree.freed++;
    }
  }
}

/**
 * Turns automatic freeing at backward() boundaries on or off (on by default). Turning it off leaves
 * every tensor it manages alive (as ordinary unscoped tensors); turning it on again manages only
 * tensors made from then on.
 */
export function setAutoFree(on: boolean): void {
  if (!on) {
    for (const list of [previous, current]) for (const t of list) if (t._auto === MANAGED) t._auto = UNMANAGED;
    previous = [];
    current = [];
  }
  autoFree.enabled = on;
}

/** Whether tensors outside scopes are freed at backward() boundaries (see setAutoFree). */
export function autoFreeEnabled(): boolean {
  return autoFree.enabled;
}

/** What automatic freeing has done: generations ended, tensors freed, tensors it manages now. */
export function autoFreeStats(): { enabled: boolean; generation: number; freed: number; managed: number } {
  let managed = 0;
  for (const list of [previous, current]) for (const t of list) if (t._auto === MANAGED) managed++;
  return { enabled: autoFree.enabled, generation: autoFree.generation, freed: autoFree.freed, managed };
}

/** The error for a use after dispose(), saying when automatic freeing was the one that disposed it. */
export function disposedError(t: Tracked): DisposedError {
  const what = `tensor ${fmtShape(t.shape)} ${t.dtype}`;
  if (t._auto !== AUTO_FREED) return new DisposedError('tensor', `${what} was used after dispose()`);
  return new DisposedError(
    'tensor',
    `${what} was freed automatically when backward() #${t._lastUse + 2} completed: it was made outside mox.scope and ` +
      `no op had used it since backward() #${t._lastUse} ("use it or lose it" frees a training loop's temporaries). ` +
      'To store a tensor for later, mox.keep(t) it; mox.setAutoFree(false) turns automatic freeing off (docs/memory.md)',
  );
}

/** Called by the Tensor constructor: counts, tracks in the innermost scope or arms the backstop. */
export function trackTensor(t: Tracked, storage: Storage): void {
  memoryStats.tensors++;
  storage.stats.tensors++;
  const s = scopes[scopes.length - 1];
  if (s) {
    s.add(t);
    t._scope = s;
  } else {
    arm(t);
    if (autoFree.generation > 0 && autoFree.enabled) manage(t);
  }
}

/** Called by Tensor.dispose(). */
export function untrackTensor(t: Tracked): void {
  if (registered.delete(t)) registry.unregister(t);
  memoryStats.tensors--;
  t.storage.stats.tensors--;
  t._scope?.delete(t);
  t._scope = null;
  t._auto = UNMANAGED;
}

/**
 * Exempts a tensor from automatic freeing without moving it out of its scope: what library objects
 * (optimizers, datasets) call on the tensors they hold.
 */
export function pin<T extends Tracked>(t: T): T {
  if (t._auto === MANAGED) t._auto = UNMANAGED;
  return t;
}

/**
 * Keeps a tensor alive past every enclosing scope and exempts it from automatic freeing (e.g.
 * parameters, optimizer state, gradients, a tensor stored to read many steps later).
 */
export function keep<T extends Tracked>(t: T): T {
  if (t._scope) {
    t._scope.delete(t);
    t._scope = null;
    arm(t);
  }
  if (t._auto === MANAGED) t._auto = UNMANAGED;
  return t;
}

/** Collects the tensors inside a returned value (tensor, array, plain object, Map). */
function collectTensors(value: unknown, out: Tracked[], seen: Set<unknown>, TensorClass: AnyClass): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof TensorClass) {
    out.push(value as Tracked);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectTensors(v, out, seen, TensorClass);
  else if (value instanceof Map) for (const v of value.values()) collectTensors(v, out, seen, TensorClass);
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, seen, TensorClass);
  }
}

/** Any class, for `instanceof` (the Tensor class, registered from above this file). */
// biome-ignore lint/suspicious/noExplicitAny: a constructor of any signature, used only with instanceof
type AnyClass = abstract new (...args: any[]) => unknown;

let tensorClass: AnyClass = Object;
export function registerTensorClass(cls: AnyClass): void {
  tensorClass = cls;
}

/**
 * Runs fn and disposes every tensor created inside it that does not escape. Escaping: tensors in the
 * return value, tensors passed to keep(), and tensors the autograd graph of an escaping tensor still
 * needs for backward. Escaping tensors move to the enclosing scope, if any. fn must be synchronous:
 * an async fn would let unrelated work create tensors inside the scope.
 */
export function scope<T>(fn: () => T): T {
  const s: ScopeSet = new Set();
  scopes.push(s);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    disposeAll(s, new Set());
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    disposeAll(s, new Set());
    throw new TypeError('scope: fn returned a Promise; scope() takes a synchronous function');
  }
  const escaping: Tracked[] = [];
  collectTensors(result, escaping, new Set(), tensorClass);
  const keepSet = new Set<Tracked>();
  // Walk the graph of each escaping tensor: what its backward needs must live on. A graph that
  // backward() already freed (no retainGraph) needs nothing: a loss returned after backward keeps
  // only itself, not the whole forward pass.
  const stack = [...escaping];
  while (stack.length) {
    const t = stack.pop()!;
    if (keepSet.has(t)) continue;
    keepSet.add(t);
    const node = t._node;
    if (node?.backward) {
      for (const i of node.inputs) if (i) stack.push(i);
      for (const i of node.saved) stack.push(i);
    }
  }
  disposeAll(s, keepSet);
  const parent = scopes[scopes.length - 1];
  for (const t of keepSet) {
    if (t._scope === s) {
      t._scope = parent ?? null;
      if (parent) parent.add(t);
      else {
        arm(t);
        if (autoFree.generation > 0 && autoFree.enabled) manage(t);
      }
    }
  }
  return result;
}

function disposeAll(s: ScopeSet, keepSet: Set<Tracked>): void {
  for (const t of [...s]) if (!keepSet.has(t)) t.dispose();
}

/** One device's share of `mox.memory()`. */
export interface DeviceMemory {
  numTensors: number;
  numStorages: number;
  /** Bytes of the live storages (elements times element size). */
  numBytes: number;
  /** Bytes the device's allocator has handed out and not taken back (size classes included), where it says. */
  heapBytes?: number;
  /** Bytes it keeps pooled for reuse (freed by mox.emptyCache()), where it says. */
  pooledBytes?: number;
}

/**
 * Live tensors, storages and bytes, in all and per device (devices holding memory): what
 * `mox.memory()` reports. With
 * `{ heap: true }` each device also reports its allocator's bytes in use and pooled (these move with
 * allocator scratch and pooling, so they are left out of the default, which tests compare exactly).
 */
export function memory(opts: { heap?: boolean } = {}): {
  numTensors: number;
  numStorages: number;
  numBytes: number;
  devices: Record<string, DeviceMemory>;
} {
  const devices: Record<string, DeviceMemory> = {};
  for (const [name, { stats, backend }] of deviceStats) {
    // a device holding nothing is left out (unless the heap is asked for), so that memory() after
    // freeing everything equals memory() before the first tensor
    if (!opts.heap && stats.tensors === 0 && stats.storages === 0) continue;
    devices[name] = { numTensors: stats.tensors, numStorages: stats.storages, numBytes: stats.bytes };
    if (opts.heap) Object.assign(devices[name], backend.memoryInfo?.());
  }
  return { numTensors: memoryStats.tensors, numStorages: memoryStats.storages, numBytes: memoryStats.bytes, devices };
}
