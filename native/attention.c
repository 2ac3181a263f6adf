// Fused scaled-dot-product attention, forward and backward, as assembly/attention.ts (read it for the
// method): query rows QB at a time, their scores against the keys they may see in a [QB, Lk] block of
// the caller's, the matrix products on a small register-tiled kernel (mm below), the forward keeping each row's
// log-sum-exp and the backward rebuilding the weights from it. Same arguments: a table of batch
// entries (byte addresses of q, k, v, g, as u32), element strides [rsQ, csQ, rsK, csK, rsV, csV, rsG,
// csG] as i32, contiguous out / lse / dq / dk / dv, the same dropout hash of (seed, b, i, j).
#include <stdlib.h>

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
  // scaling and the max in one pass (NaN skipped as in row_max: it reaches the sum)
  const vf vs = vsplat(scale);
  vf vm = vsplat(-INFINITY);
  int j = 0;
  for (; j + MOX_VW <= lim; j += MOX_VW) {
    const vf x = vload(p + j) * vs;
    vstore(p + j, x);
    vm = vmax(x, vm);
  }
  if (j < lim) {
    const vf x = vload_part(p + j, lim - j, -INFINITY) * vs;
    vstore_part(p + j, x, lim - j);
    vm = vmax(x, vm);
  }
  const float m = vmax_tree(vm);
  const float s = sum_exp(p, lim, m, p);
  const vf vi = vsplat((float)(1.0 / (double)s));
  for (j = 0; j + MOX_VW <= lim; j += MOX_VW) vstore(p + j, vload(p + j) * vi);
  if (j < lim) vstore_part(p + j, vload_part(p + j, lim - j, 0) * vi, lim - j);
  if (lim < n) memset(p + lim, 0, (size_t)(n - lim) * sizeof(float));
  return m + (float)log((double)s);
}

/** Keys query i may see in a block whose scores cover keys [0, n). */
static inline int visible(int causal, int i, int n) { return causal ? MOX_MIN(n, i + 1) : n; }

// The products here are small (a GPT head: 32 x 64 x 32), where a general GEMM's packing of both
// operands on every call costs more than the arithmetic: gemm_f32 measured no faster than the
// WebAssembly kernel on the GPT forward. Instead each entry's K, K^T, V^T (forward: K^T, V) are
// packed once into this thread's space, rows padded to whole vectors, and a register-tiled kernel
// multiplies any strided A by such a packed B, reused by every query block of the entry.

/** Rows of C per tile and vectors of C per row: 16 (8) accumulators fit the register file. */
#define MM_MB 4
#if MOX_VW == 16
#define MM_NV 4
#else
#define MM_NV 2
#endif

/** Floats of a packed row of n: whole vectors, so the kernel's loads never leave the row. */
static inline long padded(int n) { return (long)(n + MOX_VW - 1) / MOX_VW * MOX_VW; }

