// Vector math at the level's width with float32 accuracy, as assembly/vmath.ts: e^x by Cephes'
// degree-5 minimax polynomial (expf.c) after x = n*ln2 + r, scaled by 2^n in two factors so results
// near overflow reach +inf and subnormal results are rounded once. <= 1 ulp over the normal range.
// Pure functions: any number of threads may call them at once.
#ifndef MOX_VMATH_H
#define MOX_VMATH_H

#include "mox.h"

/** e^x per lane: +inf -> +inf, -inf -> 0, NaN -> NaN, overflow -> +inf, gradual underflow. */
static inline vf vexp(vf x) {
  const vf hi = vsplat(88.8f), lo = vsplat(-104.0f), magic = vsplat(12582912.0f);
  // clamp, keeping NaN (a comparison with NaN is false, so the lane keeps x)
  x = vselect(x > hi, hi, x);
  x = vselect(x < lo, lo, x);
  const vf t = x * vsplat(1.44269504088896341f) + magic;
  const vf fn = t - magic;
  vf r = x - fn * vsplat(0.693359375f);
  r = r - fn * vsplat(-2.12194440e-4f);
  const vf r2 = r * r;
  vf p = vsplat(1.9875691500e-4f) * r + vsplat(1.3981999507e-3f);
  p = p * r + vsplat(8.3334519073e-3f);
  p = p * r + vsplat(4.1665795894e-2f);
  p = p * r + vsplat(1.6666665459e-1f);
  p = p * r + vsplat(5.0000001201e-1f);
  const vf y = (p * r2 + r) + vsplat(1.0f);
  const vi n = (vi)t - (vi)magic;
  const vi n1 = n >> 1;
  const vi n2 = n - n1;
  const vi bias = (vi){0} + 127; // vector + scalar: the scalar is splatted
  const vf s1 = (vf)((n1 + bias) << 23);
  const vf s2 = (vf)((n2 + bias) << 23);
  return y * s1 * s2;
}

/** e^x for one float, through the same vector code so the tails of rows round like their bodies. */
static inline float sexp(float x) { return vexp(vsplat(x))[0]; }

/** Max of the lanes (NaN if any lane is NaN). */
static inline float vhmax(vf v) {
  float m = v[0];
  for (int i = 1; i < MOX_VW; i++) m = (v[i] > m || v[i] != v[i]) ? v[i] : m;
  return m;
}

#endif
