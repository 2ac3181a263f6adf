// Quantized matrix products, as assembly/quant.ts (the spec: same arguments, same arithmetic; the
// format is src/backend/quant-format.ts's). x [M, K] float32 rows times a band of N packed weight rows
// into out [M, N]; the host splits N across threads, and every output is computed by the same code
// whatever the band, so results do not depend on the split.
//
// - q8MatmulF32 (int8 weights, float activations): float sums, so it matches WebAssembly within float
//   rounding (its own order: two vector accumulators per output, then a scalar tail).
// - quantizeRowsU7 / quantizeRowsQ8: bit-identical to WebAssembly, edge values included: NaN spreads
//   through min/max as f32.min/max do, and float -> int conversions saturate (NaN -> 0) as
//   i32.trunc_sat does, then wrap as i32 arithmetic does (see vtrunc_sat below).
// - q8DynMatmul / q4MatmulQ8: exact integer dot products (pmaddubsw + pmaddwd, or VNNI's vpdpbusd where
//   the CPU has it), then the float steps in WebAssembly's order with no fused multiply-add, so the
//   results are bit-identical too. pmaddubsw saturates pairs of u8 x s8 products at int16; the
//   unsigned operand is always below 128 (u7 activations, or 4-bit weights), so a pair is at most
//   2 * 127 * 128 = 32512 and never saturates: the sums are exact, as with relaxed SIMD's i7 dot.
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif
#include <stdlib.h>

#include "mox.h"

// VB bytes per vector (64, 32, 16); GPV int4 groups (16 packed bytes each) per vector of weights.
#define VB (MOX_VW * 4)
#define GPV (MOX_VW / 4)

typedef int8_t vb __attribute__((vector_size(VB)));
typedef int8_t vb_u __attribute__((vector_size(VB), aligned(1)));
typedef uint8_t vub __attribute__((vector_size(VB)));
typedef uint32_t vu __attribute__((vector_size(MOX_VW * 4)));
typedef int32_t vi_u __attribute__((vector_size(MOX_VW * 4), aligned(4)));
typedef int8_t vqi __attribute__((vector_size(MOX_VW)));
typedef int8_t vqi_u __attribute__((vector_size(MOX_VW), aligned(1)));
typedef float v4f __attribute__((vector_size(16)));
typedef uint8_t vq8 __attribute__((vector_size(MOX_VW)));
typedef uint8_t vq8_u __attribute__((vector_size(MOX_VW), aligned(1)));

static inline vb bload(const void *p) { return *(const vb_u *)p; }
static inline vi iload(const int32_t *p) { return *(const vi_u *)p; }
static inline vi isplat(int32_t x) { return (vi)MOX_SPLAT(x); }
/** Lane-wise mask ? a : b on integers (C has no vector ?:). */
static inline vi isel(vi mask, vi a, vi b) { return (mask & a) | (~mask & b); }

// ---- float helpers with WebAssembly's semantics ------------------------------------------------

/** f32.nearest (ties to even), lane-wise: |v| + 2^23 - 2^23 rounds in the default mode; |v| >= 2^23 is whole. */
static inline vf vnearest(vf v) {
  const vi sign = (vi)v & isplat((int32_t)0x80000000);
  const vf a = (vf)((vi)v & isplat(0x7fffffff));
  const vf r = (a + vsplat(8388608.0f)) - vsplat(8388608.0f);
  return vselect(a < vsplat(8388608.0f), (vf)((vi)r | sign), v);
}

/** i32.trunc_sat_f32_s of a whole (or NaN) value: NaN -> 0, beyond int32 -> its nearest end. */
static inline vi vtrunc_sat(vf r) {
  const vf c = vmin(vmax(vselect(r == r, r, vsplat(0)), vsplat(-2147483648.0f)), vsplat(2147483520.0f));
  const vi i = __builtin_convertvector(c, vi);
  return (vi)vselect(r >= vsplat(2147483648.0f), (vf)isplat(INT32_MAX), (vf)i);
}

static inline float snearest(float v) {
  const float a = fabsf(v);
  return a < 8388608.0f ? copysignf((a + 8388608.0f) - 8388608.0f, v) : v;
}

static inline int32_t strunc_sat(float r) {
  if (r != r) return 0;
  if (r >= 2147483648.0f) return INT32_MAX;
  if (r <= -2147483648.0f) return INT32_MIN;
  return (int32_t)r;
}

