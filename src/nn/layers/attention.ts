// Multi-head attention, as torch.nn.MultiheadAttention: packed input projection (in_proj_weight
// [3E, E], in_proj_bias), out_proj a Linear, PyTorch's mask conventions (a bool attn_mask or
// key_padding_mask is true where attention is NOT allowed; a float mask is added to the scores) and
// the attention weights averaged over heads when asked for.

import '../../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../../errors.js';
import type { DType } from '../../base/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Generator } from '../../tensor/random.js';
import { causalMask, scaledDotProductAttention } from '../../ops/attention.js';
import { logicalNot } from '../../ops/unary.js';
import { logicalAnd, where } from '../../ops/binary.js';
import { dropout } from '../../ops/dropout.js';
import { linear, matmul } from '../../ops/matmul.js';
import { softmax } from '../../ops/softmax.js';
import { reshape, transpose } from '../../ops/view.js';
import { constant_, xavierUniform_ } from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { Linear, checkFeatures } from './linear.js';
import { pyBool, pyNum } from './repr.js';

/** Options of MultiheadAttention.forward: masks, whether to return the weights, causality. */
export interface MultiheadAttentionForwardOptions {
  /**
   * [L, S] or [N * numHeads, L, S]: bool (true = may NOT attend, as PyTorch) or float (added to the
   * scores, e.g. -Infinity to block).
   */
  attnMask?: Tensor | null;
  /** [N, S] (or [S] unbatched): bool (true = this key is padding, ignore it) or float (added). */
  keyPaddingMask?: Tensor | null;
  /** Return the attention weights (default true). */
  needWeights?: boolean;
  /** Average the returned weights over the heads ([N, L, S]) or not ([N, numHeads, L, S]); default true. */
  averageAttnWeights?: boolean;
  /** Causal self-attention: query i sees keys j <= i. Used when no attnMask is given. */
  isCausal?: boolean;
}

/** Options of the functional multi-head attention: the forward options plus layout and dropout. */
export interface MultiheadAttentionFunctionalOptions extends MultiheadAttentionForwardOptions {
  /** Inputs and output as [batch, seq, embed] (default false: [seq, batch, embed]). */
  batchFirst?: boolean;
  /** Dropout on the attention weights (default 0). */
  dropoutP?: number;
  /** Apply dropoutP (true) or skip it (inference). */
  training?: boolean;
  /** Draw dropout masks from this generator instead of the global one. */
  generator?: Generator;
}

/**
 * Masks as the scaled dot-product attention wants them: a bool "may attend" mask or an additive float
 * mask, broadcastable to [N, heads, L, S]; null when there is none.
 */
function mergeMasks(
  attnMask: Tensor | null,
  keyPadding: Tensor | null,
  n: number,
  heads: number,
  l: number,
  s: number,
  dtype: DType,
): Tensor | null {
  let am: Tensor | null = null;
  if (attnMask) {
    if (attnMask.ndim === 2) {
      if (attnMask.shape[0] !== l || attnMask.shape[1] !== s)
        throw new ShapeError('MultiheadAttention', `attnMask must be [${l}, ${s}], got ${fmtShape(attnMask.shape)}`);
      am = attnMask;
    } else if (attnMask.ndim === 3) {
      if (attnMask.shape[0] !== n * heads || attnMask.shape[1] !== l || attnMask.shape[2] !== s) {
        throw new ShapeError('MultiheadAttention', `a 3-D attnMask must be [${n * heads}, ${l}, ${s}], got ${fmtShape(attnMask.shape)}`);
      }
      am = reshape(attnMask, [n, heads, l, s]);
    } else {
      throw new ShapeError('MultiheadAttention', `attnMask must be 2-D or 3-D, got ${fmtShape(attnMask.shape)}`);
    }
  }
  let kp: Tensor | null = null;
  if (keyPadding) {
    if (keyPadding.ndim !== 2 || keyPadding.shape[0] !== n || keyPadding.shape[1] !== s) {
      throw new ShapeError('MultiheadAttention', `keyPaddingMask must be [${n}, ${s}], got ${fmtShape(keyPadding.shape)}`);
    }
    kp = reshape(keyPadding, [n, 1, 1, s]);
  }
  const masks = [am, kp].filter((m): m is Tensor => m !== null);
  if (masks.length === 0) return null;
  if (masks.every((m) => m.dtype === 'bool')) {
    // true = blocked in PyTorch's convention; the attention op wants true = allowed
    const allowed = masks.map((m) => logicalNot(m));
    return allowed.length === 1 ? allowed[0]! : logicalAnd(allowed[0]!, allowed[1]!);
  }
  const additive = masks.map((m) => (m.dtype === 'bool' ? where(m, -Infinity, 0).to(dtype) : m.dtype === dtype ? m : m.to(dtype)));
  return additive.length === 1 ? additive[0]! : additive[0]!.add(additive[1]!);
}

