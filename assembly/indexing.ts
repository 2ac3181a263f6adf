// Row gather and row scatter-add on float32 matrices: indexSelect / indexAdd along dim 0, which is
// what an embedding lookup and its gradient are. Indices are int32 and already range-checked by the
// caller. Pointers are byte addresses; strides count elements.

/** out[j, :] = x[idx[j], :] for j in [j0, j1); rows of x are `rowStride` apart, out is contiguous. */
export function gatherRowsF32(x: usize, rowStride: i32, idx: usize, idxStride: i32, j0: i32, j1: i32, rowLen: i32, out: usize): void {
  const bytes = <usize>rowLen << 2;
  for (let j = j0; j < j1; j++) {
    const r = load<i32>(idx + (<usize>(j * idxStride) << 2));
    memory.copy(out + <usize>j * bytes, x + (<usize>(r * rowStride) << 2), bytes);
  }
}

/**
 * out[idx[j], c0:c1] += src[j, c0:c1] for every j, out [rows, rowLen] contiguous and already zeroed.
 * Threads split the columns, so repeated indices never race; every row's sum runs in index order.
 */
export function scatterAddRowsF32(src: usize, srcRowStride: i32, idx: usize, idxStride: i32, nIdx: i32, rowLen: i32,
  c0: i32, c1: i32, out: usize): void {
  const n = c1 - c0;
  for (let j = 0; j < nIdx; j++) {
    const r = load<i32>(idx + (<usize>(j * idxStride) << 2));
    const s = src + (<usize>(j * srcRowStride + c0) << 2);
    const d = out + (<usize>(r * rowLen + c0) << 2);
    let k = 0;
    for (; k + 4 <= n; k += 4) {
      const p = <usize>k << 2;
      v128.store(d + p, f32x4.add(v128.load(d + p), v128.load(s + p)));
    }
    for (; k < n; k++) {
      const p = <usize>k << 2;
      store<f32>(d + p, load<f32>(d + p) + load<f32>(s + p));
    }
  }
}
