// Fused scaled-dot-product attention, forward and backward, the flash-attention way: query rows are
// taken QB at a time, their scores against every key they may see go to a [QB, Lk] block in the
// caller's buffer (never the whole [Lq, Lk] matrix), and the products run on the GEMM micro-kernel.
// The forward keeps each query row's log-sum-exp; the backward rebuilds the weights from it.
//
// Batch entries are listed in a table the host writes (so leading axes that do not collapse to one
// stride, like a GPT block's transposed heads, need no copy): `entries` holds, per entry, the byte
// addresses of its q, k, v and (backward) g matrices as 4 u32; `strides` the element strides
// [rsQ, csQ, rsK, csK, rsV, csV, rsG, csG] as i32. out / lse / dq / dk / dv are contiguous
// [nb, L, E] blocks starting at the first entry's. `b0` is the flat batch index of the first entry:
// the dropout hash is a function of (seed, b, i, j), as in AttentionDropout (backend.ts).

import { sgemm } from './matmul';
import { rowMax, sumExp } from './rows';
import { expS, expV } from './vmath';

/**
 * Query rows per block. With a causal mask a block only sees the keys up to its last row, so smaller
 * blocks skip more; with 16, 32 and 64 a GPT step (block 64) measured 11.3, 11.5 and 14.0 ms of
 * attention: 32 also repacks K half as often as 16 for long non-causal rows.
 */
const QB = 32;

/** pcg4d (Jarzynski and Olano 2020), first word: the same hash as the WebGPU kernels and the host. */
@inline
function pcg4dX(a: u32, b: u32, c: u32, d: u32): u32 {
  let x = a * 1664525 + 1013904223;
  let y = b * 1664525 + 1013904223;
  let z = c * 1664525 + 1013904223;
  let w = d * 1664525 + 1013904223;
  x += y * w; y += z * x; z += x * y; w += y * z;
  x ^= x >> 16; y ^= y >> 16; z ^= z >> 16; w ^= w >> 16;
  x += y * w;
  return x;
}

@inline function at(p: usize, i: i32): usize { return p + (<usize>i << 2); }

/**
 * One row of a score block (n floats at p, query keys j < lim visible): scales it, leaves the softmax
 * weights exp(s - lse) there (0 beyond lim) and returns the row's log-sum-exp.
 */
@inline
function softmaxRow(p: usize, n: i32, lim: i32, scale: f32): f32 {
  const vs = f32x4.splat(scale);
  let j = 0;
  for (; j + 4 <= lim; j += 4) v128.store(at(p, j), f32x4.mul(v128.load(at(p, j)), vs));
  for (; j < lim; j++) store<f32>(at(p, j), load<f32>(at(p, j)) * scale);
  const m = rowMax(p, lim);
  const s = sumExp(p, lim, m, p);
  const inv = <f32>(1.0 / <f64>s);
  const vi = f32x4.splat(inv);
  for (j = 0; j + 4 <= lim; j += 4) v128.store(at(p, j), f32x4.mul(v128.load(at(p, j)), vi));
  for (; j < lim; j++) store<f32>(at(p, j), load<f32>(at(p, j)) * inv);
  for (j = lim; j < n; j++) store<f32>(at(p, j), 0);
  return m + <f32>Math.log(<f64>s);
}

/** Keys query i may see in a block whose scores cover keys [0, n). */
@inline function visible(causal: i32, i: i32, n: i32): i32 { return causal ? min(n, i + 1) : n; }

/**
 * out[b] = softmax(q k^T * scale (+ causal mask)) (dropped out) v and lse[b] for nb entries of the
 * table. s: QB * lk floats of the caller's; scratch: the GEMM's packing space.
 */
export function attentionF32(nb: i32, strides: usize, entries: usize, lq: i32, lk: i32, e: i32, ev: i32, out: usize, lse: usize,
  b0: i32, causal: i32, scale: f32, dropP: f32, seed: u32, threshold: u32, s: usize, scratch: usize): void {
  const rsQ = load<i32>(strides), csQ = load<i32>(strides, 4), rsK = load<i32>(strides, 8), csK = load<i32>(strides, 12);
  const rsV = load<i32>(strides, 16), csV = load<i32>(strides, 20);
  const keepScale: f32 = 1 / (1 - dropP);
  for (let b = 0; b < nb; b++) {
    const entry = entries + (<usize>b << 4);
    const q = <usize>load<u32>(entry), k = <usize>load<u32>(entry, 4), v = <usize>load<u32>(entry, 8);
    const ob = out + ((<usize>b * lq * ev) << 2);
    const lb = lse + ((<usize>b * lq) << 2);
    const bIndex = <u32>(b0 + b);
    for (let i0 = 0; i0 < lq; i0 += QB) {
      const qb = min(QB, lq - i0);
      const nk = causal ? min(lk, i0 + qb) : lk;
      // S = Q[i0:i0+qb] K[0:nk]^T (k's element (j, d) is element (d, j) of K^T)
      sgemm(qb, nk, e, q + ((<usize>i0 * rsQ) << 2), rsQ, csQ, k, csK, rsK, s, nk, 0, 0, scratch);
      for (let r = 0; r < qb; r++) {
        const i = i0 + r;
        const row = s + ((<usize>r * nk) << 2);
        const lim = visible(causal, i, nk);
        store<f32>(at(lb, i), softmaxRow(row, nk, lim, scale));
        if (dropP > 0) {
          for (let j = 0; j < lim; j++) {
            const keep = (pcg4dX(seed, bIndex, <u32>i, <u32>j) >> 8) >= threshold;
            store<f32>(at(row, j), keep ? load<f32>(at(row, j)) * keepScale : 0);
          }
        }
      }
      // O[i0:i0+qb] = P V[0:nk]
      sgemm(qb, ev, nk, s, nk, 1, v, rsV, csV, ob + ((<usize>i0 * ev) << 2), ev, 0, 0, scratch);
    }
  }
}