/**
 * The forward of torch.nn.MultiheadAttention (F.multi_head_attention_forward) with embedDim-sized key
 * and value. query [L, N, E] (or [N, L, E] batch-first, or [L, E] unbatched), key and value [S, N, E].
 * Returns [output like query, weights [N, L, S] (per head: [N, heads, L, S]) or null].
 */
export function multiHeadAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  numHeads: number,
  inProjWeight: Tensor,
  inProjBias: Tensor | null,
  outProjWeight: Tensor,
  outProjBias: Tensor | null,
  opts: MultiheadAttentionFunctionalOptions = {},
): [Tensor, Tensor | null] {
  const op = 'MultiheadAttention';
  const e = inProjWeight.shape[1]!;
  if (query.ndim !== key.ndim || query.ndim !== value.ndim || (query.ndim !== 2 && query.ndim !== 3)) {
    throw new ShapeError(
      op,
      `query, key and value must all be 3-D (or all 2-D, unbatched), got ${fmtShape(query.shape)}, ${fmtShape(key.shape)}, ${fmtShape(value.shape)}`,
    );
  }
  for (const [name, t] of [
    ['query', query],
    ['key', key],
    ['value', value],
  ] as const) {
    if (t.shape[t.ndim - 1] !== e) throw new ShapeError(op, `${name} must have ${e} features (embedDim), got ${fmtShape(t.shape)}`);
  }
  const unbatched = query.ndim === 2;
  const toNLE = (t: Tensor): Tensor => (unbatched ? t.unsqueeze(0) : opts.batchFirst ? t : transpose(t, 0, 1));
  const q0 = toNLE(query),
    k0 = toNLE(key),
    v0 = toNLE(value);
  const [n, l] = [q0.shape[0]!, q0.shape[1]!];
  const s = k0.shape[1]!;
  if (k0.shape[0] !== n || v0.shape[0] !== n || v0.shape[1] !== s) {
    throw new ShapeError(
      op,
      `query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)} and value ${fmtShape(value.shape)} do not fit together`,
    );
  }
  const hd = e / numHeads;
  // one GEMM for self-attention; three (with slices of the packed weight) otherwise
  let q: Tensor, k: Tensor, v: Tensor;
  if (query === key && key === value) {
    [q, k, v] = linear(q0, inProjWeight, inProjBias).split(e, 2) as [Tensor, Tensor, Tensor];
  } else {
    const w = inProjWeight.split(e, 0);
    const b = inProjBias ? inProjBias.split(e, 0) : [null, null, null];
    q = linear(q0, w[0]!, b[0]);
    k = linear(k0, w[1]!, b[1]);
    v = linear(v0, w[2]!, b[2]);
  }
  const heads = (t: Tensor, len: number): Tensor => transpose(reshape(t, [n, len, numHeads, hd]), 1, 2); // [N, h, len, hd]
  q = heads(q, l);
  k = heads(k, s);
  v = heads(v, s);
  let kpm = opts.keyPaddingMask ?? null;
  if (kpm && unbatched && kpm.ndim === 1) kpm = kpm.unsqueeze(0);
  const mask = mergeMasks(opts.attnMask ?? null, kpm, n, numHeads, l, s, q.dtype);
  const causal = !!opts.isCausal && !opts.attnMask;
  const dropP = opts.training === false ? 0 : (opts.dropoutP ?? 0);
  const needWeights = opts.needWeights ?? true;
  let y: Tensor;
  let weights: Tensor | null = null;
  if (!needWeights) {
    let m = mask;
    if (causal) m = combineCausal(m, q, l, s);
    y = scaledDotProductAttention(q, k, v, { attnMask: m, dropoutP: dropP, training: true, generator: opts.generator });
  } else {
    let scores = matmul(q, transpose(k, -2, -1)).mul(1 / Math.sqrt(hd)); // [N, h, L, S]
    const m = causal ? combineCausal(mask, q, l, s) : mask;
    if (m) scores = m.dtype === 'bool' ? where(m, scores, -Infinity) : scores.add(m);
    let att = softmax(scores, -1);
    if (dropP > 0) att = dropout(att, dropP, true, opts.generator);
    y = matmul(att, v);
    weights = (opts.averageAttnWeights ?? true) ? att.mean(1) : att;
    if (unbatched) weights = weights.squeeze(0);
  }
  // [N, h, L, hd] -> [N, L, E] -> out_proj
  let out = linear(reshape(transpose(y, 1, 2), [n, l, e]), outProjWeight, outProjBias);
  out = unbatched ? out.squeeze(0) : opts.batchFirst ? out : transpose(out, 0, 1);
  return [out, weights];
}

