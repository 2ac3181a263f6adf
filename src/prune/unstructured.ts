// Unstructured pruning in the shape of torch.nn.utils.prune: a parameter `name` of a module becomes
// `name_orig` (the trainable Parameter, the same object, so an optimizer made before keeps updating it)
// plus a buffer `name_mask` (1 keeps an entry, 0 prunes it), and `module.name` reads orig * mask. torch
// recomputes that product in a forward pre-hook; here `name` is a getter on the module that computes it
// at each read, which is the same thing at the moment forward reads it (and gradients reach orig only
// where the mask is 1, through the multiplication). stateDict keys are torch's: `weight_orig`,
// `weight_mask`. Pruning an already pruned parameter again combines the masks as torch's
// PruningContainer does: the new amount is taken from the entries still unpruned. removePruning makes
// it permanent (torch's prune.remove). Masks are computed on the host: prune a model on the CPU.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { rand, tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import { QuantizedEmbedding, QuantizedLinear } from '../quant/layers.js';

/**
 * How much to prune. `amount`: a fraction in [0, 1] of the entries (torch's float amount; 1 prunes all),
 * or an integer >= 2, a count (torch's int amount). `count`: an explicit count (for 0 or 1 entry, which a
 * JavaScript number cannot tell from the fractions 0.0 and 1.0). Give one of the two.
 */
export interface PruneAmount {
  /** A fraction in [0, 1] to prune, or an integer >= 2 as a count. */
  amount?: number;
  /** An explicit number of entries to prune. */
  count?: number;
}

/** Python's round() (half to even), which torch's _compute_nparams_toprune uses. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The number of entries to prune out of `size` (torch's _validate_pruning_amount and _compute_nparams_toprune). */
export function entriesToPrune(op: string, a: PruneAmount, size: number): number {
  if (a.amount !== undefined && a.count !== undefined)
    throw new ValueError(op, `give amount or count, not both (got amount=${a.amount}, count=${a.count})`);
  if (a.count !== undefined) {
    if (!Number.isInteger(a.count) || a.count < 0) throw new ValueError(op, `count must be a non-negative integer, got ${a.count}`);
    if (a.count > size) throw new ValueError(op, `count=${a.count} should be smaller than the number of parameters to prune=${size}`);
    return a.count;
  }
  const amount = a.amount;
  if (amount === undefined) throw new ValueError(op, 'amount is required (a fraction in [0, 1] or an integer count >= 2)');
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0 || (amount > 1 && !Number.isInteger(amount))) {
    throw new ValueError(op, `amount=${amount} should either be a float in the range [0, 1] or a non-negative integer`);
  }
  if (amount > 1) {
    if (amount > size) throw new ValueError(op, `amount=${amount} should be smaller than the number of parameters to prune=${size}`);
    return amount;
  }
  return roundHalfEven(amount * size);
}

function hostData(op: string, t: Tensor): Float32Array | Float64Array {
  if (!t.backend.capabilities.syncRead) {
    throw new ValueError(op, `masks are computed on the host: prune a model on the CPU (this tensor is on '${t.device}'), then move it`);
  }
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new ValueError(op, `can prune float32 or float64 parameters, got ${t.dtype}`);
  return t.contiguous().dataSync() as Float32Array | Float64Array;
}

/** The own Parameter `name` of a module (a property or a registered parameter), or undefined. */
function ownParameter(m: Module, name: string): Parameter | undefined {
  const v = (m as unknown as Record<string, unknown>)[name];
  if (v instanceof Parameter) return v;
  if (name.includes('.')) return undefined;
  return m.namedParameters().find(([k]) => k === name)?.[1];
}

function ownParameterNames(m: Module): string[] {
  return m
    .namedParameters()
    .map(([k]) => k)
    .filter((k) => !k.includes('.'));
}

function checkModule(op: string, module: unknown, name: unknown): asserts module is Module {
  if (!(module instanceof Module)) throw new ValueError(op, `expected a Module, got ${String(module)}`);
  if (module instanceof QuantizedLinear || module instanceof QuantizedEmbedding)
    throw new ValueError(op, `${module.name} is quantized (${module.scheme}): prune the float model, then quantize it`);
  if (typeof name !== 'string' || name === '')
    throw new ValueError(op, `the parameter name must be a non-empty string, got ${String(name)}`);
}

