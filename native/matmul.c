// Single-precision GEMM, the BLIS way, as assembly/matmul.ts but at the machine's vector width:
// C[M,N] = A[M,K] @ B[K,N] (+ C) (+ bias[N]) (relu). B is packed into KC x NR panels and A into
// MR x KC panels; the micro-kernel keeps an MR x NR tile of C in registers and streams both panels
// from L1. A and B are read through arbitrary element strides (transposed operands need no copy).
//
// Tile per level (accumulators + B vectors + one broadcast must fit the register file):
//   AVX-512: 12 x 32 = 24 accumulators + 2 + 1 of 32 zmm registers;
//   AVX2:     6 x 16 = 12 + 2 + 1 of 16 ymm;  baseline (SSE2, NEON): 6 x 8 = 12 + 2 + 1 of 16 (32).
// KC = 256 keeps a B micro-panel (256 x NR floats, 32 KiB at AVX-512) in L1 with room for A's;
// MC x KC of A (192 KiB at AVX-512) stays in L2, KC x NC of B in L3.
#include <stdlib.h>

#include "gemm.h"

#define NR (2 * MOX_VW)
#ifndef MR
#if MOX_VW == 16
#define MR 12
#else
#define MR 6
#endif
#endif
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC (MR * 16)
#endif
#define NC 2048
#ifndef DIRECT_B_MAX_M
#define DIRECT_B_MAX_M (8 * MR)
#endif

#if defined(__AVX2__)
#include <immintrin.h>

/**
 * 8 columns x 8 k of a transposed B (column j contiguous along k, columns cs apart) into the panel:
 * dst[k * NR + j] for k, j < 8, by the 8x8 register transpose of unpack and 128-bit lane shuffles.
 * Scattering one float at a time costs ~3 cycles per element, which for a Linear layer's W^T with a
 * small batch is as long as the products themselves.
 */
static inline void transpose8(const float *src, long cs, float *dst) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + cs), r2 = _mm256_loadu_ps(src + 2 * cs);
  __m256 r3 = _mm256_loadu_ps(src + 3 * cs), r4 = _mm256_loadu_ps(src + 4 * cs), r5 = _mm256_loadu_ps(src + 5 * cs);
  __m256 r6 = _mm256_loadu_ps(src + 6 * cs), r7 = _mm256_loadu_ps(src + 7 * cs);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/** This thread's packing space, made on its first GEMM and kept (threads are the pool's, long-lived). */
static __thread float *pack_space = NULL;