/** A mask that also blocks keys after the query (upper-left aligned, as PyTorch's is_causal). */
function combineCausal(mask: Tensor | null, like: Tensor, l: number, s: number): Tensor {
  const c = causalMask(like, l, s); // true = allowed
  if (!mask) return c;
  return mask.dtype === 'bool' ? logicalAnd(mask, c) : mask.add(where(c, 0, -Infinity).to(mask.dtype));
}

/** Options of MultiheadAttention: biases, layout, dropout, dtype, device and generator. */
export interface MultiheadAttentionOptions {
  /** in_proj_bias and out_proj.bias (default true). */
  bias?: boolean;
  /** Inputs and output as [batch, seq, embed] (default false: [seq, batch, embed]). */
  batchFirst?: boolean;
  /** Dropout on the attention weights, in training mode only (default 0). */
  dropout?: number;
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default the current device). */
  device?: string;
  /** Draw dropout masks from this generator instead of the global one. */
  generator?: Generator;
}

/** torch.nn.MultiheadAttention (key and value of embedDim features). */
export class MultiheadAttention extends Module {
  /** Model width: features of each query, key and value. */
  readonly embedDim: number;
  /** Number of attention heads. */
  readonly numHeads: number;
  /** Features per head: embedDim / numHeads. */
  readonly headDim: number;
  /** Inputs and output as [batch, seq, embed] rather than [seq, batch, embed]. */
  readonly batchFirst: boolean;
  /** Dropout probability on the attention weights, in training mode. */
  readonly dropout: number;
  /** Draws the dropout masks (the global generator when undefined). */
  generator: Generator | undefined;
  /** The packed q, k, v projection weight [3 * embedDim, embedDim], by PyTorch's name. */
  in_proj_weight: Parameter;
  /** The packed q, k, v projection bias [3 * embedDim], or null. */
  in_proj_bias: Parameter | null;
  /** The output projection. */
  out_proj: Linear;

  /** Multi-head attention of embedDim features split over numHeads heads. */
  constructor(embedDim: number, numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    checkFeatures('MultiheadAttention', { embedDim, numHeads });
    if (embedDim % numHeads !== 0)
      throw new ValueError('MultiheadAttention', `embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
    const p = opts.dropout ?? 0;
    if (!(p >= 0 && p <= 1)) throw new ValueError('MultiheadAttention', `dropout must be in [0, 1], got ${p}`);
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.headDim = embedDim / numHeads;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = p;
    this.generator = opts.generator;
    const bias = opts.bias ?? true;
    const dt = { dtype: opts.dtype, device: opts.device };
    this.in_proj_weight = Parameter.zeros([3 * embedDim, embedDim], dt);
    this.in_proj_bias = bias ? Parameter.zeros([3 * embedDim], dt) : null;
    this.out_proj = new Linear(embedDim, embedDim, bias, dt);
    this.resetParameters();
  }

  /** PyTorch's: in_proj_weight Xavier-uniform, biases zero, out_proj.weight as a Linear's. */
  resetParameters(): void {
    xavierUniform_(this.in_proj_weight);
    if (this.in_proj_bias) constant_(this.in_proj_bias, 0);
    this.out_proj.resetParameters();
    if (this.out_proj.bias) constant_(this.out_proj.bias, 0);
  }

  /** Returns [output, attention weights or null]; key and value default to query (self-attention). */
  forward(query: Tensor, key?: Tensor | null, value?: Tensor | null, opts: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const k = key ?? query;
    const v = value ?? k;
    return multiHeadAttention(
      query,
      k,
      v,
      this.numHeads,
      this.in_proj_weight,
      this.in_proj_bias,
      this.out_proj.weight,
      this.out_proj.bias,
      {
        ...opts,
        batchFirst: this.batchFirst,
        dropoutP: this.dropout,
        training: this.training,
        generator: this.generator,
      },
    );
  }

  override extraRepr(): string {
    return `embed_dim=${this.embedDim}, num_heads=${this.numHeads}, dropout=${pyNum(this.dropout)}, batch_first=${pyBool(this.batchFirst)}`;
  }
}
