// Reference kernels for the row ops: softmax / log-softmax (along any axis), and the fused ops over the
// last axis: layer norm and its backward, cross-entropy with logits and its backward. Any strides,
// float32 or float64, float64 arithmetic throughout (each result is rounded once, when stored), so they
// are the baseline the WASM kernels are measured against.

import type { View } from '../backend.js';
import type { TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { IndexError } from '../../errors.js';
import { contiguousStrides, numel } from '../../base/shape.js';
import { contiguousCopy, dataOf, forEachRow, planRows, without } from './strided.js';

/** Calls body(row, offset of that row's first element) for every row of v seen as [rows, n]. */
function eachRow(v: View, body: (r: number, off: number) => void): void {
  const lead = v.shape.slice(0, -1);
  const plan = planRows(lead, [v.strides.slice(0, -1)]);
  const n = plan.n;
  const s = plan.inner[0]!;
  forEachRow(plan, [v.offset], (offs, row) => {
    for (let j = 0; j < n; j++) body(row * n + j, offs[0]! + j * s);
  });
}

const lastOf = (v: View): number => (v.shape.length ? v.shape[v.shape.length - 1]! : 1);
const lastStride = (v: View): number => (v.shape.length ? v.strides[v.shape.length - 1]! : 1);

export function layerNorm(
  x: View,
  weight: View | null,
  bias: View | null,
  eps: number,
): { y: TypedArray; mean: TypedArray; rstd: TypedArray } {
  const n = lastOf(x);
  const rows = numel(x.shape.slice(0, -1));
  const xs = lastStride(x);
  const xd = dataOf(x);
  const w = weight ? contiguousCopy(weight) : null;
  const b = bias ? contiguousCopy(bias) : null;
  const y = typedArrayFor(x.dtype, rows * n);
  const mean = typedArrayFor(x.dtype, rows);
  const rstd = typedArrayFor(x.dtype, rows);
  eachRow(x, (r, o) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += xd[o + j * xs]!;
    const mu = s / n;
    let ss = 0;
    for (let j = 0; j < n; j++) {
      const d = xd[o + j * xs]! - mu;
      ss += d * d;
    }
    const rs = 1 / Math.sqrt(ss / n + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let j = 0; j < n; j++) {
      let v = (xd[o + j * xs]! - mu) * rs;
      if (w) v *= w[j]!;
      if (b) v += b[j]!;
      y[r * n + j] = v;
    }
  });
  return { y, mean, rstd };
}

/**
 * With gw = g * w and xhat = (x - mean) * rstd per row: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)),
 * dweight = sum over rows of g * xhat, dbias = sum over rows of g. mean/rstd are the forward's.
 */
export function layerNormBackward(
  g: View,
  x: View,
  mean: View,
  rstd: View,
  weight: View | null,
  withBias: boolean,
): { dx: TypedArray; dweight: TypedArray | null; dbias: TypedArray | null } {
  const n = lastOf(x);
  const rows = numel(x.shape.slice(0, -1));
  const xs = lastStride(x);
  const gs = lastStride(g);
  const xd = dataOf(x);
  const gd = dataOf(g);
  const mu = contiguousCopy(mean);
  const rsd = contiguousCopy(rstd);
  const w = weight ? contiguousCopy(weight) : null;
  const gOff = new Float64Array(rows);
  eachRow(g, (r, o) => {
    gOff[r] = o;
  });
  const dx = typedArrayFor(x.dtype, rows * n);
  const dw = weight ? new Float64Array(n) : null;
  const db = withBias ? new Float64Array(n) : null;
  eachRow(x, (r, o) => {
    const go = gOff[r]!;
    const m = mu[r]!;
    const rs = rsd[r]!;
    let a = 0;
    let c = 0;
    for (let j = 0; j < n; j++) {
      const gj = gd[go + j * gs]!;
      const gw = w ? gj * w[j]! : gj;
      const xh = (xd[o + j * xs]! - m) * rs;
      a += gw;
      c += gw * xh;
      if (dw) dw[j] = dw[j]! + gj * xh;
      if (db) db[j] = db[j]! + gj;
    }
    a /= n;
    c /= n;
    for (let j = 0; j < n; j++) {
      const gj = gd[go + j * gs]!;
      const gw = w ? gj * w[j]! : gj;
      const xh = (xd[o + j * xs]! - m) * rs;
      dx[r * n + j] = rs * (gw - a - xh * c);
    }
  });
  const cast = (a: Float64Array | null): TypedArray | null => {
    if (!a) return null;
    const out = typedArrayFor(x.dtype, n);
    out.set(a);
    return out;
  };
  return { dx, dweight: cast(dw), dbias: cast(db) };
}

function targetsOf(target: View, rows: number, c: number, ignoreIndex: number): TypedArray {
  const t = contiguousCopy(target);
  if (t.length !== rows) throw new IndexError('crossEntropy', `expected ${rows} targets, got ${t.length}`);
  for (let i = 0; i < rows; i++) {
    const v = t[i]!;
    if (v !== ignoreIndex && (v < 0 || v >= c)) throw new IndexError('crossEntropy', `target ${v} is out of bounds for ${c} classes`);
  }
  return t;
}

