// Quantized matrix products (the layouts and the arithmetic are src/backend/quant-format.ts's): x [M, K]
// float32 rows times a weight of N packed rows, into out [M, N]. Each call computes all M rows for a
// band of weight rows [0, N) starting at w, so the host splits the work across threads by weight rows;
// every output element is summed in one order whatever the split.
//
// - q8MatmulF32: int8 weights, float32 activations (weight-only): each group of 16 bytes is widened to
//   four float32x4 and multiplied in; up to 4 activation rows share one widening.
// - quantizeRowsU7 + q8DynMatmul: dynamic int8; the activation rows are quantized to 7 unsigned bits
//   first, then each group of 16 is one integer dot product (relaxed SIMD's
//   i32x4.relaxed_dot_i8x16_i7x16_add_s, deterministic because the second operand is below 128; plain
//   SIMD widens both to int16 and uses i32x4.dot_i16x8_s, same sums).
// - quantizeRowsQ8 + q4MatmulQ8: int4 (Q4_0) weights against activations in int8 blocks of 32 (Q8_0):
//   the nibbles are unsigned (0..15), so they are the 7-bit operand.
// Sums of integers are exact, so the two builds give identical int8-dynamic and int4 results.

import { fma } from './simd';

@inline
function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline
function hsumI(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** int8 weights [N, ldw bytes], scale [N], bias [N] or 0; x rows ldx floats apart, out rows ldo floats apart. */
export function q8MatmulF32(M: i32, N: i32, K: i32, x: usize, ldx: i32, w: usize, ldw: i32, scale: usize, bias: usize, out: usize, ldo: i32): void {
  const K16 = K & ~15;
  const xs = <usize>ldx << 2;
  for (let n = 0; n < N; n++) {
    const wr = w + <usize>n * <usize>ldw;
    const s = load<f32>(scale + (<usize>n << 2));
    const b: f32 = bias ? load<f32>(bias + (<usize>n << 2)) : 0;
    let m = 0;
    for (; m + 4 <= M; m += 4) {
      const x0 = x + <usize>m * xs;
      const x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < K16; k += 16) {
        const wv = v128.load(wr + <usize>k);
        const lo = i16x8.extend_low_i8x16_s(wv);
        const hi = i16x8.extend_high_i8x16_s(wv);
        const w0 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo));
        const w1 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo));
        const w2 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi));
        const w3 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi));
        const o = <usize>k << 2;
        a0 = fma(v128.load(x0 + o), w0, a0);
        a1 = fma(v128.load(x1 + o), w0, a1);
        a2 = fma(v128.load(x2 + o), w0, a2);
        a3 = fma(v128.load(x3 + o), w0, a3);
        a0 = fma(v128.load(x0 + o + 16), w1, a0);
        a1 = fma(v128.load(x1 + o + 16), w1, a1);
        a2 = fma(v128.load(x2 + o + 16), w1, a2);
        a3 = fma(v128.load(x3 + o + 16), w1, a3);
        a0 = fma(v128.load(x0 + o + 32), w2, a0);
        a1 = fma(v128.load(x1 + o + 32), w2, a1);
        a2 = fma(v128.load(x2 + o + 32), w2, a2);
        a3 = fma(v128.load(x3 + o + 32), w2, a3);
        a0 = fma(v128.load(x0 + o + 48), w3, a0);
        a1 = fma(v128.load(x1 + o + 48), w3, a1);
        a2 = fma(v128.load(x2 + o + 48), w3, a2);
        a3 = fma(v128.load(x3 + o + 48), w3, a3);
      }
      let t0 = hsum(a0), t1 = hsum(a1), t2 = hsum(a2), t3 = hsum(a3);
      for (let k = K16; k < K; k++) {
        const wk = <f32>load<i8>(wr + <usize>k);
        const o = <usize>k << 2;
        t0 += load<f32>(x0 + o) * wk;
        t1 += load<f32>(x1 + o) * wk;
        t2 += load<f32>(x2 + o) * wk;
        t3 += load<f32>(x3 + o) * wk;
      }
      const c = out + (<usize>m * <usize>ldo << 2) + (<usize>n << 2);
      const os = <usize>ldo << 2;
      store<f32>(c, t0 * s + b);
      store<f32>(c + os, t1 * s + b);
      store<f32>(c + 2 * os, t2 * s + b);
      store<f32>(c + 3 * os, t3 * s + b);
    }
    for (; m < M; m++) {
      // one row: four accumulators, so the adds do not wait on each other
      const x0 = x + <usize>m * xs;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < K16; k += 16) {
        const wv = v128.load(wr + <usize>k);
        const lo = i16x8.extend_low_i8x16_s(wv);
        const hi = i16x8.extend_high_i8x16_s(wv);
        const o = <usize>k << 2;
        a0 = fma(v128.load(x0 + o), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), a0);
        a1 = fma(v128.load(x0 + o + 16), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), a1);
        a2 = fma(v128.load(x0 + o + 32), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), a2);
        a3 = fma(v128.load(x0 + o + 48), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), a3);
      }
      let t = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
      for (let k = K16; k < K; k++) t += load<f32>(x0 + (<usize>k << 2)) * <f32>load<i8>(wr + <usize>k);
      store<f32>(out + (<usize>m * <usize>ldo << 2) + (<usize>n << 2), t * s + b);
    }
  }
}