/** f32.min / f32.max: NaN if either is NaN (C's fminf would drop it). */
static inline float wmin(float a, float b) { return a != a || b != b ? NAN : a < b ? a : b; }
static inline float wmax(float a, float b) { return a != a || b != b ? NAN : a > b ? a : b; }

static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t clamp127(int32_t v) { return v < 0 ? 0 : v > 127 ? 127 : v; }

// ---- integer dot products ------------------------------------------------------------------------

#if defined(__x86_64__) && MOX_VW == 16
/** Whether this CPU has AVX-512 VNNI (asked once; the build passes no VNNI flag, so it is emitted as asm). */
static int has_fast_dot(void) {
  static int known = -1;
  if (known < 0) known = __builtin_cpu_supports("avx512vnni") ? 1 : 0;
  return known;
}
#elif defined(__x86_64__) && MOX_VW == 4
/**
 * Whether the baseline level may use SSSE3's pmaddubsw and SSE4.1's pmovsxbd (as asm: the level's
 * flags are SSE2's alone): every x86-64 since 2008 has both.
 */
static int has_fast_dot(void) {
  static int known = -1;
  if (known < 0) known = __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1") ? 1 : 0;
  return known;
}
#endif

/**
 * acc + the int32 dot products of u (bytes in [0, 127]) with s (signed bytes): each 16-byte block of
 * the inputs adds into the 4 int32 lanes of the same block (how, within the block, is the level's).
 * fast: has_fast_dot() said yes (VNNI at AVX-512, SSSE3 and SSE4.1 at the x86 baseline).
 */
static inline __attribute__((always_inline)) vi dot_add(vi acc, vb u, vb s, int fast) {
#if defined(__x86_64__) && MOX_VW == 16
  if (fast) {
    __m512i a = (__m512i)acc;
    __asm__("vpdpbusd %2, %1, %0" : "+v"(a) : "v"((__m512i)u), "v"((__m512i)s));
    return (vi)a;
  }
  const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16((__m512i)u, (__m512i)s), _mm512_set1_epi16(1));
  return (vi)_mm512_add_epi32((__m512i)acc, p);
#elif defined(__x86_64__) && MOX_VW == 8
  (void)fast;
  const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16((__m256i)u, (__m256i)s), _mm256_set1_epi16(1));
  return (vi)_mm256_add_epi32((__m256i)acc, p);
#elif defined(__x86_64__) && MOX_VW == 4
  if (fast) {
    // SSSE3's pmaddubsw, as asm
    __m128i p = (__m128i)u;
    __asm__("pmaddubsw %1, %0" : "+x"(p) : "x"((__m128i)s));
    return (vi)_mm_add_epi32((__m128i)acc, _mm_madd_epi16(p, _mm_set1_epi16(1)));
  }
  // SSE2 alone has no pmaddubsw: widen both to int16 (u with zeros, s with its sign) and use pmaddwd
  const __m128i uu = (__m128i)u, ss = (__m128i)s, z = _mm_setzero_si128();
  const __m128i ulo = _mm_unpacklo_epi8(uu, z), uhi = _mm_unpackhi_epi8(uu, z);
  const __m128i slo = _mm_srai_epi16(_mm_unpacklo_epi8(ss, ss), 8), shi = _mm_srai_epi16(_mm_unpackhi_epi8(ss, ss), 8);
  const __m128i p = _mm_add_epi32(_mm_madd_epi16(ulo, slo), _mm_madd_epi16(uhi, shi));
  return (vi)_mm_add_epi32((__m128i)acc, p);
#elif defined(__aarch64__)
  // NEON: u < 128 is a signed byte too; pairs of int8 products fit int16 (2 * 127 * 128), then
  // pairwise into the int32 lanes
  (void)fast;
  const int8x16_t a = (int8x16_t)u, b = (int8x16_t)s;
  const int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b);
  return (vi)vpadalq_s16((int32x4_t)acc, p);
#else
  // portable: widen to int32 four bytes at a time; lane j sums bytes j, 4+j, 8+j, 12+j
  (void)fast;
  typedef int32_t v16i __attribute__((vector_size(VB * 4)));
  const v16i p = __builtin_convertvector((vub)u, v16i) * __builtin_convertvector(s, v16i);
  for (int b = 0; b < MOX_VW; b += 4) {
    for (int j = 0; j < 4; j++) acc[b + j] += p[4 * b + j] + p[4 * b + 4 + j] + p[4 * b + 8 + j] + p[4 * b + 12 + j];
  }
  return acc;