/** Whether `module.name` is pruned (has name_orig and name_mask), i.e. a mask is in force. */
export function isPrunedParameter(module: Module, name: string): boolean {
  return (
    module.buffer(`${name}_mask`) !== null &&
    ownParameter(module, `${name}_orig`) !== undefined &&
    !(Object.getOwnPropertyDescriptor(module, name)?.value instanceof Parameter)
  );
}

/** Whether any module in `module` (itself included) has a pruned parameter, as torch's prune.is_pruned. */
export function isPruned(module: Module): boolean {
  return module.modules().some((m) => prunedNames(m).length > 0);
}

/** The names of the parameters of this module (not those below it) that carry a mask. */
export function prunedNames(m: Module): string[] {
  return ownParameterNames(m)
    .filter((k) => k.endsWith('_orig'))
    .map((k) => k.slice(0, -'_orig'.length))
    .filter((n) => isPrunedParameter(m, n));
}

/** The parameter being pruned: its trainable tensor, its mask now (null: not pruned yet) and the values orig * mask. */
interface Target {
  module: Module;
  name: string;
  orig: Parameter;
  mask: Float32Array | Float64Array | null;
  values: Float32Array | Float64Array;
}

function target(op: string, module: Module, name: string): Target {
  checkModule(op, module, name);
  if (isPrunedParameter(module, name)) {
    const orig = ownParameter(module, `${name}_orig`)!;
    const mask = hostData(op, module.buffer(`${name}_mask`)!);
    const o = hostData(op, orig);
    const values = o.slice();
    for (let i = 0; i < values.length; i++) values[i] = o[i]! * mask[i]!;
    return { module, name, orig, mask, values };
  }
  const p = ownParameter(module, name);
  if (!p) {
    const have = ownParameterNames(module);
    throw new ValueError(op, `${module.name} has no parameter '${name}' (its parameters: ${have.length ? have.join(', ') : 'none'})`);
  }
  if (name.endsWith('_orig') || name.endsWith('_mask'))
    throw new ValueError(op, `'${name}' is pruning's own state; prune the parameter itself`);
  return { module, name, orig: p, mask: null, values: hostData(op, p) };
}

/**
 * The new mask of one tensor: the entries still kept (mask 1) compete, and `k` of them with the lowest
 * `score` are set to 0 (torch's PruningContainer with an unstructured method: the amount applies to the
 * unpruned entries). Ties go to the lower index, so results are reproducible.
 */
function combine(scores: ArrayLike<number>, mask: ArrayLike<number> | null, k: number): Float32Array {
  const n = scores.length;
  const out = new Float32Array(n);
  const live: number[] = [];
  for (let i = 0; i < n; i++) {
    const keep = mask ? mask[i] !== 0 : true;
    out[i] = keep ? 1 : 0;
    if (keep) live.push(i);
  }
  if (k <= 0) return out;
  live.sort((a, b) => scores[a]! - scores[b]! || a - b);
  for (let j = 0; j < k && j < live.length; j++) out[live[j]!] = 0;
  return out;
}

/** Installs (or replaces) the mask of target t: the torch layout of name_orig + name_mask + a computed name. */
function applyMask(t: Target, mask: Float32Array): void {
  const { module, name, orig } = t;
  const maskT = tensor(mask, { shape: orig.shape, dtype: orig.dtype, device: orig.device });
  if (t.mask) {
    module.setBuffer(`${name}_mask`, maskT);
    return;
  }
  const self = module as unknown as Record<string, unknown>;
  if (Object.hasOwn(module, name)) delete self[name];
  else module.unregisterParameter(name);
  module.registerParameter(`${name}_orig`, orig);
  module.registerBuffer(`${name}_mask`, maskT);
  Object.defineProperty(module, name, {
    configurable: true,
    // not enumerable: the module's property scan must not list the computed tensor (it is no parameter)
    enumerable: false,
    get: () => orig.mul(module.buffer(`${name}_mask`)!),
    set: () => {
      throw new ValueError(
        'prune',
        `${module.name}.${name} is pruned (it reads ${name}_orig * ${name}_mask): call prune.removePruning(module, '${name}') before assigning it`,
      );
    },
  });
}

function countNonzero(d: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) n++;
  return n;
}

/** Prunes `module[name]` by removing the `amount` entries of lowest |value| (torch's prune.l1_unstructured). Returns the module. */
export function l1Unstructured<M extends Module>(module: M, name: string, opts: PruneAmount): M {
  const t = target('l1Unstructured', module, name);
  const live = t.mask ? countNonzero(t.mask) : t.values.length;
  const k = entriesToPrune('l1Unstructured', opts, live);
  const scores = t.values.map(Math.abs);
  applyMask(t, combine(scores, t.mask, k));
  return module;
}

