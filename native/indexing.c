// Row gather and row scatter-add on float32 matrices, as assembly/indexing.ts (the spec): indexSelect
// and indexAdd along dim 0, i.e. an embedding lookup and its gradient. Indices are int32, already
// range-checked by the caller.
#include "mox.h"

/** out[j, :] = x[idx[j], :] for j in [j0, j1); rows of x are `rowStride` apart, out is contiguous. */
MOX_KERNEL(gatherRowsF32) {
  const float *x = ARG_FP(0);
  const long rowStride = ARG_I(1);
  const int32_t *idx = (const int32_t *)ARG_P(2);
  const long idxStride = ARG_I(3);
  const int j0 = ARG_I(4), j1 = ARG_I(5), rowLen = ARG_I(6);
  float *out = ARG_FP(7);
  for (int j = j0; j < j1; j++) memcpy(out + (long)j * rowLen, x + idx[j * idxStride] * rowStride, (size_t)rowLen * 4);
}

/**
 * out[idx[j], c0:c1] += src[j, c0:c1] for every j, out [rows, rowLen] contiguous and already zeroed.
 * Threads split the columns, so repeated indices never race; every row's sum runs in index order.
 */
MOX_KERNEL(scatterAddRowsF32) {
  const float *src = ARG_FP(0);
  const long srcRowStride = ARG_I(1);
  const int32_t *idx = (const int32_t *)ARG_P(2);
  const long idxStride = ARG_I(3);
  const int nIdx = ARG_I(4), rowLen = ARG_I(5), c0 = ARG_I(6), c1 = ARG_I(7);
  float *out = ARG_FP(8);
  const int n = c1 - c0;
  for (int j = 0; j < nIdx; j++) {
    const float *s = src + j * srcRowStride + c0;
    float *d = out + (long)idx[j * idxStride] * rowLen + c0;
    int k = 0;
    for (; k + MOX_VW <= n; k += MOX_VW) vstore(d + k, vload(d + k) + vload(s + k));
    for (; k < n; k++) d[k] += s[k];
  }
}
