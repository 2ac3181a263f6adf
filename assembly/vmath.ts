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

// The splatted constants live in static memory and are loaded where they are used. V8's optimizing
// compiler does not hoist a v128.const out of a loop: it rebuilds it on every trip with three
// instructions (movq, vmovq, vpunpcklqdq), ~45 per vector for this function alone, and spills what it
// rebuilt. A load is one instruction on a load port the kernels leave idle; Binaryen cannot fold a
// load, so it stays one. Lanes are 16 bytes apart (each constant splatted four times).
const EXP_K = memory.data<f32>([
  HI, HI, HI, HI,
  LO, LO, LO, LO,
  LOG2E, LOG2E, LOG2E, LOG2E,
  MAGIC, MAGIC, MAGIC, MAGIC,
  C1, C1, C1, C1,
  C2, C2, C2, C2,
  P0, P0, P0, P0,
  P1, P1, P1, P1,
  P2, P2, P2, P2,
  P3, P3, P3, P3,
  P4, P4, P4, P4,
  P5, P5, P5, P5,
  1, 1, 1, 1,
], 16);
const K_HI = 0, K_LO = 1, K_LOG2E = 2, K_MAGIC = 3, K_C1 = 4, K_C2 = 5, K_P0 = 6, K_P1 = 7, K_P2 = 8,
  K_P3 = 9, K_P4 = 10, K_P5 = 11, K_ONE = 12;
const EXP_KI = memory.data<i32>([MAGIC_BITS, MAGIC_BITS, MAGIC_BITS, MAGIC_BITS, 127, 127, 127, 127], 16);

@inline function k(i: i32): v128 { return v128.load(EXP_K + (<usize>i << 4)); }

/** The splatted constant 1.0 (from the table, for the same reason as the rest). */
@inline export function oneV(): v128 { return k(K_ONE); }

/** e^x per lane: +inf -> +inf, -inf -> 0, NaN -> NaN, overflow -> +inf, gradual underflow. */
@inline
export function expV(x: v128): v128 {
  // pmin/pmax are one instruction each (f32x4.min/max are ~8 on x64 for their NaN and -0 rules);
  // with x first, a NaN lane keeps x, so NaN still gives NaN
  x = f32x4.pmax(f32x4.pmin(x, k(K_HI)), k(K_LO));
  // round to nearest by adding 1.5 * 2^23: the integer lands in the low mantissa bits, which also
  // gives n as an integer without a float-to-int conversion (slow on x86 for SIMD)
  const t = f32x4.add(f32x4.mul(x, k(K_LOG2E)), k(K_MAGIC));
  const fn = f32x4.sub(t, k(K_MAGIC));
  let r = f32x4.sub(x, f32x4.mul(fn, k(K_C1)));
  r = f32x4.sub(r, f32x4.mul(fn, k(K_C2)));
  const r2 = f32x4.mul(r, r);
  let p = fma(k(K_P0), r, k(K_P1));
  p = fma(p, r, k(K_P2));
  p = fma(p, r, k(K_P3));
  p = fma(p, r, k(K_P4));
  p = fma(p, r, k(K_P5));
  const y = f32x4.add(fma(p, r2, r), k(K_ONE));
  // 2^n in two factors 2^(n>>1) * 2^(n - n>>1): each stays a normal float for n in [-150, 128], so
  // results near overflow reach +inf and subnormal results are rounded once, by the last multiply.
  const n = i32x4.sub(t, v128.load(EXP_KI));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const bias = v128.load(EXP_KI, 16);
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