/** Prunes `amount` entries of `module[name]` chosen at random (torch's prune.random_unstructured; mox.seed makes it reproducible). */
export function randomUnstructured<M extends Module>(module: M, name: string, opts: PruneAmount): M {
  const t = target('randomUnstructured', module, name);
  const live = t.mask ? countNonzero(t.mask) : t.values.length;
  const k = entriesToPrune('randomUnstructured', opts, live);
  const r = rand([t.values.length]);
  const scores = r.dataSync();
  r.dispose();
  applyMask(t, combine(scores, t.mask, k));
  return module;
}

/** Applies a given mask (1 keep, 0 prune; combined with any mask in force), as torch's prune.custom_from_mask. */
export function customFromMask<M extends Module>(module: M, name: string, mask: Tensor): M {
  const t = target('customFromMask', module, name);
  if (mask.shape.length !== t.orig.shape.length || mask.shape.some((d, i) => d !== t.orig.shape[i])) {
    throw new ValueError(
      'customFromMask',
      `the mask's shape [${mask.shape.join(', ')}] differs from ${name}'s [${t.orig.shape.join(', ')}]`,
    );
  }
  const m = mask.contiguous().dataSync();
  const out = new Float32Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m[i] !== 0 && (t.mask ? t.mask[i] !== 0 : true) ? 1 : 0;
  applyMask(t, out);
  return module;
}

/**
 * Global magnitude pruning (torch's prune.global_unstructured with L1Unstructured): the entries of every
 * listed parameter compete together, so `amount` of all of them with the lowest |value| go, whatever
 * layer they sit in. Entries already pruned are not counted again (the amount is of those still kept).
 */
export function globalUnstructured(parameters: readonly (readonly [Module, string])[], opts: PruneAmount): void {
  const op = 'globalUnstructured';
  if (!Array.isArray(parameters) || parameters.length === 0) throw new ValueError(op, 'expected a non-empty list of [module, name] pairs');
  const targets = parameters.map(([m, n]) => target(op, m, n));
  const seen = new Set<Parameter>();
  for (const t of targets) {
    if (seen.has(t.orig)) throw new ValueError(op, `the parameter '${t.name}' of ${t.module.name} is listed twice`);
    seen.add(t.orig);
  }
  const total = targets.reduce((s, t) => s + t.values.length, 0);
  const scores = new Float64Array(total);
  const mask = new Float32Array(total);
  let at = 0;
  for (const t of targets) {
    for (let i = 0; i < t.values.length; i++) {
      scores[at + i] = Math.abs(t.values[i]!);
      mask[at + i] = t.mask ? (t.mask[i] !== 0 ? 1 : 0) : 1;
    }
    at += t.values.length;
  }
  const live = mask.reduce((s, v) => s + v, 0);
  const k = entriesToPrune(op, opts, live);
  const all = combine(scores, mask, k);
  at = 0;
  for (const t of targets) {
    applyMask(t, all.slice(at, at + t.values.length));
    at += t.values.length;
  }
}

/**
 * Makes the pruning of `module[name]` permanent (torch's prune.remove): name_orig's pruned entries are
 * set to 0 in place and it becomes `name` again (the same Parameter, so an optimizer keeps it); the
 * mask is dropped.
 */
export function removePruning<M extends Module>(module: M, name: string): M {
  checkModule('removePruning', module, name);
  if (!isPrunedParameter(module, name)) {
    throw new ValueError('removePruning', `parameter '${name}' of ${module.name} has to be pruned before pruning can be removed`);
  }
  const orig = ownParameter(module, `${name}_orig`)!;
  const mask = module.buffer(`${name}_mask`)!;
  noGrad(() => orig.copy_(orig.mul(mask)));
  delete (module as unknown as Record<string, unknown>)[name];
  module.unregisterParameter(`${name}_orig`);
  module.unregisterBuffer(`${name}_mask`);
  mask.dispose();
  (module as unknown as Record<string, unknown>)[name] = orig;
  return module;
}

/** removePruning on every pruned parameter of every module in `model`. Returns the model. */
export function removeAllPruning<M extends Module>(model: M): M {
  for (const m of model.modules()) for (const n of prunedNames(m)) removePruning(m, n);
  return model;
}

/**
 * Zeroes the pruned entries of every name_orig in `model` in place (orig *= mask). The forward pass
 * never sees them either way; this keeps the trainable tensors themselves sparse after an optimizer
 * step (momentum or weight decay would otherwise move them), as PruningCallback does after each batch.
 */
