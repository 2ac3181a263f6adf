// mox.quantize: replaces a model's Linear and Embedding layers, in place, by quantized ones (layers.ts),
// as torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, inplace=True) swaps modules. A head tied
// to an embedding (the GPT's lm_head = wte) stays tied: one quantized table serves both.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { parameterGlob } from '../nn/freeze.js';
import { noGrad } from '../autograd/grad-mode.js';
import { LoraEmbedding, LoraLinear } from '../adapters/lora-layers.js';
import { QuantizedWeight } from '../ops/quant.js';
import { INT4_GROUP, QUANT_SCHEMES, type QuantScheme, isQuantScheme } from '../backend/quant-format.js';
import { QuantizedEmbedding, QuantizedLinear } from './layers.js';

/** Options of mox.quantize: the scheme, the layers left in float, the kinds of layer, a per-layer callback. */
export interface QuantizeOptions {
  /** 'int8' (weights only, per output channel), 'int4' (groups of 32, Q4_0) or 'dynamic-int8' (int8 weights and activations). */
  scheme: QuantScheme;
  /** Module names (globs, `*` spans dots: 'lm_head', 'transformer.h.0.*') left in float. */
  skip?: readonly string[];
  /** The kinds of layer to quantize (default both). dynamic-int8 quantizes an Embedding's table as int8. */
  layers?: readonly ('linear' | 'embedding')[];
  /** Called with 0 before the first layer and after each one is quantized (a big model takes a while: the CLI's progress bar). */
  onLayer?(done: number, total: number, name: string): void;
}

/** What quantize did: the model's `quantization` block (config.json) and the layers it changed. */
export interface QuantizationInfo {
  /** The scheme used. */
  scheme: QuantScheme;
  /** int4's group size (32); 1 weight row per scale otherwise. */
  groupSize: number | null;
  /** Names of the quantized modules. */
  modules: string[];
  /** Names of Linear/Embedding modules left in float (by `skip` or `layers`). */
  skipped: string[];
  /** Tied heads: [head, embedding] module names sharing one quantized table. */
  tied: [string, string][];
}

/** The scheme of a model's quantized layers, or null for a float model. */
export function quantizedScheme(model: Module): QuantScheme | null {
  for (const m of model.modules()) if (m instanceof QuantizedLinear || m instanceof QuantizedEmbedding) return m.scheme;
  return null;
}

/** Whether any of a model's layers is quantized. */
export function isQuantized(model: Module): boolean {
  return quantizedScheme(model) !== null;
}

function checkOptions(opts: QuantizeOptions): void {
  if (typeof opts !== 'object' || opts === null)
    throw new ValueError('quantize', `expected options { scheme: ${QUANT_SCHEMES.join(' | ')} }`);
  if (!isQuantScheme(opts.scheme))
    throw new ValueError('quantize', `unknown scheme '${String(opts.scheme)}' (expected ${QUANT_SCHEMES.map((s) => `'${s}'`).join(', ')})`);
  for (const l of opts.layers ?? [])
    if (l !== 'linear' && l !== 'embedding')
      throw new ValueError('quantize', `layers: unknown kind '${String(l)}' (expected 'linear' or 'embedding')`);
}

/**
 * Quantizes `model` in place and returns it. The float weights of the replaced layers are freed. The
 * model runs inference (forward, generate, evaluate, predict); a backward pass through a quantized
 * layer is an AutogradError. quantizationInfo(model) says what was quantized.
 * Refuses a model that is already quantized, one with pruning masks (removePruning first) or LoRA
 * adapters (mergeAndUnload first), naming the layer.
 */
