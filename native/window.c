// Sliding-window kernels on float32 NCHW tensors, as assembly/window.ts (the spec: same names,
// arguments, plane ranges [q0, q1) and tie rules): im2col / col2im for conv2d and its input gradient,
// direct max / average pooling and their gradients. A kernel writes only the planes it is given, so
// the callers' split across threads never has two threads writing one element.
//
// Where the time goes in the MNIST CNN (conv 3x3 on 28x28 and 13x13, max-pool 2x2): im2col copies
// rows of 26 or 11 floats, col2im sums them back, and max-pool takes 2x2 windows of 26- and 11-wide
// rows. Those runs are about one AVX-512 vector long, so they end in narrower vectors rather than a
// scalar tail, and 2x2 pooling works on 4 outputs per step.
#include "mox.h"

// First output position o whose input coordinate o*stride + off is >= 0.
static inline int low_out(int off, int stride) { return off >= 0 ? 0 : (-off + stride - 1) / stride; }

// One past the last output position o (capped at out_size) whose coordinate o*stride + off is < size.
static inline int high_out(int off, int stride, int size, int out_size) {
  const int room = size - off;
  return room <= 0 ? 0 : MOX_MIN(out_size, (room + stride - 1) / stride);
}

static inline void fill(float *d, long n, float v) {
  const vf vv = vsplat(v);
  long j = 0;
  for (; j + MOX_VW <= n; j += MOX_VW) vstore(d + j, vv);
  for (; j < n; j++) d[j] = v;
}

