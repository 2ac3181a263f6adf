// PyTorch-style printing (torch/_tensor_str.py with default print options), e.g.
//   tensor([[ 0.1234, -1.0000],
//           [ 2.5000,  3.0000]], requiresGrad=true)
// Floats: 4 decimals; `1.` when every value is an integer; scientific notation when the largest/smallest
// nonzero magnitude ratio exceeds 1000, the largest exceeds 1e8, or (non-integers) the smallest is below
// 1e-4. Past 1000 elements each axis shows its first and last 3 entries; rows wrap at 80 columns.
//
// Suffixes, in order: size, dtype, device, gradFn/requiresGrad (PyTorch's grad_fn/requires_grad).
// - size=[...] appears for empty tensors that are not 1-D (as in PyTorch) and, unlike PyTorch, for
//   summarised tensors, whose shape the '...' would otherwise hide.
// - dtype: PyTorch hides the dtypes a literal infers to (float32, int64, bool), so a printed tensor
//   reads back as the same tensor. mox's literals infer float32, int32 and bool, so those are hidden
//   (int32 plays torch.long's role) and every other dtype is shown, e.g. `dtype=float64`. An empty
//   tensor has no literal to infer from, so it shows any dtype but float32 (as PyTorch does).

import type { DType, TypedArray } from '../base/dtype.js';
import type { Backend } from '../backend/backend.js';

/**
 * What printing reads of a tensor. The Tensor class satisfies it; naming it here rather than
 * importing the class keeps this file below tensor.ts, whose toString() calls it.
 */
export interface Printable {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: string;
  readonly backend: Pick<Backend, 'capabilities'>;
  readonly size: number;
  readonly ndim: number;
  readonly isDisposed: boolean;
  readonly requiresGrad: boolean;
  readonly _node: { readonly name: string } | null;
  dataSync(): TypedArray;
}

const EDGE = 3;
const THRESHOLD = 1000;
const LINEWIDTH = 80;
const PREFIX = 'tensor(';

/** PyTorch-style text of a tensor; `values` are its elements when already read (a GPU tensor's). */
export function formatTensor(t: Printable, values?: TypedArray): string {
  if (t.isDisposed) return `tensor(<disposed> shape=[${t.shape.join(', ')}], dtype=${t.dtype})`;
  // GPU memory cannot be read synchronously: say what the tensor is and how to see its values
  if (!values && !t.backend.capabilities.syncRead)
    return `tensor(<on ${t.device}: await t.toStringAsync() to see the values> shape=[${t.shape.join(', ')}], dtype=${t.dtype}, device='${t.device}')`;
  const data = values ?? t.dataSync();
  const ndim = t.ndim;
  const summarize = t.size > THRESHOLD;
  const strides: number[] = [];
  let s = 1;
  for (let i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t.shape[i]!;
  }
  /** The indices shown along an axis of size n; null stands for the '...'. */
  const shown = (n: number): (number | null)[] => {
    if (summarize && n > 2 * EDGE) return [0, 1, 2, null, n - 3, n - 2, n - 1];
    return Array.from({ length: n }, (_, i) => i);
  };
  // the formatter (width, int/scientific mode) looks only at the values shown, as PyTorch's does
  const visible: number[] = [];
  const collect = (dim: number, off: number): void => {
    if (dim === ndim) {
      visible.push(data[off]!);
      return;
    }
    for (const i of shown(t.shape[dim]!)) if (i !== null) collect(dim + 1, off + i * strides[dim]!);
  };
  if (t.size > 0) collect(0, 0);
  const fmt = makeFormatter(visible, t.dtype);

  const build = (dim: number, off: number, indent: number): string => {
    if (dim === ndim) return fmt.format(data[off]!);
    const idx = shown(t.shape[dim]!);
    if (dim === ndim - 1) {
      const items = idx.map((i) => (i === null ? ' ...' : fmt.format(data[off + i * strides[dim]!]!)));
      const perLine = Math.max(1, Math.floor((LINEWIDTH - indent) / (fmt.width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(',\n' + ' '.repeat(indent + 1))}]`;
    }
    const parts = idx.map((i) => (i === null ? '...' : build(dim + 1, off + i * strides[dim]!, indent + 1)));
    return `[${parts.join(',' + '\n'.repeat(ndim - dim - 1) + ' '.repeat(indent + 1))}]`;
  };

  const suffixes: string[] = [];
  let body: string;
  if (t.size === 0) {
    body = '[]';
    if (ndim !== 1) suffixes.push(`size=[${t.shape.join(', ')}]`);
    if (t.dtype !== 'float32') suffixes.push(`dtype=${t.dtype}`);
  } else {
    body = build(0, 0, PREFIX.length);
    if (summarize) suffixes.push(`size=[${t.shape.join(', ')}]`);
    if (t.dtype !== 'float32' && t.dtype !== 'int32' && t.dtype !== 'bool') suffixes.push(`dtype=${t.dtype}`);
  }
  if (t.device !== 'cpu') suffixes.push(`device='${t.device}'`);
  if (t._node) suffixes.push(`gradFn=<${t._node.name}>`);
  else if (t.requiresGrad) suffixes.push('requiresGrad=true');

  // a suffix that would run past the line width goes on its own line (PyTorch's _add_suffixes)
  let out = PREFIX + body;
  let lastLine = out.length - out.lastIndexOf('\n') + 1;
  for (const suffix of suffixes) {
    if (lastLine + suffix.length + 2 > LINEWIDTH) {
      out += ',\n' + ' '.repeat(PREFIX.length) + suffix;
      lastLine = PREFIX.length + suffix.length;
    } else {
      out += ', ' + suffix;
      lastLine += suffix.length + 2;
    }
  }
  return out + ')';
}

interface Formatter {
  /** Every formatted value is padded to this width. */
  width: number;
  format(v: number): string;
}

function makeFormatter(values: readonly number[], dtype: string): Formatter {
  if (dtype !== 'float32' && dtype !== 'float64') {
    const str = dtype === 'bool' ? (v: number): string => (v ? 'True' : 'False') : (v: number): string => String(v);
    let width = 1;
    for (const v of values) width = Math.max(width, str(v).length);
    return { width, format: (v) => str(v).padStart(width) };
  }
  // mode and width come from the finite nonzero values only
  let maxAbs = 0;
  let minAbs = Infinity;
  let intMode = true;
  const nonzero: number[] = [];
  for (const v of values) {
    if (!Number.isFinite(v) || v === 0) continue;
    nonzero.push(v);
    const a = Math.abs(v);
    maxAbs = Math.max(maxAbs, a);
    minAbs = Math.min(minAbs, a);
    if (!Number.isInteger(v)) intMode = false;
  }
  let sci = false;
  if (nonzero.length > 0) {
    sci = maxAbs / minAbs > 1000 || maxAbs > 1e8 || (!intMode && minAbs < 1e-4);
  }
  const one = (v: number): string => {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    const sign = Object.is(v, -0) ? '-' : ''; // Python keeps the sign of -0.0; toFixed drops it
    if (sci) return sign + v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2');
    if (intMode) return `${sign}${v.toFixed(0)}.`;
    return sign + v.toFixed(4);
  };
  let width = 1;
  for (const v of nonzero) width = Math.max(width, one(v).length);
  return { width, format: (v) => one(v).padStart(width) };
}