#endif
}

/** The first `bytes` bytes at p (a multiple of 16, < VB), zeros after, reading nothing past them. */
static inline vb bload_part(const uint8_t *p, int bytes) {
#if defined(__x86_64__) && MOX_VW == 16
  return (vb)_mm512_maskz_loadu_epi8((__mmask64)((1ULL << bytes) - 1), p);
#elif defined(__x86_64__) && MOX_VW == 8
  (void)bytes;  // only 16 can be left over
  return (vb)_mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)p));
#else
  (void)p, (void)bytes;  // VB = 16: never partial
  return (vb){0};
#endif
}

/** The first n (< VW) int32 / float lanes at p, zeros after, reading nothing past them. */
static inline vi iload_part(const int32_t *p, int n) {
#if defined(__x86_64__) && MOX_VW == 16
  return (vi)_mm512_maskz_loadu_epi32((__mmask16)((1u << n) - 1), p);
#elif defined(__x86_64__) && MOX_VW == 8
  const vi lanes = {0, 1, 2, 3, 4, 5, 6, 7};
  return (vi)_mm256_maskload_epi32(p, (__m256i)(lanes < isplat(n)));
#else
  vi v = isplat(0);
  for (int i = 0; i < n; i++) v[i] = p[i];
  return v;
#endif
}
static inline vf vload_part(const float *p, int n) { return (vf)iload_part((const int32_t *)p, n); }

// Lane shuffles for a 4 x 4 transpose inside each 16-byte block (SSE's unpack{lo,hi}_epi{32,64}),
// and for putting group L of a chunk in lane L (see reduce_groups): LANES(f) lists f(i) for every
// lane i; SHUF2 / SHUF1 pick lanes of (a, b) / a through GCC's __builtin_shuffle or clang's
// __builtin_shufflevector (GCC has that one only from version 12).
#if MOX_VW == 16
#define LANES(f) f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11), f(12), f(13), f(14), f(15)
#elif MOX_VW == 8
#define LANES(f) f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7)
#else
#define LANES(f) f(0), f(1), f(2), f(3)
#endif
#if defined(__clang__)
#define SHUF2(a, b, f) __builtin_shufflevector(a, b, LANES(f))
#define SHUF1(a, f) __builtin_shufflevector(a, a, LANES(f))
#else
#define SHUF2(a, b, f) __builtin_shuffle(a, b, (vi){LANES(f)})
#define SHUF1(a, f) __builtin_shuffle(a, (vi){LANES(f)})
#endif
// lane i = 4k + e of the result takes, for block k:
#define LO32(i) (((i) & ~3) + ((i) & 3) / 2 + ((i) & 1) * MOX_VW)      // a0 b0 a1 b1
#define HI32(i) (((i) & ~3) + 2 + ((i) & 3) / 2 + ((i) & 1) * MOX_VW)  // a2 b2 a3 b3
#define LO64(i) (((i) & ~3) + ((i) & 1) + ((i) & 2) / 2 * MOX_VW)      // a0 a1 b0 b1
#define HI64(i) (((i) & ~3) + 2 + ((i) & 1) + ((i) & 2) / 2 * MOX_VW)  // a2 a3 b2 b3
#define GROUP(i) (((i) % GPV) * 4 + (i) / GPV)

/** Four vectors -> per block k: [sum of a's block k, b's, c's, d's] (a transpose-add within blocks). */
static inline vi transpose_add(vi a, vi b, vi c, vi d) {
  const vi ab = SHUF2(a, b, LO32) + SHUF2(a, b, HI32);
  const vi cd = SHUF2(c, d, LO32) + SHUF2(c, d, HI32);
  return SHUF2(ab, cd, LO64) + SHUF2(ab, cd, HI64);
}

/**
 * Four vectors of per-block partial sums (block k of s_c is group c * GPV + k of the chunk) -> one
 * vector whose lane L is the chunk's group L's whole sum: a transpose-add within blocks, then a
 * permutation of lanes (the identity at GPV = 1).
 */
static inline vi reduce_groups(vi s0, vi s1, vi s2, vi s3) {
  const vi u = transpose_add(s0, s1, s2, s3);
#if GPV > 1
  return SHUF1(u, GROUP);
#else
  return u;
#endif
}

