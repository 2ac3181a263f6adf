// Fused scaled-dot-product attention on the WASM kernels (assembly/attention.ts): the host lists the
// batch entries (the byte address of each one's q, k, v and g matrices), so any leading layout runs
// without a copy, and splits the entries across threads. The [Lq, Lk] weights are never stored: each
// thread keeps one [64, Lk] block (two in the backward), and the backward rebuilds the weights from
// the forward's per-row log-sum-exp.

import type { AttentionDropout, View } from '../../backend.js';
import { DTypeError, ShapeError, fmtShape } from '../../../errors.js';
import type { TypedArray } from '../../../base/dtype.js';
import { referenceBackend } from '../reference-backend.js';
import { attentionShapeProblem } from '../../attention-shape.js';
import { contiguousStrides, numel, sameShape } from '../../../base/shape.js';
import type { WasmRuntime } from './runtime.js';

/** Query rows per block (QB in assembly/attention.ts). */
const QB = 32;
/** Below this many multiply-adds a call stays on the calling thread. */
const PARALLEL_MIN_MACS = 1 << 18;

/** Why the kernels cannot take these shapes (null when they can). */
function shapeProblem(q: readonly number[], k: readonly number[], v: readonly number[]): string | null {
  return attentionShapeProblem(q, k, v) ?? (k[k.length - 2] === 0 ? 'there are no keys' : null);
}

export function supportsAttentionF32(q: readonly number[], k: readonly number[], v: readonly number[]): boolean {
  return shapeProblem(q, k, v) === null;
}

function check(op: string, views: Record<string, View>): void {
  for (const [name, x] of Object.entries(views)) {
    if (x.dtype !== 'float32') throw new DTypeError(op, `${name} must be float32, got ${x.dtype} ${fmtShape(x.shape)}`);
  }
  const { q, k, v } = views as { q: View; k: View; v: View };
  const bad = shapeProblem(q.shape, k.shape, v.shape);
  if (bad) throw new ShapeError(op, `${bad}: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`);
}

/** The view itself when it lives in the heap, else a contiguous heap copy (to free after the call). */
function inHeap(rt: WasmRuntime, v: View, temps: TypedArray[]): View {
  if (rt.heap.owns(v.buf as TypedArray)) return v;
  const buf = rt.heap.allocArray('float32', numel(v.shape), false);
  const copy: View = { buf, dtype: 'float32', shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 };
  referenceBackend.copy(v, copy);
  temps.push(buf);
  return copy;
}

interface Plan {
  nb: number;
  lq: number;
  lk: number;
  e: number;
  ev: number;
  /** [rsQ, csQ, rsK, csK, rsV, csV, rsG, csG] as int32, in the heap. */
  strides: Int32Array;
  /** Per batch entry the byte addresses of q, k, v, g, as uint32, in the heap. */
  entries: Uint32Array;
  temps: TypedArray[];
}

/** Lists the batch entries of q, k, v (and g) for the kernels. */
function plan(rt: WasmRuntime, q: View, k: View, v: View, g: View | null): Plan {
  const temps: TypedArray[] = [];
  const views = [q, k, v, g ?? q].map((x) => inHeap(rt, x, temps));
  const r = q.shape.length;
  const lead = q.shape.slice(0, -2);
  const nb = numel(lead);
  const strides = rt.heap.allocArray('int32', 8, false) as Int32Array;
  views.forEach((x, i) => {
    strides[2 * i] = x.strides[r - 2]!;
    strides[2 * i + 1] = x.strides[r - 1]!;
  });
  const entries = rt.heap.allocArray('int32', Math.max(1, nb * 4), false);
  const table = new Uint32Array(entries.buffer, entries.byteOffset, nb * 4);
  const idx = new Array<number>(lead.length).fill(0);
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < 4; i++) {
      const x = views[i]!;
      let off = x.offset;
      for (let d = 0; d < lead.length; d++) off += idx[d]! * x.strides[d]!;
      table[4 * b + i] = (x.buf as TypedArray).byteOffset + off * 4;
    }
    for (let d = lead.length - 1; d >= 0 && ++idx[d]! === lead[d]!; d--) idx[d] = 0;
  }
  temps.push(strides, entries);
  return { nb, lq: q.shape[r - 2]!, lk: k.shape[r - 2]!, e: q.shape[r - 1]!, ev: v.shape[r - 1]!, strides, entries: table, temps };
}

/** Batch ranges per thread: [first entry, count]. */
function split(rt: WasmRuntime, p: Plan): [number, number][] {
  const macs = p.nb * p.lq * p.lk * (p.e + p.ev);
  const T = Math.min(rt.threads, p.nb, Math.max(1, Math.floor(macs / PARALLEL_MIN_MACS)));
  const out: [number, number][] = [];
  for (let t = 0, at = 0; t < T; t++) {
    const n = Math.floor((p.nb * (t + 1)) / T) - at;
    if (n > 0) out.push([at, n]);
    at += n;
  }
  return out;
}

