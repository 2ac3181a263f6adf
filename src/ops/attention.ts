// Scaled dot-product attention, softmax(Q K^T * scale + mask) V. Where the device has a fused kernel
// (registered as 'attention', backend/fused.ts: flash-attention style, the [Lq, Lk] weights never stored; WebGPU, and the CPU
// when its WebAssembly kernels run) and the call fits it, that kernel runs, with its own backward;
// otherwise attention is composed from matmul and softmax, which stays as the reference
// (enableFusedAttention(false) selects it) and is the path of explicit masks and float64.
//
// The fused kernel takes no mask but the causal one and does attention dropout itself, from a
// counter-based hash seeded by one uint32 drawn from the op's Generator (see AttentionDropout in
// backend.ts): its masks differ from the composed path's, which draws uniforms with rand().

import type { AttentionDropout, Buffer } from '../backend/backend.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { needsGrad, record, wrap } from './make.js';
import { where } from './binary.js';
import { dropout } from './dropout.js';
import { matmul } from './matmul.js';
import { softmax } from './softmax.js';
import { expand, transpose } from './view.js';
import { globalGenerator, type Generator } from '../tensor/random.js';
import { sameShape } from '../base/shape.js';
import { tensor } from '../tensor/create.js';
import type { FusedKernel } from '../backend/fused.js';
import { dispatchFused } from './fused.js';

let fusedEnabled = true;

/**
 * Turns the fused attention kernels on or off (on by default), as PyTorch's
 * torch.backends.cuda.enable_flash_sdp does: with them off every call takes the composed path, so tests
 * and benchmarks can compare the two on one device.
 */
export function enableFusedAttention(on: boolean): void {
  fusedEnabled = on;
}

/** Whether scaledDotProductAttention may use the fused kernels (see enableFusedAttention). */
export function fusedAttentionEnabled(): boolean {
  return fusedEnabled;
}

/** Options of scaledDotProductAttention: mask, causality, scale and dropout. */
export interface AttentionOptions {
  /** Boolean mask (true = may attend) or an additive float mask, broadcast to [..., Lq, Lk]. */
  attnMask?: Tensor | null;
  /** Query i attends to keys j <= i (the upper-left-aligned causal mask of PyTorch). */
  isCausal?: boolean;
  /** Defaults to 1/sqrt(head dim). */
  scale?: number | null;
  /**
   * Dropout on the attention weights (in training). The fused kernel draws its mask from a hash seeded
   * by one uint32 of the generator, the composed path with rand(): the same generator state gives
   * different masks on the two paths.
   */
  dropoutP?: number;
  /** Apply dropoutP (true) or skip it (inference). */
  training?: boolean;
  /** Random source of the dropout mask (the global generator by default). */
  generator?: Generator;
}

/** q [..., Lq, E], k [..., Lk, E], v [..., Lk, Ev] -> [..., Lq, Ev]. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2) {
    throw new ShapeError(
      'scaledDotProductAttention',
      `q, k, v need at least 2 dimensions, got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`,
    );
  }
  const e = q.shape[q.ndim - 1]!;
  const lq = q.shape[q.ndim - 2]!;
  const lk = k.shape[k.ndim - 2]!;
  if (k.shape[k.ndim - 1] !== e || v.shape[v.ndim - 2] !== lk) {
    throw new ShapeError(
      'scaledDotProductAttention',
      `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} do not fit together`,
    );
  }
  if (opts.isCausal && opts.attnMask) throw new ValueError('scaledDotProductAttention', 'give either attnMask or isCausal, not both');
  const scale = opts.scale ?? 1 / Math.sqrt(e);
  const dropoutP = opts.dropoutP && (opts.training ?? true) ? opts.dropoutP : 0;
  const lead = fusableLead(q, k, v, opts, dropoutP);
  const rows = (x: Tensor): number[] => [...lead!, ...x.shape.slice(-2)];
  return dispatchFused('attention', {
    backend: q.backend,
    eligible: lead !== null,
    supports: lead && [rows(q), rows(k), rows(v)],
    fused: (kernel) => fusedAttention(kernel, q, k, v, lead!, opts.isCausal ?? false, scale, dropoutP, opts.generator),
    reference: () => composedAttention(q, k, v, opts, scale, lq, lk),
  });
}

/** Attention composed from matmul and softmax: the reference, and the path of explicit masks and float64. */
function composedAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions, scale: number, lq: number, lk: number): Tensor {
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

/**
 * The common leading shape q, k, v broadcast to when a fused kernel could take the call (the device's
 * kernel then says whether it does, from the shapes), else null.
 */
function fusableLead(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions, dropoutP: number): number[] | null {
  const b = q.backend;
  if (!fusedEnabled) return null;
  if (opts.attnMask || k.backend !== b || v.backend !== b) return null;
  if (q.dtype !== 'float32' || k.dtype !== 'float32' || v.dtype !== 'float32') return null;
  // p = 1 (all dropped) and invalid probabilities are the composed path's to handle.
  if (!(dropoutP >= 0 && dropoutP < 1)) return null;
  return broadcastLead([q.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2)]);
}