static float *packing(void) {
  if (!pack_space) {
    size_t bytes = ((size_t)MC * KC + (size_t)KC * NC + MR * NR) * sizeof(float);
    pack_space = aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  return pack_space;
}

// B[k0:k0+kc, j0:j0+nc] -> panels of NR columns, kc rows each; columns past nc are zero
static void pack_b(const float *b, long rs, long cs, int kc, int nc, float *dst) {
  for (int jp = 0; jp < nc; jp += NR) {
    const int w = MOX_MIN(NR, nc - jp);
    const float *src = b + (long)jp * cs;
    if (w == NR && cs == 1) {
      for (int k = 0; k < kc; k++) {
        vstore(dst, vload(src));
        vstore(dst + MOX_VW, vload(src + MOX_VW));
        src += rs;
        dst += NR;
      }
    } else if (rs == 1) {
      // a transposed B (a Linear weight used as W^T, or im2col columns in a weight gradient): each
      // column runs along k. Whole groups of 8 columns by register transposes, the rest one column
      // at a time, then zeros past w: a narrow panel (a 3x3 kernel over one channel: 9 columns) must
      // not cost a strided load and a branch per element
      int j = 0;
#if defined(__AVX2__)
      for (; j + 8 <= w; j += 8) {
        int k = 0;
        for (; k + 8 <= kc; k += 8) transpose8(src + (long)j * cs + k, cs, dst + k * NR + j);
        for (int jj = j; jj < j + 8; jj++) {
          const float *col = src + (long)jj * cs;
          for (int kk = k; kk < kc; kk++) dst[kk * NR + jj] = col[kk];
        }
      }
#endif
      for (; j < w; j++) {
        const float *col = src + (long)j * cs;
        for (int k = 0; k < kc; k++) dst[k * NR + j] = col[k];
      }
      if (w < NR) {
        for (int k = 0; k < kc; k++) memset(dst + k * NR + w, 0, (size_t)(NR - w) * sizeof(float));
      }
      dst += kc * NR;
    } else if (cs == 1) {
      // a row-major B's last, partial panel
      for (int k = 0; k < kc; k++) {
        memcpy(dst, src, (size_t)w * sizeof(float));
        memset(dst + w, 0, (size_t)(NR - w) * sizeof(float));
        src += rs;
        dst += NR;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        for (int j = 0; j < NR; j++) dst[j] = j < w ? src[(long)j * cs] : 0.0f;
        src += rs;
        dst += NR;
      }
    }
  }
}

// A[i0:i0+mc, k0:k0+kc] -> panels of MR rows: for each k, MR consecutive floats; rows past mc are zero
static void pack_a(const float *a, long rs, long cs, int mc, int kc, float *dst) {
  for (int ip = 0; ip < mc; ip += MR) {
    const int h = MOX_MIN(MR, mc - ip);
    const float *base = a + (long)ip * rs;
    if (h == MR && cs == 1) {
      for (int i = 0; i < MR; i++) {
        const float *row = base + (long)i * rs;
        for (int k = 0; k < kc; k++) dst[k * MR + i] = row[k];
      }
      dst += kc * MR;
    } else if (h == MR && rs == 1) {
      // a transposed A (dY^T in a weight gradient): the MR values of each k are adjacent
      for (int k = 0; k < kc; k++) {
        memcpy(dst, base + (long)k * cs, MR * sizeof(float));
        dst += MR;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        for (int i = 0; i < MR; i++) dst[i] = i < h ? base[(long)i * rs + (long)k * cs] : 0.0f;
        dst += MR;
      }
    }
  }
}

// flags: 1 = accumulate into C, 2 = add bias, 4 = relu (bias and relu only on the last K block)
static inline void store_row(float *c, vf v0, vf v1, vf b0, vf b1, int flags) {
  if (flags & 1) {
    v0 += vload(c);
    v1 += vload(c + MOX_VW);
  }
  if (flags & 2) {
    v0 += b0;
    v1 += b1;
  }
  if (flags & 4) {
    v0 = vmax(v0, vsplat(0));
    v1 = vmax(v1, vsplat(0));
  }
  vstore(c, v0);
  vstore(c + MOX_VW, v1);
}

/**
 * The MR x NR tile at c += (A panel) @ (B panel) over kc. A's element (i, k) is at pa[i * ars + k * aks]:
 * a packed panel (ars 1, aks MR), or A itself when its rows are contiguous (ars = its row stride, aks 1),
 * read in place: packing a row-major A costs as much as the products when N is small (an im2col matrix
 * times a few dozen filters), and MR row streams read along k are as cache-friendly as the packed panel.
 */
static inline __attribute__((always_inline)) void tile(int kc, const float *restrict pa, long ars, long aks,
                                                       const float *restrict pb, long bks, float *c, long ldc, int h,
                                                       int w, int flags, const float *bias) {
  vf acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vsplat(0);
  for (int k = 0; k < kc; k++) {
    const vf b0 = vload(pb);
    const vf b1 = vload(pb + MOX_VW);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const vf a = vsplat(pa[i * ars]);
      acc[i][0] += a * b0;
      acc[i][1] += a * b1;
    }
    pa += aks;
    pb += bks;
  }
  if (h == MR && w == NR) {
    const vf b0 = (flags & 2) ? vload(bias) : vsplat(0);
    const vf b1 = (flags & 2) ? vload(bias + MOX_VW) : vsplat(0);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) store_row(c + i * ldc, acc[i][0], acc[i][1], b0, b1, flags);
    return;
  }
  // an edge tile: spill, then store only the valid h x w part
  float tmp[MR * NR] __attribute__((aligned(64)));
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    *(vf *)(tmp + i * NR) = acc[i][0];
    *(vf *)(tmp + i * NR + MOX_VW) = acc[i][1];
  }
  for (int i = 0; i < h; i++) {
    for (int j = 0; j < w; j++) {
      float v = tmp[i * NR + j];
      if (flags & 1) v += c[j];
      if (flags & 2) v += bias[j];
      if (flags & 4) v = v > 0 ? v : 0;
      c[j] = v;
    }
    c += ldc;
  }
}

