// Structured pruning that physically shrinks a Sequential model: whole output neurons of a Linear or
// output channels of a Conv2d are removed (those of lowest L1 or L2 norm, as torch's ln_structured
// ranks them), the layer is rebuilt with fewer outputs, and so are the layers that consume them
// downstream: a BatchNorm in between (its affine parameters and running statistics), the next Linear's
// input columns, the next Conv2d's input channels, and across a Flatten the Linear's columns of the
// removed channels (NCHW flattening: channel c owns columns c*H*W .. c*H*W + H*W - 1). Elementwise
// layers (activations, Dropout, Identity) and pooling pass channels through. The result has fewer
// parameters and runs faster, unlike a mask. New Parameter objects replace the old: compile() again
// (or make a new optimizer) before training on.
//
// Not handled (a typed error says so): grouped convolutions, ConvTranspose2d, nested containers
// between the pruned layer and its consumer, residual connections or any graph that is not a chain,
// Softmax/LayerNorm over the pruned axis (a GPT's attention heads: heads.ts). The pruned layer must have
// a consumer: the model's own outputs are never removed.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import { Sequential } from '../nn/layers/containers.js';
import { Linear, Identity } from '../nn/layers/linear.js';
import { Conv2d } from '../nn/layers/conv.js';
import { BatchNorm1d, BatchNorm2d } from '../nn/layers/normalization.js';
import { Flatten } from '../nn/layers/flatten.js';
import { Dropout } from '../nn/layers/dropout.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../nn/layers/pooling.js';
import { GELU, LeakyReLU, ReLU, SiLU, Sigmoid, Softplus, Tanh } from '../nn/layers/activation.js';
import { entriesToPrune, isPruned, type PruneAmount } from './unstructured.js';

export interface StructuredOptions extends PruneAmount {
  /** The norm that ranks units: 1 (L1, default) or 2 (L2), of each unit's weights (torch's ln_structured `n`). */
  norm?: 1 | 2;
}

/** What one structured pruning did. */
export interface StructuredReport {
  /** The layer's name in the Sequential. */
  layer: string;
  /** Units (outputs) of the layer before. */
  before: number;
  /** Units of the layer after. */
  after: number;
  /** The indices of the kept units, in their original order. */
  kept: number[];
  /** The names of the downstream layers rebuilt to match. */
  consumers: string[];
}

const ELEMENTWISE = [ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softplus, Dropout, Identity];
const POOLING = [MaxPool2d, AvgPool2d, AdaptiveAvgPool2d];

function host(op: string, t: Tensor): Float32Array | Float64Array {
  if (!t.backend.capabilities.syncRead)
    throw new ValueError(op, `structured pruning reads weights on the host: prune the model on the CPU (this one is on '${t.device}')`);
  return t.contiguous().dataSync() as Float32Array | Float64Array;
}

/** A parameter from host data, with the old one's dtype, device and requiresGrad (a frozen layer stays frozen). */
function param(old: Parameter, data: ArrayLike<number>, shape: number[]): Parameter {
  const t = tensor(Float64Array.from(data as ArrayLike<number>), { shape, dtype: old.dtype, device: old.device });
  const p = new Parameter(t, old.requiresGrad);
  t.dispose();
  return p;
}

/** Rows (along dim 0) `keep` of a [n, rest] tensor's data. */
function takeRows(d: ArrayLike<number>, rest: number, keep: readonly number[]): Float64Array {
  const out = new Float64Array(keep.length * rest);
  keep.forEach((r, i) => {
    for (let j = 0; j < rest; j++) out[i * rest + j] = d[r * rest + j]!;
  });
  return out;
}

/** Blocks `keep` of width `block` along dim 1 of a [rows, n * block] tensor's data. */
function takeCols(d: ArrayLike<number>, rows: number, n: number, block: number, keep: readonly number[]): Float64Array {
  const out = new Float64Array(rows * keep.length * block);
  for (let r = 0; r < rows; r++) {
    keep.forEach((c, i) => {
      for (let j = 0; j < block; j++) out[(r * keep.length + i) * block + j] = d[(r * n + c) * block + j]!;
    });
  }
  return out;
}

