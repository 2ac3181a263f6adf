// Runs native kernels as built for arm64 (the baseline level: NEON), under qemu-user on an x86-64
// machine, against plain C loops: scripts/check-native-arm64.mjs builds and runs it. Node does not
// run under the emulator here, so this calls the kernels directly on a heap of its own, with the
// argument arrays JavaScript would pass.
#include <stdio.h>
#include <stdlib.h>

#include "mox.h"
#include "vmath.h"

uint8_t *mox_heap;
void sgemmBatched_base(const double *arg);

static uint32_t rng = 12345;
static float rnd(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / 16777216.0f * 2 - 1;
}

/** One product: layouts 0 row-major, 1 transposed, 2 spaced; returns the worst error / tolerance. */
static double gemm_case(int M, int N, int K, int la, int lb, int flags) {
  static size_t top;
  top = 64;
  long rsA = la == 0 ? K : la == 1 ? 1 : 2 * K + 3, csA = la == 0 ? 1 : la == 1 ? M : 2;
  long rsB = lb == 0 ? N : lb == 1 ? 1 : 2 * N + 3, csB = lb == 0 ? 1 : lb == 1 ? K : 2;
  size_t spanA = la == 2 ? (size_t)M * rsA + 8 : (size_t)M * K + 8, spanB = lb == 2 ? (size_t)K * rsB + 8 : (size_t)K * N + 8;
  size_t a = top, b = a + spanA * 4, c = b + spanB * 4, bias = c + (size_t)M * N * 4 + 64;
  float *A = (float *)(mox_heap + a), *B = (float *)(mox_heap + b), *C = (float *)(mox_heap + c), *Z = (float *)(mox_heap + bias);
  for (size_t i = 0; i < spanA; i++) A[i] = rnd();
  for (size_t i = 0; i < spanB; i++) B[i] = rnd();
  for (int j = 0; j < N; j++) Z[j] = rnd();
  float *before = malloc((size_t)M * N * 4 + 4);
  for (int i = 0; i < M * N; i++) C[i] = before[i] = rnd();
  double arg[18] = {1, 0, 0, 0, M, N, K, a, rsA, csA, b, rsB, csB, c, N, bias, flags, 0};
  sgemmBatched_base(arg);
  double worst = 0;
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double s = 0, mag = 0;
      for (int k = 0; k < K; k++) {
        double p = (double)A[i * rsA + k * csA] * B[k * rsB + j * csB];
        s += p;
        mag += fabs(p);
      }
      if (flags & 1) s += before[i * N + j];
      if (flags & 2) s += Z[j];
      if (flags & 4) s = s > 0 ? s : 0;
      double tol = 4 * sqrt(K > 0 ? K : 1) * 5.96e-8 * (mag + fabs(before[i * N + j])) + 1e-6;
      double e = fabs(C[i * N + j] - s) / tol;
      if (e > worst) worst = e;
    }
  }
  free(before);
  return worst;
}

int main(void) {
  mox_heap = aligned_alloc(64, 64 << 20);
  int sizes[] = {1, 3, 4, 5, 7, 8, 9, 17, 33, 65};
  int ks[] = {0, 1, 7, 64, 257};
  double worst = 0;
  int cases = 0;
  for (int r = 0; r < 300; r++) {
    int M = sizes[(rng >> 3) % 10], N = sizes[(rng >> 7) % 10], K = ks[(rng >> 11) % 5];
    int la = (rng >> 13) % 3, lb = (rng >> 17) % 3, flags = (rng >> 19) % 8;
    rnd();
    double e = gemm_case(M, N, K, la, lb, flags);
    cases++;
    if (e > worst) worst = e;
    if (e > 1) printf("# sgemmBatched %dx%dx%d layouts %d/%d flags %d: error %.2f x tolerance\n", M, N, K, la, lb, flags, e);
  }
  double exp_worst = 0;
  for (float x = -87; x < 88; x += 0.0137f) {
    double r = exp((double)x), e = fabs(sexp(x) - r) / r;
    if (e > exp_worst) exp_worst = e;
  }
  printf("{\"gemmCases\": %d, \"gemmWorstOverTolerance\": %.3f, \"expWorstRelative\": %.3g, \"vectorWidth\": %d}\n", cases,
         worst, exp_worst, MOX_VW);
  return worst <= 1 && exp_worst < 3e-7 ? 0 : 1;
}
