// float32 elementwise kernels and reductions, as assembly/elementwise.ts and assembly/reduce.ts (the
// spec: same names, arguments and op codes, from op-codes.h). Each operand is addressed as
// base + r*rowStride + i*colStride over `rows` rows of `n`; the output is contiguous.
//
// Every element of a unary, binary, compare or where goes through the same vector code, the tail of a
// row included (loaded into a padded vector), so a result never depends on where a thread's share of
// the row begins. Column strides 1 (contiguous) and 0 (broadcast) get their own loops; other strides
// gather lanes one by one. The op switch sits outside the loops: each case instantiates its own loop
// with a constant op (always_inline), so no row pays for a switch per element.
#include "op-codes.h"
#include "vmath-ext.h"

#define INLINE static inline __attribute__((always_inline))

// WebAssembly's f32.max / f32.min (the WebAssembly kernels' semantics): NaN if either is NaN, and
// +0 > -0. A plain a > b ? a : b would return the second operand for NaN and either zero.
INLINE vf wmax(vf a, vf b) {
  vf r = vselect(a > b, a, b);
  r = vselect(a == b, (vf)((vi)a & (vi)b), r); // max(+0, -0) = +0: the sign bit only if both have it
  return vselect((a != a) | (b != b), a + b, r);
}
INLINE vf wmin(vf a, vf b) {
  vf r = vselect(a < b, a, b);
  r = vselect(a == b, (vf)((vi)a | (vi)b), r); // min(+0, -0) = -0
  return vselect((a != a) | (b != b), a + b, r);
}

// (with -fno-math-errno the compiler makes this one vector square root)
INLINE vf vsqrt(vf x) {
  vf r;
  for (int l = 0; l < MOX_VW; l++) r[l] = __builtin_sqrtf(x[l]);
  return r;
}

// lanes of one operand with column stride cs (constant-folded where the caller passes 1 or 0)
INLINE vf ldv(const float *p, long cs) {
  if (cs == 1) return vload(p);
  if (cs == 0) return vsplat(*p);
  vf v;
  for (int l = 0; l < MOX_VW; l++) v[l] = p[l * cs];
  return v;
}
// the first k < MOX_VW lanes; the rest 0 (whatever an op makes of them is never stored)
INLINE vf ldp(const float *p, long cs, int k) {
  vf v = vsplat(0.0f);
  for (int l = 0; l < k; l++) v[l] = p[l * cs];
  return v;
}
INLINE void stp(float *o, vf v, int k) {
  for (int l = 0; l < k; l++) o[l] = v[l];
}

// GELU with the tanh approximation, through a sigmoid: 0.5 (1 + tanh u) = sigmoid(2u) keeps its
// relative accuracy where 1 + tanh u is tiny (x very negative).
#define GELU_K 0.7978845608028654f // sqrt(2 / pi)
#define GELU_A 0.044715f

INLINE vf unary_v(int op, vf x, vf p0, vf p1) {
  const vf zero = vsplat(0.0f), one = vsplat(1.0f);
  switch (op) {
    case UNARY_NEG: return -x;
    case UNARY_ABS: return (vf)((vi)x & vsplati(0x7fffffff));
    case UNARY_SQRT: return vsqrt(x);
    case UNARY_RSQRT: return one / vsqrt(x);
    case UNARY_SQUARE: return x * x;
    case UNARY_RECIPROCAL: return one / x;
    case UNARY_RELU: return vselect((x > zero) | (x != x), x, zero); // keeps NaN; -0 -> +0
    case UNARY_LEAKY_RELU: return vselect(x > zero, x, x * p0);
    case UNARY_AFFINE: return x * p0 + p1;
    case UNARY_CLAMP: return vselect(x != x, x, wmin(wmax(x, p0), p1));
    case UNARY_EXP: return vexp(x);
    case UNARY_LOG: return vlog(x);
    case UNARY_TANH: return vtanh(x);
    case UNARY_SIGMOID: return vsigmoid(x);
    case UNARY_SILU: return x * vsigmoid(x);
    case UNARY_SOFTPLUS: return vselect(x > vsplat(20.0f), x, vlog1p(vexp(x)));
    case UNARY_SIN: {
      vf r;
      for (int l = 0; l < MOX_VW; l++) r[l] = sinf(x[l]);
      return r;
    }
    case UNARY_COS: {
      vf r;
      for (int l = 0; l < MOX_VW; l++) r[l] = cosf(x[l]);
      return r;
    }
    case UNARY_LOG1P: return vlog1p(x);
    case UNARY_EXPM1: return vexpm1(x);
    case UNARY_GELU_TANH:
    case UNARY_GELU_TANH_GRAD: {
      const vf s = vsigmoid(vsplat(2 * GELU_K) * (x + vsplat(GELU_A) * (x * x * x)));
      if (op == UNARY_GELU_TANH) return x * s;
      const vf du = vsplat(GELU_K) * (one + vsplat(3 * GELU_A) * (x * x));
      return s + (vsplat(2.0f) * x) * (s * (one - s)) * du;
    }
    default: return x;
  }
}