function dropArgs(dropout: AttentionDropout | null | undefined): [number, number, number] {
  if (!dropout || dropout.p <= 0) return [0, 0, 0];
  return [dropout.p, dropout.seed >>> 0, Math.ceil(dropout.p * 2 ** 24)];
}

export function attentionF32(
  rt: WasmRuntime,
  q: View,
  k: View,
  v: View,
  causal: boolean,
  scale: number,
  dropout?: AttentionDropout | null,
): { out: Float32Array; lse: Float32Array } {
  check('attention', { q, k, v });
  const p = plan(rt, q, k, v, null);
  const out = rt.heap.allocArray('float32', p.nb * p.lq * p.ev, false) as Float32Array;
  const lse = rt.heap.allocArray('float32', p.nb * p.lq, false) as Float32Array;
  if (p.nb * p.lq > 0) {
    const ranges = split(rt, p);
    const blocks = ranges.map(() => rt.heap.allocArray('float32', QB * p.lk, false));
    const [dp, seed, threshold] = dropArgs(dropout);
    rt.pool.run(
      'attentionF32',
      ranges.map(([b0, n], t) => [
        n,
        p.strides.byteOffset,
        p.entries.byteOffset + b0 * 16,
        p.lq,
        p.lk,
        p.e,
        p.ev,
        out.byteOffset + b0 * p.lq * p.ev * 4,
        lse.byteOffset + b0 * p.lq * 4,
        b0,
        causal ? 1 : 0,
        scale,
        dp,
        seed,
        threshold,
        blocks[t]!.byteOffset,
        rt.scratchFor(t),
      ]),
    );
    p.temps.push(...blocks);
  }
  for (const t of p.temps) rt.heap.freeArray(t);
  return { out, lse };
}

export function attentionBackwardF32(
  rt: WasmRuntime,
  g: View,
  q: View,
  k: View,
  v: View,
  out: View,
  lse: View,
  causal: boolean,
  scale: number,
  dropout?: AttentionDropout | null,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  check('attentionBackward', { q, k, v, g, out, lse });
  const outShape = [...q.shape.slice(0, -1), v.shape[v.shape.length - 1]!];
  if (!sameShape(g.shape, outShape) || !sameShape(out.shape, outShape) || !sameShape(lse.shape, q.shape.slice(0, -1))) {
    throw new ShapeError(
      'attentionBackward',
      `g ${fmtShape(g.shape)} and out ${fmtShape(out.shape)} must be ${fmtShape(outShape)}, lse ${fmtShape(lse.shape)} must be ${fmtShape(q.shape.slice(0, -1))}`,
    );
  }
  const p = plan(rt, q, k, v, g);
  // out and lse as the forward made them: contiguous [nb, lq, ev] and [nb, lq]
  const contiguous = (x: View): View => {
    const want = contiguousStrides(x.shape);
    if (rt.heap.owns(x.buf as TypedArray) && x.strides.every((s, i) => s === want[i] || x.shape[i] === 1)) return x;
    const buf = rt.heap.allocArray('float32', numel(x.shape), false);
    referenceBackend.copy(x, { buf, dtype: 'float32', shape: x.shape, strides: want, offset: 0 });
    p.temps.push(buf);
    return { buf, dtype: 'float32', shape: x.shape, strides: want, offset: 0 };
  };
  const [o, l] = [contiguous(out), contiguous(lse)];
  const oP = (o.buf as Float32Array).byteOffset + o.offset * 4;
  const lP = (l.buf as Float32Array).byteOffset + l.offset * 4;
  const dq = rt.heap.allocArray('float32', p.nb * p.lq * p.e, true) as Float32Array;
  const dk = rt.heap.allocArray('float32', p.nb * p.lk * p.e, true) as Float32Array;
  const dv = rt.heap.allocArray('float32', p.nb * p.lk * p.ev, true) as Float32Array;
  if (p.nb * p.lq > 0) {
    const ranges = split(rt, p);
    const blocks = ranges.map(() => rt.heap.allocArray('float32', 2 * QB * p.lk, false));
    const [dp, seed, threshold] = dropArgs(dropout);
    rt.pool.run(
      'attentionBackwardF32',
      ranges.map(([b0, n], t) => [
        n,
        p.strides.byteOffset,
        p.entries.byteOffset + b0 * 16,
        p.lq,
        p.lk,
        p.e,
        p.ev,
        oP + b0 * p.lq * p.ev * 4,
        lP + b0 * p.lq * 4,
        dq.byteOffset + b0 * p.lq * p.e * 4,
        dk.byteOffset + b0 * p.lk * p.e * 4,
        dv.byteOffset + b0 * p.lk * p.ev * 4,
        b0,
        causal ? 1 : 0,
        scale,
        dp,
        seed,
        threshold,
        blocks[t]!.byteOffset,
        blocks[t]!.byteOffset + QB * p.lk * 4,
        rt.scratchFor(t),
      ]),
    );
    p.temps.push(...blocks);
  }
  for (const t of p.temps) rt.heap.freeArray(t);
  return { dq, dk, dv };
}