export function quantize<M extends Module>(model: M, opts: QuantizeOptions): M {
  checkOptions(opts);
  const done = quantizedScheme(model);
  if (done) throw new ValueError('quantize', `the model is already quantized (${done}); quantize its float checkpoint instead`);
  const kinds = new Set(opts.layers ?? ['linear', 'embedding']);
  const skip = (opts.skip ?? []).map((p) => [p, parameterGlob(p)] as const);
  const named = model.namedModules().filter(([, m]) => m instanceof Linear || m instanceof Embedding);
  const unused = new Set(skip.map(([p]) => p));
  const chosen: [string, Linear | Embedding][] = [];
  for (const [name, m] of named) {
    const kind = m instanceof Linear ? 'linear' : 'embedding';
    const hit = skip.filter(([, re]) => re.test(name));
    for (const [p] of hit) unused.delete(p);
    if (hit.length || !kinds.has(kind)) continue;
    if (m instanceof LoraLinear || m instanceof LoraEmbedding)
      throw new ValueError('quantize', `${name} carries LoRA adapters; merge them first (mox.lora.mergeAndUnload)`);
    if (m.namedParameters().some(([k]) => k.endsWith('_orig')))
      throw new ValueError('quantize', `${name} has a pruning mask; make it permanent first (mox.prune.removePruning)`);
    if (name === '') throw new ValueError('quantize', 'the model itself is a Linear or Embedding; quantize a model that contains it');
    const { weight } = m as Linear | Embedding;
    if (!weight.backend.capabilities.syncRead)
      throw new ValueError(
        'quantize',
        `${name} is on ${weight.device}, which has no synchronous reads: quantize on the CPU, then move the model (model.to('${weight.device}'))`,
      );
    chosen.push([name, m as Linear | Embedding]);
  }
  if (unused.size) {
    const names = named.map(([n]) => n);
    throw new ValueError(
      'quantize',
      `skip pattern${unused.size > 1 ? 's' : ''} ${[...unused].map((p) => `'${p}'`).join(', ')} match${unused.size > 1 ? '' : 'es'} no Linear or Embedding (they are: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''})`,
    );
  }

  noGrad(() => {
    // embeddings first, so a head tied to one finds its quantized table
    const byWeight = new Map<unknown, QuantizedEmbedding>();
    const order = [...chosen.filter(([, m]) => m instanceof Embedding), ...chosen.filter(([, m]) => m instanceof Linear)];
    const freed = new Set<unknown>();
    opts.onLayer?.(0, order.length, '');
    for (const [i, [name, m]] of order.entries()) {
      const weight = m.weight;
      let replacement: Module;
      if (m instanceof Embedding) {
        const q = new QuantizedEmbedding(QuantizedWeight.quantize(weight, opts.scheme));
        byWeight.set(weight, q);
        replacement = q;
      } else {
        const tied = byWeight.get(weight);
        if (tied) {
          replacement = new QuantizedLinear(tied, m.bias);
        } else {
          replacement = new QuantizedLinear(QuantizedWeight.quantize(weight, opts.scheme), m.bias);
        }
      }
      replacement.training = m.training;
      model.setSubmodule(name, replacement);
      if (!freed.has(weight)) {
        freed.add(weight);
        // still used by a float layer (a skipped tied head)? then keep it
        const stillUsed = model.parameters().includes(weight);
        if (!stillUsed) weight.dispose();
      }
      opts.onLayer?.(i + 1, order.length, name);
    }
  });
  return model;
}

/** What a model's quantized layers are: its `quantization` block (config.json), or null for a float model. */
export function quantizationInfo(model: Module): QuantizationInfo | null {
  const scheme = quantizedScheme(model);
  if (!scheme) return null;
  const info: QuantizationInfo = { scheme, groupSize: scheme === 'int4' ? INT4_GROUP : null, modules: [], skipped: [], tied: [] };
  const names = new Map<Module, string>(model.namedModules().map(([n, m]) => [m, n]));
  for (const [name, m] of model.namedModules()) {
    if (m instanceof QuantizedLinear || m instanceof QuantizedEmbedding) {
      if (m.scheme !== scheme) throw new ValueError('quantize', `the model mixes schemes: ${name} is ${m.scheme}, others ${scheme}`);
      info.modules.push(name);
      if (m instanceof QuantizedLinear && m.tiedTo) info.tied.push([name, names.get(m.tiedTo) ?? '?']);
    } else if (m instanceof Linear || m instanceof Embedding) {
      info.skipped.push(name);
    }
  }
  return info;
}