/** Four vectors' whole sums. */
static inline void sum4(vi s0, vi s1, vi s2, vi s3, int32_t out[4]) {
  const vi u = transpose_add(s0, s1, s2, s3);
  // block k of u holds the four sums' parts from block k: add the blocks
  for (int j = 0; j < 4; j++) {
    int32_t t = 0;
    for (int k = 0; k < GPV; k++) t += u[4 * k + j];
    out[j] = t;
  }
}

static inline int32_t hsum_i(vi v) {
  int32_t t = 0;
  for (int i = 0; i < MOX_VW; i++) t += v[i];
  return t;
}

// ---- q8MatmulF32 ------------------------------------------------------------------------------------

/**
 * VW int8 weights at p, as floats (GCC builds __builtin_convertvector from bytes lane by lane on x86).
 * fast: has_fast_dot() said yes (at the x86 baseline: SSE4.1's pmovsxbd, as asm).
 */
static inline vf wload(const int8_t *p, int fast) {
  (void)fast;
#if defined(__x86_64__) && MOX_VW == 16
  return (vf)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
#elif defined(__x86_64__) && MOX_VW == 8
  return (vf)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
#elif defined(__x86_64__)
  if (fast) {
    __m128i v;
    __asm__("pmovsxbd %1, %0" : "=x"(v) : "m"(*(const int32_t *)p));
    return (vf)_mm_cvtepi32_ps(v);
  }
  // SSE2 has no pmovsxbd: put each byte at the top of its lane, then shift its sign down
  int32_t b;
  memcpy(&b, p, 4);
  const __m128i v = _mm_cvtsi32_si128(b);
  const __m128i w = _mm_unpacklo_epi16(_mm_unpacklo_epi8(v, v), _mm_unpacklo_epi8(v, v));
  return (vf)_mm_cvtepi32_ps(_mm_srai_epi32(w, 24));
#else
  return __builtin_convertvector(*(const vqi_u *)p, vf);
#endif
}

/**
 * An MB x NB tile of outputs. Each output sums in two vector accumulators (even and odd vectors of K,
 * so that no add waits on the one before), then their sum, then the tail in order: the same
 * arithmetic for every output whatever tile it falls in.
 */
static inline __attribute__((always_inline)) void q8f32_tile(int MB, int NB, int K, const float *x, long ldx, const int8_t *w,
                                                             long ldw, const float *scale, const float *bias, float *out,
                                                             long ldo, int fast) {
  vf acc[4][2][2];
#pragma GCC unroll 4
  for (int i = 0; i < MB; i++)
#pragma GCC unroll 2
    for (int j = 0; j < NB; j++) acc[i][j][0] = acc[i][j][1] = vsplat(0);
  const int KV = K & ~(MOX_VW - 1);
  int k = 0;
  for (; k + 2 * MOX_VW <= KV; k += 2 * MOX_VW) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      vf wv[2];
#pragma GCC unroll 2
      for (int j = 0; j < NB; j++) wv[j] = wload(w + j * ldw + k + h * MOX_VW, fast);
#pragma GCC unroll 4
      for (int i = 0; i < MB; i++) {
        const vf xv = vload(x + i * ldx + k + h * MOX_VW);
#pragma GCC unroll 2
        for (int j = 0; j < NB; j++) acc[i][j][h] += xv * wv[j];
      }
    }
  }
  if (k < KV) {
    vf wv[2];
#pragma GCC unroll 2
    for (int j = 0; j < NB; j++) wv[j] = wload(w + j * ldw + k, fast);
#pragma GCC unroll 4
    for (int i = 0; i < MB; i++) {
      const vf xv = vload(x + i * ldx + k);
#pragma GCC unroll 2
      for (int j = 0; j < NB; j++) acc[i][j][0] += xv * wv[j];
    }
  }
  for (int i = 0; i < MB; i++) {
    for (int j = 0; j < NB; j++) {
      float t = vsum(acc[i][j][0] + acc[i][j][1]);
      for (int kk = KV; kk < K; kk++) t += x[i * ldx + kk] * (float)w[j * ldw + kk];
      out[i * ldo + j] = t * scale[j] + (bias ? bias[j] : 0.0f);
    }
  }
}