// The instances: A packed or in place (above), B packed (bks = NR) or in place (a row-major B whose
// rows are bks apart: when few tiles of A reuse each B panel, packing B, a read and a write of all of
// it, costs more than reading it strided; the im2col forward W [64, 288] @ cols [288, 7744] is one).
static void tile_pp(int kc, const float *pa, const float *pb, float *c, long ldc, int h, int w, int flags,
                    const float *bias) {
  tile(kc, pa, 1, MR, pb, NR, c, ldc, h, w, flags, bias);
}

static void tile_dp(int kc, const float *a, long rs, const float *pb, float *c, long ldc, int h, int w, int flags,
                    const float *bias) {
  tile(kc, a, rs, 1, pb, NR, c, ldc, h, w, flags, bias);
}

static void tile_pd(int kc, const float *pa, const float *b, long ldb, float *c, long ldc, int h, int flags,
                    const float *bias) {
  tile(kc, pa, 1, MR, b, ldb, c, ldc, h, NR, flags, bias);
}

static void tile_dd(int kc, const float *a, long rs, const float *b, long ldb, float *c, long ldc, int h, int flags,
                    const float *bias) {
  tile(kc, a, rs, 1, b, ldb, c, ldc, h, NR, flags, bias);
}

// --- a few rows (M <= 4: decoding one token per sequence) ---------------------------------------
// Packing B costs a read and a write of all of B for products that read each B element M times, so
// with few rows B is read in place instead: the products are bound by streaming B from memory.

static inline float epilogue(float v, float *p, const float *bias, int j, int flags) {
  if (flags & 1) v += *p;
  if (flags & 2) v += bias[j];
  if (flags & 4) v = v > 0 ? v : 0;
  return v;
}

/** C[M, N] for B = W^T (W's row j contiguous along k, rows ldw apart): dot products along k. */
static inline __attribute__((always_inline)) void few_rows_t(int M, int N, int K, const float *a, long rsA,
                                                             const float *w, long ldw, float *c, long ldc,
                                                             const float *bias, int flags) {
  int j = 0;
  for (; j + 4 <= N; j += 4) {
    vf acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) acc[i][q] = vsplat(0);
    const float *w0 = w + (long)j * ldw;
    int k = 0;
    for (; k + MOX_VW <= K; k += MOX_VW) {
      vf wq[4];
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) wq[q] = vload(w0 + q * ldw + k);
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {
        if (i < M) {
          const vf ai = vload(a + i * rsA + k);
#pragma GCC unroll 4
          for (int q = 0; q < 4; q++) acc[i][q] += ai * wq[q];
        }
      }
    }
    for (int i = 0; i < M; i++) {
      for (int q = 0; q < 4; q++) {
        float sum = vsum(acc[i][q]);
        for (int kk = k; kk < K; kk++) sum += a[i * rsA + kk] * w0[q * ldw + kk];
        float *p = c + (long)i * ldc + j + q;
        *p = epilogue(sum, p, bias, j + q, flags);
      }
    }
  }
  for (; j < N; j++) {
    const float *wj = w + (long)j * ldw;
    for (int i = 0; i < M; i++) {
      vf acc = vsplat(0);
      int k = 0;
      for (; k + MOX_VW <= K; k += MOX_VW) acc += vload(a + i * rsA + k) * vload(wj + k);
      float sum = vsum(acc);
      for (; k < K; k++) sum += a[i * rsA + k] * wj[k];
      float *p = c + (long)i * ldc + j;
      *p = epilogue(sum, p, bias, j, flags);
    }
  }
}

