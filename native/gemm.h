// The GEMM of matmul.c for other native kernels (attention, quantized layers) to call on host
// pointers: C[M,N] = A[M,K] @ B[K,N] with element strides, flags 1 accumulate into C, 2 add bias[N],
// 4 relu. Each level's objects get their own copy (the name carries the level's suffix), so a kernel
// calls the GEMM of its own width. It packs into the calling thread's own space: any thread may call it.
#ifndef MOX_GEMM_H
#define MOX_GEMM_H

#include "mox.h"

#define gemm_f32 MOX_CAT(gemm_f32, MOX_SUFFIX)
void gemm_f32(int M, int N, int K, const float *a, long rsA, long csA, const float *b, long rsB, long csB, float *c,
              long ldc, const float *bias, int flags);

#endif
