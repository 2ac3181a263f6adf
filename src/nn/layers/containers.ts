// Containers: Sequential chains layers; ModuleList and ModuleDict hold submodules for a custom forward.
// Children are registered under '0', '1', ... (or their names or keys), so state-dict keys match
// PyTorch's ('0.weight', 'transformer.wte.weight').

import { IndexError, ValueError } from '../../errors.js';
import { Module } from '../module.js';

function checkModule(op: string, m: unknown, where: string): Module {
  if (!(m instanceof Module)) throw new ValueError(op, `${where} is not a Module (got ${m === null ? 'null' : typeof m})`);
  return m;
}

/**
 * Layers applied in order: `new Sequential(a, b, c)`, `new Sequential([a, b, c])`, or with names,
 * `new Sequential({ conv: a, act: b })`. forward(x) = c(b(a(x))).
 */
export class Sequential extends Module {
  // a private field, so the base class's property scan does not list the layers a second time
  readonly #layers: Module[] = [];
  readonly #names = new Set<string>();

  /** A chain of layers: given as arguments, as one array, or as an object of named layers. */
  constructor(...layers: Module[] | [readonly Module[]] | [Record<string, Module>]) {
    super();
    const first = layers[0];
    if (layers.length === 1 && Array.isArray(first)) for (const m of first) this.add(m);
    else if (layers.length === 1 && first && !(first instanceof Module) && typeof first === 'object') {
      for (const [k, m] of Object.entries(first as Record<string, Module>)) this.add(m, k);
    } else for (const m of layers as Module[]) this.add(m);
  }