export function applyMasks_(model: Module): void {
  noGrad(() => {
    for (const m of model.modules()) {
      for (const n of prunedNames(m)) {
        const orig = ownParameter(m, `${n}_orig`)!;
        orig.copy_(orig.mul(m.buffer(`${n}_mask`)!));
      }
    }
  });
}

/** Whether this module (not those below it) has an own `weight` of 2 dims or more, pruned or not. */
/** The Parameter behind a module's weight (weight_orig once pruned). */
function weightParameter(m: Module): Parameter | undefined {
  return isPrunedParameter(m, 'weight') ? ownParameter(m, 'weight_orig') : ownParameter(m, 'weight');
}

/**
 * The modules with a matrix weight, each weight once. A weight two modules share (a GPT's lm_head is
 * its wte) is listed under the first with shared 'first' (to count it once), and left out with
 * 'skip': masking it through one module would leave the other reading the unmasked original.
 */
function matrixWeightModules(model: Module, shared: 'first' | 'skip'): [string, Module][] {
  const owners = new Map<Parameter, number>();
  for (const m of model.modules()) {
    const w = weightParameter(m);
    if (w && w.shape.length >= 2) owners.set(w, (owners.get(w) ?? 0) + 1);
  }
  const seen = new Set<Parameter>();
  return model.namedModules().filter(([, m]) => {
    const w = weightParameter(m);
    if (!w || w.shape.length < 2 || seen.has(w)) return false;
    if (shared === 'skip' && owners.get(w)! > 1) return false;
    seen.add(w);
    return true;
  });
}

/**
 * The [module, 'weight'] pairs of every Linear / Conv-like layer (any module with an own `weight` of 2
 * dims or more), except a weight two modules share (a GPT's tied wte / lm_head): see matrixWeightModules.
 */
export function prunableWeights(model: Module): [Module, string][] {
  return matrixWeightModules(model, 'skip').map(([, m]): [Module, string] => [m, 'weight']);
}

/** Sparsity of one parameter. */
export interface LayerSparsity {
  /** The dotted name of the parameter ('0.weight'). */
  name: string;
  /** Number of entries. */
  size: number;
  /** Number of zero entries. */
  zeros: number;
  /** zeros / size. */
  sparsity: number;
}

/** Sparsity of a model: per parameter and overall. */
export interface SparsityReport {
  /** One entry per parameter. */
  layers: LayerSparsity[];
  /** Entries over every listed parameter. */
  size: number;
  /** Zeros over every listed parameter. */
  zeros: number;
  /** Zeros over every listed parameter together. */
  global: number;
}

/**
 * The fraction of zeros of each weight as the forward pass sees it (orig * mask where pruned), and over
 * all of them. By default the weights of the layers prunableWeights lists (what pruning targets, as the
 * torch tutorial reports); `all: true` lists every parameter (biases, norms) too.
 */
export function sparsity(model: Module, opts: { all?: boolean } = {}): SparsityReport {
  const layers: LayerSparsity[] = [];
  const matrix = new Set(matrixWeightModules(model, 'first').map(([, m]) => m));
  const seen = new Set<Parameter>();
  for (const [path, m] of model.namedModules()) {
    const pruned = prunedNames(m);
    const names = opts.all
      ? ownParameterNames(m)
          .filter((k) => {
            // a parameter shared by two modules (a tied head) is counted once
            const p = ownParameter(m, k)!;
            if (seen.has(p)) return false;
            seen.add(p);
            return true;
          })
          .map((k) => (k.endsWith('_orig') && pruned.includes(k.slice(0, -5)) ? k.slice(0, -5) : k))
      : matrix.has(m)
        ? ['weight']
        : [];
    for (const n of names) {
      const t = (m as unknown as Record<string, Tensor>)[n] ?? ownParameter(m, n)!;
      const d = noGrad(() => hostData('sparsity', t));
      let zeros = 0;
      for (let i = 0; i < d.length; i++) if (d[i] === 0) zeros++;
      layers.push({ name: path ? `${path}.${n}` : n, size: d.length, zeros, sparsity: d.length ? zeros / d.length : 0 });
    }
  }
  const size = layers.reduce((s, l) => s + l.size, 0);
  const zeros = layers.reduce((s, l) => s + l.zeros, 0);
  return { layers, size, zeros, global: size ? zeros / size : 0 };
}
