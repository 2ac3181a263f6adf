// Single-precision GEMM: C[M,N] = A[M,K] @ B[K,N] (+ C) (+ bias[N]) (relu), the BLIS way: B is packed
// into KC x NR panels and A into MR x KC panels so the micro-kernel streams both from L1, and a 4x8
// register tile (8 accumulators of f32x4) is updated per k. A and B are read through arbitrary
// element strides, so transposed operands need no copy: the packing absorbs the layout.
//
// Pointers are byte addresses in the shared memory; strides count elements. `scratch` is the calling
// thread's own packing space (SCRATCH_FLOATS floats): threads never share it.
//
// Why 4x8 and not larger (x64, read with node --print-wasm-code): V8 keeps one of the 16 xmm registers
// as scratch and schedules all of a loop body's loads first, so a tile needs accumulators + every
// load of one k step in registers: 4x8 is 8 + 2 B vectors + 4 A broadcasts = 14. A 6x8 tile spills
// three accumulators and runs at half speed; 3x12 (9 + 3 + 3) fits and runs as fast as 4x8; unrolling
// k by two spills. With relaxed SIMD the kernel reaches ~89% of the core's 128-bit FMA peak.

import { fma } from './simd';

const MR = 4;
const NR = 8;
const KC = 256;
const MC = 128;
// B is packed NC columns at a time: wide enough that A is packed once for N <= 2048
const NC = 2048;
export const SCRATCH_FLOATS: i32 = MC * KC + KC * NC + MR * NR;

/**
 * Stores the 4x4 transpose of rows r0..r3 (4 floats each) as 4 vectors at dst, dst+16, dst+32, dst+48:
 * vector k holds element k of each row. Packing reads 4 rows (or columns) along k this way instead of
 * one float at a time.
 */
@inline
function storeTransposed4(dst: usize, r0: v128, r1: v128, r2: v128, r3: v128, step: usize): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(dst + step, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(dst + 2 * step, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * step, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

// B[k0:k0+kc, j0:j0+nc] -> panels of NR columns, kc rows each; columns past nc are zero
function packB(b: usize, rsB: i32, csB: i32, k0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const w = min(NR, nc - jp);
    let src = b + ((<isize>k0 * rsB + <isize>(j0 + jp) * csB) << 2);
    const rowStep = <usize>rsB << 2;
    if (w == NR && csB == 1) {
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += rowStep;
        dst += NR << 2;
      }
    } else if (w == NR && rsB == 1) {
      // a transposed B (a weight used as W^T): each column is contiguous along k, so 4 k at a time
      // from each of the 8 columns, transposed in two 4x4 blocks
      const cs = <usize>csB << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        storeTransposed4(dst, v128.load(src), v128.load(src + cs), v128.load(src + 2 * cs), v128.load(src + 3 * cs), NR << 2);
        const s4 = src + 4 * cs;
        storeTransposed4(dst + 16, v128.load(s4), v128.load(s4 + cs), v128.load(s4 + 2 * cs), v128.load(s4 + 3 * cs), NR << 2);
        src += 16;
        dst += (NR << 2) * 4;
      }
      for (; k < kc; k++) {
        for (let j = 0; j < NR; j++) store<f32>(dst + (j << 2), load<f32>(src + <usize>j * cs));
        src += 4;
        dst += NR << 2;
      }
    } else if (w == NR) {
      // any other full-width panel: eight column streams, no per-element edge test
      const cs = <usize>csB << 2;
      for (let k = 0; k < kc; k++) {
        store<f32>(dst, load<f32>(src));
        store<f32>(dst, load<f32>(src + cs), 4);
        store<f32>(dst, load<f32>(src + 2 * cs), 8);
        store<f32>(dst, load<f32>(src + 3 * cs), 12);
        store<f32>(dst, load<f32>(src + 4 * cs), 16);
        store<f32>(dst, load<f32>(src + 5 * cs), 20);
        store<f32>(dst, load<f32>(src + 6 * cs), 24);
        store<f32>(dst, load<f32>(src + 7 * cs), 28);
        src += rowStep;
        dst += NR << 2;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let j = 0; j < NR; j++) {
          store<f32>(dst + (j << 2), j < w ? load<f32>(src + ((<usize>j * csB) << 2)) : 0);
        }
        src += rowStep;
        dst += NR << 2;
      }
    }
  }
}

// A[i0:i0+mc, k0:k0+kc] -> panels of MR rows: for each k, MR consecutive floats; rows past mc are zero
function packA(a: usize, rsA: i32, csA: i32, i0: i32, mc: i32, k0: i32, kc: i32, dst: usize): void {
  for (let ip = 0; ip < mc; ip += MR) {
    const h = min(MR, mc - ip);
    const base = a + ((<isize>(i0 + ip) * rsA + <isize>k0 * csA) << 2);
    if (h == MR && rsA == 1) {
      // a transposed A (e.g. dY^T in a weight gradient): the MR values of each k are adjacent
      const cs = <usize>csA << 2;
      let s = base;
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(s));
        s += cs;
        dst += MR << 2;
      }
    } else if (h == MR && csA == 1) {
      // row-major A: 4 k at a time from each of the 4 rows, transposed in registers
      const r = <usize>rsA << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const s = base + (<usize>k << 2);
        storeTransposed4(dst, v128.load(s), v128.load(s + r), v128.load(s + 2 * r), v128.load(s + 3 * r), MR << 2);
        dst += (MR << 2) * 4;
      }
      for (; k < kc; k++) {
        const s = base + (<usize>k << 2);
        store<f32>(dst, load<f32>(s));
        store<f32>(dst, load<f32>(s + r), 4);
        store<f32>(dst, load<f32>(s + 2 * r), 8);
        store<f32>(dst, load<f32>(s + 3 * r), 12);
        dst += MR << 2;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const s = base + ((<usize>k * csA) << 2);
        for (let i = 0; i < MR; i++) {
          store<f32>(dst + (i << 2), i < h ? load<f32>(s + ((<usize>i * rsA) << 2)) : 0);
        }
        dst += MR << 2;
      }
    }
  }
}