static inline __attribute__((always_inline)) void q8f32(const double *arg, int fast) {
  const int M = ARG_I(0), N = ARG_I(1), K = ARG_I(2);
  const float *x = ARG_FP(3);
  const long ldx = ARG_I(4);
  const int8_t *w = ARG_P(5);
  const long ldw = ARG_I(6);
  const float *scale = ARG_FP(7);
  const float *bias = ARG_D(8) != 0 ? ARG_FP(8) : NULL;
  float *out = ARG_FP(9);
  const long ldo = ARG_I(10);
  // Several x rows: two weight rows at a time (their float conversion shared by up to four x rows),
  // x rows inner, so the two rows stay in L1 while x streams. One x row (decoding): one weight row
  // at a time, in address order, which streams from memory faster than interleaved rows.
  int n = 0;
  for (; M > 1 && n + 2 <= N; n += 2) {
    const int8_t *wn = w + n * ldw;
    const float *b = bias ? bias + n : NULL;
    int m = 0;
    for (; m + 4 <= M; m += 4) q8f32_tile(4, 2, K, x + m * ldx, ldx, wn, ldw, scale + n, b, out + m * ldo + n, ldo, fast);
    for (; m < M; m++) q8f32_tile(1, 2, K, x + m * ldx, ldx, wn, ldw, scale + n, b, out + m * ldo + n, ldo, fast);
  }
  for (; n < N; n++) {
    const int8_t *wn = w + n * ldw;
    const float *b = bias ? bias + n : NULL;
    int m = 0;
    for (; m + 4 <= M; m += 4) q8f32_tile(4, 1, K, x + m * ldx, ldx, wn, ldw, scale + n, b, out + m * ldo + n, ldo, fast);
    for (; m < M; m++) q8f32_tile(1, 1, K, x + m * ldx, ldx, wn, ldw, scale + n, b, out + m * ldo + n, ldo, fast);
  }
}

MOX_KERNEL(q8MatmulF32) {
#if defined(__x86_64__) && MOX_VW == 4
  if (has_fast_dot()) {
    q8f32(arg, 1);
    return;
  }
#endif
  q8f32(arg, 0);
}

// Below, every float step must round as WebAssembly's does, one operation at a time: no contraction
// of a * b + c into a fused multiply-add (GCC contracts across statements by default).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// ---- activation quantizers ----------------------------------------------------------------------------

MOX_KERNEL(quantizeRowsU7) {
  const int M = ARG_I(0), K = ARG_I(1), Kp = ARG_I(2);
  const float *x = ARG_FP(3);
  const long ldx = ARG_I(4);
  uint8_t *q = ARG_P(5);
  uint8_t *params = ARG_P(6);
  const int KV = K & ~(MOX_VW - 1);
  for (int m = 0; m < M; m++) {
    const float *xr = x + m * ldx;
    uint8_t *qr = q + (long)m * Kp;
    // lo = min(0, x...), hi = max(0, x...), NaN if any x is (f32.min / f32.max)
    vf vlo = vsplat(0), vhi = vsplat(0);
    vi nan = isplat(0);
    for (int k = 0; k < KV; k += MOX_VW) {
      const vf v = vload(xr + k);
      vlo = vmin(vlo, v);
      vhi = vmax(vhi, v);
      nan |= v != v;
    }
    float lo = 0, hi = 0;
    int anynan = 0;
    for (int i = 0; i < MOX_VW; i++) {
      lo = MOX_MIN(lo, vlo[i]);
      hi = MOX_MAX(hi, vhi[i]);
      anynan |= nan[i];
    }
    for (int k = KV; k < K; k++) {
      lo = MOX_MIN(lo, xr[k]);
      hi = MOX_MAX(hi, xr[k]);
      anynan |= xr[k] != xr[k];
    }
    if (anynan) lo = hi = NAN;
    float s = (hi - lo) / 127;
    if (!(s > 0) || !isfinite(s)) s = 1;
    const float inv = 1 / s;
    const int32_t z = strunc_sat(wmin(127, wmax(0, snearest(-lo * inv))));
    // q = clamp(trunc_sat(nearest(x / s)) + z, 0, 127), the add wrapping as i32.add does
    const vf vinv = vsplat(inv);
    const vu vz = (vu)isplat(z);
    for (int k = 0; k < KV; k += MOX_VW) {
      const vi v = (vi)((vu)vtrunc_sat(vnearest(vload(xr + k) * vinv)) + vz);
      const vi r = isel(v > 127, isplat(127), isel(v < 0, isplat(0), v));
      *(vq8_u *)(qr + k) = __builtin_convertvector(r, vq8);
    }
    for (int k = KV; k < K; k++) qr[k] = (uint8_t)clamp127(wrap_add(strunc_sat(snearest(xr[k] * inv)), z));
    if (Kp > K) memset(qr + K, 0, Kp - K);
    memcpy(params + 8 * m, &s, 4);
    memcpy(params + 8 * m + 4, &z, 4);
  }
}

