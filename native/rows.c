// The fused row kernels of assembly/rows.ts at the machine's vector width: softmax / log-softmax,
// layer norm (forward, backward, parameter gradients) and cross-entropy with logits (forward and
// backward), each over the last axis of a [rows, n] float32 matrix whose rows are contiguous and `rs`
// elements apart. Same arguments, same two-pass formulas; every kernel writes only its own rows
// (layerNormParams: its own columns), and each row's tail runs through the vector code on a partial
// vector (rows.h), so a result never depends on how the caller split the work.
#include "rows.h"

/** p[i] = p[i] * s (or x[i] - s when sub) over n floats: out may be x. */
static inline void row_scale(const float *x, float *out, int n, float s, int sub) {
  const vf vs = vsplat(s);
  int i = 0;
  for (; i + MOX_VW <= n; i += MOX_VW) vstore(out + i, sub ? vload(x + i) - vs : vload(x + i) * vs);
  if (i < n) {
    const vf v = vload_part(x + i, n - i, 0);
    vstore_part(out + i, sub ? v - vs : v * vs, n - i);
  }
}

/**
 * softmaxRows(x, rs, out, rows, n, log): softmax (log = 0) or log-softmax (log = 1) of each row;
 * x rows rs apart, out contiguous. Log-softmax is (x - max) - log(sum), never log(softmax).
 */
MOX_KERNEL(softmaxRows) {
  const float *x = ARG_FP(0);
  const long rs = ARG_I(1);
  float *out = ARG_FP(2);
  const int rows = ARG_I(3), n = ARG_I(4), lg = ARG_I(5);
  for (int r = 0; r < rows; r++) {
    const float *xp = x + r * rs;
    float *op = out + (long)r * n;
    const float m = row_max(xp, n);
    if (lg) {
      const float s = sum_exp(xp, n, m, NULL);
      row_scale(xp, op, n, m + (float)log((double)s), 1);
    } else {
      const float s = sum_exp(xp, n, m, op);
      row_scale(op, op, n, (float)(1.0 / (double)s), 0);
    }
  }
}

// flags for the layer norm kernels: 1 = weight given, 2 = bias given

/**
 * layerNormRows(x, rs, w, b, y, mean, rstd, rows, n, eps, flags): y = (x - mean) * rstd * w + b per
 * row, with mean and rstd = 1/sqrt(var + eps) (biased variance, two passes so a large mean does not
 * cancel the variance away) written per row.
 */
MOX_KERNEL(layerNormRows) {
  const float *x = ARG_FP(0);
  const long rs = ARG_I(1);
  const float *w = ARG_FP(2), *b = ARG_FP(3);
  float *y = ARG_FP(4), *mean = ARG_FP(5), *rstd = ARG_FP(6);
  const int rows = ARG_I(7), n = ARG_I(8);
  const double eps = ARG_D(9);
  const int flags = ARG_I(10);
  for (int r = 0; r < rows; r++) {
    const float *xp = x + r * rs;
    float *yp = y + (long)r * n;
    vf a0 = vsplat(0), a1 = vsplat(0);
    int i = 0;
    for (; i + 2 * MOX_VW <= n; i += 2 * MOX_VW) {
      a0 += vload(xp + i);
      a1 += vload(xp + i + MOX_VW);
    }
    for (; i + MOX_VW <= n; i += MOX_VW) a0 += vload(xp + i);
    if (i < n) a1 += vload_part(xp + i, n - i, 0);
    const float mu = (float)((double)vsum_tree(a0 + a1) / (double)n);
    const vf vmu = vsplat(mu);
    a0 = a1 = vsplat(0);
    for (i = 0; i + 2 * MOX_VW <= n; i += 2 * MOX_VW) {
      const vf d0 = vload(xp + i) - vmu, d1 = vload(xp + i + MOX_VW) - vmu;
      a0 += d0 * d0;
      a1 += d1 * d1;
    }
    for (; i + MOX_VW <= n; i += MOX_VW) {
      const vf d = vload(xp + i) - vmu;
      a0 += d * d;
    }
    if (i < n) {
      const vf d = vload_part(xp + i, n - i, mu) - vmu; // mu - mu = 0 past the row
      a1 += d * d;
    }
    const float rsd = (float)(1.0 / sqrt((double)vsum_tree(a0 + a1) / (double)n + eps));
    mean[r] = mu;
    rstd[r] = rsd;
    const vf vr = vsplat(rsd);
    for (i = 0; i < n; i += MOX_VW) {
      const int k = MOX_MIN(MOX_VW, n - i);
      vf v = ((k == MOX_VW ? vload(xp + i) : vload_part(xp + i, k, 0)) - vmu) * vr;
      if (flags & 1) v *= k == MOX_VW ? vload(w + i) : vload_part(w + i, k, 0);
      if (flags & 2) v += k == MOX_VW ? vload(b + i) : vload_part(b + i, k, 0);
      if (k == MOX_VW)
        vstore(yp + i, v);
      else
        vstore_part(yp + i, v, k);
    }
  }
}