function layerAt(op: string, model: Sequential, layer: number | string): [string, Module, number] {
  if (!(model instanceof Sequential))
    throw new ValueError(op, `structured pruning takes a Sequential model, got ${(model as Module)?.name ?? String(model)}`);
  const kids = model.namedChildren();
  const i = typeof layer === 'number' ? layer : kids.findIndex(([k]) => k === layer);
  const kid = Number.isInteger(i) ? kids[i] : undefined;
  if (!kid)
    throw new ValueError(
      op,
      `the Sequential has no layer ${JSON.stringify(layer)} (it has ${kids.length} layers: ${kids.map(([k]) => k).join(', ')})`,
    );
  if (isPruned(kid[1])) throw new ValueError(op, `layer ${kid[0]} (${kid[1].name}) carries a pruning mask: call prune.removePruning first`);
  return [kid[0], kid[1], i];
}

/** The indices of the units to keep: all but the `k` of lowest norm (ties: the lower index goes first), in order. */
function keepByNorm(op: string, w: ArrayLike<number>, units: number, opts: StructuredOptions): number[] {
  const norm = opts.norm ?? 1;
  if (norm !== 1 && norm !== 2) throw new ValueError(op, `norm must be 1 or 2, got ${String(norm)}`);
  const k = entriesToPrune(op, opts, units);
  if (k >= units) throw new ValueError(op, `cannot remove all ${units} units of a layer (amount leaves ${units - k})`);
  const rest = w.length / units;
  const scores = new Float64Array(units);
  for (let u = 0; u < units; u++) {
    let s = 0;
    for (let j = 0; j < rest; j++) {
      const v = w[u * rest + j]!;
      s += norm === 1 ? Math.abs(v) : v * v;
    }
    scores[u] = s;
  }
  const order = [...scores.keys()].sort((a, b) => scores[a]! - scores[b]! || a - b);
  const drop = new Set(order.slice(0, k));
  return [...scores.keys()].filter((u) => !drop.has(u));
}

function shrinkBatchNorm(op: string, bn: BatchNorm1d | BatchNorm2d, keep: number[]): BatchNorm1d | BatchNorm2d {
  const Ctor = bn instanceof BatchNorm2d ? BatchNorm2d : BatchNorm1d;
  const dtype = bn.buffer('running_mean')?.dtype ?? bn.weight?.dtype;
  const nb = new Ctor(keep.length, {
    eps: bn.eps,
    momentum: bn.momentum,
    affine: bn.affine,
    trackRunningStats: bn.trackRunningStats,
    dtype: dtype as 'float32' | undefined,
    device: bn.device,
  });
  if (bn.weight && bn.bias) {
    nb.weight = param(bn.weight, takeRows(host(op, bn.weight), 1, keep), [keep.length]);
    nb.bias = param(bn.bias, takeRows(host(op, bn.bias), 1, keep), [keep.length]);
  }
  for (const k of ['running_mean', 'running_var']) {
    const b = bn.buffer(k);
    if (b)
      nb.setBuffer(
        k,
        tensor(Float64Array.from(takeRows(host(op, b), 1, keep)), { shape: [keep.length], dtype: b.dtype, device: b.device }),
      );
  }
  const nbt = bn.buffer('num_batches_tracked');
  if (nbt) nb.setBuffer('num_batches_tracked', nbt.clone());
  nb.training = bn.training;
  return nb;
}

function shrinkLinearInputs(op: string, lin: Linear, n: number, block: number, keep: number[]): Linear {
  if (lin.inFeatures !== n * block)
    throw new ValueError(op, `${lin.name}(${lin.extraRepr()}) takes ${lin.inFeatures} inputs, expected ${n}*${block}`);
  const nl = new Linear(keep.length * block, lin.outFeatures, lin.bias !== null, { dtype: lin.weight.dtype, device: lin.device });
  nl.weight = param(lin.weight, takeCols(host(op, lin.weight), lin.outFeatures, n, block, keep), [lin.outFeatures, keep.length * block]);
  if (lin.bias) nl.bias = param(lin.bias, host(op, lin.bias), [lin.outFeatures]);
  nl.training = lin.training;
  return nl;
}

