// More vector math for the elementwise kernels (elementwise.c), beside vexp (vmath.h): log, log1p,
// expm1, tanh and the logistic sigmoid at the level's width, float32 accuracy (a few ulp; the
// tests hold them to test/fast-elementwise.test.ts's bounds against a float64 reference). The
// WebAssembly kernels run these scalar (Mathf); vector forms are what makes the native tier faster.
#ifndef MOX_VMATH_EXT_H
#define MOX_VMATH_EXT_H

#include "vmath.h"

static inline vi vsplati(int32_t x) { return (vi){0} + x; }

/**
 * ln x per lane, Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt 2), ln(m) by a degree-9
 * polynomial in m - 1 (exact, so ln x keeps its relative accuracy near 1). Subnormals are scaled
 * up first; 0 -> -inf, x < 0 -> NaN, +inf -> +inf, NaN -> NaN.
 */
static inline vf vlog(vf x) {
  const vi tiny = x < vsplat(1.17549435e-38f);
  const vf xs = vselect(tiny, x * vsplat(8388608.0f), x); // 2^23
  vi bits = (vi)xs;
  vf e = __builtin_convertvector((bits >> 23) - vsplati(126) - (tiny & vsplati(23)), vf);
  vf m = (vf)((bits & vsplati(0x807fffff)) | vsplati(0x3f000000)); // [0.5, 1)
  const vi small = m < vsplat(0.707106781186547524f);
  e = vselect(small, e - vsplat(1.0f), e);
  m = vselect(small, m + m, m) - vsplat(1.0f);
  const vf z = m * m;
  vf y = vsplat(7.0376836292e-2f) * m + vsplat(-1.1514610310e-1f);
  y = y * m + vsplat(1.1676998740e-1f);
  y = y * m + vsplat(-1.2420140846e-1f);
  y = y * m + vsplat(1.4249322787e-1f);
  y = y * m + vsplat(-1.6668057665e-1f);
  y = y * m + vsplat(2.0000714765e-1f);
  y = y * m + vsplat(-2.4999993993e-1f);
  y = y * m + vsplat(3.3333331174e-1f);
  y = y * m * z;
  y = y + e * vsplat(-2.12194440e-4f);
  y = y - vsplat(0.5f) * z;
  vf r = (m + y) + e * vsplat(0.693359375f);
  r = vselect(x == vsplat(0.0f), vsplat(-INFINITY), r);
  r = vselect(x < vsplat(0.0f), vsplat(NAN), r);
  r = vselect(x == vsplat(INFINITY), x, r);
  return vselect(x != x, x, r);
}

/** ln(1 + x) by Goldberg's correction: x * ln(u) / (u - 1) with u = 1 + x rounded, exact where u == 1. */
static inline vf vlog1p(vf x) {
  const vf u = vsplat(1.0f) + x;
  const vf d = u - vsplat(1.0f);
  vf r = vlog(u) * (x / d);
  r = vselect(d == vsplat(0.0f), x, r);
  r = vselect(u == vsplat(0.0f), vsplat(-INFINITY), r);
  return vselect(x == vsplat(INFINITY), x, r);
}

/** e^x - 1 by Kahan's correction: (u - 1) x / ln u with u = e^x, exact where u rounds to 1. */
static inline vf vexpm1(vf x) {
  const vf u = vexp(x);
  const vf d = u - vsplat(1.0f);
  vf r = d * (x / vlog(u));
  r = vselect(u == vsplat(1.0f), x, r);
  r = vselect(d == vsplat(-1.0f), d, r);                   // x very negative: -1
  r = vselect(u == vsplat(INFINITY), u, r);                // overflow
  return vselect(x != x, x, r);
}

/** tanh per lane, Cephes' tanhf: an odd polynomial for |x| < 0.625, else 1 - 2 / (e^2|x| + 1). */
static inline vf vtanh(vf x) {
  const vf z = vselect(x < vsplat(0.0f), -x, x);
  const vf big = vsplat(1.0f) - vsplat(2.0f) / (vexp(z + z) + vsplat(1.0f));
  const vf bigs = vselect(x < vsplat(0.0f), -big, big);
  const vf z2 = x * x;
  vf p = vsplat(-5.70498872745e-3f) * z2 + vsplat(2.06390887954e-2f);
  p = p * z2 + vsplat(-5.37397155531e-2f);
  p = p * z2 + vsplat(1.33314422036e-1f);
  p = p * z2 + vsplat(-3.33332819422e-1f);
  const vf small = p * z2 * x + x;
  const vf r = vselect(z < vsplat(0.625f), small, bigs); // NaN: z < 0.625 is false, bigs is NaN
  return vselect(x == vsplat(0.0f), x, r);               // tanh(-0) = -0
}

/** 1 / (1 + e^-x): e^-x overflows to inf for x < -88 and the quotient is then 0, as it should be. */
static inline vf vsigmoid(vf x) { return vsplat(1.0f) / (vsplat(1.0f) + vexp(-x)); }

#endif