/**
 * layerNormBackwardRows(g, gs, x, rs, mean, rstd, w, dx, rows, n, flags): dx of layer norm per row:
 * with gw = g * w and xhat = (x - mean) * rstd, dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)).
 * g rows gs apart, x rows rs apart, dx contiguous. flags & 1: weight given.
 */
MOX_KERNEL(layerNormBackwardRows) {
  const float *g = ARG_FP(0);
  const long gs = ARG_I(1);
  const float *x = ARG_FP(2);
  const long rs = ARG_I(3);
  const float *mean = ARG_FP(4), *rstd = ARG_FP(5), *w = ARG_FP(6);
  float *dx = ARG_FP(7);
  const int rows = ARG_I(8), n = ARG_I(9), flags = ARG_I(10);
  for (int r = 0; r < rows; r++) {
    const float *gp = g + r * gs, *xp = x + r * rs;
    float *dp = dx + (long)r * n;
    const float mu = mean[r], rsd = rstd[r];
    const vf vmu = vsplat(mu), vr = vsplat(rsd);
    vf sa = vsplat(0), sc = vsplat(0);
    for (int i = 0; i < n; i += MOX_VW) {
      const int k = MOX_MIN(MOX_VW, n - i);
      // past the row: g = 0 and x = mu, so both sums gain exact zeros
      vf gw = k == MOX_VW ? vload(gp + i) : vload_part(gp + i, k, 0);
      if (flags & 1) gw *= k == MOX_VW ? vload(w + i) : vload_part(w + i, k, 0);
      const vf xh = ((k == MOX_VW ? vload(xp + i) : vload_part(xp + i, k, mu)) - vmu) * vr;
      sa += gw;
      sc += gw * xh;
    }
    const vf vma = vsplat((float)((double)vsum_tree(sa) / (double)n));
    const vf vmc = vsplat((float)((double)vsum_tree(sc) / (double)n));
    for (int i = 0; i < n; i += MOX_VW) {
      const int k = MOX_MIN(MOX_VW, n - i);
      vf gw = k == MOX_VW ? vload(gp + i) : vload_part(gp + i, k, 0);
      if (flags & 1) gw *= k == MOX_VW ? vload(w + i) : vload_part(w + i, k, 0);
      const vf xh = ((k == MOX_VW ? vload(xp + i) : vload_part(xp + i, k, mu)) - vmu) * vr;
      const vf v = (gw - vma - xh * vmc) * vr;
      if (k == MOX_VW)
        vstore(dp + i, v);
      else
        vstore_part(dp + i, v, k);
    }
  }
}

/** Columns per block of layerNormParams: 4 vectors, their dw and db sums held in registers. */
#define LNP_VECS 4

/**
 * layerNormParams(g, gs, x, rs, mean, rstd, dw, db, rows, j0, j1, flags): layer norm's parameter
 * gradients for columns [j0, j1): dw[j] = sum_r g[r,j] * xhat[r,j] (flags & 1), db[j] = sum_r g[r,j]
 * (flags & 2), summed over all rows in row order, so every column has one fixed summation order
 * whatever the split. Unlike the WebAssembly kernel (row by row, dw and db through memory), a block
 * of columns keeps its sums in registers down all the rows: the same order, fewer loads and stores.
 */