/** The broadcast of several shapes, or null where they do not broadcast (the composed path reports it). */
function broadcastLead(shapes: readonly (readonly number[])[]): number[] | null {
  const n = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let d = 1;
    for (const s of shapes) {
      const x = s[s.length - n + i] ?? 1;
      if (x === 1) continue;
      if (d !== 1 && d !== x) return null;
      d = x;
    }
    out.push(d);
  }
  return out;
}

/**
 * Attention as one fused kernel and one graph node. Inputs with a smaller leading shape are expanded
 * (stride 0) first, so expand's backward sums their gradients back. Keeps the output and the per-row
 * log-sum-exp for the backward, which rebuilds the weights from them.
 */
function fusedAttention(
  kernel: FusedKernel<'attention'>,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  lead: readonly number[],
  causal: boolean,
  scale: number,
  dropoutP: number,
  generator?: Generator,
): Tensor {
  const b = q.backend;
  const toLead = (x: Tensor): Tensor => {
    const shape = [...lead, ...x.shape.slice(-2)];
    return sameShape(x.shape, shape) ? x : expand(x, shape);
  };
  const [qe, ke, ve] = [toLead(q), toLead(k), toLead(v)];
  const drop: AttentionDropout | null = dropoutP > 0 ? { p: dropoutP, seed: (generator ?? globalGenerator).nextU32() } : null;
  const r = kernel.forward(b, qe.view_(), ke.view_(), ve.view_(), causal, scale, drop);
  const lq = q.shape[q.ndim - 2]!;
  const out = wrap(b, r.out, [...lead, lq, v.shape[v.ndim - 1]!], 'float32');
  const lse = wrap(b, r.lse, [...lead, lq], 'float32');
  if (!needsGrad(qe, ke, ve)) {
    lse.dispose();
    return out;
  }
  return record(
    out,
    'scaledDotProductAttention',
    [qe, ke, ve],
    (g) => {
      const d = kernel.backward(b, g.view_(), qe.view_(), ke.view_(), ve.view_(), out.view_(), lse.view_(), causal, scale, drop);
      const grad = (x: Tensor, buf: Buffer): Tensor | null => {
        if (x.requiresGrad) return wrap(b, buf, x.shape, 'float32');
        b.free(buf);
        return null;
      };
      return [grad(qe, d.dq), grad(ke, d.dk), grad(ve, d.dv)];
    },
    [out, lse],
  );
}

/** One 32-bit step of pcg4d on (a, b, c, d), returning the first word (host twin of the kernels' hash). */
function pcg4dX(a: number, b: number, c: number, d: number): number {
  let x = (Math.imul(a, 1664525) + 1013904223) >>> 0;
  let y = (Math.imul(b, 1664525) + 1013904223) >>> 0;
  let z = (Math.imul(c, 1664525) + 1013904223) >>> 0;
  let w = (Math.imul(d, 1664525) + 1013904223) >>> 0;
  const round = (): void => {
    x = (x + Math.imul(y, w)) >>> 0;
    y = (y + Math.imul(z, x)) >>> 0;
    z = (z + Math.imul(x, y)) >>> 0;
    w = (w + Math.imul(y, z)) >>> 0;
  };
  round();
  x = (x ^ (x >>> 16)) >>> 0;
  y = (y ^ (y >>> 16)) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  w = (w ^ (w >>> 16)) >>> 0;
  round();
  return x;
}

/**
 * The keep mask of a fused attention call's dropout: bool [...lead, lq, lk] on the CPU, true where the
 * weight at (flat batch b, query i, key j) is kept, by the rule of AttentionDropout (backend.ts). With
 * the seed the call drew, it lets the composed ops rebuild a fused call exactly.
 */
export function attentionDropoutMask(seed: number, p: number, lead: readonly number[], lq: number, lk: number): Tensor {
  const threshold = Math.ceil(p * 2 ** 24);
  const batches = lead.reduce((a, n) => a * n, 1);
  const m = new Uint8Array(batches * lq * lk);
  let at = 0;
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < lq; i++) {
      for (let j = 0; j < lk; j++) m[at++] = pcg4dX(seed >>> 0, b, i, j) >>> 8 >= threshold ? 1 : 0;
    }
  }
  return tensor(m, { shape: [...lead, lq, lk], dtype: 'bool' });
}
