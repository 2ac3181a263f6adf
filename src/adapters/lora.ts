// LoRA on a whole model, as Hugging Face PEFT's LoraModel (tuners/lora/model.py): find the target
// layers by name, wrap each in place, freeze everything else (bias='none'), merge the adapters into
// the base weights and back, and unload them. The files are in lora-files.ts.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { LoraEmbedding, LoraLinear, isLoraLayer, type LoraLayer } from './lora-layers.js';

/** LoRA settings, as PEFT's LoraConfig: rank, alpha, dropout, target modules. */
export interface LoraConfig {
  /** The rank, an integer >= 1. */
  r: number;
  /** PEFT's lora_alpha: scaling = alpha / r (alpha / sqrt(r) with useRslora). */
  alpha: number;
  /** PEFT's lora_dropout, on a Linear adapter's input in training mode; in [0, 1). */
  dropout: number;
  /**
   * PEFT's target_modules: a list matches a module whose dotted name equals an entry or ends with
   * '.' + entry ('c_attn' matches 'transformer.h.0.attn.c_attn'); a single string is a regular
   * expression that must match the whole name.
   */
  targetModules: string[] | string;
  /** Recorded in adapter_config.json only: true for GPT-2, whose Hugging Face layers are Conv1D. Default: true for a mox GPT. */
  fanInFanOut?: boolean;
  /** Rank-stabilised LoRA: scaling = alpha / sqrt(r) (PEFT's use_rslora). Default false. */
  useRslora?: boolean;
}

/** The config each model was adapted with (applyLora), for saving. */
const configs = new WeakMap<Module, LoraConfig>();

/** Checks a config's values; returns a copy with targetModules copied. */
export function validateLoraConfig(cfg: LoraConfig, op = 'applyLora'): LoraConfig {
  if (typeof cfg !== 'object' || cfg === null) throw new ValueError(op, 'expected a LoraConfig object');
  if (!Number.isInteger(cfg.r) || cfg.r < 1) throw new ValueError(op, `r must be an integer >= 1, got ${cfg.r}`);
  if (typeof cfg.alpha !== 'number' || !Number.isFinite(cfg.alpha))
    throw new ValueError(op, `alpha must be a finite number, got ${cfg.alpha}`);
  if (typeof cfg.dropout !== 'number' || !(cfg.dropout >= 0 && cfg.dropout < 1))
    throw new ValueError(op, `dropout must be in [0, 1), got ${cfg.dropout}`);
  const t = cfg.targetModules;
  if (typeof t === 'string') {
    if (t === '') throw new ValueError(op, 'targetModules is an empty regular expression');
    try {
      new RegExp(t);
    } catch (e) {
      throw new ValueError(op, `targetModules '${t}' is not a valid regular expression (${(e as Error).message})`);
    }
  } else if (!Array.isArray(t) || t.length === 0 || t.some((x) => typeof x !== 'string' || x === '')) {
    throw new ValueError(op, `targetModules must be a regular expression or a non-empty list of module names, got ${JSON.stringify(t)}`);
  }
  return { ...cfg, targetModules: typeof t === 'string' ? t : [...t] };
}

/** PEFT's check_target_module_exists: a list entry equals the name or ends it after a dot; a string fully matches. */
export function matchesTarget(name: string, targets: string[] | string): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(name);
  return targets.some((t) => name === t || name.endsWith(`.${t}`));
}

/** Every LoRA wrapper in the model, with its dotted name (each module once). */
export function loraLayers(model: Module): [string, LoraLayer][] {
  const seen = new Set<Module>();
  const out: [string, LoraLayer][] = [];
  for (const [name, m] of model.namedModules()) {
    if (seen.has(m)) continue;
    seen.add(m);
    if (isLoraLayer(m)) out.push([name, m]);
  }
  return out;
}

/** The adapter's own parameters of a wrapper. */
export function adapterParameters(layer: LoraLayer): Parameter[] {
  return layer instanceof LoraLinear ? [layer.lora_A.weight, layer.lora_B.weight] : [layer.lora_embedding_A, layer.lora_embedding_B];
}

/**
 * Wraps every Linear and Embedding whose name matches cfg.targetModules in a LoRA layer, in place
 * (model.setSubmodule), freezes every other parameter (PEFT's bias='none': only the adapters train)
 * and returns the wrapped modules' names. A list entry that matches no module, or a match that is not
 * a Linear or Embedding, is a ValueError naming it, as in PEFT; so is a model that already has
 * adapters. The adapters follow the global generator (mox.seed) and the base layer's dtype and device.
 */
export function applyLora(model: Module, cfg: LoraConfig): string[] {
  if (!(model instanceof Module)) throw new ValueError('applyLora', 'expected an nn.Module');
  const c = validateLoraConfig(cfg);
  const existing = loraLayers(model);
  if (existing.length > 0) {
    throw new ValueError(
      'applyLora',
      `the model already has LoRA adapters (on ${existing.map(([n]) => n).join(', ')}); mergeAndUnload or unloadLora it first`,
    );
  }
  const seen = new Set<Module>();
  const matched: [string, Module][] = [];
  for (const [name, m] of model.namedModules()) {
    if (name === '' || seen.has(m)) continue;
    seen.add(m);
    if (matchesTarget(name, c.targetModules)) matched.push([name, m]);
  }
  const targets = c.targetModules;
  if (typeof targets === 'string') {
    if (matched.length === 0)
      throw new ValueError('applyLora', `target_modules '${targets}' matches no module of the model (${model.name})`);
  } else {
    for (const t of targets) {
      if (!matched.some(([name]) => name === t || name.endsWith(`.${t}`)))
        throw new ValueError('applyLora', `target module '${t}' matches no module of the model (${model.name})`);
    }
  }
  for (const [name, m] of matched) {
    if (!(m instanceof Linear) && !(m instanceof Embedding)) {
      throw new ValueError(
        'applyLora',
        `target module '${name}' is a ${m.name}; LoRA adapts only Linear and Embedding layers (name those inside it, e.g. '${name}.${m.namedChildren()[0]?.[0] ?? 'c_attn'}')`,
      );
    }
  }
  const opts = { r: c.r, alpha: c.alpha, dropout: c.dropout, useRslora: c.useRslora ?? false };
  for (const [name, m] of matched) {
    model.setSubmodule(name, m instanceof Linear ? new LoraLinear(m, opts) : new LoraEmbedding(m as Embedding, opts));
  }
  const adapters = new Set(loraLayers(model).flatMap(([, l]) => adapterParameters(l)));
  for (const p of model.parameters()) p.requiresGrad = adapters.has(p);
  configs.set(model, c);
  return matched.map(([name]) => name);
}

