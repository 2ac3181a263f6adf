// Reference kernels for quantized weights (quant-format.ts): the product with float activations and
// the dequantized lookup of rows. Any strides; they copy the views out and run the host arithmetic of
// quant-format.ts, the baseline the WASM and WGSL kernels are tested against.

import type { View } from '../backend.js';
import { IndexError } from '../../errors.js';
import { dequantizeWeight, quantMatmulReference, type QuantWeightViews } from '../quant-format.js';
import type { TypedArray } from '../../base/dtype.js';
import { isContiguous, numel } from '../../base/shape.js';
import { contiguousCopy } from './strided.js';

/** v's elements in order: a view of its buffer where it is contiguous (no copy of a big table), else a copy. */
function elements(v: View): TypedArray {
  if (!isContiguous(v.shape, v.strides)) return contiguousCopy(v);
  return (v.buf as TypedArray).subarray(v.offset, v.offset + numel(v.shape));
}

/** The packed bytes, scales and row sums of a quantized weight, as host arrays. */
export function packedOnHost(w: QuantWeightViews): {
  layout: QuantWeightViews['layout'];
  bytes: Uint8Array;
  scales: Float32Array;
  rowSums: Int32Array | null;
} {
  const words = elements(w.data) as Int32Array;
  const scales = elements(w.scales);
  return {
    layout: w.layout,
    bytes: new Uint8Array(words.buffer, words.byteOffset, words.byteLength),
    scales: scales instanceof Float32Array ? scales : Float32Array.from(scales),
    rowSums: w.rowSums ? (elements(w.rowSums) as Int32Array) : null,
  };
}

/** x [M, K] times the quantized weight's transpose, plus bias: [M, N] float32. */
export function quantMatmul(x: View, w: QuantWeightViews, bias: View | null): Float32Array {
  const M = x.shape[0]!;
  const out = new Float32Array(M * w.layout.rows);
  quantMatmulReference(contiguousCopy(x), M, packedOnHost(w), bias ? contiguousCopy(bias) : null, out);
  return out;
}

/** Rows ids [n] of the quantized weight, dequantized: [n, K] float32. */
export function quantRows(w: QuantWeightViews, ids: View): Float32Array {
  const idx = contiguousCopy(ids);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= w.layout.rows)
      throw new IndexError('embedding', `index ${r} is out of range for a quantized table of ${w.layout.rows} rows`);
  }
  return dequantizeWeight(packedOnHost(w), idx);
}