MOX_KERNEL(quantizeRowsQ8) {
  const int M = ARG_I(0), K = ARG_I(1), Kp = ARG_I(2);
  const float *x = ARG_FP(3);
  const long ldx = ARG_I(4);
  int8_t *q = ARG_P(5);
  float *d = ARG_FP(6);
  int32_t *sums = ARG_P(7);
  const int G = Kp >> 5;
  for (int m = 0; m < M; m++) {
    const float *xr = x + m * ldx;
    int8_t *qr = q + (long)m * Kp;
    for (int g = 0; g < G; g++) {
      const int k0 = g << 5, k1 = MOX_MIN(K, k0 + 32);
      float s, inv;
      int32_t sum = 0;
      if (k1 == k0 + 32) {
        // a whole block in vectors: amax (NaN if any x is), then q = trunc_sat(nearest(x / s)),
        // stored as its low byte, summed with i32 wrapping
        vf amax = vsplat(0);
        vi nan = isplat(0);
        for (int k = k0; k < k1; k += MOX_VW) {
          const vf v = vload(xr + k);
          amax = vmax(amax, (vf)((vi)v & isplat(0x7fffffff)));
          nan |= v != v;
        }
        float a = 0;
        int anynan = 0;
        for (int i = 0; i < MOX_VW; i++) a = MOX_MAX(a, amax[i]), anynan |= nan[i];
        if (anynan) a = NAN;
        s = a / 127;
        inv = s != 0 ? 1 / s : 0;
        vu vs = (vu)isplat(0);
        for (int k = k0; k < k1; k += MOX_VW) {
          const vi v = vtrunc_sat(vnearest(vload(xr + k) * vsplat(inv)));
          *(vqi_u *)(qr + k) = __builtin_convertvector(v, vqi);
          vs += (vu)v;
        }
        for (int i = 0; i < MOX_VW; i++) sum = wrap_add(sum, (int32_t)vs[i]);
      } else {
        float a = 0;
        for (int k = k0; k < k1; k++) a = wmax(a, fabsf(xr[k]));
        s = a / 127;
        inv = s != 0 ? 1 / s : 0;
        for (int k = k0; k < k0 + 32; k++) {
          const int32_t v = k < k1 ? strunc_sat(snearest(xr[k] * inv)) : 0;
          qr[k] = (int8_t)v;
          sum = wrap_add(sum, v);
        }
      }
      d[m * G + g] = s;
      sums[m * G + g] = sum;
    }
  }
}

// ---- q8DynMatmul -------------------------------------------------------------------------------------

/** dynamic int8's output: sx * sw * (dot - z * rowSum) + b, the int32 steps wrapping as WebAssembly's. */
static inline float dyn_out(int32_t dot, const uint8_t *params, int m, float sw, int32_t rs, float b) {
  float sx;
  int32_t z;
  memcpy(&sx, params + 8 * m, 4);
  memcpy(&z, params + 8 * m + 4, 4);
  const int32_t e = (int32_t)((uint32_t)dot - (uint32_t)z * (uint32_t)rs);
  return sx * sw * (float)e + b;
}