/** C[M, N] for a row-major B (rows ldb apart): rows of B scaled and summed, 4 vectors of columns at once. */
static inline __attribute__((always_inline)) void few_rows_n(int M, int N, int K, const float *a, long rsA,
                                                             const float *b, long ldb, float *c, long ldc,
                                                             const float *bias, int flags) {
  int j = 0;
  for (; j + 4 * MOX_VW <= N; j += 4 * MOX_VW) {
    vf acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) acc[i][q] = vsplat(0);
    for (int k = 0; k < K; k++) {
      const float *bk = b + (long)k * ldb + j;
      vf bq[4];
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) bq[q] = vload(bk + q * MOX_VW);
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {
        if (i < M) {
          const vf ai = vsplat(a[i * rsA + k]);
#pragma GCC unroll 4
          for (int q = 0; q < 4; q++) acc[i][q] += ai * bq[q];
        }
      }
    }
    for (int i = 0; i < M; i++) {
      float out[4 * MOX_VW];
      for (int q = 0; q < 4; q++) vstore(out + q * MOX_VW, acc[i][q]);
      for (int jj = 0; jj < 4 * MOX_VW; jj++) {
        float *p = c + (long)i * ldc + j + jj;
        *p = epilogue(out[jj], p, bias, j + jj, flags);
      }
    }
  }
  for (; j < N; j++) {
    for (int i = 0; i < M; i++) {
      float sum = 0;
      for (int k = 0; k < K; k++) sum += a[i * rsA + k] * b[(long)k * ldb + j];
      float *p = c + (long)i * ldc + j;
      *p = epilogue(sum, p, bias, j, flags);
    }
  }
}

/** Whether the few-rows path takes this product; it then computes it. */
static int few_rows(int M, int N, int K, const float *a, long rsA, long csA, const float *b, long rsB, long csB,
                    float *c, long ldc, const float *bias, int flags) {
  if (M > 4 || csA != 1 || K == 0) return 0;
  // specialised per M so each keeps exactly its accumulators in registers
  if (rsB == 1) {
    switch (M) {
      case 1: few_rows_t(1, N, K, a, rsA, b, csB, c, ldc, bias, flags); return 1;
      case 2: few_rows_t(2, N, K, a, rsA, b, csB, c, ldc, bias, flags); return 1;
      case 3: few_rows_t(3, N, K, a, rsA, b, csB, c, ldc, bias, flags); return 1;
      default: few_rows_t(4, N, K, a, rsA, b, csB, c, ldc, bias, flags); return 1;
    }
  }
  if (csB == 1) {
    switch (M) {
      case 1: few_rows_n(1, N, K, a, rsA, b, rsB, c, ldc, bias, flags); return 1;
      case 2: few_rows_n(2, N, K, a, rsA, b, rsB, c, ldc, bias, flags); return 1;
      case 3: few_rows_n(3, N, K, a, rsA, b, rsB, c, ldc, bias, flags); return 1;
      default: few_rows_n(4, N, K, a, rsA, b, rsB, c, ldc, bias, flags); return 1;
    }
  }
  return 0;
}

