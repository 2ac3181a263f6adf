// Batched matrix multiply, the reference (plain JS) version: a [...B, M, K] @ b [...B, K, N].
//
// Operands may be any strided views (transposed, sliced, batch-broadcast with stride 0); the result is
// a new contiguous [...B, M, N]. Accumulation is float64. Two loop orders, picked by b's layout:
// - b's columns contiguous (a transposed view, as in x @ W^T) and only a few rows in a: each output
//   element is a dot product of a row of a with a contiguous column of b, read in place.
// - otherwise: b is packed once per distinct batch (a weight shared across a broadcast batch is packed
//   once) into a contiguous float64 [K, N], and each output row is accumulated in i-k-j order, which
//   streams through b's rows instead of striding down its columns.

import type { View } from '../backend.js';
import type { DType, TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { ShapeError, fmtShape } from '../../errors.js';
import { numel } from '../../base/shape.js';
import { dataOf, forEachRow, planRows, storeAs } from './strided.js';

export function matmul(a: View, b: View, outDtype: DType): TypedArray {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2 || ra !== rb) {
    throw new ShapeError('matmul', `expected operands of equal rank >= 2: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const M = a.shape[ra - 2]!;
  const K = a.shape[ra - 1]!;
  const N = b.shape[rb - 1]!;
  if (b.shape[rb - 2] !== K) {
    throw new ShapeError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const batchShape = a.shape.slice(0, -2);
  for (let i = 0; i < batchShape.length; i++) {
    if (batchShape[i] !== b.shape[i]) {
      throw new ShapeError('matmul', `batch dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
    }
  }
  const batches = numel(batchShape);
  // A bool result must test != 0 rather than wrap in a Uint8Array, so it goes through float64.
  const out = typedArrayFor(outDtype === 'bool' ? 'float64' : outDtype, batches * M * N);
  if (out.length === 0) return outDtype === 'bool' ? storeAs('bool', out as Float64Array) : out;

  const ad = dataOf(a);
  const bd = dataOf(b);
  const am = a.strides[ra - 2]!;
  const ak = a.strides[ra - 1]!;
  const bk = b.strides[rb - 2]!;
  const bn = b.strides[rb - 1]!;
  const plan = planRows(batchShape, [a.strides.slice(0, -2), b.strides.slice(0, -2)]);
  const nInner = plan.n;
  const [aBs, bBs] = plan.inner as [number, number];

  // b with contiguous columns and few rows of a: dot products read b in place, where packing b
  // (K*N strided reads) would cost as much as the product itself. With more rows, packing pays off.
  const dotOrder = bk === 1 && bn !== 1 && N > 1 && M < 8;
  const aRow = new Float64Array(K);
  const acc = new Float64Array(N);
  const packed = dotOrder ? new Float64Array(0) : new Float64Array(K * N);
  let packedFrom = -1;

  const one = (aOff: number, bOff: number, oOff: number): void => {
    if (dotOrder) {
      dotProducts(ad, aOff, am, ak, bd, bOff, bn, out, oOff, M, K, N, aRow);
      return;
    }
    if (bOff !== packedFrom) {
      packRows(bd, bOff, bk, bn, packed, K, N);
      packedFrom = bOff;
    }
    rowsTimesPacked(ad, aOff, am, ak, packed, out, oOff, M, K, N, acc);
  };

  forEachRow(plan, [a.offset, b.offset], (offs, row) => {
    for (let t = 0; t < nInner; t++) {
      one(offs[0]! + t * aBs, offs[1]! + t * bBs, (row * nInner + t) * M * N);
    }
  });
  return outDtype === 'bool' ? storeAs('bool', out as Float64Array) : out;
}

// The loops live in top-level functions with everything passed as arguments, so V8 keeps the arrays
// and bounds in registers instead of reloading them from a closure context on every iteration.

/** out[i, j] = sum_k a[i, k] * b[k, j] with b's columns contiguous (bk == 1). */
function dotProducts(
  ad: TypedArray,
  aOff: number,
  am: number,
  ak: number,
  bd: TypedArray,
  bOff: number,
  bn: number,
  out: TypedArray,
  oOff: number,
  M: number,
  K: number,
  N: number,
  aRow: Float64Array,
): void {
  for (let i = 0; i < M; i++) {
    const ai = aOff + i * am;
    for (let k = 0; k < K; k++) aRow[k] = ad[ai + k * ak]!;
    const o = oOff + i * N;
    for (let j = 0; j < N; j++) {
      const bj = bOff + j * bn;
      let s = 0;
      for (let k = 0; k < K; k++) s += aRow[k]! * bd[bj + k]!;
      out[o + j] = s;
    }
  }
}

/** Copies the [K, N] matrix b (any strides) into a contiguous float64 array. */
function packRows(bd: TypedArray, bOff: number, bk: number, bn: number, packed: Float64Array, K: number, N: number): void {
  for (let k = 0; k < K; k++) {
    const src = bOff + k * bk;
    const dst = k * N;
    for (let j = 0; j < N; j++) packed[dst + j] = bd[src + j * bn]!;
  }
}

/** out = a @ packed, row by row in i-k-j order with a float64 row accumulator. */
function rowsTimesPacked(
  ad: TypedArray,
  aOff: number,
  am: number,
  ak: number,
  packed: Float64Array,
  out: TypedArray,
  oOff: number,
  M: number,
  K: number,
  N: number,
  acc: Float64Array,
): void {
  for (let i = 0; i < M; i++) {
    acc.fill(0);
    const ai = aOff + i * am;
    let k = 0;
    // Four rows of b per sweep: a quarter of the accumulator loads and stores.
    for (; k + 4 <= K; k += 4) {
      const a0 = ad[ai + k * ak]!,
        a1 = ad[ai + (k + 1) * ak]!,
        a2 = ad[ai + (k + 2) * ak]!,
        a3 = ad[ai + (k + 3) * ak]!;
      const r0 = k * N,
        r1 = r0 + N,
        r2 = r1 + N,
        r3 = r2 + N;
      for (let j = 0; j < N; j++) {
        acc[j] = acc[j]! + a0 * packed[r0 + j]! + a1 * packed[r1 + j]! + a2 * packed[r2 + j]! + a3 * packed[r3 + j]!;
      }
    }
    for (; k < K; k++) {
      const aik = ad[ai + k * ak]!;
      const row = k * N;
      for (let j = 0; j < N; j++) acc[j] = acc[j]! + aik * packed[row + j]!;
    }
    const o = oOff + i * N;
    for (let j = 0; j < N; j++) out[o + j] = acc[j]!;
  }
}
