// Fused row kernels: softmax / log-softmax, layer norm (forward and backward) and cross-entropy with
// logits (forward and backward), each over the last axis of a [rows, n] float32 matrix whose rows are
// contiguous and `rs` elements apart. The caller splits the rows across threads; every kernel only
// writes its own rows (layerNormParams: its own columns), so no two threads touch the same bytes and
// results do not depend on the split.
//
// Pointers are byte addresses in the shared memory; counts and strides are in elements.

import { fma } from './simd';
import { expS, expV, hmax, hsum } from './vmath';

@inline function at(p: usize, i: i32): usize { return p + (<usize>i << 2); }
@inline function row(p: usize, r: i32, rs: i32): usize { return p + ((<usize>r * <usize>rs) << 2); }

/**
 * Max of n floats at p, for shifting exponents: a NaN element may be skipped here (pmax is one
 * instruction, f32x4.max ~8 on x64), but it reaches the sum of exponentials, so a row with a NaN still
 * comes out all NaN, as in the reference.
 */
@inline
export function rowMax(p: usize, n: i32): f32 {
  let vm = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) vm = f32x4.pmax(v128.load(at(p, i)), vm);
  let m = hmax(vm);
  for (; i < n; i++) m = max(m, load<f32>(at(p, i)));
  return m;
}

/** sum of e^(x - m) over n floats at p; also stores each e^(x - m) at dst when dst != 0 (may be p). */
@inline
export function sumExp(p: usize, n: i32, m: f32, dst: usize): f32 {
  const vm = f32x4.splat(m);
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const e0 = expV(f32x4.sub(v128.load(at(p, i)), vm));
    const e1 = expV(f32x4.sub(v128.load(at(p, i), 16), vm));
    if (dst) { v128.store(at(dst, i), e0); v128.store(at(dst, i), e1, 16); }
    acc0 = f32x4.add(acc0, e0);
    acc1 = f32x4.add(acc1, e1);
  }
  for (; i + 4 <= n; i += 4) {
    const e = expV(f32x4.sub(v128.load(at(p, i)), vm));
    if (dst) v128.store(at(dst, i), e);
    acc0 = f32x4.add(acc0, e);
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) {
    const e = expS(load<f32>(at(p, i)) - m);
    if (dst) store<f32>(at(dst, i), e);
    s += e;
  }
  return s;
}

/**
 * Softmax (log = 0) or log-softmax (log = 1) of each of `rows` rows of length n: x rows `rs` apart,
 * out contiguous. Log-softmax is (x - max) - log(sum), never log(softmax), so tiny probabilities keep
 * their precision.
 */
export function softmaxRows(x: usize, rs: i32, out: usize, rows: i32, n: i32, log: i32): void {
  for (let r = 0; r < rows; r++) {
    const xp = row(x, r, rs);
    const op = row(out, r, n);
    const m = rowMax(xp, n);
    if (log) {
      const s = sumExp(xp, n, m, 0);
      const shift = m + <f32>Math.log(<f64>s);
      const vs = f32x4.splat(shift);
      let i = 0;
      for (; i + 4 <= n; i += 4) v128.store(at(op, i), f32x4.sub(v128.load(at(xp, i)), vs));
      for (; i < n; i++) store<f32>(at(op, i), load<f32>(at(xp, i)) - shift);
    } else {
      const s = sumExp(xp, n, m, op);
      const inv = <f32>(1.0 / <f64>s);
      const vi = f32x4.splat(inv);
      let i = 0;
      for (; i + 4 <= n; i += 4) v128.store(at(op, i), f32x4.mul(v128.load(at(op, i)), vi));
      for (; i < n; i++) store<f32>(at(op, i), load<f32>(at(op, i)) * inv);
    }
  }
}

// flags for the layer norm kernels: 1 = weight given, 2 = bias given

/**
 * y = (x - mean) * rstd * w + b per row of length n, with mean and rstd = 1/sqrt(var + eps) (biased
 * variance, two passes so a large mean does not cancel the variance away) written per row.
 */
