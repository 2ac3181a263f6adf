// The machine's single-core fused multiply-add peak, for reading bench:cpu's GEMM figures: mox's
// kernels are WebAssembly SIMD (128-bit vectors), so their ceiling is the 128-bit line, while native
// BLAS (PyTorch's OpenBLAS) uses the widest vectors the core has (256-bit with AVX2, 512 with AVX-512).
// Built and run by bench/cpu.ts when a C compiler is present (x86-64 with FMA3 only; with -mavx512f
// where the CPU has it, which adds the 512-bit line); prints JSON.
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// 12 independent accumulator chains: enough to cover the FMA latency on both pipes; the empty asm
// keeps the compiler from merging or eliding them.
#define CHAINS(T, SET, FMA, W)                                                              \
  static double run_##W(long n) {                                                             \
    T a = SET(1e-7f), b = SET(0.5f);                                                          \
    T c0 = SET(0), c1 = SET(1), c2 = SET(2), c3 = SET(3), c4 = SET(4), c5 = SET(5);           \
    T c6 = SET(6), c7 = SET(7), c8 = SET(8), c9 = SET(9), c10 = SET(10), c11 = SET(11);       \
    double t = now();                                                                         \
    for (long i = 0; i < n; i++) {                                                            \
      c0 = FMA(a, b, c0); c1 = FMA(a, b, c1); c2 = FMA(a, b, c2); c3 = FMA(a, b, c3);         \
      c4 = FMA(a, b, c4); c5 = FMA(a, b, c5); c6 = FMA(a, b, c6); c7 = FMA(a, b, c7);         \
      c8 = FMA(a, b, c8); c9 = FMA(a, b, c9); c10 = FMA(a, b, c10); c11 = FMA(a, b, c11);     \
      __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5));      \
      __asm__ volatile("" : "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));    \
    }                                                                                         \
    double s = now() - t;                                                                     \
    volatile float sink = c0[0] + c11[0];                                                     \
    (void)sink;                                                                               \
    return 12.0 * 2 * (W / 32) * n / s / 1e9;                                                 \
  }

CHAINS(__m128, _mm_set1_ps, _mm_fmadd_ps, 128)
CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 256)
#ifdef __AVX512F__
CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 512)
#endif

int main(void) {
  const long n = 20000000; // ~0.1 s per run at 128 bits
  double best128 = 0, best256 = 0, best512 = 0;
  for (int r = 0; r < 5; r++) {
    double x = run_128(n), y = run_256(n);
    if (x > best128) best128 = x;
    if (y > best256) best256 = y;
#ifdef __AVX512F__
    double z = run_512(n);
    if (z > best512) best512 = z;
#endif
  }
  if (best512 > 0) printf("{\"fma128\": %.1f, \"fma256\": %.1f, \"fma512\": %.1f}\n", best128, best256, best512);
  else printf("{\"fma128\": %.1f, \"fma256\": %.1f}\n", best128, best256);
  return 0;
}