function shrinkConvInputs(op: string, conv: Conv2d, keep: number[]): Conv2d {
  if (conv.groups !== 1) throw new ValueError(op, `grouped convolutions (groups=${conv.groups}) are not handled`);
  const [kh, kw] = conv.kernelSize;
  const nc = new Conv2d(keep.length, conv.outChannels, conv.kernelSize, convOpts(conv));
  nc.weight = param(conv.weight, takeCols(host(op, conv.weight), conv.outChannels, conv.inChannels, kh * kw, keep), [
    conv.outChannels,
    keep.length,
    kh,
    kw,
  ]);
  if (conv.bias) nc.bias = param(conv.bias, host(op, conv.bias), [conv.outChannels]);
  nc.training = conv.training;
  return nc;
}

function convOpts(c: Conv2d): ConstructorParameters<typeof Conv2d>[3] {
  return {
    stride: c.stride,
    padding: c.padding,
    dilation: c.dilation,
    groups: c.groups,
    bias: c.bias !== null,
    dtype: c.weight.dtype as 'float32',
    device: c.device,
  };
}

/**
 * Rebuilds the layers after position `i` that consume its `n` outputs so they take only `keep`; returns
 * the replacements by name. `channels`: the units are conv channels (so pooling and a Flatten may sit
 * between), else Linear features.
 */
function shrinkConsumers(op: string, model: Sequential, i: number, n: number, keep: number[], channels: boolean): [string, Module][] {
  const kids = model.namedChildren();
  const out: [string, Module][] = [];
  let flattened = false;
  for (let j = i + 1; j < kids.length; j++) {
    const [name, m] = kids[j]!;
    if (isPruned(m)) throw new ValueError(op, `layer ${name} (${m.name}) carries a pruning mask: call prune.removePruning first`);
    if (ELEMENTWISE.some((C) => m instanceof C)) continue;
    if (channels && !flattened && POOLING.some((C) => m instanceof C)) continue;
    if (m instanceof BatchNorm1d || m instanceof BatchNorm2d) {
      if (flattened) throw new ValueError(op, `a ${m.name} after the Flatten (layer ${name}) is not handled`);
      out.push([name, shrinkBatchNorm(op, m, keep)]);
      continue;
    }
    if (channels && m instanceof Flatten && !flattened) {
      if (m.startDim !== 1 || (m.endDim !== -1 && m.endDim !== 3))
        throw new ValueError(op, `a Flatten over dims ${m.startDim}..${m.endDim} (layer ${name}) is not handled; only start_dim=1`);
      flattened = true;
      continue;
    }
    if (m instanceof Linear) {
      if (channels && !flattened)
        throw new ValueError(op, `a Linear on conv channels without a Flatten before it (layer ${name}) is not handled`);
      const block = channels ? m.inFeatures / n : 1;
      if (!Number.isInteger(block))
        throw new ValueError(op, `layer ${name}: ${m.inFeatures} inputs are not a multiple of the ${n} pruned channels`);
      out.push([name, shrinkLinearInputs(op, m, n, block, keep)]);
      return out;
    }
    if (m instanceof Conv2d && channels && !flattened) {
      if (m.inChannels !== n) throw new ValueError(op, `layer ${name}: ${m.name} takes ${m.inChannels} channels, expected ${n}`);
      out.push([name, shrinkConvInputs(op, m, keep)]);
      return out;
    }
    throw new ValueError(
      op,
      `cannot follow the pruned units through layer ${name} (${m.name}); handled between a pruned layer and its consumer: activations, Dropout, pooling, BatchNorm, Flatten`,
    );
  }
  throw new ValueError(op, `layer ${kids[i]![0]}'s outputs are the model's outputs (no layer consumes them): they cannot be removed`);
}

