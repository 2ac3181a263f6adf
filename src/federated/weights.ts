// A model's weights as federated learning passes them around: named tensors, the model's state dict
// (Flower's NDArrays, with names kept so a mismatch is caught by name rather than by position). The
// averaging of FedAvg runs here, on the host in float64, so its arithmetic is exact enough to check
// by hand and does not depend on the device the tensors live on.

import '../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { isFloat } from '../base/dtype.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';

/** A model's weights by state-dict name (`model.stateDict()`), as a client receives and returns them. */
export type Weights = Record<string, Tensor>;

/** One client's weights and how many examples it trained on: the n_k of n_k / n. */
export interface WeightedWeights {
  /** The client's weights. */
  weights: Weights;
  /** n_k: the examples it trained on. */
  numExamples: number;
}

/**
 * Checks that `w` has exactly the names and shapes of `reference`: a ValueError for a missing or an
 * extra name, a ShapeError for a shape that differs. `who` says whose weights they are, for the message.
 */
export function checkWeights(op: string, reference: Weights, w: Weights, who: string): void {
  if (typeof w !== 'object' || w === null)
    throw new ValueError(op, `${who}: expected named tensors, got ${w === null ? 'null' : typeof w}`);
  const missing = Object.keys(reference).filter((k) => !(k in w));
  const extra = Object.keys(w).filter((k) => !(k in reference));
  if (missing.length || extra.length) {
    const list = (ks: string[]): string => `[${ks.slice(0, 5).join(', ')}${ks.length > 5 ? `, ... (${ks.length})` : ''}]`;
    throw new ValueError(op, `${who}: the weights' names differ from the model's: missing ${list(missing)}, unexpected ${list(extra)}`);
  }
  for (const [k, r] of Object.entries(reference)) {
    const t = w[k]!;
    if (typeof t !== 'object' || t === null || !Array.isArray(t.shape)) throw new ValueError(op, `${who}: '${k}' is not a Tensor`);
    if (t.shape.length !== r.shape.length || t.shape.some((d, i) => d !== r.shape[i])) {
      throw new ShapeError(op, `${who}: '${k}' has shape ${fmtShape(t.shape)}, the model's is ${fmtShape(r.shape)}`);
    }
  }
}

/** Detached copies of `w` that the caller owns (and may dispose): the live tensors of a state dict keep changing. */
export function cloneWeights(w: Weights): Weights {
  return Object.fromEntries(Object.entries(w).map(([k, t]) => [k, t.detach().clone()]));
}

/** Frees every tensor of `w`. */
export function disposeWeights(w: Weights): void {
  for (const t of Object.values(w)) t.dispose();
}

/**
 * The weighted mean sum_k (n_k / n) w_k of McMahan et al.'s Algorithm 1 (n = sum_k n_k), name by name,
 * accumulated in float64 and stored in each tensor's dtype (an integer buffer gets the rounded mean).
 * Every entry must have the names and shapes of the first; numExamples must be non-negative with a
 * positive sum.
 */
export async function weightedAverage(entries: readonly WeightedWeights[]): Promise<Weights> {
  const op = 'federated.weightedAverage';
  if (entries.length === 0) throw new ValueError(op, 'no weights to average');
  let total = 0;
  entries.forEach((e, i) => {
    if (!(Number.isFinite(e.numExamples) && e.numExamples >= 0)) {
      throw new ValueError(op, `entry ${i}: numExamples must be a finite number >= 0, got ${e.numExamples}`);
    }
    total += e.numExamples;
  });
  if (!(total > 0)) throw new ValueError(op, `the entries hold no examples (every numExamples is 0)`);
  const reference = entries[0]!.weights;
  entries.forEach((e, i) => checkWeights(op, reference, e.weights, `entry ${i}`));
  const out: Weights = {};
  for (const [name, r] of Object.entries(reference)) {
    const acc = new Float64Array(r.size);
    for (const e of entries) {
      if (e.numExamples === 0) continue;
      const share = e.numExamples / total;
      const data = await e.weights[name]!.data();
      for (let i = 0; i < acc.length; i++) acc[i]! += share * Number(data[i]);
    }
    if (!isFloat(r.dtype)) for (let i = 0; i < acc.length; i++) acc[i] = Math.round(acc[i]!);
    out[name] = tensor(acc, { shape: r.shape.slice(), dtype: r.dtype });
  }
  return out;
}

/** base + delta, name by name (a client that returns the change of its weights rather than the weights). */
export function addDelta(base: Weights, delta: Weights, who: string): Weights {
  checkWeights('federated', base, delta, who);
  return Object.fromEntries(Object.entries(base).map(([k, t]) => [k, t.add(delta[k]!)]));
}
