// Memory without ceremony. Ordinary code never calls dispose(): `scope(fn)` frees every tensor made
// inside fn that does not escape (returned, kept, or needed by the autograd graph of something that
// escapes); outside every scope, "use it or lose it" generations free the temporaries of a training
// loop at backward() boundaries (below, and docs/memory.md); a FinalizationRegistry returns the
// storage of tensors nobody disposed once they are collected. dispose() stays available for code that
// wants memory back at a precise point.

import { DisposedError, ValueError, fmtShape } from '../errors.js';
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
// synchronous job too. So freeing is deterministic: every completed backward() called outside every
// scope ends a generation.
// A tensor made outside every scope after the first backward() belongs to the generation it was made
// in; every use by an op (Tensor.view_(), which kernels and reads go through) stamps it with the
// current generation. When generation g ends, tensors last used in generation g - 2 or earlier (with
// the default window of 3: unused in the two generations before the next) are
// disposed (tensors never used at all are left alone until their first use: DORMANT), unless pinned (keep(), parameters, .grad, optimizer state, module buffers, what library
// objects store). Tensors made before the first backward() (data, test sets, the model) are never
// managed. A list per generation means a boundary visits only the tensors of the generation before
// the one that ended; a survivor moves to the list of its last use (lazily, when its list comes up).

/** Not freed automatically: in a scope, pinned, made before the first backward(), or switched off. */
export const UNMANAGED = 0;
/** In a generation list: freed at a boundary when unused for two generations. */
export const MANAGED = 1;
/** Disposed by a boundary: a later use throws a DisposedError that says so. */
export const AUTO_FREED = 2;
/**
 * Made and never used for two generations: left out of the lists (so the collector may take it) until
 * its first use lists it again. Freeing it would guess wrong: a tensor made ahead of time (a mask, a
 * test input, a snapshot) is stored for later, while a step's temporaries are all used by some op.
 */
export const DORMANT = 3;
/** `_lastUse` of a managed tensor no op has used yet. */
export const NEVER = -1;

/**
 * The state Tensor.view_() reads: the current generation (completed backward() calls while on), and
 * the window: a tensor is freed once `window - 1` generations have ended without a use. 3, not 2, so a
 * loop with two backward() calls per step (a GAN's discriminator and generator) keeps a tensor it uses
 * once per step (the discriminator's labels); it costs one more step of temporaries.
 */
export const autoFree = { enabled: true, generation: 0, freed: 0, window: 3 };

/** The managed tensors of each live generation, by the generation they were last listed in. */
const lists = new Map<number, Tracked[]>();
/** lists' entry for the current generation. */
let current: Tracked[] = [];
lists.set(0, current);

function listOf(gen: number): Tracked[] {
  let l = lists.get(gen);
  if (!l) lists.set(gen, (l = []));
  return l;
}

function manage(t: Tracked): void {
  t._auto = MANAGED;
  t._lastUse = NEVER;
  current.push(t);
}

/** The first use of a dormant tensor: it is managed again, from the current generation. */
export function wake(t: Tracked): void {
  if (!autoFree.enabled) {
    t._auto = UNMANAGED;
    return;
  }
  t._auto = MANAGED;
  current.push(t);
}

/** Marks a use that reads no elements (backward() of a root, a gradient reaching a leaf). */
export function markUsed(t: Tracked): void {
  t._lastUse = autoFree.generation;
  if (t._auto === DORMANT) wake(t);
}

/**
 * Ends a generation: called when a backward() completes. Disposes the managed tensors listed in the
 * oldest generation of the window and not used since, and moves the others to their last use's list.
 */
export function endGeneration(): void {
  // A backward() inside a scope (fit's steps, gradcheck, a scoped loop) is no boundary: what it makes
  // is the scope's to free, and the tensors made outside around it are not a loop's temporaries.
  if (!autoFree.enabled || scopes.length > 0) return;
  autoFree.generation++;
  current = listOf(autoFree.generation);
  const k = autoFree.generation - autoFree.window; // the oldest generation still listed
  const old = lists.get(k);
  if (!old) return;
  lists.delete(k);
  for (const t of old) {
    if (t._auto !== MANAGED) continue; // disposed, kept or pinned since
    if (t._lastUse > k) {
      listOf(t._lastUse).push(t);
    } else if (t._lastUse === NEVER) {
      t._auto = DORMANT;
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
export function setAutoFree(on: boolean, opts: { window?: number } = {}): void {
  if (opts.window !== undefined) {
    if (!Number.isInteger(opts.window) || opts.window < 2) {
      throw new ValueError('setAutoFree', `window must be an integer >= 2 (generations), got ${opts.window}`);
    }
    autoFree.window = opts.window;
  }
  if (!on) {
    for (const list of lists.values()) for (const t of list) if (t._auto === MANAGED) t._auto = UNMANAGED;
    // dormant tensors are in no list: they wake (view_()) only while this is on
    lists.clear();
    current = listOf(autoFree.generation);
  }
  autoFree.enabled = on;
}

/** Whether tensors outside scopes are freed at backward() boundaries (see setAutoFree). */
export function autoFreeEnabled(): boolean {
  return autoFree.enabled;
}

/** What automatic freeing has done: generations ended, tensors freed, tensors it manages now. */
export function autoFreeStats(): {
  /** Whether automatic freeing is on (setAutoFree). */
  enabled: boolean;
  /** backward() calls completed, each ending a generation. */
  generation: number;
  /** Tensors freed automatically so far. */
  freed: number;
  /** Tensors it manages now. */
  managed: number;
} {
  let managed = 0;
  const seen = new Set<Tracked>();
  for (const list of lists.values()) for (const t of list) if (t._auto === MANAGED) seen.add(t);
  managed = seen.size;
  return { enabled: autoFree.enabled, generation: autoFree.generation, freed: autoFree.freed, managed };
}

/** The error for a use after dispose(), saying when automatic freeing was the one that disposed it. */
export function disposedError(t: Tracked): DisposedError {
  const what = `tensor ${fmtShape(t.shape)} ${t.dtype}`;
  if (t._auto !== AUTO_FREED) return new DisposedError('tensor', `${what} was used after dispose()`);
  return new DisposedError(
    'tensor',
    `${what} was freed automatically when backward() #${t._lastUse + autoFree.window} completed: it was made outside mox.scope and ` +
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
  if (t._auto === MANAGED || t._auto === DORMANT) t._auto = UNMANAGED;
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
  if (t._auto === MANAGED || t._auto === DORMANT) t._auto = UNMANAGED;
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
  /** Live tensors on the device. */
  numTensors: number;
  /** Live storages (a storage serves a tensor and all its views). */
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
  /** Live tensors, all devices. */
  numTensors: number;
  /** Live storages, all devices. */
  numStorages: number;
  /** Bytes of the live storages, all devices. */
  numBytes: number;
  /** The same per device, for devices holding memory. */
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