/**
 * Gradients of attentionF32 from g (out's shape): dq, dk, dv contiguous and zero-filled by the caller.
 * s and ds: QB * lk floats each of the caller's. Per query block: the weights P from lse, dP = g v^T,
 * dS = P * (dP * keep - rowsum(g * out)) * scale, then dv += (P * keep)^T g, dq = dS k, dk += dS^T q.
 */
export function attentionBackwardF32(nb: i32, strides: usize, entries: usize, lq: i32, lk: i32, e: i32, ev: i32, out: usize, lse: usize,
  dq: usize, dk: usize, dv: usize, b0: i32, causal: i32, scale: f32, dropP: f32, seed: u32, threshold: u32,
  s: usize, ds: usize, scratch: usize): void {
  const rsQ = load<i32>(strides), csQ = load<i32>(strides, 4), rsK = load<i32>(strides, 8), csK = load<i32>(strides, 12);
  const rsV = load<i32>(strides, 16), csV = load<i32>(strides, 20), rsG = load<i32>(strides, 24), csG = load<i32>(strides, 28);
  const keepScale: f32 = 1 / (1 - dropP);
  for (let b = 0; b < nb; b++) {
    const entry = entries + (<usize>b << 4);
    const q = <usize>load<u32>(entry), k = <usize>load<u32>(entry, 4), v = <usize>load<u32>(entry, 8), g = <usize>load<u32>(entry, 12);
    const ob = out + ((<usize>b * lq * ev) << 2);
    const lb = lse + ((<usize>b * lq) << 2);
    const dqb = dq + ((<usize>b * lq * e) << 2);
    const dkb = dk + ((<usize>b * lk * e) << 2);
    const dvb = dv + ((<usize>b * lk * ev) << 2);
    const bIndex = <u32>(b0 + b);
    for (let i0 = 0; i0 < lq; i0 += QB) {
      const qb = min(QB, lq - i0);
      const nk = causal ? min(lk, i0 + qb) : lk;
      const qBlk = q + ((<usize>i0 * rsQ) << 2);
      const gBlk = g + ((<usize>i0 * rsG) << 2);
      sgemm(qb, nk, e, qBlk, rsQ, csQ, k, csK, rsK, s, nk, 0, 0, scratch);
      sgemm(qb, nk, ev, gBlk, rsG, csG, v, csV, rsV, ds, nk, 0, 0, scratch);
      for (let r = 0; r < qb; r++) {
        const i = i0 + r;
        const row = s + ((<usize>r * nk) << 2);
        const drow = ds + ((<usize>r * nk) << 2);
        const lim = visible(causal, i, nk);
        // D_i = sum_d g[i, d] out[i, d] (= sum_j P_ij keep_ij dP_ij)
        let di: f32 = 0;
        const gi = gBlk + ((<usize>r * rsG) << 2);
        const oi = ob + ((<usize>i * ev) << 2);
        for (let d = 0; d < ev; d++) di += load<f32>(gi + ((<usize>d * csG) << 2)) * load<f32>(at(oi, d));
        const l = load<f32>(at(lb, i));
        const vs = f32x4.splat(scale), vl = f32x4.splat(l), vd = f32x4.splat(di);
        let j = 0;
        if (dropP == 0) {
          for (; j + 4 <= lim; j += 4) {
            const p = expV(f32x4.sub(f32x4.mul(v128.load(at(row, j)), vs), vl));
            v128.store(at(row, j), p);
            v128.store(at(drow, j), f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(at(drow, j)), vd)), vs));
          }
        }
        for (; j < lim; j++) {
          const p = expS(load<f32>(at(row, j)) * scale - l);
          let f: f32 = 1;
          if (dropP > 0) f = (pcg4dX(seed, bIndex, <u32>i, <u32>j) >> 8) >= threshold ? keepScale : 0;
          store<f32>(at(row, j), p * f);
          store<f32>(at(drow, j), p * (load<f32>(at(drow, j)) * f - di) * scale);
        }
        for (j = lim; j < nk; j++) {
          store<f32>(at(row, j), 0);
          store<f32>(at(drow, j), 0);
        }
      }
      // dv[0:nk] += (P keep)^T g_blk; dq_blk = dS k[0:nk]; dk[0:nk] += dS^T q_blk
      sgemm(nk, ev, qb, s, 1, nk, gBlk, rsG, csG, dvb, ev, 0, 1, scratch);
      sgemm(qb, e, nk, ds, nk, 1, k, rsK, csK, dqb + ((<usize>i0 * e) << 2), e, 0, 0, scratch);
      sgemm(nk, e, qb, ds, 1, nk, qBlk, rsQ, csQ, dkb, e, 0, 1, scratch);
    }
  }
}