INLINE void unary_rows(int op, int rows, int n, const float *x, long rsX, long csX, float *o, float p0, float p1) {
  const vf v0 = vsplat(p0), v1 = vsplat(p1);
  for (int r = 0; r < rows; r++) {
    const float *px = x + r * rsX;
    float *po = o + (long)r * n;
    int i = 0;
    if (csX == 0) {
      // a broadcast row: one value, computed once
      const vf y = unary_v(op, vsplat(*px), v0, v1);
      for (; i + MOX_VW <= n; i += MOX_VW) vstore(po + i, y);
      stp(po + i, y, n - i);
      continue;
    }
    if (csX == 1) {
      // two vectors per trip: the transcendental forms are long dependent chains the core overlaps
      for (; i + 2 * MOX_VW <= n; i += 2 * MOX_VW) {
        const vf y0 = unary_v(op, vload(px + i), v0, v1);
        const vf y1 = unary_v(op, vload(px + i + MOX_VW), v0, v1);
        vstore(po + i, y0);
        vstore(po + i + MOX_VW, y1);
      }
      for (; i + MOX_VW <= n; i += MOX_VW) vstore(po + i, unary_v(op, vload(px + i), v0, v1));
    } else {
      for (; i + MOX_VW <= n; i += MOX_VW) vstore(po + i, unary_v(op, ldv(px + i * csX, csX), v0, v1));
    }
    // the tail through the same vector code (lane-wise, so the same bits as in a full vector): a
    // splat per element for one or two, else one padded vector
    if (n - i <= 2)
      for (; i < n; i++) po[i] = unary_v(op, vsplat(px[i * csX]), v0, v1)[0];
    else
      stp(po + i, unary_v(op, ldp(px + i * csX, csX, n - i), v0, v1), n - i);
  }
}

#define UNARY_CASE(OP) \
  case OP: unary_rows(OP, rows, n, x, rsX, csX, o, p0, p1); break;

MOX_KERNEL(unaryF32) {
  const int op = ARG_I(0), rows = ARG_I(1), n = ARG_I(2);
  const float *x = ARG_FP(3);
  const long rsX = ARG_I(4), csX = ARG_I(5);
  float *o = ARG_FP(6);
  const float p0 = ARG_F(7), p1 = ARG_F(8);
  switch (op) {
    UNARY_CASE(UNARY_NEG) UNARY_CASE(UNARY_ABS) UNARY_CASE(UNARY_SQRT) UNARY_CASE(UNARY_RSQRT)
    UNARY_CASE(UNARY_SQUARE) UNARY_CASE(UNARY_RECIPROCAL) UNARY_CASE(UNARY_RELU) UNARY_CASE(UNARY_LEAKY_RELU)
    UNARY_CASE(UNARY_AFFINE) UNARY_CASE(UNARY_CLAMP) UNARY_CASE(UNARY_EXP) UNARY_CASE(UNARY_LOG)
    UNARY_CASE(UNARY_TANH) UNARY_CASE(UNARY_SIGMOID) UNARY_CASE(UNARY_SILU) UNARY_CASE(UNARY_SOFTPLUS)
    UNARY_CASE(UNARY_SIN) UNARY_CASE(UNARY_COS) UNARY_CASE(UNARY_LOG1P) UNARY_CASE(UNARY_EXPM1)
    UNARY_CASE(UNARY_GELU_TANH) UNARY_CASE(UNARY_GELU_TANH_GRAD)
  }
}