/** The config applyLora was given for this model, or null (a model adapted by hand, or not at all). */
export function loraConfigOf(model: Module): LoraConfig | null {
  return configs.get(model) ?? null;
}

/**
 * The names of the wrapped layers whose base weight another layer also holds (a GPT's lm_head, tied
 * to transformer.wte), as 'name (also name2)'. Merging one of them would change the other layer too.
 */
export function tiedLoraLayers(model: Module): string[] {
  const owners = new Map<Parameter, string[]>();
  const seen = new Set<Module>();
  for (const [name, m] of model.namedModules()) {
    if (seen.has(m)) continue;
    seen.add(m);
    for (const [k, p] of m.namedParameters()) {
      if (k.includes('.')) continue; // a submodule's, counted at that module
      owners.set(p, [...(owners.get(p) ?? []), name ? `${name}.${k}` : k]);
    }
  }
  const out: string[] = [];
  for (const [name, layer] of loraLayers(model)) {
    const others = (owners.get(layer.weight) ?? []).filter((o) => o !== `${name}.weight`);
    if (others.length > 0) out.push(`${name} (its weight is also ${others.join(', ')})`);
  }
  return out;
}

function requireAdapters(model: Module, op: string): [string, LoraLayer][] {
  const layers = loraLayers(model);
  if (layers.length === 0) throw new ValueError(op, `the model (${model.name}) has no LoRA adapters; applyLora or loadLoraAdapter first`);
  return layers;
}

/**
 * W += scaling * B A for every adapter, in place and outside autograd; the forward pass then skips
 * the adapters (training while merged is refused). A wrapped layer whose weight is tied to another
 * layer (an Embedding adapter on a GPT's wte, which is also lm_head) is refused with a ValueError:
 * the merge would change the other layer too. PEFT only warns there and merges anyway; a model whose
 * output then silently differs from the unmerged one is worse than an error. Keep such a model
 * unmerged (its forward is exact), or untie the weights first.
 */
export function mergeLora(model: Module): void {
  const layers = requireAdapters(model, 'mergeLora');
  const tied = tiedLoraLayers(model);
  if (tied.length > 0) {
    throw new ValueError(
      'mergeLora',
      `cannot merge into a tied weight: ${tied.join('; ')}; merging would change the tied layer too. Run the model unmerged, or untie the weights first`,
    );
  }
  for (const [, l] of layers) l.merge();
}

/** The inverse of mergeLora: W -= scaling * B A for every merged adapter. */
export function unmergeLora(model: Module): void {
  for (const [, l] of requireAdapters(model, 'unmergeLora')) l.unmerge();
}

/** Puts each wrapper's plain layer (holding the same, possibly merged, weight) back in its place. */
function unwrap(model: Module, layers: [string, LoraLayer][]): void {
  for (const [name, l] of layers) {
    const base = l.baseLayer;
    for (const m of base.modules()) m.training = l.training;
    model.setSubmodule(name, base);
    for (const p of adapterParameters(l)) p.dispose();
  }
  configs.delete(model);
}

/**
 * PEFT's merge_and_unload: merges every adapter into its base weight, then puts the plain Linear and
 * Embedding layers back, so the model is its original class tree with updated weights and no adapter
 * cost. The base parameters keep the requiresGrad applyLora gave them (frozen); model.requiresGrad_()
 * unfreezes them. Returns the model.
 */
export function mergeAndUnload(model: Module): Module {
  const layers = requireAdapters(model, 'mergeAndUnload');
  mergeLora(model);
  unwrap(model, layers);
  return model;
}

/** PEFT's unload: removes the adapters without merging (unmerging first where merged), giving back the base model. */
export function unloadLora(model: Module): Module {
  const layers = requireAdapters(model, 'unloadLora');
  for (const [, l] of layers) l.unmerge();
  unwrap(model, layers);
  return model;
}

/** Trainable and total parameter counts (each shared parameter once), and the trainable percentage. */
export function trainableParameters(model: Module): {
  /** Elements of the parameters that require grad. */
  trainable: number;
  /** Elements of all parameters. */
  total: number;
  /** 100 * trainable / total. */
  percent: number;
} {
  let trainable = 0;
  let total = 0;
  for (const p of model.parameters()) {
    total += p.size;
    if (p.requiresGrad) trainable += p.size;
  }
  return { trainable, total, percent: total === 0 ? 0 : (100 * trainable) / total };
}

/**
 * PEFT's print_trainable_parameters line, e.g.
 * "trainable params: 16,384 || all params: 826,240 || trainable%: 1.9830".
 */
export function formatTrainableParameters(model: Module): string {
  const { trainable, total, percent } = trainableParameters(model);
  const f = (n: number) => n.toLocaleString('en-US');
  return `trainable params: ${f(trainable)} || all params: ${f(total)} || trainable%: ${percent.toFixed(4)}`;
}
