// Row scatter-add on float32 matrices, as assembly/indexing.ts (the spec): indexAdd along dim 0, an
// embedding's gradient. Indices are int32, already range-checked by the caller.
#include "mox.h"

// gatherRowsF32 stays in WebAssembly: it is one memcpy per row in both tiers (measured equal on
// 768 rows of 128 and of 768 floats), so a native call would only add its ~0.1 us.

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