/** C[mb, nv vectors] (+)= A[mb, K] B[K, ...]; the last vector stores `last` lanes. */
static inline __attribute__((always_inline)) void mm_tile(int mb, int nv, int K, const float *a, long rsA, long csA,
                                                          const float *b, long ldb, float *c, long ldc, int last,
                                                          int acc) {
  vf s[MM_MB][MM_NV];
  for (int r = 0; r < mb; r++)
    for (int v = 0; v < nv; v++) s[r][v] = vsplat(0);
  for (int k = 0; k < K; k++) {
    const float *bk = b + k * ldb;
    vf bv[MM_NV];
    for (int v = 0; v < nv; v++) bv[v] = vload(bk + v * MOX_VW);
    for (int r = 0; r < mb; r++) {
      const vf av = vsplat(a[r * rsA + k * csA]);
      for (int v = 0; v < nv; v++) s[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < mb; r++) {
    float *cr = c + r * ldc;
    for (int v = 0; v < nv; v++) {
      const int k = v == nv - 1 ? last : MOX_VW;
      if (k == MOX_VW) {
        vstore(cr + v * MOX_VW, acc ? vload(cr + v * MOX_VW) + s[r][v] : s[r][v]);
      } else {
        vf x = s[r][v];
        if (acc) x += vload_part(cr + v * MOX_VW, k, 0);
        vstore_part(cr + v * MOX_VW, x, k);
      }
    }
  }
}

/**
 * C[M, N] = A[M, K] @ B[K, N] (acc: C +=), A through element strides, B packed: rows ldb apart,
 * readable to whole vectors past N. Each element of C sums over k in order, whatever the tiling.
 */
static void mm(int M, int N, int K, const float *a, long rsA, long csA, const float *b, long ldb, float *c, long ldc,
               int acc) {
  for (int j0 = 0; j0 < N; j0 += MM_NV * MOX_VW) {
    const int w = MOX_MIN(MM_NV * MOX_VW, N - j0);
    const int nv = (w + MOX_VW - 1) / MOX_VW, last = w - (nv - 1) * MOX_VW;
    int i = 0;
#define MM_CASE(MB, NV) mm_tile(MB, NV, K, a + i * rsA, rsA, csA, b + j0, ldb, c + i * ldc + j0, ldc, last, acc)
#if MM_NV == 4
#define MM_ROWS(MB)      \
  switch (nv) {          \
    case 4:              \
      MM_CASE(MB, 4);    \
      break;             \
    case 3:              \
      MM_CASE(MB, 3);    \
      break;             \
    case 2:              \
      MM_CASE(MB, 2);    \
      break;             \
    default:             \
      MM_CASE(MB, 1);    \
  }
#else
#define MM_ROWS(MB)      \
  if (nv == 2)           \
    MM_CASE(MB, 2);      \
  else                   \
    MM_CASE(MB, 1);
#endif
    for (; i + MM_MB <= M; i += MM_MB) MM_ROWS(MM_MB)
    for (; i < M; i++) MM_ROWS(1)
#undef MM_ROWS
#undef MM_CASE
  }
}

/** dst[r * ld + c] = x[r * rs + c * cs] for an rows x cols matrix (transposing when asked by the strides). */
static void pack(const float *x, long rs, long cs, int rows, int cols, float *dst, long ld) {
  for (int r = 0; r < rows; r++) {
    float *d = dst + r * ld;
    const float *src = x + r * rs;
    if (cs == 1)
      memcpy(d, src, (size_t)cols * sizeof(float));
    else
      for (int c = 0; c < cols; c++) d[c] = src[c * cs];
    for (int c = cols; c < ld; c++) d[c] = 0;
  }
}

/** This thread's packing space, grown to at least `floats` (the pool's threads are long-lived). */
static __thread float *space = NULL;
static __thread size_t space_floats = 0;

static float *thread_space(size_t floats) {
  if (floats > space_floats) {
    free(space);
    space_floats = floats + floats / 2;
    space = aligned_alloc(64, (space_floats * sizeof(float) + 63) / 64 * 64);
  }
  return space;
}

/**
 * attentionF32(nb, strides, entries, lq, lk, e, ev, out, lse, b0, causal, scale, dropP, seed,
 * threshold, s, scratch): out[b] = softmax(q k^T * scale (+ causal mask)) (dropped out) v and lse[b]
 * for nb entries of the table. s: QB * lk floats of the caller's; scratch (the WebAssembly GEMM's
 * packing space) is unused: the packed operands go to this thread's own space.
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
  const long ldk = padded(lk), ldv = padded(ev);
  float *kt = thread_space((size_t)e * ldk + (size_t)lk * ldv);
  float *vp = kt + (size_t)e * ldk;
  for (int b = 0; b < nb; b++) {
    const float *q = heap_f(entries[4 * b]), *k = heap_f(entries[4 * b + 1]), *v = heap_f(entries[4 * b + 2]);
    float *ob = out + (long)b * lq * ev, *lb = lse + (long)b * lq;
    const uint32_t bIndex = (uint32_t)(b0 + b);
    pack(k, csK, rsK, e, lk, kt, ldk); // K^T [e, lk]
    pack(v, rsV, csV, lk, ev, vp, ldv); // V [lk, ev]
    for (int i0 = 0; i0 < lq; i0 += QB) {
      const int qb = MOX_MIN(QB, lq - i0);
      const int nk = causal ? MOX_MIN(lk, i0 + qb) : lk;
      // S = Q[i0:i0+qb] K[0:nk]^T
      mm(qb, nk, e, q + i0 * rsQ, rsQ, csQ, kt, ldk, s, nk, 0);
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
      mm(qb, ev, nk, s, nk, 1, vp, ldv, ob + (long)i0 * ev, ev, 0);
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
  const long ldk = padded(lk), lde = padded(e), ldv = padded(ev);
  float *kt = thread_space((size_t)e * ldk + (size_t)lk * lde + (size_t)ev * ldk + (size_t)QB * (lde + ldv));
  float *kp = kt + (size_t)e * ldk, *vt = kp + (size_t)lk * lde, *qp = vt + (size_t)ev * ldk, *gp = qp + (size_t)QB * lde;
  for (int b = 0; b < nb; b++) {
    const float *q = heap_f(entries[4 * b]), *k = heap_f(entries[4 * b + 1]);
    const float *v = heap_f(entries[4 * b + 2]), *g = heap_f(entries[4 * b + 3]);
    const float *ob = out + (long)b * lq * ev, *lb = lse + (long)b * lq;
    float *dqb = dq + (long)b * lq * e, *dkb = dk + (long)b * lk * e, *dvb = dv + (long)b * lk * ev;
    const uint32_t bIndex = (uint32_t)(b0 + b);
    pack(k, csK, rsK, e, lk, kt, ldk); // K^T [e, lk]
    pack(k, rsK, csK, lk, e, kp, lde); // K [lk, e]
    pack(v, csV, rsV, ev, lk, vt, ldk); // V^T [ev, lk]
    for (int i0 = 0; i0 < lq; i0 += QB) {
      const int qb = MOX_MIN(QB, lq - i0);
      const int nk = causal ? MOX_MIN(lk, i0 + qb) : lk;
      const float *qBlk = q + i0 * rsQ, *gBlk = g + i0 * rsG;
      pack(qBlk, rsQ, csQ, qb, e, qp, lde);
      pack(gBlk, rsG, csG, qb, ev, gp, ldv);
      mm(qb, nk, e, qp, lde, 1, kt, ldk, s, nk, 0);
      mm(qb, nk, ev, gp, ldv, 1, vt, ldk, ds, nk, 0);
      for (int r = 0; r < qb; r++) {
        const int i = i0 + r;
        float *row = s + (long)r * nk, *drow = ds + (long)r * nk;
        const int lim = visible(causal, i, nk);
        // D_i = sum_d g[i, d] out[i, d] (= sum_j P_ij keep_ij dP_ij), in order as the WebAssembly kernel
        float di = 0;
        const float *gi = gp + r * ldv, *oi = ob + (long)i * ev;
        for (int d = 0; d < ev; d++) di += gi[d] * oi[d];
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
      mm(nk, ev, qb, s, 1, nk, gp, ldv, dvb, ev, 1);
      mm(qb, e, nk, ds, nk, 1, kp, lde, dqb + (long)i0 * e, e, 0);
      mm(nk, e, qb, ds, 1, nk, qp, lde, dkb, e, 1);
    }
  }
}