function commit(model: Sequential, replacements: [string, Module][]): void {
  for (const [name, m] of replacements) model.setSubmodule(name, m);
}

/**
 * Removes the `amount` output neurons of lowest norm from the Linear at `layer` (an index or a name in
 * the Sequential), and the matching inputs of the layers that consume them. Returns what it did.
 */
export function pruneLinearNeurons(model: Sequential, layer: number | string, opts: StructuredOptions): StructuredReport {
  const op = 'pruneLinearNeurons';
  const [name, m, i] = layerAt(op, model, layer);
  if (!(m instanceof Linear)) throw new ValueError(op, `layer ${name} is a ${m.name}, not a Linear`);
  const w = host(op, m.weight);
  const keep = keepByNorm(op, w, m.outFeatures, opts);
  const consumers = shrinkConsumers(op, model, i, m.outFeatures, keep, false);
  const nl = new Linear(m.inFeatures, keep.length, m.bias !== null, { dtype: m.weight.dtype, device: m.device });
  nl.weight = param(m.weight, takeRows(w, m.inFeatures, keep), [keep.length, m.inFeatures]);
  if (m.bias) nl.bias = param(m.bias, takeRows(host(op, m.bias), 1, keep), [keep.length]);
  nl.training = m.training;
  commit(model, [[name, nl], ...consumers]);
  return { layer: name, before: m.outFeatures, after: keep.length, kept: keep, consumers: consumers.map(([k]) => k) };
}

/**
 * Removes the `amount` output channels of lowest norm from the Conv2d at `layer`, and the matching
 * channels of the layers that consume them (BatchNorm2d, the next Conv2d, or the Linear after a Flatten).
 */
export function pruneConvChannels(model: Sequential, layer: number | string, opts: StructuredOptions): StructuredReport {
  const op = 'pruneConvChannels';
  const [name, m, i] = layerAt(op, model, layer);
  if (!(m instanceof Conv2d)) throw new ValueError(op, `layer ${name} is a ${m.name}, not a Conv2d`);
  if (m.groups !== 1) throw new ValueError(op, `grouped convolutions (groups=${m.groups}) are not handled`);
  const w = host(op, m.weight);
  const keep = keepByNorm(op, w, m.outChannels, opts);
  const consumers = shrinkConsumers(op, model, i, m.outChannels, keep, true);
  const [kh, kw] = m.kernelSize;
  const nc = new Conv2d(m.inChannels, keep.length, m.kernelSize, convOpts(m));
  nc.weight = param(m.weight, takeRows(w, m.inChannels * kh * kw, keep), [keep.length, m.inChannels, kh, kw]);
  if (m.bias) nc.bias = param(m.bias, takeRows(host(op, m.bias), 1, keep), [keep.length]);
  nc.training = m.training;
  commit(model, [[name, nc], ...consumers]);
  return { layer: name, before: m.outChannels, after: keep.length, kept: keep, consumers: consumers.map(([k]) => k) };
}

/**
 * Structured pruning of a whole Sequential: `amount` of the output channels of every Conv2d and of the
 * output neurons of every Linear that some later layer consumes (the last Linear, the model's outputs,
 * is kept whole), first to last. Returns one report per pruned layer.
 */
export function pruneStructured(model: Sequential, opts: StructuredOptions): StructuredReport[] {
  const op = 'pruneStructured';
  if (!(model instanceof Sequential))
    throw new ValueError(op, `structured pruning takes a Sequential model, got ${(model as Module)?.name ?? String(model)}`);
  const kids = model.namedChildren();
  let lastParam = -1;
  kids.forEach(([, m], i) => {
    if (m instanceof Linear || m instanceof Conv2d) lastParam = i;
  });
  const out: StructuredReport[] = [];
  for (let i = 0; i < lastParam; i++) {
    const [name, m] = model.namedChildren()[i]!;
    if (m instanceof Conv2d) out.push(pruneConvChannels(model, name, opts));
    else if (m instanceof Linear) out.push(pruneLinearNeurons(model, name, opts));
  }
  return out;
}