  /** Appends a layer (named by its position unless a name is given); returns this, for chaining. */
  add(layer: Module, name = String(this.#layers.length)): this {
    checkModule('Sequential', layer, `layer ${name}`);
    if (this.#names.has(name)) throw new ValueError('Sequential', `a layer named '${name}' already exists`);
    if (!name || name.includes('.')) throw new ValueError('Sequential', `layer names must be non-empty and contain no '.', got '${name}'`);
    this.#names.add(name);
    this.#layers.push(layer);
    this.registerModule(name, layer);
    return this;
  }

  /** The number of layers. */
  get length(): number {
    return this.#layers.length;
  }

  /** setSubmodule's hook: the layer named `key` is replaced in the chain as well. */
  protected override replaceChild(key: string, module: Module): boolean {
    const i = [...this.#names].indexOf(key);
    if (i < 0) return false;
    checkModule('Sequential', module, `layer ${key}`);
    this.#layers[i] = module;
    return super.replaceChild(key, module);
  }

  /** The layer at position i (negative counts from the end). */
  at(i: number): Module {
    const j = i < 0 ? i + this.#layers.length : i;
    const m = this.#layers[j];
    if (!m) throw new IndexError('Sequential', `index ${i} is out of range for ${this.#layers.length} layers`);
    return m;
  }

  /** Iterates over the layers in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.#layers[Symbol.iterator]();
  }

  /** Runs the layers in order, each on the previous one's output. */
  // biome-ignore lint/suspicious/noExplicitAny: Module.forward's signature; a Sequential passes whatever its layers take
  forward(...inputs: any[]): any {
    if (!this.#layers.length) return inputs[0];
    let x = this.#layers[0]!.forward(...inputs);
    for (let i = 1; i < this.#layers.length; i++) x = this.#layers[i]!.forward(x);
    return x;
  }
}

/** A list of submodules registered as '0', '1', ...; forward is the owner's to write. */
export class ModuleList extends Module {
  readonly #items: Module[] = [];

  /** A list holding the given modules. */
  constructor(modules: readonly Module[] = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Adds a module at the end; returns the list. */
  append(m: Module): this {
    checkModule('ModuleList', m, `item ${this.#items.length}`);
    this.registerModule(String(this.#items.length), m);
    this.#items.push(m);
    return this;
  }

  /** The number of modules. */
  get length(): number {
    return this.#items.length;
  }

  /** setSubmodule's hook: item `key` ('0', '1', ...) is replaced in the list as well. */
  protected override replaceChild(key: string, module: Module): boolean {
    const i = Number(key);
    if (!/^\d+$/.test(key) || i >= this.#items.length) return false;
    checkModule('ModuleList', module, `item ${key}`);
    this.#items[i] = module;
    return super.replaceChild(key, module);
  }

  /** The module at position i (negative counts from the end). */
  at(i: number): Module {
    const m = this.#items[i < 0 ? i + this.#items.length : i];
    if (!m) throw new IndexError('ModuleList', `index ${i} is out of range for ${this.#items.length} modules`);
    return m;
  }

  /** Iterates over the modules in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.#items[Symbol.iterator]();
  }

  /** Throws: a ModuleList holds modules for the owner's forward, it has none of its own. */
  forward(): never {
    throw new ValueError('ModuleList', "a ModuleList has no forward; iterate over it in the owner's forward");
  }
}

/**
 * Submodules by name, as torch.nn.ModuleDict: each is registered under its key, so state-dict keys
 * read 'owner.key.weight'. Keys keep their insertion order (set() on an existing key replaces the
 * module in place, as a Python dict does). The API is a Map's; unlike PyTorch's, where iterating
 * yields the keys, iterating yields [key, module] entries, as a Map does.
 */
export class ModuleDict<M extends Module = Module> extends Module {
  // a private field, so the base class's property scan does not list the modules a second time
  readonly #items = new Map<string, M>();

  /** A dict holding the given modules, from an object or [key, module] pairs. */
  constructor(modules: Record<string, M> | Iterable<readonly [string, M]> = {}) {
    super();
    this.update(modules);
  }

  /** Adds or replaces the module under `key`; returns this, for chaining. */
  set(key: string, m: M): this {
    if (typeof key !== 'string' || !key || key.includes('.')) {
      throw new ValueError('ModuleDict', `keys must be non-empty strings with no '.', got '${String(key)}'`);
    }
    checkModule('ModuleDict', m, `the value for '${key}'`);
    this.registerModule(key, m);
    this.#items.set(key, m);
    return this;
  }

  /** set() for each pair of an object or an iterable of [key, module], as torch's update(). */
  update(modules: Record<string, M> | Iterable<readonly [string, M]>): this {
    const pairs = Symbol.iterator in modules ? modules : Object.entries(modules);
    for (const [k, m] of pairs as Iterable<readonly [string, M]>) this.set(k, m);
    return this;
  }

  /** setSubmodule's hook: the module under `key` is replaced, keeping its place. */
  protected override replaceChild(key: string, module: Module): boolean {
    if (!this.#items.has(key)) return false;
    this.set(key, module as M);
    return true;
  }

  /** The module under `key`, or undefined. */
  get(key: string): M | undefined {
    return this.#items.get(key);
  }

  /** Whether a module is stored under `key`. */
  has(key: string): boolean {
    return this.#items.has(key);
  }

  /** The number of modules. */
  get size(): number {
    return this.#items.size;
  }

  /** Removes the module under `key` (its parameters leave stateDict and parameters()); whether it was there. */
  delete(key: string): boolean {
    this.unregisterModule(key);
    return this.#items.delete(key);
  }

  /** Removes and returns the module under `key`, as torch's pop(); a ValueError when there is none. */
  pop(key: string): M {
    const m = this.#items.get(key);
    if (!m) throw new ValueError('ModuleDict.pop', `no module under '${key}' (keys: ${[...this.#items.keys()].join(', ') || 'none'})`);
    this.delete(key);
    return m;
  }

  /** Removes every module, as torch's clear(). */
  clear(): void {
    for (const k of [...this.#items.keys()]) this.delete(k);
  }

  /** The keys, in insertion order. */
  keys(): IterableIterator<string> {
    return this.#items.keys();
  }

  /** The modules, in insertion order. */
  values(): IterableIterator<M> {
    return this.#items.values();
  }

  /** The [key, module] pairs, in insertion order. */
  entries(): IterableIterator<[string, M]> {
    return this.#items.entries();
  }

  /** Iterates over the [key, module] pairs, in insertion order. */
  [Symbol.iterator](): IterableIterator<[string, M]> {
    return this.#items.entries();
  }

  /** Throws: a ModuleDict holds modules for the owner's forward, it has none of its own. */
  forward(..._inputs: unknown[]): unknown {
    throw new ValueError('ModuleDict', "a ModuleDict has no forward; look its modules up in the owner's forward");
  }
}
