// Module: the base of every layer and model, as torch.nn.Module. Parameters, buffers and submodules
// are found from the module's own properties (a Parameter, a Module, or an array of Modules) plus
// anything registered by name, so `this.weight = new Parameter(...)` is all a layer writes. Names in
// stateDict() follow PyTorch's dotted keys ('0.weight', 'bn.running_mean'), so checkpoints map 1:1.

import '../ops/tensor-methods.js';
import { ValueError, ShapeError, fmtShape } from '../errors.js';
import { keep } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { Parameter } from './parameter.js';

/** Base class of every layer and model, like torch.nn.Module: finds parameters, buffers and submodules, saves state and switches train/eval. */
export abstract class Module {
  /** Training mode (dropout active, batch norm updating its statistics) or evaluation mode. */
  training = true;
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _extraParams = new Map<string, Parameter | null>();
  private readonly _extraModules = new Map<string, Module>();
  private readonly _nonPersistent = new Set<string>();

  /** Computes the module's output; each layer narrows the signature (Linear: Tensor -> Tensor). */
  // biome-ignore lint/suspicious/noExplicitAny: each subclass narrows forward's signature, as torch.nn.Module does
  abstract forward(...inputs: any[]): any;

  /** Registers a state tensor that is not a parameter (e.g. batch norm's running_mean), kept alive. */
  registerBuffer(name: string, t: Tensor | null, persistent = true): void {
    this._buffers.set(name, t ? keep(t) : null);
    if (!persistent) this._nonPersistent.add(name);
  }

  /** A registered buffer by name (layers expose them through getters). */
  buffer(name: string): Tensor | null {
    return this._buffers.get(name) ?? null;
  }

  /** Replaces a buffer's tensor (e.g. after loading), keeping it alive. */
  setBuffer(name: string, t: Tensor | null): void {
    if (!this._buffers.has(name)) throw new ValueError('setBuffer', `no buffer named '${name}'`);
    this._buffers.set(name, t ? keep(t) : null);
  }

  /** Adds a parameter under a name, beside those found in the module's properties. */
  registerParameter(name: string, p: Parameter | null): void {
    this._extraParams.set(name, p);
  }

  /** Removes a parameter added by registerParameter; whether there was one (prune.removePruning). */
  unregisterParameter(name: string): boolean {
    return this._extraParams.delete(name);
  }

  /** Removes a registered buffer; whether there was one (prune.removePruning drops the mask). */
  unregisterBuffer(name: string): boolean {
    this._nonPersistent.delete(name);
    return this._buffers.delete(name);
  }

  /** Adds a submodule under a name, beside those found in the module's properties. */
  registerModule(name: string, m: Module): void {
    this._extraModules.set(name, m);
  }

  /** Removes a submodule added by registerModule; whether there was one (containers' delete/pop). */
  unregisterModule(name: string): boolean {
    return this._extraModules.delete(name);
  }

