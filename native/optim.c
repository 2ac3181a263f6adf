// The fused in-place Adam/AdamW step of assembly/optim.ts (PyTorch 1.13's rule) over n float32s: one
// pass over memory. The host splits big tensors into disjoint ranges, in multiples of 4 elements.
// vmax = 0 means no amsgrad. flags: 1 maximize, 2 decoupled weight decay (AdamW), 4 L2 weight decay.
//
// Bit for bit the WebAssembly kernel's results: the same operations in the same order, each rounded
// (no fused multiply-add: GCC would contract a * b + c under -mfma, hence the pragma; the step is
// bound by memory, not arithmetic), and the last n % 4 elements by its scalar tail's formula, whose
// c2 * g * g rounds differently from the vector body's (g * g) * c2.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include "rows.h"

/** max as WebAssembly's f32.max: NaN if either is NaN, +0 over -0. */
static inline vf wasm_max(vf a, vf b) {
  vf m = vselect(a > b, a, b);
  m = vselect(a == b, (vf)((vi)a & (vi)b), m);
  m = vselect(a != a, a, m);
  return vselect(b != b, b, m);
}

static inline float wasm_maxs(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return a == 0 && signbit(a) ? b : a;
  return a > b ? a : b;
}

MOX_KERNEL(adamStepF32) {
  float *p = ARG_FP(0), *m = ARG_FP(2), *v = ARG_FP(3);
  const float *g = ARG_FP(1);
  float *vmax = arg[4] != 0 ? ARG_FP(4) : NULL;
  const int n = ARG_I(5);
  const double beta1 = ARG_D(6), beta2 = ARG_D(7);
  const float e = (float)ARG_D(8), wd = (float)ARG_D(9), dk = (float)ARG_D(10), ss = (float)ARG_D(11);
  const float bc = (float)ARG_D(12);
  const int flags = ARG_I(13);
  const int maximize = flags & 1, decoupled = flags & 2, l2 = flags & 4;
  const float b1 = (float)beta1, c1 = (float)(1 - beta1), b2 = (float)beta2, c2 = (float)(1 - beta2);
  const vf B1 = vsplat(b1), C1 = vsplat(c1), B2 = vsplat(b2), C2 = vsplat(c2);
  const vf E = vsplat(e), WD = vsplat(wd), DK = vsplat(dk), SS = vsplat(ss), BC = vsplat(bc);
  const int n4 = n & ~3;
  for (int i = 0; i < n4; i += MOX_VW) {
    const int k = MOX_MIN(MOX_VW, n4 - i);
    const int full = k == MOX_VW;
    vf pv = full ? vload(p + i) : vload_part(p + i, k, 0);
    vf gv = full ? vload(g + i) : vload_part(g + i, k, 0);
    if (maximize) gv = -gv;
    if (l2) gv = gv + pv * WD;
    const vf mv = (full ? vload(m + i) : vload_part(m + i, k, 0)) * B1 + gv * C1;
    const vf vv = (full ? vload(v + i) : vload_part(v + i, k, 0)) * B2 + (gv * gv) * C2;
    vf s = vv;
    if (vmax) s = wasm_max(full ? vload(vmax + i) : vload_part(vmax + i, k, 0), vv);
    if (vmax) {
      if (full)
        vstore(vmax + i, s);
      else
        vstore_part(vmax + i, s, k);
    }
    const vf denom = vsqrt(s) / BC + E;
    if (decoupled) pv = pv * DK;
    const vf pn = pv - (mv * SS) / denom;
    if (full) {
      vstore(m + i, mv);
      vstore(v + i, vv);
      vstore(p + i, pn);
    } else {
      vstore_part(m + i, mv, k);
      vstore_part(v + i, vv, k);
      vstore_part(p + i, pn, k);
    }
  }
  for (int i = n4; i < n; i++) {
    float pv = p[i], gv = g[i];
    if (maximize) gv = -gv;
    if (l2) gv += wd * pv;
    const float mv = b1 * m[i] + c1 * gv;
    const float vv = b2 * v[i] + c2 * gv * gv;
    m[i] = mv;
    v[i] = vv;
    float s = vv;
    if (vmax) s = vmax[i] = wasm_maxs(vmax[i], vv);
    if (decoupled) pv *= dk;
    p[i] = pv - (mv * ss) / (sqrtf(s) / bc + e);
  }
}