/**
 * dynamic-int8's activation rows: x [M, K] (rows ldx floats apart) -> q [M, Kp] bytes in [0, 127]
 * (zero past K), and per row its float32 scale and int32 zero point at params + 8 m.
 */
export function quantizeRowsU7(M: i32, K: i32, Kp: i32, x: usize, ldx: i32, q: usize, params: usize): void {
  for (let m = 0; m < M; m++) {
    const xr = x + (<usize>m * <usize>ldx << 2);
    const qr = q + <usize>m * <usize>Kp;
    let lo: f32 = 0, hi: f32 = 0;
    for (let k = 0; k < K; k++) {
      const v = load<f32>(xr + (<usize>k << 2));
      lo = min(lo, v);
      hi = max(hi, v);
    }
    let s: f32 = (hi - lo) / 127;
    if (!(s > 0) || !isFinite(s)) s = 1;
    const inv: f32 = 1 / s;
    const z = <i32>min<f32>(127, max<f32>(0, nearest<f32>(-lo * inv)));
    for (let k = 0; k < K; k++) {
      const v = <i32>nearest<f32>(load<f32>(xr + (<usize>k << 2)) * inv) + z;
      store<u8>(qr + <usize>k, <u8>min(127, max(0, v)));
    }
    for (let k = K; k < Kp; k++) store<u8>(qr + <usize>k, 0);
    store<f32>(params + (<usize>m << 3), s);
    store<i32>(params + (<usize>m << 3) + 4, z);
  }
}

/** The int32 dot product of 16 signed bytes (a) with 16 bytes in [0, 127] (b), added to acc's lanes. */
@inline
function dotAdd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, acc);
  const lo = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a), i16x8.extend_low_i8x16_u(b));
  const hi = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a), i16x8.extend_high_i8x16_u(b));
  return i32x4.add(acc, i32x4.add(lo, hi));
}

/** dynamic int8: q [M, Kp] from quantizeRowsU7 with its params, weights [N, Kp] int8, scale and rowSum [N]. */
export function q8DynMatmul(M: i32, N: i32, Kp: i32, q: usize, params: usize, w: usize, scale: usize, rowSum: usize, bias: usize, out: usize, ldo: i32): void {
  for (let n = 0; n < N; n++) {
    const wr = w + <usize>n * <usize>Kp;
    const sw = load<f32>(scale + (<usize>n << 2));
    const rs = load<i32>(rowSum + (<usize>n << 2));
    const b: f32 = bias ? load<f32>(bias + (<usize>n << 2)) : 0;
    for (let m = 0; m < M; m++) {
      const qr = q + <usize>m * <usize>Kp;
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0);
      let k = 0;
      for (; k + 32 <= Kp; k += 32) {
        a0 = dotAdd(v128.load(wr + <usize>k), v128.load(qr + <usize>k), a0);
        a1 = dotAdd(v128.load(wr + <usize>k + 16), v128.load(qr + <usize>k + 16), a1);
      }
      if (k < Kp) a0 = dotAdd(v128.load(wr + <usize>k), v128.load(qr + <usize>k), a0);
      const dot = hsumI(i32x4.add(a0, a1));
      const sx = load<f32>(params + (<usize>m << 3));
      const z = load<i32>(params + (<usize>m << 3) + 4);
      store<f32>(out + (<usize>m * <usize>ldo << 2) + (<usize>n << 2), sx * sw * <f32>(dot - z * rs) + b);
    }
  }
}

