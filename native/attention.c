// Fused scaled-dot-product attention, forward and backward, as assembly/attention.ts (read it for the
// method): query rows QB at a time, their scores against the keys they may see in a [QB, Lk] block of
// the caller's, the matrix products on this level's GEMM (gemm.h), the forward keeping each row's
// log-sum-exp and the backward rebuilding the weights from it. Same arguments: a table of batch
// entries (byte addresses of q, k, v, g, as u32), element strides [rsQ, csQ, rsK, csK, rsV, csV, rsG,
// csG] as i32, contiguous out / lse / dq / dk / dv, the same dropout hash of (seed, b, i, j).
#include "gemm.h"
#include "rows.h"

/** Query rows per block: the caller sizes the score blocks for this (QB in attention.ts). */
#define QB 32

/** pcg4d (Jarzynski and Olano 2020), first word: the same hash as the WebGPU kernels and the host. */
static inline uint32_t pcg4d_x(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  uint32_t x = a * 1664525u + 1013904223u, y = b * 1664525u + 1013904223u;
  uint32_t z = c * 1664525u + 1013904223u, w = d * 1664525u + 1013904223u;
  x += y * w;
  y += z * x;
  z += x * y;
  w += y * z;
  x ^= x >> 16;
  y ^= y >> 16;
  z ^= z >> 16;
  w ^= w >> 16;
  x += y * w;
  return x;
}

/** A u32 argument (a seed may exceed INT32_MAX, where ARG_I's conversion is undefined). */
#define ARG_U(i) ((uint32_t)(uint64_t)arg[i])

/** The host pointer of a heap byte address read from the entries table. */
static inline const float *heap_f(uint32_t addr) { return (const float *)(mox_heap + addr); }

/**
 * One row of a score block (n floats at p, keys j < lim visible): scales it, leaves the softmax
 * weights exp(s - lse) there (0 beyond lim) and returns the row's log-sum-exp.
 */
static float softmax_row(float *p, int n, int lim, float scale) {
  const vf vs = vsplat(scale);
  int j = 0;
  for (; j + MOX_VW <= lim; j += MOX_VW) vstore(p + j, vload(p + j) * vs);
  if (j < lim) vstore_part(p + j, vload_part(p + j, lim - j, 0) * vs, lim - j);
  const float m = row_max(p, lim);
  const float s = sum_exp(p, lim, m, p);
  const vf vi = vsplat((float)(1.0 / (double)s));
  for (j = 0; j + MOX_VW <= lim; j += MOX_VW) vstore(p + j, vload(p + j) * vi);
  if (j < lim) vstore_part(p + j, vload_part(p + j, lim - j, 0) * vi, lim - j);
  for (j = lim; j < n; j++) p[j] = 0;
  return m + (float)log((double)s);
}

/** Keys query i may see in a block whose scores cover keys [0, n). */
static inline int visible(int causal, int i, int n) { return causal ? MOX_MIN(n, i + 1) : n; }

/**
 * attentionF32(nb, strides, entries, lq, lk, e, ev, out, lse, b0, causal, scale, dropP, seed,
 * threshold, s, scratch): out[b] = softmax(q k^T * scale (+ causal mask)) (dropped out) v and lse[b]
 * for nb entries of the table. s: QB * lk floats of the caller's; scratch (the WebAssembly GEMM's
 * packing space) is unused: gemm_f32 packs into its thread's own.
 */
MOX_KERNEL(attentionF32) {
  const int nb = ARG_I(0);
  const int32_t *st = (const int32_t *)ARG_P(1);
  const uint32_t *entries = (const uint32_t *)ARG_P(2);
  const int lq = ARG_I(3), lk = ARG_I(4), e = ARG_I(5), ev = ARG_I(6);
  float *out = ARG_FP(7), *lse = ARG_FP(8);
  const int b0 = ARG_I(9), causal = ARG_I(10);
  const float scale = ARG_F(11), dropP = ARG_F(12);
  const uint32_t seed = ARG_U(13), threshold = ARG_U(14);
  float *s = ARG_FP(15);
  const long rsQ = st[0], csQ = st[1], rsK = st[2], csK = st[3], rsV = st[4], csV = st[5];
  const float keepScale = 1.0f / (1.0f - dropP);
  for (int b = 0; b < nb; b++) {
    const float *q = heap_f(entries[4 * b]), *k = heap_f(entries[4 * b + 1]), *v = heap_f(entries[4 * b + 2]);
    float *ob = out + (long)b * lq * ev, *lb = lse + (long)b * lq;
    const uint32_t bIndex = (uint32_t)(b0 + b);
    for (int i0 = 0; i0 < lq; i0 += QB) {
      const int qb = MOX_MIN(QB, lq - i0);
      const int nk = causal ? MOX_MIN(lk, i0 + qb) : lk;
      // S = Q[i0:i0+qb] K[0:nk]^T (k's element (j, d) is element (d, j) of K^T)
      gemm_f32(qb, nk, e, q + i0 * rsQ, rsQ, csQ, k, csK, rsK, s, nk, NULL, 0);
      for (int r = 0; r < qb; r++) {
        const int i = i0 + r;
        float *row = s + (long)r * nk;
        const int lim = visible(causal, i, nk);
        lb[i] = softmax_row(row, nk, lim, scale);
        if (dropP > 0) {
          for (int j = 0; j < lim; j++) {
            const int keep = (pcg4d_x(seed, bIndex, (uint32_t)i, (uint32_t)j) >> 8) >= threshold;
            row[j] = keep ? row[j] * keepScale : 0;
          }
        }
      }
      // O[i0:i0+qb] = P V[0:nk]
      gemm_f32(qb, ev, nk, s, nk, 1, v, rsV, csV, ob + (long)i0 * ev, ev, NULL, 0);
    }
  }
}