/**
 * Per row of logits [N, C]: lse = log(sum(exp(x))), loss = (1 - eps) * (lse - x[t]) + eps * (lse - mean(x))
 * for label smoothing eps; both 0 where t == ignoreIndex.
 */
export function crossEntropy(logits: View, target: View, ignoreIndex: number, smoothing: number): { loss: TypedArray; lse: TypedArray } {
  const [rows, c] = logits.shape as [number, number];
  const t = targetsOf(target, rows, c, ignoreIndex);
  const xd = dataOf(logits);
  const [rs, cs] = logits.strides as [number, number];
  const loss = typedArrayFor(logits.dtype, rows);
  const lse = typedArrayFor(logits.dtype, rows);
  for (let r = 0; r < rows; r++) {
    const tr = t[r]!;
    if (tr === ignoreIndex) continue;
    const o = logits.offset + r * rs;
    let m = -Infinity;
    for (let j = 0; j < c; j++) {
      const v = xd[o + j * cs]!;
      if (v > m || v !== v) m = v;
    }
    let s = 0;
    let sx = 0;
    for (let j = 0; j < c; j++) {
      const v = xd[o + j * cs]!;
      s += Math.exp(v - m);
      sx += v;
    }
    const l = m + Math.log(s);
    let v = (1 - smoothing) * (l - xd[o + tr * cs]!);
    if (smoothing !== 0) v += smoothing * (l - sx / c);
    loss[r] = v;
    lse[r] = l;
  }
  return { loss, lse };
}

/** dlogits = gout[r] * (exp(x - lse) - (1 - eps) * onehot(t) - eps / C); zero rows where t == ignoreIndex. */
export function crossEntropyBackward(
  gout: View,
  logits: View,
  target: View,
  lse: View,
  ignoreIndex: number,
  smoothing: number,
): TypedArray {
  const [rows, c] = logits.shape as [number, number];
  const t = targetsOf(target, rows, c, ignoreIndex);
  const g = contiguousCopy(gout);
  const scalarG = g.length === 1;
  const l = contiguousCopy(lse);
  const xd = dataOf(logits);
  const [rs, cs] = logits.strides as [number, number];
  const dx = typedArrayFor(logits.dtype, rows * c);
  const off = smoothing / c;
  for (let r = 0; r < rows; r++) {
    const tr = t[r]!;
    if (tr === ignoreIndex) continue;
    const o = logits.offset + r * rs;
    const gr = scalarG ? g[0]! : g[r]!;
    const lr = l[r]!;
    for (let j = 0; j < c; j++) {
      const p = Math.exp(xd[o + j * cs]! - lr);
      dx[r * c + j] = gr * (p - off - (j === tr ? 1 - smoothing : 0));
    }
  }
  return dx;
}

// Softmax and log-softmax along one axis, fused: one pass for the max, one for the exps and their sum,
// one to write. Subtracting the row max keeps exp from overflowing; log-softmax is x - max - log(sum)
// rather than log(softmax), so tiny probabilities keep their precision instead of rounding to log(0).

export function softmax(x: View, axis: number, log: boolean): TypedArray {
  const rank = x.shape.length;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    throw new IndexError('softmax', `axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  const out = typedArrayFor(x.dtype, numel(x.shape));
  const L = x.shape[axis]!;
  if (out.length === 0) return out;
  const outStrides = contiguousStrides(x.shape);
  const xs = x.strides[axis]!;
  const os = outStrides[axis]!;
  const xd = dataOf(x);
  const e = new Float64Array(L);
  // Iterate over every position of the other axes; each is one softmax row of length L.
  const plan = planRows(without(x.shape, axis), [without(x.strides, axis), without(outStrides, axis)]);
  const n = plan.n;
  const [xStep, oStep] = plan.inner as [number, number];
  forEachRow(plan, [x.offset, 0], (offs) => {
    for (let r = 0; r < n; r++) {
      const xb = offs[0]! + r * xStep;
      const ob = offs[1]! + r * oStep;
      let max = -Infinity;
      for (let k = 0; k < L; k++) {
        const v = xd[xb + k * xs]!;
        if (v > max || v !== v) max = v;
      }
      // A row of all -inf gives NaN (as torch): -inf - -inf is NaN.
      let sum = 0;
      for (let k = 0; k < L; k++) {
        const z = xd[xb + k * xs]! - max;
        e[k] = log ? z : Math.exp(z);
        sum += log ? Math.exp(z) : e[k]!;
      }
      if (log) {
        const ls = Math.log(sum);
        for (let k = 0; k < L; k++) out[ob + k * os] = e[k]! - ls;
      } else {
        const inv = 1 / sum;
        for (let k = 0; k < L; k++) out[ob + k * os] = e[k]! * inv;
      }
    }
  });
  return out;
}