MOX_KERNEL(layerNormParams) {
  const float *g = ARG_FP(0);
  const long gs = ARG_I(1);
  const float *x = ARG_FP(2);
  const long rs = ARG_I(3);
  const float *mean = ARG_FP(4), *rstd = ARG_FP(5);
  float *dw = ARG_FP(6), *db = ARG_FP(7);
  const int rows = ARG_I(8), j0 = ARG_I(9), j1 = ARG_I(10), flags = ARG_I(11);
  int j = j0;
  for (; j + LNP_VECS * MOX_VW <= j1; j += LNP_VECS * MOX_VW) {
    vf aw[LNP_VECS], ab[LNP_VECS];
#pragma GCC unroll 4
    for (int u = 0; u < LNP_VECS; u++) aw[u] = ab[u] = vsplat(0);
    for (int r = 0; r < rows; r++) {
      const float *gp = g + r * gs + j, *xp = x + r * rs + j;
      const vf vmu = vsplat(mean[r]), vr = vsplat(rstd[r]);
#pragma GCC unroll 4
      for (int u = 0; u < LNP_VECS; u++) {
        const vf gv = vload(gp + u * MOX_VW);
        if (flags & 1) aw[u] += gv * ((vload(xp + u * MOX_VW) - vmu) * vr);
        if (flags & 2) ab[u] += gv;
      }
    }
#pragma GCC unroll 4
    for (int u = 0; u < LNP_VECS; u++) {
      if (flags & 1) vstore(dw + j + u * MOX_VW, aw[u]);
      if (flags & 2) vstore(db + j + u * MOX_VW, ab[u]);
    }
  }
  for (; j < j1; j += MOX_VW) {
    const int k = MOX_MIN(MOX_VW, j1 - j);
    vf aw = vsplat(0), ab = vsplat(0);
    for (int r = 0; r < rows; r++) {
      const float *gp = g + r * gs + j, *xp = x + r * rs + j;
      const float mu = mean[r];
      const vf gv = k == MOX_VW ? vload(gp) : vload_part(gp, k, 0);
      const vf xv = k == MOX_VW ? vload(xp) : vload_part(xp, k, mu);
      if (flags & 1) aw += gv * ((xv - vsplat(mu)) * vsplat(rstd[r]));
      if (flags & 2) ab += gv;
    }
    if (flags & 1) vstore_part(dw + j, aw, k);
    if (flags & 2) vstore_part(db + j, ab, k);
  }
}

/**
 * crossEntropyRows(x, rs, tgt, loss, lse, rows, n, ignore, eps): per row lse = log(sum(exp(x))) and
 * loss = (1 - eps) * (lse - x[t]) + eps * (lse - mean(x)) (label smoothing eps), 0 for both where
 * t == ignore. Targets are int32, contiguous, checked by the caller.
 */
MOX_KERNEL(crossEntropyRows) {
  const float *x = ARG_FP(0);
  const long rs = ARG_I(1);
  const int32_t *tgt = (const int32_t *)ARG_P(2);
  float *loss = ARG_FP(3), *lse = ARG_FP(4);
  const int rows = ARG_I(5), n = ARG_I(6), ignore = ARG_I(7);
  const double eps = ARG_D(8);
  for (int r = 0; r < rows; r++) {
    const int t = tgt[r];
    if (t == ignore) {
      loss[r] = lse[r] = 0;
      continue;
    }
    const float *xp = x + r * rs;
    const float m = row_max(xp, n);
    const double l = (double)m + log((double)sum_exp(xp, n, m, NULL));
    double v = (1 - eps) * (l - (double)xp[t]);
    if (eps != 0) {
      vf a = vsplat(0);
      int i = 0;
      for (; i + MOX_VW <= n; i += MOX_VW) a += vload(xp + i);
      if (i < n) a += vload_part(xp + i, n - i, 0);
      v += eps * (l - (double)vsum_tree(a) / (double)n);
    }
    loss[r] = (float)v;
    lse[r] = (float)l;
  }
}

/**
 * crossEntropyBackwardRows(x, rs, tgt, lse, gout, gstride, dx, rows, n, ignore, eps):
 * dlogits = gout[r] * (softmax(x) - (1 - eps) * onehot(t) - eps / n), softmax = exp(x - lse), zero
 * rows where t == ignore. gout[r] is at gout + r * gstride (gstride 0: one shared value).
 */
MOX_KERNEL(crossEntropyBackwardRows) {
  const float *x = ARG_FP(0);
  const long rs = ARG_I(1);
  const int32_t *tgt = (const int32_t *)ARG_P(2);
  const float *lse = ARG_FP(3), *gout = ARG_FP(4);
  const long gstride = ARG_I(5);
  float *dx = ARG_FP(6);
  const int rows = ARG_I(7), n = ARG_I(8), ignore = ARG_I(9);
  const double eps = ARG_D(10);
  const float off = (float)(eps / (double)n);
  const vf vo = vsplat(off);
  for (int r = 0; r < rows; r++) {
    const int t = tgt[r];
    float *dp = dx + (long)r * n;
    if (t == ignore) {
      memset(dp, 0, (size_t)n * sizeof(float));
      continue;
    }
    const float *xp = x + r * rs;
    const float gr = gout[r * gstride], l = lse[r];
    const vf vl = vsplat(l), vg = vsplat(gr);
    int i = 0;
    for (; i + MOX_VW <= n; i += MOX_VW) vstore(dp + i, (vexp(vload(xp + i) - vl) - vo) * vg);
    if (i < n) vstore_part(dp + i, (vexp(vload_part(xp + i, n - i, 0) - vl) - vo) * vg, n - i);
    dp[t] = (sexp(xp[t] - l) - off - (float)(1 - eps)) * gr;
  }
}