void gemm_f32(int M, int N, int K, const float *a, long rsA, long csA, const float *b, long rsB, long csB, float *c,
              long ldc, const float *bias, int flags) {
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    for (int i = 0; i < M; i++) {
      for (int j = 0; j < N; j++) {
        float *p = c + (long)i * ldc + j;
        float v = (flags & 1) ? *p : 0.0f;
        if (flags & 2) v += bias[j];
        if (flags & 4) v = v > 0 ? v : 0;
        *p = v;
      }
    }
    return;
  }
  if (few_rows(M, N, K, a, rsA, csA, b, rsB, csB, c, ldc, bias, flags)) return;
  float *pa = packing();
  float *pb = pa + (size_t)MC * KC;
  const int direct = csA == 1;
  // B is read in place when it is row-major and each of its panels serves at most this many tiles
  const int direct_b = csB == 1 && M <= DIRECT_B_MAX_M;
  for (int j0 = 0; j0 < N; j0 += NC) {
    const int nc = MOX_MIN(NC, N - j0);
    // with B in place only a last, partial panel is packed (its columns past N must read as zeros)
    const int full_n = direct_b ? nc / NR * NR : 0;
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = MOX_MIN(KC, K - k0);
      const int last = k0 + kc >= K;
      // accumulate after the first K block; bias and relu once the sum is complete
      const int f = (k0 > 0 ? 1 : (flags & 1)) | (last ? (flags & 6) : 0);
      const float *bblock = b + (long)k0 * rsB + (long)j0 * csB;
      if (full_n < nc) pack_b(bblock + (long)full_n * csB, rsB, csB, kc, nc - full_n, pb + (long)full_n * kc);
      for (int i0 = 0; i0 < M; i0 += MC) {
        const int mc = MOX_MIN(MC, M - i0);
        const float *ablock = a + (long)i0 * rsA + (long)k0 * csA;
        // rows of A that are contiguous along k are read in place, but for a last partial panel (whose
        // rows past M must read as zeros): only that one is packed
        const int full = direct ? mc / MR * MR : 0;
        if (full < mc) pack_a(ablock + (long)full * rsA, rsA, csA, mc - full, kc, pa + (long)full * kc);
        for (int jr = 0; jr < nc; jr += NR) {
          const int w = MOX_MIN(NR, nc - jr);
          const float *bias_j = bias ? bias + j0 + jr : NULL;
          for (int ir = 0; ir < mc; ir += MR) {
            const int h = MOX_MIN(MR, mc - ir);
            float *cij = c + (long)(i0 + ir) * ldc + j0 + jr;
            const float *ai = ablock + (long)ir * rsA, *pai = pa + (long)ir * kc;
            if (jr < full_n) {
              if (ir < full) tile_dd(kc, ai, rsA, bblock + jr, rsB, cij, ldc, h, f, bias_j);
              else tile_pd(kc, pai, bblock + jr, rsB, cij, ldc, h, f, bias_j);
            } else if (ir < full) {
              tile_dp(kc, ai, rsA, pb + (long)jr * kc, cij, ldc, h, w, f, bias_j);
            } else {
              tile_pp(kc, pai, pb + (long)jr * kc, cij, ldc, h, w, f, bias_j);
            }
          }
        }
      }
    }
  }
}

// sgemm(M, N, K, a, rsA, csA, b, rsB, csB, c, ldc, bias, flags, scratch): as assembly/matmul.ts
// (scratch is the WebAssembly kernel's packing space; this one packs into its own, sized for its tiles)
MOX_KERNEL(sgemm) {
  const int flags = ARG_I(12);
  gemm_f32(ARG_I(0), ARG_I(1), ARG_I(2), ARG_FP(3), ARG_I(4), ARG_I(5), ARG_FP(6), ARG_I(7), ARG_I(8), ARG_FP(9), ARG_I(10),
       (flags & 2) ? ARG_FP(11) : NULL, flags);
}

// sgemmBatched(nb, sA, sB, sC, M, N, K, a, rsA, csA, b, rsB, csB, c, ldc, bias, flags, scratch)
MOX_KERNEL(sgemmBatched) {
  const int nb = ARG_I(0);
  const long sA = ARG_I(1), sB = ARG_I(2), sC = ARG_I(3);
  const int flags = ARG_I(16);
  const float *a = ARG_FP(7), *b = ARG_FP(10);
  float *c = ARG_FP(13);
  const float *bias = (flags & 2) ? ARG_FP(15) : NULL;
  for (int i = 0; i < nb; i++)
    gemm_f32(ARG_I(4), ARG_I(5), ARG_I(6), a + i * sA, ARG_I(8), ARG_I(9), b + i * sB, ARG_I(11), ARG_I(12), c + i * sC,
         ARG_I(14), bias, flags);
}