INLINE vf binary_v(int op, vf a, vf b) {
  switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_MAX: return wmax(a, b);
    case BINARY_MIN: return wmin(a, b);
    case BINARY_POW: {
      // JavaScript's (and Mathf's) pow, not C's: pow(1, NaN) and pow(+-1, +-inf) are NaN, not 1
      vf r;
      for (int l = 0; l < MOX_VW; l++) {
        const float x = a[l], y = b[l];
        r[l] = y != y || ((x == 1.0f || x == -1.0f) && __builtin_isinf(y)) ? NAN : powf(x, y);
      }
      return r;
    }
    default: return a;
  }
}

// the same op on one element: IEEE-exact ops give the vector lanes' bits, and pow is per lane anyway
INLINE float binary_s(int op, float a, float b) {
  switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    default: return binary_v(op, vsplat(a), vsplat(b))[0];
  }
}

// one row of a binary op; ca, cb constant 1 or 0 where the caller can say so. The tail runs scalar:
// short rows (65 logits) made a padded vector cost more than the element it computes.
INLINE void binary_row(int op, int n, const float *pa, long ca, const float *pb, long cb, float *po) {
  int i = 0;
  for (; i + MOX_VW <= n; i += MOX_VW) vstore(po + i, binary_v(op, ldv(pa + i * ca, ca), ldv(pb + i * cb, cb)));
  for (; i < n; i++) po[i] = binary_s(op, pa[i * ca], pb[i * cb]);
}

INLINE void binary_rows(int op, int rows, int n, const float *a, long rsA, long csA, const float *b, long rsB, long csB,
                        float *o) {
  for (int r = 0; r < rows; r++) {
    const float *pa = a + r * rsA, *pb = b + r * rsB;
    float *po = o + (long)r * n;
    if (csA == 1 && csB == 1) binary_row(op, n, pa, 1, pb, 1, po);
    else if (csA == 1 && csB == 0) binary_row(op, n, pa, 1, pb, 0, po);
    else if (csA == 0 && csB == 1) binary_row(op, n, pa, 0, pb, 1, po);
    else binary_row(op, n, pa, csA, pb, csB, po);
  }
}

#define BINARY_CASE(OP) \
  case OP: binary_rows(OP, rows, n, a, rsA, csA, b, rsB, csB, o); break;

MOX_KERNEL(binaryF32) {
  const int op = ARG_I(0), rows = ARG_I(1), n = ARG_I(2);
  const float *a = ARG_FP(3), *b = ARG_FP(6);
  const long rsA = ARG_I(4), csA = ARG_I(5), rsB = ARG_I(7), csB = ARG_I(8);
  float *o = ARG_FP(9);
  switch (op) {
    BINARY_CASE(BINARY_ADD) BINARY_CASE(BINARY_SUB) BINARY_CASE(BINARY_MUL) BINARY_CASE(BINARY_DIV)
    BINARY_CASE(BINARY_MAX) BINARY_CASE(BINARY_MIN) BINARY_CASE(BINARY_POW)
  }
}

typedef int8_t vb __attribute__((vector_size(MOX_VW)));

INLINE vi compare_v(int op, vf a, vf b) {
  switch (op) {
    case COMPARE_EQ: return a == b;
    case COMPARE_NE: return a != b;
    case COMPARE_LT: return a < b;
    case COMPARE_LE: return a <= b;
    case COMPARE_GT: return a > b;
    default: return a >= b;
  }
}

// lane masks (all ones / zero) -> 0/1 bytes
INLINE vb to_bytes(vi m) { return __builtin_convertvector(-m, vb); }

INLINE void compare_row(int op, int n, const float *pa, long ca, const float *pb, long cb, uint8_t *po) {
  int i = 0;
  for (; i + MOX_VW <= n; i += MOX_VW) {
    const vb r = to_bytes(compare_v(op, ldv(pa + i * ca, ca), ldv(pb + i * cb, cb)));
    memcpy(po + i, &r, MOX_VW);
  }
  for (; i < n; i++) po[i] = (uint8_t)-compare_v(op, vsplat(pa[i * ca]), vsplat(pb[i * cb]))[0];
}

INLINE void compare_rows(int op, int rows, int n, const float *a, long rsA, long csA, const float *b, long rsB,
                         long csB, uint8_t *o) {
  for (int r = 0; r < rows; r++) {
    const float *pa = a + r * rsA, *pb = b + r * rsB;
    uint8_t *po = o + (long)r * n;
    if (csA == 1 && csB == 1) compare_row(op, n, pa, 1, pb, 1, po);
    else if (csA == 1 && csB == 0) compare_row(op, n, pa, 1, pb, 0, po);
    else if (csA == 0 && csB == 1) compare_row(op, n, pa, 0, pb, 1, po);
    else compare_row(op, n, pa, csA, pb, csB, po);
  }
}