export function layerNormRows(x: usize, rs: i32, w: usize, b: usize, y: usize, mean: usize, rstd: usize,
  rows: i32, n: i32, eps: f64, flags: i32): void {
  for (let r = 0; r < rows; r++) {
    const xp = row(x, r, rs);
    const yp = row(y, r, n);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      a0 = f32x4.add(a0, v128.load(at(xp, i)));
      a1 = f32x4.add(a1, v128.load(at(xp, i), 16));
    }
    for (; i + 4 <= n; i += 4) a0 = f32x4.add(a0, v128.load(at(xp, i)));
    let s = hsum(f32x4.add(a0, a1));
    for (; i < n; i++) s += load<f32>(at(xp, i));
    const mu = <f32>(<f64>s / <f64>n);
    const vmu = f32x4.splat(mu);
    a0 = f32x4.splat(0); a1 = f32x4.splat(0);
    i = 0;
    for (; i + 8 <= n; i += 8) {
      const d0 = f32x4.sub(v128.load(at(xp, i)), vmu);
      const d1 = f32x4.sub(v128.load(at(xp, i), 16), vmu);
      a0 = fma(d0, d0, a0);
      a1 = fma(d1, d1, a1);
    }
    for (; i + 4 <= n; i += 4) {
      const d = f32x4.sub(v128.load(at(xp, i)), vmu);
      a0 = fma(d, d, a0);
    }
    let ss = hsum(f32x4.add(a0, a1));
    for (; i < n; i++) { const d = load<f32>(at(xp, i)) - mu; ss += d * d; }
    const rsd = <f32>(1.0 / Math.sqrt(<f64>ss / <f64>n + eps));
    store<f32>(at(mean, r), mu);
    store<f32>(at(rstd, r), rsd);
    const vr = f32x4.splat(rsd);
    i = 0;
    for (; i + 4 <= n; i += 4) {
      let v = f32x4.mul(f32x4.sub(v128.load(at(xp, i)), vmu), vr);
      if (flags & 1) v = f32x4.mul(v, v128.load(at(w, i)));
      if (flags & 2) v = f32x4.add(v, v128.load(at(b, i)));
      v128.store(at(yp, i), v);
    }
    for (; i < n; i++) {
      let v = (load<f32>(at(xp, i)) - mu) * rsd;
      if (flags & 1) v *= load<f32>(at(w, i));
      if (flags & 2) v += load<f32>(at(b, i));
      store<f32>(at(yp, i), v);
    }
  }
}

/**
 * dx of layer norm per row: with gw = g * w and xhat = (x - mean) * rstd,
 * dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)). g rows `gs` apart, x rows `rs` apart, dx
 * contiguous. flags & 1: weight given.
 */
export function layerNormBackwardRows(g: usize, gs: i32, x: usize, rs: i32, mean: usize, rstd: usize, w: usize,
  dx: usize, rows: i32, n: i32, flags: i32): void {
  for (let r = 0; r < rows; r++) {
    const gp = row(g, r, gs);
    const xp = row(x, r, rs);
    const dp = row(dx, r, n);
    const mu = load<f32>(at(mean, r));
    const rsd = load<f32>(at(rstd, r));
    const vmu = f32x4.splat(mu);
    const vr = f32x4.splat(rsd);
    let sa = f32x4.splat(0), sc = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      let gw = v128.load(at(gp, i));
      if (flags & 1) gw = f32x4.mul(gw, v128.load(at(w, i)));
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xp, i)), vmu), vr);
      sa = f32x4.add(sa, gw);
      sc = fma(gw, xh, sc);
    }
    let a = hsum(sa), c = hsum(sc);
    for (; i < n; i++) {
      let gw = load<f32>(at(gp, i));
      if (flags & 1) gw *= load<f32>(at(w, i));
      const xh = (load<f32>(at(xp, i)) - mu) * rsd;
      a += gw;
      c += gw * xh;
    }
    const ma = <f32>(<f64>a / <f64>n);
    const mc = <f32>(<f64>c / <f64>n);
    const vma = f32x4.splat(ma), vmc = f32x4.splat(mc);
    i = 0;
    for (; i + 4 <= n; i += 4) {
      let gw = v128.load(at(gp, i));
      if (flags & 1) gw = f32x4.mul(gw, v128.load(at(w, i)));
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xp, i)), vmu), vr);
      const t = f32x4.sub(f32x4.sub(gw, vma), f32x4.mul(xh, vmc));
      v128.store(at(dp, i), f32x4.mul(t, vr));
    }
    for (; i < n; i++) {
      let gw = load<f32>(at(gp, i));
      if (flags & 1) gw *= load<f32>(at(w, i));
      const xh = (load<f32>(at(xp, i)) - mu) * rsd;
      store<f32>(at(dp, i), (gw - ma - xh * mc) * rsd);
    }
  }
}

