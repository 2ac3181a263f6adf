// Shared by the row-wise kernels (rows.c, attention.c, optim.c): partial vectors for the last
// n % MOX_VW elements of a row. Running a row's tail through the same vector code as its body keeps
// every element's arithmetic the same wherever it falls (results do not depend on how callers split
// rows or columns), and one vexp of a partial vector is far cheaper than a scalar exp per element.
// Also the row max and sum of exponentials that softmax, cross-entropy and attention share.
#ifndef MOX_ROWS_H
#define MOX_ROWS_H

#include "mox.h"
#include "vmath.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

/** Lanes 0..MOX_VW-1 as integers, to build "lane < k" masks. */
static inline vi viota(void) {
#if MOX_VW == 16
  return (vi){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#elif MOX_VW == 8
  return (vi){0, 1, 2, 3, 4, 5, 6, 7};
#else
  return (vi){0, 1, 2, 3};
#endif
}

/** All ones in lanes < k. */
static inline vi vfirst(int k) { return viota() < ((vi){0} + k); }

/** The first k (0 <= k <= MOX_VW) floats at p, `fill` in the other lanes; never reads past p + k. */
static inline vf vload_part(const float *p, int k, float fill) {
#if defined(__x86_64__) && MOX_VW == 16
  // a masked load: the masked-off lanes are not read, so no fault past the end of the heap
  return (vf)_mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << k) - 1), p);
#elif defined(__x86_64__) && MOX_VW == 8
  const vi m = vfirst(k);
  return vselect(m, (vf)_mm256_maskload_ps(p, (__m256i)m), vsplat(fill));
#else
  // through a buffer: lane-by-lane inserts into a vector register cost more than one reload
  float buf[MOX_VW] __attribute__((aligned(MOX_VW * 4)));
  for (int i = 0; i < MOX_VW; i++) buf[i] = fill;
  memcpy(buf, p, (size_t)k * sizeof(float));
  return *(const vf *)buf;
#endif
}

/** Stores the first k lanes of v at p; never writes past p + k. */
static inline void vstore_part(float *p, vf v, int k) {
#if defined(__x86_64__) && MOX_VW == 16
  _mm512_mask_storeu_ps(p, (__mmask16)((1u << k) - 1), (__m512)v);
#elif defined(__x86_64__) && MOX_VW == 8
  _mm256_maskstore_ps(p, (__m256i)vfirst(k), (__m256)v);
#else
  float buf[MOX_VW] __attribute__((aligned(MOX_VW * 4)));
  *(vf *)buf = v;
  memcpy(p, buf, (size_t)k * sizeof(float));
#endif
}

/** Square root per lane, correctly rounded (IEEE), as WebAssembly's f32x4.sqrt. */
static inline vf vsqrt(vf x) {
#if defined(__x86_64__) && MOX_VW == 16
  return (vf)_mm512_sqrt_ps((__m512)x);
#elif defined(__x86_64__) && MOX_VW == 8
  return (vf)_mm256_sqrt_ps((__m256)x);
#elif defined(__x86_64__) && MOX_VW == 4
  return (vf)_mm_sqrt_ps((__m128)x);
#elif defined(__aarch64__) && MOX_VW == 4
  return (vf)vsqrtq_f32((float32x4_t)x);
#else
  for (int i = 0; i < MOX_VW; i++) x[i] = sqrtf(x[i]);
  return x;
#endif
}

// Lane reductions as a tree of log2(MOX_VW) shuffles: mox.h's vsum and vmath.h's vhmax walk the lanes
// one after another (16 dependent adds at AVX-512, ~60 cycles), which dominated short rows (a
// 10-class cross-entropy was slower than WebAssembly's 4-lane sums before this).
#if defined(__clang__) || __GNUC__ >= 12
#if MOX_VW == 16
#define MOX_TREE(v, OP)                                                                      \
  v = OP(v, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)); \
  v = OP(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));       \
  v = OP(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));       \
  v = OP(v, __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0))
#elif MOX_VW == 8
#define MOX_TREE(v, OP)                                                \
  v = OP(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3)); \
  v = OP(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1)); \
  v = OP(v, __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0))
#else
#define MOX_TREE(v, OP)                                    \
  v = OP(v, __builtin_shufflevector(v, v, 2, 3, 0, 1)); \
  v = OP(v, __builtin_shufflevector(v, v, 1, 0, 1, 0))
#endif
#define MOX_ADD(a, b) ((a) + (b))
/** Sum of the lanes. */
static inline float vsum_tree(vf v) {
  MOX_TREE(v, MOX_ADD);
  return v[0];
}
/** Max of the lanes, for vectors without NaN (row_max's accumulators never hold one). */
static inline float vmax_tree(vf v) {
  MOX_TREE(v, vmax);
  return v[0];
}
#else
static inline float vsum_tree(vf v) { return vsum(v); }
static inline float vmax_tree(vf v) { return vhmax(v); }
#endif

/**
 * Max of n floats at p, for shifting exponents. A NaN may be skipped here (as the WebAssembly pmax
 * does), but it reaches the sum of exponentials, so a row with a NaN still comes out all NaN.
 */
static inline float row_max(const float *p, int n) {
  vf m0 = vsplat(-INFINITY), m1 = m0;
  int i = 0;
  for (; i + 2 * MOX_VW <= n; i += 2 * MOX_VW) {
    m0 = vmax(vload(p + i), m0);
    m1 = vmax(vload(p + i + MOX_VW), m1);
  }
  for (; i + MOX_VW <= n; i += MOX_VW) m0 = vmax(vload(p + i), m0);
  if (i < n) m1 = vmax(vload_part(p + i, n - i, -INFINITY), m1);
  return vmax_tree(vmax(m0, m1));
}

/** Sum of e^(x - m) over n floats at p; also stores each e^(x - m) at dst when dst (may be p). */
static inline float sum_exp(const float *p, int n, float m, float *dst) {
  const vf vm = vsplat(m);
  vf a0 = vsplat(0), a1 = vsplat(0);
  int i = 0;
  for (; i + 2 * MOX_VW <= n; i += 2 * MOX_VW) {
    const vf e0 = vexp(vload(p + i) - vm), e1 = vexp(vload(p + i + MOX_VW) - vm);
    if (dst) {
      vstore(dst + i, e0);
      vstore(dst + i + MOX_VW, e1);
    }
    a0 += e0;
    a1 += e1;
  }
  for (; i + MOX_VW <= n; i += MOX_VW) {
    const vf e = vexp(vload(p + i) - vm);
    if (dst) vstore(dst + i, e);
    a0 += e;
  }
  if (i < n) {
    const int k = n - i;
    // the lanes past the row are zeroed after the exp, whatever m is (-inf - -inf would be NaN)
    const vf e = vselect(vfirst(k), vexp(vload_part(p + i, k, 0) - vm), vsplat(0));
    if (dst) vstore_part(dst + i, e, k);
    a1 += e;
  }
  return vsum_tree(a0 + a1);
}

#endif