static inline __attribute__((always_inline)) void q8dyn(const double *arg, int fast) {
  const int M = ARG_I(0), N = ARG_I(1), Kp = ARG_I(2);
  const uint8_t *q = ARG_P(3);
  const uint8_t *params = ARG_P(4);
  const int8_t *w = ARG_P(5);
  const float *scale = ARG_FP(6);
  const int32_t *rowSum = ARG_P(7);
  const float *bias = ARG_D(8) != 0 ? ARG_FP(8) : NULL;
  float *out = ARG_FP(9);
  const long ldo = ARG_I(10);
  const int KV = Kp - Kp % VB, rest = Kp - KV;  // rows are whole 16-byte blocks: rest is 0, 16, 32 or 48
  // With several activation rows, four weight rows share each load of an activation row (and give
  // four independent sums); the activation rows inner, so the four weight rows stay in L1. With one
  // (decoding), the weights stream from memory once: one row at a time, in address order, streams
  // faster (1.4x at a 50257 x 768 head) than four interleaved rows.
  int n = 0;
  for (; M > 1 && n + 4 <= N; n += 4) {
    const int8_t *w0 = w + (long)n * Kp, *w1 = w0 + Kp, *w2 = w1 + Kp, *w3 = w2 + Kp;
    for (int m = 0; m < M; m++) {
      const uint8_t *qr = q + (long)m * Kp;
      vi a0 = isplat(0), a1 = a0, a2 = a0, a3 = a0;
      for (int k = 0; k < KV; k += VB) {
        const vb x = bload(qr + k);
        a0 = dot_add(a0, x, bload(w0 + k), fast);
        a1 = dot_add(a1, x, bload(w1 + k), fast);
        a2 = dot_add(a2, x, bload(w2 + k), fast);
        a3 = dot_add(a3, x, bload(w3 + k), fast);
      }
      if (rest) {
        const vb x = bload_part(qr + KV, rest);
        a0 = dot_add(a0, x, bload_part((const uint8_t *)w0 + KV, rest), fast);
        a1 = dot_add(a1, x, bload_part((const uint8_t *)w1 + KV, rest), fast);
        a2 = dot_add(a2, x, bload_part((const uint8_t *)w2 + KV, rest), fast);
        a3 = dot_add(a3, x, bload_part((const uint8_t *)w3 + KV, rest), fast);
      }
      int32_t dot[4];
      sum4(a0, a1, a2, a3, dot);
      for (int j = 0; j < 4; j++)
        out[m * ldo + n + j] = dyn_out(dot[j], params, m, scale[n + j], rowSum[n + j], bias ? bias[n + j] : 0.0f);
    }
  }
  for (; n < N; n++) {
    const int8_t *wr = w + (long)n * Kp;
    for (int m = 0; m < M; m++) {
      const uint8_t *qr = q + (long)m * Kp;
      // two sums, so that each dot product need not wait for the one before
      vi a = isplat(0), a1 = isplat(0);
      int k = 0;
      for (; k + 2 * VB <= KV; k += 2 * VB) {
        a = dot_add(a, bload(qr + k), bload(wr + k), fast);
        a1 = dot_add(a1, bload(qr + k + VB), bload(wr + k + VB), fast);
      }
      if (k < KV) a = dot_add(a, bload(qr + k), bload(wr + k), fast);
      a += a1;
      if (rest) a = dot_add(a, bload_part(qr + KV, rest), bload_part((const uint8_t *)wr + KV, rest), fast);
      out[m * ldo + n] = dyn_out(hsum_i(a), params, m, scale[n], rowSum[n], bias ? bias[n] : 0.0f);
    }
  }
}

MOX_KERNEL(q8DynMatmul) {
#if defined(__x86_64__) && MOX_VW != 8
  if (has_fast_dot()) {
    q8dyn(arg, 1);
    return;
  }
#endif
  q8dyn(arg, 0);
}

// ---- q4MatmulQ8 --------------------------------------------------------------------------------------

/** Bytes of one activation row rearranged for q4 (below): two vectors per weight vector, in chunks of four. */
static inline long q4_row_bytes(int G) { return (long)((G + 4 * GPV - 1) / (4 * GPV)) * 4 * 2 * VB; }

/**
 * One row of int8 activations (G blocks of 32) rearranged to meet a vector of packed weights (GPV
 * groups of 16 bytes): for weight vector v, first the 16 "low" bytes of each of its groups (the
 * weights' low nibbles pair with them), then the 16 "high" ones; zeros past the last group. Then
 * a & 15 and a >> 4 of the weight vector multiply straight into these, with no shuffle per weight.
 */
static void q4_rearrange(const int8_t *qr, int G, int8_t *dst) {
  const long bytes = q4_row_bytes(G);
  memset(dst, 0, bytes);
  for (int g = 0; g < G; g++) {
    int8_t *v = dst + (long)(g / GPV) * 2 * VB + (g % GPV) * 16;
    memcpy(v, qr + 32 * g, 16);
    memcpy(v + VB, qr + 32 * g + 16, 16);
  }
}

/** This thread's rearranged row, kept between calls (the pool's threads are long-lived). */
static __thread int8_t *q4_space = NULL;
static __thread long q4_space_bytes = 0;

static int8_t *q4_scratch(long bytes) {
  if (bytes > q4_space_bytes) {
    free(q4_space);
    q4_space = aligned_alloc(64, (bytes + 63) / 64 * 64);
    q4_space_bytes = q4_space ? bytes : 0;
  }
  return q4_space;
}

