// Memory without ceremony. Ordinary code never calls dispose(): `scope(fn)` frees every tensor made
// inside fn that does not escape (returned, kept, or needed by the autograd graph of something that
// escapes), and a FinalizationRegistry returns the storage of tensors nobody disposed once they are
// collected. dispose() stays available for code that wants memory back at a precise point.

import type { Storage } from './storage.js';
import { memoryStats } from './storage.js';

/**
 * What memory management reads and writes of a tensor. The Tensor class satisfies it; naming it here
 * rather than importing the class keeps this file below tensor.ts, whose constructor calls it.
 */
export interface Tracked {
  readonly storage: Storage;
  _scope: Set<Tracked> | null;
  readonly _node: { readonly backward: unknown; readonly inputs: readonly (Tracked | null)[]; readonly saved: readonly Tracked[] } | null;
  dispose(): void;
}

type ScopeSet = Set<Tracked>;
const scopes: ScopeSet[] = [];

const registry = new FinalizationRegistry<Storage>((storage) => {
  memoryStats.tensors--;
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

/** Called by the Tensor constructor: counts, tracks in the innermost scope or arms the backstop. */
export function trackTensor(t: Tracked, _storage: Storage): void {
  memoryStats.tensors++;
  const s = scopes[scopes.length - 1];
  if (s) {
    s.add(t);
    t._scope = s;
  } else {
    arm(t);
  }
}

/** Called by Tensor.dispose(). */
export function untrackTensor(t: Tracked): void {
  if (registered.delete(t)) registry.unregister(t);
  memoryStats.tensors--;
  t._scope?.delete(t);
  t._scope = null;
}

/** Keeps a tensor alive past every enclosing scope (e.g. parameters, optimizer state, gradients). */
export function keep<T extends Tracked>(t: T): T {
  if (t._scope) {
    t._scope.delete(t);
    t._scope = null;
    arm(t);
  }
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
      else arm(t);
    }
  }
  return result;
}

function disposeAll(s: ScopeSet, keepSet: Set<Tracked>): void {
  for (const t of [...s]) if (!keepSet.has(t)) t.dispose();
}

/** Live tensors, storages and bytes: what `mox.memory()` reports. */
export function memory(): { numTensors: number; numStorages: number; numBytes: number } {
  return { numTensors: memoryStats.tensors, numStorages: memoryStats.storages, numBytes: memoryStats.bytes };
}