/**
 * Layer norm's parameter gradients for columns [j0, j1): dw[j] = sum_r g[r,j] * xhat[r,j] (flags & 1)
 * and db[j] = sum_r g[r,j] (flags & 2), summed over all rows in row order. Threads split by columns,
 * so every column has one fixed summation order whatever the thread count.
 */
export function layerNormParams(g: usize, gs: i32, x: usize, rs: i32, mean: usize, rstd: usize, dw: usize, db: usize,
  rows: i32, j0: i32, j1: i32, flags: i32): void {
  for (let j = j0; j < j1; j++) {
    if (flags & 1) store<f32>(at(dw, j), 0);
    if (flags & 2) store<f32>(at(db, j), 0);
  }
  for (let r = 0; r < rows; r++) {
    const gp = row(g, r, gs);
    const xp = row(x, r, rs);
    const vmu = f32x4.splat(load<f32>(at(mean, r)));
    const vr = f32x4.splat(load<f32>(at(rstd, r)));
    let j = j0;
    for (; j + 4 <= j1; j += 4) {
      const gv = v128.load(at(gp, j));
      if (flags & 1) {
        const xh = f32x4.mul(f32x4.sub(v128.load(at(xp, j)), vmu), vr);
        v128.store(at(dw, j), fma(gv, xh, v128.load(at(dw, j))));
      }
      if (flags & 2) v128.store(at(db, j), f32x4.add(v128.load(at(db, j)), gv));
    }
    for (; j < j1; j++) {
      const gv = load<f32>(at(gp, j));
      if (flags & 1) {
        const xh = (load<f32>(at(xp, j)) - f32x4.extract_lane(vmu, 0)) * f32x4.extract_lane(vr, 0);
        store<f32>(at(dw, j), load<f32>(at(dw, j)) + gv * xh);
      }
      if (flags & 2) store<f32>(at(db, j), load<f32>(at(db, j)) + gv);
    }
  }
}

/**
 * Cross-entropy with logits per row: lse = log(sum(exp(x))) and
 * loss = (1 - eps) * (lse - x[t]) + eps * (lse - mean(x))   (label smoothing eps),
 * 0 for both where t == ignore. Targets are int32, contiguous. Targets are checked by the caller.
 */
export function crossEntropyRows(x: usize, rs: i32, tgt: usize, loss: usize, lse: usize, rows: i32, n: i32,
  ignore: i32, eps: f64): void {
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(at(tgt, r));
    if (t == ignore) {
      store<f32>(at(loss, r), 0);
      store<f32>(at(lse, r), 0);
      continue;
    }
    const xp = row(x, r, rs);
    const m = rowMax(xp, n);
    const l = <f64>m + Math.log(<f64>sumExp(xp, n, m, 0));
    let v = (1 - eps) * (l - <f64>load<f32>(at(xp, t)));
    if (eps != 0) {
      let a = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= n; i += 4) a = f32x4.add(a, v128.load(at(xp, i)));
      let s = <f64>hsum(a);
      for (; i < n; i++) s += <f64>load<f32>(at(xp, i));
      v += eps * (l - s / <f64>n);
    }
    store<f32>(at(loss, r), <f32>v);
    store<f32>(at(lse, r), <f32>l);
  }
}

/**
 * dlogits = gout[r] * (softmax(x) - (1 - eps) * onehot(t) - eps / n), with softmax = exp(x - lse),
 * zero rows where t == ignore. gout[r] is at gout + 4 * r * gstride (gstride 0 for one shared value).
 */
export function crossEntropyBackwardRows(x: usize, rs: i32, tgt: usize, lse: usize, gout: usize, gstride: i32,
  dx: usize, rows: i32, n: i32, ignore: i32, eps: f64): void {
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(at(tgt, r));
    const dp = row(dx, r, n);
    if (t == ignore) {
      memory.fill(dp, 0, <usize>n << 2);
      continue;
    }
    const xp = row(x, r, rs);
    const gr = load<f32>(row(gout, r, gstride));
    const l = load<f32>(at(lse, r));
    const off = <f32>(eps / <f64>n);
    const vl = f32x4.splat(l), vg = f32x4.splat(gr), vo = f32x4.splat(off);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const p = expV(f32x4.sub(v128.load(at(xp, i)), vl));
      v128.store(at(dp, i), f32x4.mul(f32x4.sub(p, vo), vg));
    }
    for (; i < n; i++) store<f32>(at(dp, i), (expS(load<f32>(at(xp, i)) - l) - off) * gr);
    const p = expS(load<f32>(at(xp, t)) - l);
    store<f32>(at(dp, t), (p - off - <f32>(1 - eps)) * gr);
  }
}