/** Weight vector v of a row of G groups: whole, the part of it that is in the row, or zeros. */
static inline vb q4_wload(const uint8_t *wr, int v, int G) {
  const int g = v * GPV;
  if (g + GPV <= G) return bload(wr + g * 16);
  if (g < G) return bload_part(wr + g * 16, (G - g) * 16);
  return (vb){0};
}

/** One output of q4MatmulQ8: weight row wr against rearranged row qx (see the kernel for the order). */
static inline __attribute__((always_inline)) float q4_dot(const uint8_t *wr, const int8_t *qx, const float *dr,
                                                           const int32_t *cr, const float *sr, int G, int fast) {
  const vub low = (vub)isplat(0x0f0f0f0f);
  v4f acc = {0, 0, 0, 0};
  float tail[4];
  int ntail = 0;
  for (int g0 = 0; g0 < G; g0 += 4 * GPV) {
    const int v0 = g0 / GPV;
    const int8_t *qc = qx + (long)v0 * 2 * VB;
    const int nv = MOX_MIN(4 * GPV, G - g0);  // groups in this chunk: all of them but in the last
    vi s[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      s[i] = isplat(0);
      if (i * GPV >= nv) continue;
      const vub wv = (vub)q4_wload(wr, v0 + i, G);
      s[i] = dot_add(dot_add(s[i], (vb)(wv & low), bload(qc + 2 * i * VB), fast), (vb)(wv >> 4),
                     bload(qc + (2 * i + 1) * VB), fast);
    }
    const vi f = reduce_groups(s[0], s[1], s[2], s[3]);  // lane L: group g0 + L's exact sum
    const vi c = nv == 4 * GPV ? iload(cr + g0) : iload_part(cr + g0, nv);
    const vf dv = nv == 4 * GPV ? vload(dr + g0) : vload_part(dr + g0, nv);
    const vf sv = nv == 4 * GPV ? vload(sr + g0) : vload_part(sr + g0, nv);
    const vi e = (vi)((vu)f - ((vu)c << 3));
    union {
      vf v;
      v4f b[GPV];
    } p = {(dv * sv) * __builtin_convertvector(e, vf)};
    // whole blocks of four groups into the lanes of acc; the last G % 4 groups after its sum
    for (int b = 0; b < nv / 4; b++) acc += p.b[b];
    for (int j = nv & ~3; j < nv; j++) tail[ntail++] = p.v[j];
  }
  float t = acc[0] + acc[1] + acc[2] + acc[3];
  for (int j = 0; j < ntail; j++) t += tail[j];
  return t;
}

static inline __attribute__((always_inline)) void q4mm(const double *arg, int fast) {
  const int M = ARG_I(0), N = ARG_I(1), Kp = ARG_I(2);
  const int8_t *q = ARG_P(3);
  const float *d = ARG_FP(4);
  const int32_t *sums = ARG_P(5);
  const uint8_t *w = ARG_P(6);
  const float *wd = ARG_FP(7);
  const float *bias = ARG_D(8) != 0 ? ARG_FP(8) : NULL;
  float *out = ARG_FP(9);
  const long ldo = ARG_I(10);
  const int G = Kp >> 5;
  const long ldw = Kp >> 1;
  int8_t *qx = q4_scratch(q4_row_bytes(G));
  // blocks of weight rows (in L1/L2 while each activation row, rearranged once per block, meets them)
  const int NBLK = 64;
  for (int n0 = 0; n0 < N; n0 += NBLK) {
    const int n1 = MOX_MIN(N, n0 + NBLK);
    for (int m = 0; m < M; m++) {
      q4_rearrange(q + (long)m * Kp, G, qx);
      const float *dr = d + (long)m * G;
      const int32_t *cr = sums + (long)m * G;
      for (int n = n0; n < n1; n++) {
        const float t = q4_dot(w + n * ldw, qx, dr, cr, wd + (long)n * G, G, fast);
        out[m * ldo + n] = t + (bias ? bias[n] : 0.0f);
      }
    }
  }
}

MOX_KERNEL(q4MatmulQ8) {
#if defined(__x86_64__) && MOX_VW != 8
  if (has_fast_dot()) {
    q4mm(arg, 1);
    return;
  }
#endif
  q4mm(arg, 0);
}
