// Scaled dot-product attention, softmax(Q K^T * scale + mask) V, composed from matmul and softmax
// (a fused kernel can replace it later behind the same signature; this stays as its reference).

import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { wrap } from './make.js';
import { where } from './binary.js';
import { dropout } from './dropout.js';
import { matmul } from './matmul.js';
import { softmax } from './softmax.js';
import { transpose } from './view.js';
import type { Generator } from '../tensor/random.js';

export interface AttentionOptions {
  /** Boolean mask (true = may attend) or an additive float mask, broadcast to [..., Lq, Lk]. */
  attnMask?: Tensor | null;
  /** Query i attends to keys j <= i (the upper-left-aligned causal mask of PyTorch). */
  isCausal?: boolean;
  /** Defaults to 1/sqrt(head dim). */
  scale?: number | null;
  dropoutP?: number;
  training?: boolean;
  generator?: Generator;
}

/** q [..., Lq, E], k [..., Lk, E], v [..., Lk, Ev] -> [..., Lq, Ev]. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2) {
    throw new ShapeError('scaledDotProductAttention', `q, k, v need at least 2 dimensions, got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  }
  const e = q.shape[q.ndim - 1]!;
  const lq = q.shape[q.ndim - 2]!;
  const lk = k.shape[k.ndim - 2]!;
  if (k.shape[k.ndim - 1] !== e || v.shape[v.ndim - 2] !== lk) {
    throw new ShapeError('scaledDotProductAttention', `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} do not fit together`);
  }
  if (opts.isCausal && opts.attnMask) throw new ValueError('scaledDotProductAttention', 'give either attnMask or isCausal, not both');
  const scale = opts.scale ?? 1 / Math.sqrt(e);
  let scores = matmul(q, transpose(k, -2, -1)).mul(scale);
  if (opts.isCausal) {
    scores = where(causalMask(q, lq, lk), scores, -Infinity);
  } else if (opts.attnMask) {
    scores = opts.attnMask.dtype === 'bool' ? where(opts.attnMask, scores, -Infinity) : scores.add(opts.attnMask);
  }
  let att = softmax(scores, -1);
  if (opts.dropoutP && (opts.training ?? true)) att = dropout(att, opts.dropoutP, true, opts.generator);
  return matmul(att, v);
}

/** [Lq, Lk] bool, true where key j <= query i. */
export function causalMask(like: Tensor, lq: number, lk: number): Tensor {
  const m = new Uint8Array(lq * lk);
  for (let i = 0; i < lq; i++) m.fill(1, i * lk, i * lk + Math.min(i + 1, lk));
  return wrap(like.backend, like.backend.fromArray(m), [lq, lk], 'bool');
}