// Narrower vectors for the ends of short runs (a conv row of 11 or 26 floats is shorter than one
// AVX-512 vector). No masked loads and stores: on the AMD cores measured they made col2im 4x slower.
typedef float v8 __attribute__((vector_size(32)));
typedef float v8_u __attribute__((vector_size(32), aligned(4)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v4_u __attribute__((vector_size(16), aligned(4)));
static inline v4 ld4(const float *p) { return *(const v4_u *)p; }
static inline void st4(float *p, v4 v) { *(v4_u *)p = v; }
static inline v8 ld8(const float *p) { return *(const v8_u *)p; }
static inline void st8(float *p, v8 v) { *(v8_u *)p = v; }

// d[0:n] = s[0:n] for short runs: full vectors, then one overlapping vector of the widest width that
// fits (it rewrites copied floats with themselves), scalars only for runs under 4.
static inline void copy_run(float *d, const float *s, int n) {
  int k = 0;
  for (; k + MOX_VW <= n; k += MOX_VW) vstore(d + k, vload(s + k));
  if (k == n) return;
  if (n >= MOX_VW) vstore(d + n - MOX_VW, vload(s + n - MOX_VW));
  else if (n >= 8) st8(d, ld8(s)), st8(d + n - 8, ld8(s + n - 8));
  else if (n >= 4) st4(d, ld4(s)), st4(d + n - 4, ld4(s + n - 4));
  else
    for (; k < n; k++) d[k] = s[k];
}

// d[0:n] += s[0:n] (no overlapping: a sum must not be applied twice): halving widths down to 4
static inline void add_run(float *d, const float *s, int n) {
  int k = 0;
  for (; k + MOX_VW <= n; k += MOX_VW) vstore(d + k, vload(d + k) + vload(s + k));
#if MOX_VW > 8
  if (k + 8 <= n) st8(d + k, ld8(d + k) + ld8(s + k)), k += 8;
#endif
#if MOX_VW > 4
  if (k + 4 <= n) st4(d + k, ld4(d + k) + ld4(s + k)), k += 4;
#endif
  for (; k < n; k++) d[k] += s[k];
}

MOX_KERNEL(im2colF32) {
  const float *x = ARG_FP(0);
  const long sN = ARG_I(1), sC = ARG_I(2), sH = ARG_I(3), sW = ARG_I(4);
  const int C = ARG_I(5), H = ARG_I(6), W = ARG_I(7), q0 = ARG_I(8), q1 = ARG_I(9);
  const int kh = ARG_I(10), kw = ARG_I(11), sh = ARG_I(12), sw = ARG_I(13), ph = ARG_I(14), pw = ARG_I(15);
  const int dh = ARG_I(16), dw = ARG_I(17), outH = ARG_I(18), outW = ARG_I(19);
  const float pad = ARG_F(20);
  const long rowStride = ARG_I(21), imageStride = ARG_I(22);
  float *out = ARG_FP(23);
  for (int q = q0; q < q1; q++) {
    const int n = q / C, c = q - n * C;
    const float *xPlane = x + n * sN + c * sC;
    float *row = out + (long)c * kh * kw * rowStride + n * imageStride;
    for (int i = 0; i < kh; i++) {
      const int offH = i * dh - ph;
      const int ohLo = MOX_MIN(low_out(offH, sh), outH);
      const int ohHi = MOX_MAX(ohLo, high_out(offH, sh, H, outH));
      for (int j = 0; j < kw; j++) {
        const int offW = j * dw - pw;
        const int owLo = MOX_MIN(low_out(offW, sw), outW);
        const int owHi = MOX_MAX(owLo, high_out(offW, sw, W, outW));
        const int len = owHi - owLo;
        const long step = sw * sW;
        fill(row, (long)ohLo * outW, pad);
        if (step == 1 && len == outW) {
          // no column padding (a conv without padding, and the middle taps of a padded one): whole
          // rows, with nothing to fill or offset per row
          const float *src = xPlane + (long)(ohLo * sh + offH) * sH + (long)offW * sW;
          const long srcStep = (long)sh * sH;
          for (int oh = ohLo; oh < ohHi; oh++, src += srcStep) copy_run(row + (long)oh * outW, src, outW);
        } else {
          for (int oh = ohLo; oh < ohHi; oh++) {
          float *dst = row + (long)oh * outW;
          fill(dst, owLo, pad);
          const float *src = xPlane + (long)(oh * sh + offH) * sH + (long)(owLo * sw + offW) * sW;
          float *d = dst + owLo;
          if (step == 1) {
            copy_run(d, src, len);
          } else {
            for (int k = 0; k < len; k++) d[k] = src[k * step];
          }
          fill(d + len, outW - owHi, pad);
          }
        }
        fill(row + (long)ohHi * outW, (long)(outH - ohHi) * outW, pad);
        row += rowStride;
      }
    }
  }
}

MOX_KERNEL(col2imF32) {
  const float *cols = ARG_FP(0);
  const long sN = ARG_I(1), sR = ARG_I(2), sP = ARG_I(3);
  const int C = ARG_I(4), H = ARG_I(5), W = ARG_I(6), q0 = ARG_I(7), q1 = ARG_I(8);
  const int kh = ARG_I(9), kw = ARG_I(10), sh = ARG_I(11), sw = ARG_I(12), ph = ARG_I(13), pw = ARG_I(14);
  const int dh = ARG_I(15), dw = ARG_I(16), outH = ARG_I(17), outW = ARG_I(18);
  float *out = ARG_FP(19);
  for (int q = q0; q < q1; q++) {
    const int n = q / C, c = q - n * C;
    float *plane = out + (long)q * H * W;
    fill(plane, (long)H * W, 0);
    for (int i = 0; i < kh; i++) {
      const int offH = i * dh - ph;
      const int ohLo = MOX_MIN(low_out(offH, sh), outH);
      const int ohHi = MOX_MAX(ohLo, high_out(offH, sh, H, outH));
      for (int j = 0; j < kw; j++) {
        const int offW = j * dw - pw;
        const int owLo = MOX_MIN(low_out(offW, sw), outW);
        const int owHi = MOX_MAX(owLo, high_out(offW, sw, W, outW));
        const int len = owHi - owLo;
        const long rowBase = n * sN + (long)((c * kh + i) * kw + j) * sR;
        if (sw == 1 && sP == 1) {
          // unit steps (a stride-1 conv): pointer bumps only, no per-row offset arithmetic
          const float *src = cols + rowBase + (long)(ohLo * outW + owLo);
          float *dst = plane + (long)(ohLo * sh + offH) * W + owLo + offW;
          for (int oh = ohLo; oh < ohHi; oh++, src += outW, dst += (long)sh * W) add_run(dst, src, len);
          continue;
        }
        for (int oh = ohLo; oh < ohHi; oh++) {
          const float *src = cols + rowBase + (long)(oh * outW + owLo) * sP;
          float *dst = plane + (long)(oh * sh + offH) * W + owLo * sw + offW;
          for (int k = 0; k < len; k++) dst[(long)k * sw] += src[k * sP];
        }
      }
    }
  }
}

// Four adjacent windows at a time in 128-bit vectors: a conv net's pooled rows (13, 5 outputs) are
// too short for wider ones.
typedef int32_t v4i __attribute__((vector_size(16)));
typedef int32_t v4i_u __attribute__((vector_size(16), aligned(4)));
#ifdef __clang__
#define EVENS(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define ODDS(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#define LANES_0257(a, b) __builtin_shufflevector(a, b, 0, 2, 5, 7)
#else
#define EVENS(a, b) __builtin_shuffle(a, b, (v4i){0, 2, 4, 6})
#define ODDS(a, b) __builtin_shuffle(a, b, (v4i){1, 3, 5, 7})
#define LANES_0257(a, b) __builtin_shuffle(a, b, (v4i){0, 2, 5, 7})
#endif

// the running max takes v where v > best, or v is NaN and best is not (the first NaN wins)
static inline v4i take4(v4 v, v4 best) { return (v > best) | ((v != v) & (best == best)); }
static inline v4 sel4(v4i m, v4 a, v4 b) { return (v4)((m & (v4i)a) | (~m & (v4i)b)); }
static inline v4i sel4i(v4i m, v4i a, v4i b) { return (m & a) | (~m & b); }

// Four adjacent windows (column starts w0 + {0,1,2,3}*sw, all inside the row, unit column steps,
// sw 1 or 2), one v4 per tap, in the scalar path's tap order and tie rule.
static inline void max_pool4(const float *xPlane, long sH, int W, int h0, int iLo, int iHi, int dh, int w0, int kw,
                             int sw, float *o, int32_t *a) {
  v4 best = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  v4i bi = {-1, -1, -1, -1};
  const v4i lanes = sw == 1 ? (v4i){0, 1, 2, 3} : (v4i){0, 2, 4, 6};
  for (int i = iLo; i < iHi; i++) {
    const int hh = h0 + i * dh;
    const float *rowP = xPlane + hh * sH + w0;
    for (int j = 0; j < kw; j++) {
      const float *p = rowP + j;
      // sw 2: x[j], x[j+2] from p[0..3] and x[j+4], x[j+6] from p[3..6], two loads that stay
      // within the window's last column
      const v4 v = sw == 1 ? ld4(p) : LANES_0257(ld4(p), ld4(p + 3));
      const v4i take = take4(v, best) | (bi < 0);
      best = sel4(take, v, best);
      bi = sel4i(take, lanes + (hh * W + w0 + j), bi);
    }
  }
  *(v4_u *)o = best;
  *(v4i_u *)a = bi;
}

// 2x2 windows, stride 2: outputs i0/2 .. i0/2+3 of a row from rows p0 and p1 (4 loads each of 8 floats)
static inline void pool2x2_4(const float *p0, const float *p1, int i0, int W, float *o, int32_t *a) {
  const v4 r0a = ld4(p0), r0b = ld4(p0 + 4), r1a = ld4(p1), r1b = ld4(p1 + 4);
  // taps in window order (0,0), (0,1), (1,0), (1,1); the first is taken whatever it holds
  v4 best = EVENS(r0a, r0b);
  const v4i i00 = (v4i){0, 2, 4, 6} + i0;
  v4i bi = i00;
  v4 v = ODDS(r0a, r0b);
  v4i t = take4(v, best);
  best = sel4(t, v, best);
  bi = sel4i(t, i00 + 1, bi);
  v = EVENS(r1a, r1b);
  t = take4(v, best);
  best = sel4(t, v, best);
  bi = sel4i(t, i00 + W, bi);
  v = ODDS(r1a, r1b);
  t = take4(v, best);
  best = sel4(t, v, best);
  bi = sel4i(t, i00 + (W + 1), bi);
  *(v4_u *)o = best;
  *(v4i_u *)a = bi;
}

MOX_KERNEL(maxPool2dF32) {
  const float *x = ARG_FP(0);
  const long sN = ARG_I(1), sC = ARG_I(2), sH = ARG_I(3), sW = ARG_I(4);
  const int C = ARG_I(5), H = ARG_I(6), W = ARG_I(7), q0 = ARG_I(8), q1 = ARG_I(9);
  const int kh = ARG_I(10), kw = ARG_I(11), sh = ARG_I(12), sw = ARG_I(13), ph = ARG_I(14), pw = ARG_I(15);
  const int dh = ARG_I(16), dw = ARG_I(17), outH = ARG_I(18), outW = ARG_I(19);
  float *out = ARG_FP(20);
  int32_t *argmax = (int32_t *)ARG_P(21);
  const long L = (long)outH * outW;
  // outputs [owA, owB) have windows wholly inside the row; with unit column steps they run 4 at a time
  const int vec = sW == 1 && dw == 1 && (sw == 1 || sw == 2);
  const int owA = low_out(-pw, sw);
  const int owB = high_out((kw - 1) * dw - pw, sw, W, outW);
  // PyTorch's MaxPool2d(2) on rows of unit stride: four outputs from four loads, no loop over taps
  const int pool2 = kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && ph == 0 && pw == 0 && sW == 1;
  for (int q = q0; q < q1; q++) {
    const int n = q / C, c = q - n * C;
    const float *xPlane = x + n * sN + c * sC;
    float *o = out + q * L;
    int32_t *a = argmax + q * L;
    for (int oh = 0; oh < outH; oh++) {
      const int h0 = oh * sh - ph;
      int iLo = 0, iHi = kh;
      if (h0 < 0 || h0 + (kh - 1) * dh >= H) {
        iLo = low_out(h0, dh);
        iHi = MOX_MIN(kh, high_out(h0, dh, H, kh));
      }
      int owStart = 0;
      if (pool2 && h0 + 1 < H) {
        const float *row0 = xPlane + h0 * sH, *row1 = row0 + sH;
        for (; owStart + 4 <= outW && 2 * owStart + 8 <= W; owStart += 4) {
          pool2x2_4(row0 + 2 * owStart, row1 + 2 * owStart, h0 * W + 2 * owStart, W, o, a);
          o += 4;
          a += 4;
        }
        // the row's last 1-3 outputs as the last four, again: rewriting outputs with the values they
        // hold is harmless, and the scalar loop cost a third of the time on 13-wide rows
        if (owStart < outW && outW >= 4 && 2 * outW <= W) {
          const int back = outW - owStart, ow0 = outW - 4;
          pool2x2_4(row0 + 2 * ow0, row1 + 2 * ow0, h0 * W + 2 * ow0, W, o - (4 - back), a - (4 - back));
          o += back;
          a += back;
          owStart = outW;
        }
      }
      for (int ow = owStart; ow < outW; ow++) {
        if (vec && ow >= owA && ow + 4 <= owB) {
          max_pool4(xPlane, sH, W, h0, iLo, iHi, dh, ow * sw - pw, kw, sw, o, a);
          ow += 3;
          o += 4;
          a += 4;
          continue;
        }
        const int w0 = ow * sw - pw;
        int jLo = 0, jHi = kw;
        if (w0 < 0 || w0 + (kw - 1) * dw >= W) {
          jLo = low_out(w0, dw);
          jHi = MOX_MIN(kw, high_out(w0, dw, W, kw));
        }
        float best = -INFINITY;
        int bi = -1;
        for (int i = iLo; i < iHi; i++) {
          const int hh = h0 + i * dh;
          const float *rowP = xPlane + hh * sH;
          for (int j = jLo; j < jHi; j++) {
            const int ww = w0 + j * dw;
            const float v = rowP[ww * sW];
            // branch-free: on random data the winner changes unpredictably
            const int take = (v > best) | ((v != v) & (best == best)) | (bi < 0);
            best = take ? v : best;
            bi = take ? hh * W + ww : bi;
          }
        }
        *o++ = best;
        *a++ = bi;
      }
    }
  }
}

MOX_KERNEL(maxPool2dBackwardF32) {
  const float *g = ARG_FP(0);
  const long gN = ARG_I(1), gC = ARG_I(2), gH = ARG_I(3), gW = ARG_I(4);
  const int32_t *idx = (const int32_t *)ARG_P(5);
  const long iN = ARG_I(6), iC = ARG_I(7), iH = ARG_I(8), iW = ARG_I(9);
  const int C = ARG_I(10), H = ARG_I(11), W = ARG_I(12), q0 = ARG_I(13), q1 = ARG_I(14);
  const int outH = ARG_I(15), outW = ARG_I(16);
  float *out = ARG_FP(17);
  const uint32_t HW = (uint32_t)H * W;
  for (int q = q0; q < q1; q++) {
    const int n = q / C, c = q - n * C;
    float *plane = out + (long)q * HW;
    fill(plane, HW, 0);
    // an index outside the plane is skipped, so a bad index never touches another tensor's memory
    if (gW == 1 && iW == 1 && gH == outW && iH == outW) {
      const float *gP = g + n * gN + c * gC;
      const int32_t *iP = idx + n * iN + c * iC;
      const long L = (long)outH * outW;
      for (long o = 0; o < L; o++) {
        const uint32_t k = (uint32_t)iP[o];
        if (k < HW) plane[k] += gP[o];
      }
      continue;
    }
    for (int oh = 0; oh < outH; oh++) {
      const float *gRow = g + n * gN + c * gC + oh * gH;
      const int32_t *iRow = idx + n * iN + c * iC + oh * iH;
      for (int ow = 0; ow < outW; ow++) {
        const uint32_t k = (uint32_t)iRow[ow * iW];
        if (k < HW) plane[k] += gRow[ow * gW];
      }
    }
  }
}

// PyTorch's average-pooling divisor for the window starting at (h0, w0) (flags & 1: count padding).
static inline float avg_divisor(int h0, int w0, int kh, int kw, int H, int W, int ph, int pw, int flags, float divisor) {
  if (divisor != 0) return divisor;
  int he = MOX_MIN(h0 + kh, H + ph), we = MOX_MIN(w0 + kw, W + pw), hs = h0, ws = w0;
  if (!(flags & 1)) {
    hs = MOX_MAX(hs, 0);
    ws = MOX_MAX(ws, 0);
    he = MOX_MIN(he, H);
    we = MOX_MIN(we, W);
  }
  return (float)((he - hs) * (we - ws));
}

MOX_KERNEL(avgPool2dF32) {
  const float *x = ARG_FP(0);
  const long sN = ARG_I(1), sC = ARG_I(2), sH = ARG_I(3), sW = ARG_I(4);
  const int C = ARG_I(5), H = ARG_I(6), W = ARG_I(7), q0 = ARG_I(8), q1 = ARG_I(9);
  const int kh = ARG_I(10), kw = ARG_I(11), sh = ARG_I(12), sw = ARG_I(13), ph = ARG_I(14), pw = ARG_I(15);
  const int dh = ARG_I(16), dw = ARG_I(17), outH = ARG_I(18), outW = ARG_I(19), flags = ARG_I(20);
  const float divisor = ARG_F(21);
  float *out = ARG_FP(22);
  const long L = (long)outH * outW;
  for (int q = q0; q < q1; q++) {
    const int n = q / C, c = q - n * C;
    const float *xPlane = x + n * sN + c * sC;
    float *o = out + q * L;
    for (int oh = 0; oh < outH; oh++) {
      const int h0 = oh * sh - ph;
      int iLo = 0, iHi = kh;
      if (h0 < 0 || h0 + (kh - 1) * dh >= H) {
        iLo = low_out(h0, dh);
        iHi = MOX_MIN(kh, high_out(h0, dh, H, kh));
      }
      for (int ow = 0; ow < outW; ow++) {
        const int w0 = ow * sw - pw;
        int jLo = 0, jHi = kw;
        if (w0 < 0 || w0 + (kw - 1) * dw >= W) {
          jLo = low_out(w0, dw);
          jHi = MOX_MIN(kw, high_out(w0, dw, W, kw));
        }
        // float32 sum in tap order, as the WebAssembly kernel (the same rounding)
        float s = 0;
        for (int i = iLo; i < iHi; i++) {
          const float *rowP = xPlane + (h0 + i * dh) * sH;
          for (int j = jLo; j < jHi; j++) s += rowP[(w0 + j * dw) * sW];
        }
        *o++ = s / avg_divisor(h0, w0, kh, kw, H, W, ph, pw, flags, divisor);
      }
    }
  }
}

MOX_KERNEL(avgPool2dBackwardF32) {
  const float *g = ARG_FP(0);
  const long gN = ARG_I(1), gC = ARG_I(2), gH = ARG_I(3), gW = ARG_I(4);
  const int C = ARG_I(5), H = ARG_I(6), W = ARG_I(7), q0 = ARG_I(8), q1 = ARG_I(9);
  const int kh = ARG_I(10), kw = ARG_I(11), sh = ARG_I(12), sw = ARG_I(13), ph = ARG_I(14), pw = ARG_I(15);
  const int dh = ARG_I(16), dw = ARG_I(17), outH = ARG_I(18), outW = ARG_I(19), flags = ARG_I(20);
  const float divisor = ARG_F(21);
  float *out = ARG_FP(22);
  for (int q = q0; q < q1; q++) {
    const int n = q / C, c = q - n * C;
    float *plane = out + (long)q * H * W;
    fill(plane, (long)H * W, 0);
    for (int oh = 0; oh < outH; oh++) {
      const int h0 = oh * sh - ph;
      int iLo = 0, iHi = kh;
      if (h0 < 0 || h0 + (kh - 1) * dh >= H) {
        iLo = low_out(h0, dh);
        iHi = MOX_MIN(kh, high_out(h0, dh, H, kh));
      }
      const float *gRow = g + n * gN + c * gC + oh * gH;
      for (int ow = 0; ow < outW; ow++) {
        const int w0 = ow * sw - pw;
        int jLo = 0, jHi = kw;
        if (w0 < 0 || w0 + (kw - 1) * dw >= W) {
          jLo = low_out(w0, dw);
          jHi = MOX_MIN(kw, high_out(w0, dw, W, kw));
        }
        const float v = gRow[ow * gW] / avg_divisor(h0, w0, kh, kw, H, W, ph, pw, flags, divisor);
        for (int i = iLo; i < iHi; i++) {
          float *rowP = plane + (long)(h0 + i * dh) * W;
          for (int j = jLo; j < jHi; j++) rowP[w0 + j * dw] += v;
        }
      }
    }
  }
}