#define COMPARE_CASE(OP) \
  case OP: compare_rows(OP, rows, n, a, rsA, csA, b, rsB, csB, o); break;

/** Comparisons of float32 operands into 0/1 bytes. */
MOX_KERNEL(compareF32) {
  const int op = ARG_I(0), rows = ARG_I(1), n = ARG_I(2);
  const float *a = ARG_FP(3), *b = ARG_FP(6);
  const long rsA = ARG_I(4), csA = ARG_I(5), rsB = ARG_I(7), csB = ARG_I(8);
  uint8_t *o = (uint8_t *)ARG_P(9);
  switch (op) {
    COMPARE_CASE(COMPARE_EQ) COMPARE_CASE(COMPARE_NE) COMPARE_CASE(COMPARE_LT)
    COMPARE_CASE(COMPARE_LE) COMPARE_CASE(COMPARE_GT) COMPARE_CASE(COMPARE_GE)
  }
}

INLINE void where_row(int n, const uint8_t *pc, long cc, const float *pa, long ca, const float *pb, long cb,
                      float *po) {
  int i = 0;
  if (cc == 1) {
    for (; i + MOX_VW <= n; i += MOX_VW) {
      vb bytes;
      memcpy(&bytes, pc + i, MOX_VW);
      const vi mask = __builtin_convertvector(bytes != 0, vi); // any nonzero byte is true: 0 / -1 lanes
      vstore(po + i, vselect(mask, ldv(pa + i * ca, ca), ldv(pb + i * cb, cb)));
    }
  }
  for (; i < n; i++) po[i] = pc[i * cc] != 0 ? pa[i * ca] : pb[i * cb];
}

/** o = cond ? a : b, cond as bytes (any nonzero is true), a and b float32. */
MOX_KERNEL(whereF32) {
  const int rows = ARG_I(0), n = ARG_I(1);
  const uint8_t *c = (const uint8_t *)ARG_P(2);
  const long rsC = ARG_I(3), csC = ARG_I(4);
  const float *a = ARG_FP(5), *b = ARG_FP(8);
  const long rsA = ARG_I(6), csA = ARG_I(7), rsB = ARG_I(9), csB = ARG_I(10);
  float *o = ARG_FP(11);
  for (int r = 0; r < rows; r++) {
    const uint8_t *pc = c + r * rsC;
    const float *pa = a + r * rsA, *pb = b + r * rsB;
    float *po = o + (long)r * n;
    if (csC == 1 && csA == 1 && csB == 1) where_row(n, pc, 1, pa, 1, pb, 1, po);
    else if (csC == 1 && csA == 1 && csB == 0) where_row(n, pc, 1, pa, 1, pb, 0, po);
    else if (csC == 1 && csA == 0 && csB == 1) where_row(n, pc, 1, pa, 0, pb, 1, po);
    else where_row(n, pc, csC, pa, csA, pb, csB, po);
  }
}

// copy32 and copy32x3 stay in WebAssembly: their time is memcpy's (memory.copy in V8) in both tiers,
// measured equal at 98k floats, so a native call would only add its ~0.1 us.

// Half a vector of floats, widened to a full vector of float64 lanes for the row sums (float32 rows
// keep their accuracy however long they are).
typedef float vh __attribute__((vector_size(MOX_VW * 2)));
typedef float vh_u __attribute__((vector_size(MOX_VW * 2), aligned(4)));
typedef double vd __attribute__((vector_size(MOX_VW * 4)));
INLINE vd ldd(const float *p) { return __builtin_convertvector(*(const vh_u *)p, vd); }

// lanes rotated down by k (a constant): lane l gets lane l + k mod the width
INLINE vf vrot(vf v, int k) {
#ifdef __clang__
  vf r;
  for (int l = 0; l < MOX_VW; l++) r[l] = v[(l + k) & (MOX_VW - 1)];
  return r;
#else
  vi m;
  for (int l = 0; l < MOX_VW; l++) m[l] = (l + k) & (MOX_VW - 1);
  return __builtin_shuffle(v, m);
#endif
}

// f32.max / f32.min on scalars (as wmax / wmin)
INLINE float smax(float a, float b) { return wmax(vsplat(a), vsplat(b))[0]; }
INLINE float smin(float a, float b) { return wmin(vsplat(a), vsplat(b))[0]; }

