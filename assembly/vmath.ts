// Vector math on f32x4 with float32 accuracy, for kernels that need transcendental functions on every
// lane (softmax, cross-entropy, activations). Pure functions of their arguments: no static data, so
// any number of threads may call them at once.

import { fma } from './simd';

// exp: x = n*ln2 + r with n = round(x/ln2) and |r| <= ln2/2, exp(r) from Cephes' degree-5 minimax
// polynomial (expf.c), then scaled by 2^n. ln2 is split in two (C1 exact in 9 bits) so n*C1 is exact
// and r keeps full precision. Measured error: <= 1 ulp over the normal range (test/fast-rows.test.ts).
const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
// exp(88.8) overflows float32 and exp(-104) rounds to 0 (below half the smallest subnormal), so
// clamping there keeps n within [-150, 128] without changing any result; f32x4.min/max keep NaN.
const HI: f32 = 88.8;
const MAGIC: f32 = 12582912.0; // 1.5 * 2^23
const MAGIC_BITS: i32 = 0x4B400000;
const LO: f32 = -104.0;

/** e^x per lane: +inf -> +inf, -inf -> 0, NaN -> NaN, overflow -> +inf, gradual underflow. */
@inline
export function expV(x: v128): v128 {
  x = f32x4.max(f32x4.min(x, f32x4.splat(HI)), f32x4.splat(LO));
  // round to nearest by adding 1.5 * 2^23: the integer lands in the low mantissa bits, which also
  // gives n as an integer without a float-to-int conversion (slow on x86 for SIMD)
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(MAGIC));
  const fn = f32x4.sub(t, f32x4.splat(MAGIC));
  let r = f32x4.sub(x, f32x4.mul(fn, f32x4.splat(C1)));
  r = f32x4.sub(r, f32x4.mul(fn, f32x4.splat(C2)));
  const r2 = f32x4.mul(r, r);
  let p = fma(f32x4.splat(P0), r, f32x4.splat(P1));
  p = fma(p, r, f32x4.splat(P2));
  p = fma(p, r, f32x4.splat(P3));
  p = fma(p, r, f32x4.splat(P4));
  p = fma(p, r, f32x4.splat(P5));
  const y = f32x4.add(fma(p, r2, r), f32x4.splat(1));
  // 2^n in two factors 2^(n>>1) * 2^(n - n>>1): each stays a normal float for n in [-150, 128], so
  // results near overflow reach +inf and subnormal results are rounded once, by the last multiply.
  const n = i32x4.sub(t, i32x4.splat(MAGIC_BITS));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(n2, bias), 23);
  return f32x4.mul(f32x4.mul(y, s1), s2);
}

/** e^x for one float, through the same vector code so tails of rows round like their bodies. */
@inline
export function expS(x: f32): f32 {
  return f32x4.extract_lane(expV(f32x4.splat(x)), 0);
}

/** Sum of the four lanes. */
@inline
export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Max of the four lanes (NaN if any lane is NaN). */
@inline
export function hmax(v: v128): f32 {
  const m = f32x4.max(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(m, i32x4.shuffle(m, m, 1, 0, 3, 2)), 0);
}

/** dst[i] = e^src[i] for n floats (addresses in bytes): for tests of expV's accuracy and for reuse. */
export function vexp(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(dst + (<usize>i << 2), expV(v128.load(src + (<usize>i << 2))));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), expS(load<f32>(src + (<usize>i << 2))));
}