/**
 * int4's activation rows: x [M, K] -> q [M, Kp] int8 in blocks of 32 (zero past K), with per block its
 * float32 scale (d) and int32 sum of q (sums), both [M, Kp / 32].
 */
export function quantizeRowsQ8(M: i32, K: i32, Kp: i32, x: usize, ldx: i32, q: usize, d: usize, sums: usize): void {
  const G = Kp >> 5;
  for (let m = 0; m < M; m++) {
    const xr = x + (<usize>m * <usize>ldx << 2);
    const qr = q + <usize>m * <usize>Kp;
    for (let g = 0; g < G; g++) {
      const k0 = g << 5;
      const k1 = min(K, k0 + 32);
      let amax: f32 = 0;
      for (let k = k0; k < k1; k++) amax = max(amax, abs<f32>(load<f32>(xr + (<usize>k << 2))));
      const s: f32 = amax / 127;
      const inv: f32 = s != 0 ? 1 / s : 0;
      let sum = 0;
      for (let k = k0; k < k0 + 32; k++) {
        const v = k < k1 ? <i32>nearest<f32>(load<f32>(xr + (<usize>k << 2)) * inv) : 0;
        store<i8>(qr + <usize>k, <i8>v);
        sum += v;
      }
      const at = (<usize>m * <usize>G + <usize>g) << 2;
      store<f32>(d + at, s);
      store<i32>(sums + at, sum);
    }
  }
}

/** One Q4_0 group's dot product with its block of int8 activations, in four int32 lanes (their sum is exact). */
@inline
function groupDot(wr: usize, qr: usize, g: i32): v128 {
  const wv = v128.load(wr + (<usize>g << 4));
  const qo = qr + (<usize>g << 5);
  // low nibbles are the group's first 16 weights, high nibbles its last 16
  return dotAdd(v128.load(qo + 16), i8x16.shr_u(wv, 4), dotAdd(v128.load(qo), v128.and(wv, i8x16.splat(15)), i32x4.splat(0)));
}

/** int4: q, d, sums from quantizeRowsQ8; weights [N, Kp / 2] Q4_0, wd [N, Kp / 32] group scales. */
export function q4MatmulQ8(M: i32, N: i32, Kp: i32, q: usize, d: usize, sums: usize, w: usize, wd: usize, bias: usize, out: usize, ldo: i32): void {
  const G = Kp >> 5;
  const ldw = <usize>Kp >> 1;
  for (let n = 0; n < N; n++) {
    const wr = w + <usize>n * ldw;
    const sr = wd + (<usize>n * <usize>G << 2);
    const b: f32 = bias ? load<f32>(bias + (<usize>n << 2)) : 0;
    for (let m = 0; m < M; m++) {
      const qr = q + <usize>m * <usize>Kp;
      const dr = d + (<usize>m * <usize>G << 2);
      const cr = sums + (<usize>m * <usize>G << 2);
      // four groups at a time: their exact integer sums side by side in one vector (a transpose-add),
      // q - 8 folded in, then one float multiply-add for the four; lane j holds groups j mod 4
      let acc = f32x4.splat(0);
      let g = 0;
      for (; g + 4 <= G; g += 4) {
        const s0 = groupDot(wr, qr, g), s1 = groupDot(wr, qr, g + 1), s2 = groupDot(wr, qr, g + 2), s3 = groupDot(wr, qr, g + 3);
        const t01 = i32x4.add(i32x4.shuffle(s0, s1, 0, 4, 1, 5), i32x4.shuffle(s0, s1, 2, 6, 3, 7));
        const t23 = i32x4.add(i32x4.shuffle(s2, s3, 0, 4, 1, 5), i32x4.shuffle(s2, s3, 2, 6, 3, 7));
        const sums4 = i32x4.add(i32x4.shuffle(t01, t23, 0, 1, 4, 5), i32x4.shuffle(t01, t23, 2, 3, 6, 7));
        const o = <usize>g << 2;
        const exact = i32x4.sub(sums4, i32x4.shl(v128.load(cr + o), 3));
        acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(dr + o), v128.load(sr + o)), f32x4.convert_i32x4_s(exact)));
      }
      let t = hsum(acc);
      for (; g < G; g++) {
        const o = <usize>g << 2;
        t += load<f32>(dr + o) * load<f32>(sr + o) * <f32>(hsumI(groupDot(wr, qr, g)) - 8 * load<i32>(cr + o));
      }
      store<f32>(out + (<usize>m * <usize>ldo << 2) + (<usize>n << 2), t + b);
    }
  }
}