INLINE void reduce_rows(int op, int rows, int n, const float *x, long rs, long cs, float *o) {
  for (int r = 0; r < rows; r++) {
    const float *p = x + r * rs;
    int i = 0;
    if (op == REDUCE_SUM) {
      double total = 0;
      if (cs == 1 && n >= 2 * MOX_VW) {
        // four independent float64 accumulators: the adds' latency, not the loads, bound this loop
        vd a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (; i + 2 * MOX_VW <= n; i += 2 * MOX_VW) {
          a0 += ldd(p + i);
          a1 += ldd(p + i + MOX_VW / 2);
          a2 += ldd(p + i + MOX_VW);
          a3 += ldd(p + i + 3 * MOX_VW / 2);
        }
        const vd a = (a0 + a1) + (a2 + a3);
        for (int l = 0; l < MOX_VW / 2; l++) total += a[l];
      }
      for (; i < n; i++) total += (double)p[i * cs];
      o[r] = (float)total;
    } else {
      // f32.max / f32.min: NaN wins and +0 > -0 in any order, so lanes may combine freely
      float m = p[0];
      if (cs == 1 && n >= MOX_VW) {
        vf acc = vload(p);
        for (i = MOX_VW; i + MOX_VW <= n; i += MOX_VW) acc = op == REDUCE_MAX ? wmax(acc, vload(p + i)) : wmin(acc, vload(p + i));
        // across the lanes by halving (lane l against lane l + k): 4 steps at 16 lanes, not 15
        for (int k = MOX_VW / 2; k >= 1; k /= 2) acc = op == REDUCE_MAX ? wmax(acc, vrot(acc, k)) : wmin(acc, vrot(acc, k));
        m = acc[0];
      }
      for (; i < n; i++) m = op == REDUCE_MAX ? smax(m, p[i * cs]) : smin(m, p[i * cs]);
      o[r] = m;
    }
  }
}

/** out[r] = reduce_i x[r*rs + i*cs], r < rows, i < n; sums accumulate in float64. */
MOX_KERNEL(reduceRowsF32) {
  const int op = ARG_I(0), rows = ARG_I(1), n = ARG_I(2);
  const float *x = ARG_FP(3);
  const long rs = ARG_I(4), cs = ARG_I(5);
  float *o = ARG_FP(6);
  switch (op) {
    case REDUCE_SUM: reduce_rows(REDUCE_SUM, rows, n, x, rs, cs, o); break;
    case REDUCE_MAX: reduce_rows(REDUCE_MAX, rows, n, x, rs, cs, o); break;
    case REDUCE_MIN: reduce_rows(REDUCE_MIN, rows, n, x, rs, cs, o); break;
  }
}

INLINE vf reduce_v(int op, vf acc, vf v) {
  return op == REDUCE_SUM ? acc + v : op == REDUCE_MAX ? wmax(acc, v) : wmin(acc, v);
}

INLINE void reduce_cols(int op, int rows, int n, const float *x, long rs, long cs, float *o) {
  int j = 0;
  if (cs == 1) {
    for (; j + MOX_VW <= n; j += MOX_VW) {
      vf acc = vload(x + j);
      for (int r = 1; r < rows; r++) acc = reduce_v(op, acc, vload(x + r * rs + j));
      vstore(o + j, acc);
    }
  }
  for (; j < n; j++) {
    float acc = x[j * cs];
    for (int r = 1; r < rows; r++) {
      const float v = x[r * rs + j * cs];
      acc = op == REDUCE_SUM ? acc + v : op == REDUCE_MAX ? smax(acc, v) : smin(acc, v);
    }
    o[j] = acc;
  }
}

/** out[j] = reduce_r x[r*rs + j*cs] for j < n: the first row initialises, the rest combine in row order. */
MOX_KERNEL(reduceColsF32) {
  const int op = ARG_I(0), rows = ARG_I(1), n = ARG_I(2);
  const float *x = ARG_FP(3);
  const long rs = ARG_I(4), cs = ARG_I(5);
  float *o = ARG_FP(6);
  switch (op) {
    case REDUCE_SUM: reduce_cols(REDUCE_SUM, rows, n, x, rs, cs, o); break;
    case REDUCE_MAX: reduce_cols(REDUCE_MAX, rows, n, x, rs, cs, o); break;
    case REDUCE_MIN: reduce_cols(REDUCE_MIN, rows, n, x, rs, cs, o); break;
  }
}