/**
 * attentionBackwardF32(nb, strides, entries, lq, lk, e, ev, out, lse, dq, dk, dv, b0, causal, scale,
 * dropP, seed, threshold, s, ds, scratch): gradients of attentionF32 from g (out's shape); dq, dk, dv
 * contiguous and zero-filled by the caller; s and ds QB * lk floats each. Per query block: P from
 * lse, dP = g v^T, dS = P * (dP * keep - rowsum(g * out)) * scale, then dv += (P keep)^T g,
 * dq = dS k, dk += dS^T q.
 */
MOX_KERNEL(attentionBackwardF32) {
  const int nb = ARG_I(0);
  const int32_t *st = (const int32_t *)ARG_P(1);
  const uint32_t *entries = (const uint32_t *)ARG_P(2);
  const int lq = ARG_I(3), lk = ARG_I(4), e = ARG_I(5), ev = ARG_I(6);
  const float *out = ARG_FP(7), *lse = ARG_FP(8);
  float *dq = ARG_FP(9), *dk = ARG_FP(10), *dv = ARG_FP(11);
  const int b0 = ARG_I(12), causal = ARG_I(13);
  const float scale = ARG_F(14), dropP = ARG_F(15);
  const uint32_t seed = ARG_U(16), threshold = ARG_U(17);
  float *s = ARG_FP(18), *ds = ARG_FP(19);
  const long rsQ = st[0], csQ = st[1], rsK = st[2], csK = st[3], rsV = st[4], csV = st[5], rsG = st[6], csG = st[7];
  const float keepScale = 1.0f / (1.0f - dropP);
  const vf vs = vsplat(scale);
  for (int b = 0; b < nb; b++) {
    const float *q = heap_f(entries[4 * b]), *k = heap_f(entries[4 * b + 1]);
    const float *v = heap_f(entries[4 * b + 2]), *g = heap_f(entries[4 * b + 3]);
    const float *ob = out + (long)b * lq * ev, *lb = lse + (long)b * lq;
    float *dqb = dq + (long)b * lq * e, *dkb = dk + (long)b * lk * e, *dvb = dv + (long)b * lk * ev;
    const uint32_t bIndex = (uint32_t)(b0 + b);
    for (int i0 = 0; i0 < lq; i0 += QB) {
      const int qb = MOX_MIN(QB, lq - i0);
      const int nk = causal ? MOX_MIN(lk, i0 + qb) : lk;
      const float *qBlk = q + i0 * rsQ, *gBlk = g + i0 * rsG;
      gemm_f32(qb, nk, e, qBlk, rsQ, csQ, k, csK, rsK, s, nk, NULL, 0);
      gemm_f32(qb, nk, ev, gBlk, rsG, csG, v, csV, rsV, ds, nk, NULL, 0);
      for (int r = 0; r < qb; r++) {
        const int i = i0 + r;
        float *row = s + (long)r * nk, *drow = ds + (long)r * nk;
        const int lim = visible(causal, i, nk);
        // D_i = sum_d g[i, d] out[i, d] (= sum_j P_ij keep_ij dP_ij), in order as the WebAssembly kernel
        float di = 0;
        const float *gi = gBlk + r * rsG, *oi = ob + (long)i * ev;
        for (int d = 0; d < ev; d++) di += gi[d * csG] * oi[d];
        const float l = lb[i];
        const vf vl = vsplat(l), vd = vsplat(di);
        if (dropP == 0) {
          for (int j = 0; j < lim; j += MOX_VW) {
            const int kk = MOX_MIN(MOX_VW, lim - j);
            const vf sv = kk == MOX_VW ? vload(row + j) : vload_part(row + j, kk, 0);
            const vf dv_ = kk == MOX_VW ? vload(drow + j) : vload_part(drow + j, kk, 0);
            const vf p = vexp(sv * vs - vl);
            const vf dsv = p * (dv_ - vd) * vs;
            if (kk == MOX_VW) {
              vstore(row + j, p);
              vstore(drow + j, dsv);
            } else {
              vstore_part(row + j, p, kk);
              vstore_part(drow + j, dsv, kk);
            }
          }
        } else {
          for (int j = 0; j < lim; j++) {
            const float p = sexp(row[j] * scale - l);
            const float f = (pcg4d_x(seed, bIndex, (uint32_t)i, (uint32_t)j) >> 8) >= threshold ? keepScale : 0;
            row[j] = p * f;
            drow[j] = p * (drow[j] * f - di) * scale;
          }
        }
        for (int j = lim; j < nk; j++) row[j] = drow[j] = 0;
      }
      // dv[0:nk] += (P keep)^T g_blk; dq_blk = dS k[0:nk]; dk[0:nk] += dS^T q_blk
      gemm_f32(nk, ev, qb, s, 1, nk, gBlk, rsG, csG, dvb, ev, NULL, 1);
      gemm_f32(qb, e, nk, ds, nk, 1, k, rsK, csK, dqb + (long)i0 * e, e, NULL, 0);
      gemm_f32(nk, e, qb, ds, 1, nk, qBlk, rsQ, csQ, dkb, e, NULL, 1);
    }
  }
}