/** One 8-wide row of a full tile: accumulate into C, add the bias, relu, as the flags say. */
@inline
function storeRow(c: usize, v0: v128, v1: v128, b0: v128, b1: v128, flags: i32): void {
  if (flags & 1) { v0 = f32x4.add(v0, v128.load(c)); v1 = f32x4.add(v1, v128.load(c, 16)); }
  if (flags & 2) { v0 = f32x4.add(v0, b0); v1 = f32x4.add(v1, b1); }
  if (flags & 4) { v0 = f32x4.max(v0, f32x4.splat(0)); v1 = f32x4.max(v1, f32x4.splat(0)); }
  v128.store(c, v0);
  v128.store(c, v1, 16);
}

// flags: 1 = accumulate into C, 2 = add bias, 4 = relu (bias and relu only on the last K block)
@inline
function microKernel(kc: i32, pa: usize, pb: usize, c: usize, ldc: i32, h: i32, w: i32, flags: i32, bias: usize, tmp: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = fma(a, b0, c00); c01 = fma(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = fma(a, b0, c10); c11 = fma(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = fma(a, b0, c20); c21 = fma(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = fma(a, b0, c30); c31 = fma(a, b1, c31);
    pa += MR << 2;
    pb += NR << 2;
  }
  const ld = <usize>ldc << 2;
  if (h == MR && w == NR) {
    // a full tile goes straight from the accumulators to C
    const b0 = (flags & 2) ? v128.load(bias) : f32x4.splat(0);
    const b1 = (flags & 2) ? v128.load(bias, 16) : f32x4.splat(0);
    storeRow(c, c00, c01, b0, b1, flags);
    storeRow(c + ld, c10, c11, b0, b1, flags);
    storeRow(c + 2 * ld, c20, c21, b0, b1, flags);
    storeRow(c + 3 * ld, c30, c31, b0, b1, flags);
    return;
  }
  // an edge tile: spill, then store only the valid h x w part
  v128.store(tmp, c00); v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const p = c + (<usize>j << 2);
      let v = load<f32>(tmp + ((<usize>(i * NR + j)) << 2));
      if (flags & 1) v += load<f32>(p);
      if (flags & 2) v += load<f32>(bias + (<usize>j << 2));
      if (flags & 4) v = max(v, 0);
      store<f32>(p, v);
    }
    c += ld;
  }
}

/**
 * C (row-major, leading dimension ldc) = A @ B, with A element (i,k) at a + 4*(i*rsA + k*csA) and B
 * element (k,j) at b + 4*(k*rsB + j*csB). flags: 1 accumulate into C, 2 add bias[j] (bias pointer),
 * 4 apply relu. K == 0 gives zeros (or C unchanged when accumulating), then bias and relu.
 */
export function sgemm(M: i32, N: i32, K: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32,
  c: usize, ldc: i32, bias: usize, flags: i32, scratch: usize): void {
  const pa = scratch;
  const pb = scratch + (<usize>(MC * KC) << 2);
  const tmp = pb + (<usize>(KC * NC) << 2);
  if (K == 0) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const p = c + ((<usize>i * ldc + j) << 2);
        let v: f32 = (flags & 1) ? load<f32>(p) : 0;
        if (flags & 2) v += load<f32>(bias + (<usize>j << 2));
        if (flags & 4) v = max(v, 0);
        store<f32>(p, v);
      }
    }
    return;
  }
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = min(KC, K - k0);
      const last = k0 + kc >= K;
      // accumulate after the first K block; bias and relu once the sum is complete
      const f = (k0 > 0 ? 1 : (flags & 1)) | (last ? (flags & 6) : 0);
      packB(b, rsB, csB, k0, kc, j0, nc, pb);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = min(MC, M - i0);
        packA(a, rsA, csA, i0, mc, k0, kc, pa);
        for (let jr = 0; jr < nc; jr += NR) {
          const w = min(NR, nc - jr);
          const biasJ = bias + (<usize>(j0 + jr) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const h = min(MR, mc - ir);
            microKernel(kc, pa + (<usize>(ir * kc) << 2), pb + (<usize>(jr * kc) << 2),
              c + ((<usize>(i0 + ir) * ldc + j0 + jr) << 2), ldc, h, w, f, biasJ, tmp);
          }
        }
      }
    }
  }
}

/** nb products of one shape whose operands are spaced by fixed element strides (collapsed batch dims). */
export function sgemmBatched(nb: i32, sA: i32, sB: i32, sC: i32, M: i32, N: i32, K: i32, a: usize, rsA: i32, csA: i32,
  b: usize, rsB: i32, csB: i32, c: usize, ldc: i32, bias: usize, flags: i32, scratch: usize): void {
  for (let i = 0; i < nb; i++) {
    sgemm(M, N, K, a + ((<usize>i * sA) << 2), rsA, csA, b + ((<usize>i * sB) << 2), rsB, csB,
      c + ((<usize>i * sC) << 2), ldc, bias, flags, scratch);
  }
}
