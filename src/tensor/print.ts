// PyTorch-style printing: tensor([[ 0.1234, -1.0000], ...], dtype=int32, requiresGrad=true).
// Large tensors show the first and last three entries of each axis, as torch does past 1000 elements.

import type { Tensor } from './tensor.js';

const EDGE = 3;
const THRESHOLD = 1000;

export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return `tensor(<disposed> shape=[${t.shape.join(', ')}], dtype=${t.dtype})`;
  const data = t.dataSync();
  const summarize = t.size > THRESHOLD;
  const isFloatT = t.dtype === 'float32' || t.dtype === 'float64';
  const fmt = makeFormatter(data, t.dtype, isFloatT);
  const strides: number[] = [];
  let s = 1;
  for (let i = t.ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t.shape[i]!;
  }
  const indent = 'tensor('.length;
  const build = (dim: number, off: number): string => {
    if (dim === t.ndim) return fmt(data[off]!);
    const n = t.shape[dim]!;
    const idx: (number | null)[] = [];
    if (summarize && n > 2 * EDGE) {
      for (let i = 0; i < EDGE; i++) idx.push(i);
      idx.push(null);
      for (let i = n - EDGE; i < n; i++) idx.push(i);
    } else for (let i = 0; i < n; i++) idx.push(i);
    const parts = idx.map((i) => (i === null ? '...' : build(dim + 1, off + i * strides[dim]!)));
    const sep = dim === t.ndim - 1 ? ', ' : ',' + '\n'.repeat(t.ndim - dim - 1) + ' '.repeat(indent + dim + 1);
    return `[${parts.join(sep)}]`;
  };
  const body = t.size === 0 ? `[]` : build(0, 0);
  const extras: string[] = [];
  if (t.size === 0 || summarize) extras.push(`size=[${t.shape.join(', ')}]`);
  if (t.dtype !== 'float32' && !(t.dtype === 'int32' && t.size > 0) && t.dtype !== 'bool') extras.push(`dtype=${t.dtype}`);
  if (t.device !== 'cpu') extras.push(`device='${t.device}'`);
  if (t._node) extras.push(`gradFn=<${t._node.name}>`);
  else if (t.requiresGrad) extras.push('requiresGrad=true');
  return `tensor(${body}${extras.map((e) => ', ' + e).join('')})`;
}

function makeFormatter(data: ArrayLike<number>, dtype: string, isFloatT: boolean): (v: number) => string {
  if (dtype === 'bool') return (v) => (v ? 'True' : 'False').padStart(5);
  if (!isFloatT) {
    let w = 1;
    for (let i = 0; i < data.length; i++) w = Math.max(w, String(data[i]).length);
    return (v) => String(v).padStart(w);
  }
  let maxAbs = 0;
  let minAbs = Infinity;
  let allInt = true;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    const a = Math.abs(v);
    maxAbs = Math.max(maxAbs, a);
    if (a > 0) minAbs = Math.min(minAbs, a);
    if (!Number.isInteger(v)) allInt = false;
  }
  const sci = maxAbs >= 1e8 || (minAbs < 1e-4 && minAbs !== Infinity) || (minAbs !== Infinity && maxAbs / minAbs > 1000 && !allInt);
  const one = (v: number): string => {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    if (sci) return v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2');
    if (allInt) return `${v.toFixed(0)}.`;
    return v.toFixed(4);
  };
  let w = 1;
  for (let i = 0; i < data.length; i++) w = Math.max(w, one(data[i]!).length);
  return (v) => one(v).padStart(w);
}