  /** Direct parameters of this module, by name. */
  protected ownParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, v] of Object.entries(this)) if (v instanceof Parameter) out.push([k, v]);
    for (const [k, v] of this._extraParams) if (v) out.push([k, v]);
    return out;
  }

  /** Direct submodules, by name; arrays of modules are numbered ('layers.0', 'layers.1', ...). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v) && v.length > 0 && v.every((m) => m instanceof Module)) {
        v.forEach((m: Module, i) => out.push([`${k}.${i}`, m]));
      }
    }
    for (const kv of this._extraModules) out.push(kv);
    return out;
  }

  /** The direct submodules. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every module below it, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  /** This module and every module below it, depth first. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Every parameter, with dotted names; a parameter shared by two modules is listed once. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const seen = new Set<Parameter>();
    const out: [string, Parameter][] = [];
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [k, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([mp ? `${mp}.${k}` : k, p]);
      }
    }
    return out;
  }

  /** Every parameter of this module and those below it (a shared one once), as an optimizer takes them. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer (running statistics, masks) of this module and those below it, with dotted names. */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [k, b] of m._buffers) if (b) out.push([mp ? `${mp}.${k}` : k, b]);
    }
    return out;
  }

  /** Total number of parameter elements (trainable only, by default). */
  numParameters(trainableOnly = true): number {
    return this.parameters()
      .filter((p) => !trainableOnly || p.requiresGrad)
      .reduce((s, p) => s + p.size, 0);
  }

  /**
   * Sets requiresGrad on every parameter of this module and those below it (torch's
   * Module.requires_grad_): false freezes them, so backward computes no gradient for them and
   * optimizers leave them as they are. Returns this.
   */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /**
   * Keras's `layer.trainable`: false freezes every parameter of this module and those below it
   * (requiresGrad_(false)), true unfreezes them; reading it says whether any parameter is trainable
   * (true for a module with none, as Keras). As in Keras, a frozen BatchNorm also runs in inference
   * mode (it normalises with its running statistics and stops updating them) until unfrozen.
   * Set it before compile(): an optimizer only holds the parameters trainable when it was made.
   */
  get trainable(): boolean {
    const params = this.parameters();
    return params.length === 0 ? this._trainableFlag : params.some((p) => p.requiresGrad);
  }

  /** Freezes (false) or unfreezes (true) every parameter below this module, as Keras's layer.trainable. */
  set trainable(on: boolean) {
    for (const m of this.modules()) m._trainableFlag = on;
    this.requiresGrad_(on);
  }

  /** What `trainable` last set on this module (BatchNorm reads it; a module with no parameters reports it). */
  protected _trainableFlag = true;

  /** The module at a dotted path ('transformer.h.0.attn'; '' is this one), as torch's get_submodule. */
  getSubmodule(target: string): Module {
    if (target === '') return this;
    let m: Module = this;
    const parts = target.split('.');
    for (let i = 0; i < parts.length; i++) {
      const child = m.namedChildren().find(([k]) => k === parts[i] || k === `${parts[i]}.${parts[i + 1]}`);
      if (!child) throw new ValueError('getSubmodule', `${m.name} has no submodule '${parts.slice(0, i + 1).join('.')}' (in '${target}')`);
      if (child[0].includes('.')) i++; // an array of modules, named 'layers.0'
      m = child[1];
    }
    return m;
  }

  /**
   * Replaces the module at a dotted path with `module` (torch's set_submodule), wherever the parent
   * holds it: a property, an array of modules, or a registered (container) child. Used to wrap layers
   * in place, e.g. a Linear in a LoRA adapter.
   */
  setSubmodule(target: string, module: Module): void {
    if (!(module instanceof Module)) throw new ValueError('setSubmodule', `the new value for '${target}' is not a Module`);
    const dot = target.lastIndexOf('.');
    const parentPath = dot < 0 ? '' : target.slice(0, dot);
    const key = dot < 0 ? target : target.slice(dot + 1);
    // 'layers.0' names an array element: the parent is the owner of 'layers'
    const arrayOwner = parentPath !== '' && /^\d+$/.test(key) ? this.tryArrayOwner(parentPath) : null;
    if (arrayOwner) {
      const arr = (arrayOwner.owner as unknown as Record<string, unknown>)[arrayOwner.prop] as Module[];
      arr[Number(key)] = module;
      return;
    }
    const parent = this.getSubmodule(parentPath);
    if (!parent.replaceChild(key, module))
      throw new ValueError('setSubmodule', `${parent.name} has no submodule '${key}' (in '${target}')`);
  }

  private tryArrayOwner(parentPath: string): { owner: Module; prop: string } | null {
    const dot = parentPath.lastIndexOf('.');
    const ownerPath = dot < 0 ? '' : parentPath.slice(0, dot);
    const prop = dot < 0 ? parentPath : parentPath.slice(dot + 1);
    let owner: Module;
    try {
      owner = this.getSubmodule(ownerPath);
    } catch {
      return null;
    }
    const v = (owner as unknown as Record<string, unknown>)[prop];
    return Array.isArray(v) && v.every((m) => m instanceof Module) ? { owner, prop } : null;
  }

  /** Puts `module` where the direct child `key` is; false when there is no such child. Containers extend it. */
  protected replaceChild(key: string, module: Module): boolean {
    const self = this as unknown as Record<string, unknown>;
    if (Object.hasOwn(this, key) && self[key] instanceof Module) {
      self[key] = module;
      return true;
    }
    if (this._extraModules.has(key)) {
      this._extraModules.set(key, module);
      return true;
    }
    return false;
  }

  /** Sets training mode (or evaluation mode with false) on this module and those below it; returns this. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Sets evaluation mode (dropout off, batch norm on running statistics), like torch's model.eval(). */
  eval(): this {
    return this.train(false);
  }

  /** Clears every parameter's gradient (set to none, freeing it, as PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Parameters and persistent buffers by PyTorch-style dotted name. The tensors are the live ones. */
  stateDict(): Record<string, Tensor> {
    // module by module, parameters then buffers: the order of PyTorch's state_dict()
    const sd: Record<string, Tensor> = {};
    const seen = new Set<Parameter>();
    for (const [mp, m] of this.namedModules()) {
      for (const [k, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        sd[mp ? `${mp}.${k}` : k] = p;
      }
      for (const [k, b] of m._buffers) {
        if (b && !m._nonPersistent.has(k)) sd[mp ? `${mp}.${k}` : k] = b;
      }
    }
    return sd;
  }

  /**
   * Copies tensors into this module's parameters and buffers (in place, so optimizers keep working).
   * strict: every key must match and none may be missing, as in PyTorch.
   */
  loadStateDict(
    sd: Record<string, Tensor>,
    strict = true,
  ): {
    /** Keys of this module that `sd` lacks. */
    missingKeys: string[];
    /** Keys of `sd` this module does not have. */
    unexpectedKeys: string[];
  } {
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      throw new ValueError('loadStateDict', `missing keys [${missingKeys.join(', ')}], unexpected keys [${unexpectedKeys.join(', ')}]`);
    }
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (!src) continue;
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        throw new ShapeError('loadStateDict', `size mismatch for ${k}: checkpoint ${fmtShape(src.shape)}, model ${fmtShape(t.shape)}`);
      }
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) if (sd[k]) t.copy_(sd[k]!);
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Moves every parameter and buffer to `device` ('cpu', 'webgpu') in place, as torch's Module.to: the
   * Parameter objects stay the same, so an optimizer made before the move still updates them (make
   * its state, i.e. take its first step, after the move). Gradients are dropped. A GPU tensor cannot be
   * read synchronously, so moving from the GPU back to the CPU needs toAsync('cpu').
   */
  to(device: string): this {
    this.moveTo(device, (t) => t.detach().to(device));
    return this;
  }

  /** to(), for any direction (a GPU read is asynchronous). */
  async toAsync(device: string): Promise<this> {
    const moved = new Map<Tensor, Tensor>();
    for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) {
      if (t.device !== device && !moved.has(t)) moved.set(t, await t.detach().toAsync(device));
    }
    this.moveTo(device, (t) => moved.get(t)!);
    return this;
  }

  private moveTo(device: string, move: (t: Tensor) => Tensor): void {
    noGrad(() => {
      for (const p of this.parameters()) {
        if (p.device === device) continue;
        const m = move(p);
        p._rebind(m.storage);
        m.dispose();
        p.grad?.dispose();
        p.grad = null;
      }
      for (const m of this.modules()) {
        for (const [k, b] of m._buffers) {
          if (!b || b.device === device) continue;
          const nb = move(b);
          b.dispose();
          m._buffers.set(k, keep(nb));
        }
      }
    });
  }

  /** The device of the first parameter (or buffer); 'cpu' for a module with neither. */
  get device(): string {
    return this.parameters()[0]?.device ?? this.namedBuffers()[0]?.[1].device ?? 'cpu';
  }

  /** Applies fn to every module (children first, then this one), like torch's Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /** The class name, as layers print in summaries. */
  get name(): string {
    return this.constructor.name;
  }

  /** One line describing the layer's configuration, e.g. 'in_features=784, out_features=128'. */
  extraRepr(): string {
    return '';
  }

  /** console.log(model) prints the PyTorch-style tree rather than the object's fields. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** The PyTorch-style tree of the module and its submodules. */
  toString(): string {
    const kids = this.namedChildren();
    const head = `${this.name}(${this.extraRepr()}`;
    if (!kids.length) return `${head})`;
    const body = kids.map(([k, m]) => `  (${k}): ${m.toString().replace(/\n/g, '\n  ')}`).join('\n');
    return `${head}\n${body}\n)`;
  }
}

/** Runs fn with a module in evaluation mode and restores its mode afterwards. */
export function withEval<T>(m: Module, fn: () => T): T {
  const prev = m.training;
  m.eval();
  try {
    return fn();
  } finally {
    m.train(prev);
  }
}

export { Tensor };
