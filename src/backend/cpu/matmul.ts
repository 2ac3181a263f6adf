// Batched matrix multiply, the reference (plain JS) version: a [...B, M, K] @ b [...B, K, N].
//
// Operands may be any strided views (transposed, sliced, batch-broadcast with stride 0); the result is
// a new contiguous [...B, M, N]. Accumulation is float64. Two loop orders, picked by b's layout:
// - b's columns contiguous (b is a transposed view, typical of x @ W^T): each output element is a dot
//   product of a row of a with a contiguous column of b, read in place.
// - otherwise: b is packed once per distinct batch (a weight shared across a broadcast batch is packed
//   once) into a contiguous float64 [K, N], and each output row is accumulated in i-k-j order, which
//   streams through b's rows instead of striding down its columns.

import type { View } from '../backend.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { typedArrayFor } from '../../tensor/dtype.js';
import { ShapeError, fmtShape } from '../../errors.js';
import { dataOf, forEachRow, planRows, sizeOf, storeAs } from './strided.js';

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
  const batches = sizeOf(batchShape);
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

  // b with contiguous columns (and N > 1 so the choice matters): dot products, no packing.
  const dotOrder = bk === 1 && bn !== 1 && N > 1;
  const aRow = new Float64Array(K);
  const acc = new Float64Array(N);
  const packed = dotOrder ? new Float64Array(0) : new Float64Array(K * N);
  let packedFrom = -1;

  const one = (aOff: number, bOff: number, oOff: number): void => {
    if (dotOrder) {
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
      return;
    }
    if (bOff !== packedFrom) {
      for (let k = 0; k < K; k++) {
        const src = bOff + k * bk;
        const dst = k * N;
        for (let j = 0; j < N; j++) packed[dst + j] = bd[src + j * bn]!;
      }
      packedFrom = bOff;
    }
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      const ai = aOff + i * am;
      for (let k = 0; k < K; k++) {
        const aik = ad[ai + k * ak]!;
        const row = k * N;
        for (let j = 0; j < N; j++) acc[j]! += aik * packed[row + j]!;
      }
      const o = oOff + i * N;
      for (let j = 0; j < N; j++) out[o + j] = acc[j]!;
    }
  };

  forEachRow(plan, [a.offset, b.offset], (offs, row) => {
    for (let t = 0; t < nInner; t++) {
      one(offs[0]! + t * aBs, offs[1]! + t * bBs, (row * nInner + t) * M * N);
    }
  });
  return outDtype === 'bool' ? storeAs('bool', out as Float64Array) : out;
}
