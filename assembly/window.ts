// Sliding-window kernels on float32 NCHW tensors: im2col / col2im (conv2d and its input gradient) and
// direct max / average pooling with their gradients.
//
// Every kernel works on a range [q0, q1) of image planes (plane q = n*C + c) and writes only the output
// of those planes, so the caller can split planes across threads with no two threads ever writing one
// element (col2im and the pooling gradients sum overlapping windows into their plane). Inputs are read
// through element strides (sN, sC, sH, sW); outputs are contiguous. Pointers are byte addresses.

// The divisions below are slow next to a pooling window's few loads, so the pooling kernels call
// them only for windows that cross the border.

// First output position o whose input coordinate o*stride + off is >= 0.
@inline
function lowOut(off: i32, stride: i32): i32 {
  return off >= 0 ? 0 : (-off + stride - 1) / stride;
}

// One past the last output position o (capped at outSize) whose coordinate o*stride + off is < size.
@inline
function highOut(off: i32, stride: i32, size: i32, outSize: i32): i32 {
  const room = size - off;
  return room <= 0 ? 0 : min(outSize, (room + stride - 1) / stride);
}

@inline
function fillF32(dst: usize, n: i32, v: f32): void {
  const vv = f32x4.splat(v);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(dst + (<usize>j << 2), vv);
  for (; j < n; j++) store<f32>(dst + (<usize>j << 2), v);
}

/**
 * x [N, C, H, W] -> columns for planes [q0, q1); taps outside the image read `pad`. Row
 * r = (c*kh + i)*kw + j of image n holds tap (i, j) of every output position, as the GEMM wants it,
 * at out + 4*(r*rowStride + n*imageStride): [N, rows, P] has (P, rows*P), [rows, N*P] has (N*P, P).
 */
export function im2colF32(x: usize, sN: i32, sC: i32, sH: i32, sW: i32, C: i32, H: i32, W: i32, q0: i32, q1: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, outH: i32, outW: i32, pad: f32,
  rowStride: i32, imageStride: i32, out: usize): void {
  const P = outH * outW;
  for (let q = q0; q < q1; q++) {
    const n = q / C;
    const c = q - n * C;
    const xPlane = n * sN + c * sC;
    let row = out + (<usize>(c * kh * kw * rowStride + n * imageStride) << 2);
    for (let i = 0; i < kh; i++) {
      const offH = i * dh - ph;
      const ohLo = min(lowOut(offH, sh), outH);
      const ohHi = max(ohLo, highOut(offH, sh, H, outH));
      for (let j = 0; j < kw; j++) {
        const offW = j * dw - pw;
        const owLo = min(lowOut(offW, sw), outW);
        const owHi = max(owLo, highOut(offW, sw, W, outW));
        const len = owHi - owLo;
        fillF32(row, ohLo * outW, pad);
        for (let oh = ohLo; oh < ohHi; oh++) {
          const dst = row + (<usize>(oh * outW) << 2);
          fillF32(dst, owLo, pad);
          const src = x + (<usize>(xPlane + (oh * sh + offH) * sH + (owLo * sw + offW) * sW) << 2);
          const d = dst + (<usize>owLo << 2);
          const step = sw * sW;
          if (step == 1) {
            let k = 0;
            for (; k + 4 <= len; k += 4) v128.store(d + (<usize>k << 2), v128.load(src + (<usize>k << 2)));
            if (k < len && len >= 4) {
              // the row's last four, overlapping what is already copied (a copy, so rewriting is harmless):
              // one vector instead of up to three scalars on rows as short as a conv's (11, 13, 26)
              const t = <usize>(len - 4) << 2;
              v128.store(d + t, v128.load(src + t));
            } else {
              for (; k < len; k++) store<f32>(d + (<usize>k << 2), load<f32>(src + (<usize>k << 2)));
            }
          } else {
            for (let k = 0; k < len; k++) store<f32>(d + (<usize>k << 2), load<f32>(src + (<usize>(k * step) << 2)));
          }
          fillF32(d + (<usize>len << 2), outW - owHi, pad);
        }
        fillF32(row + (<usize>(ohHi * outW) << 2), (outH - ohHi) * outW, pad);
        row += <usize>rowStride << 2;
      }
    }
  }
}

/**
 * The adjoint of im2col: cols [N, C*kh*kw, outH*outW] (strides sN, sR, sP) summed into out [N, C, H, W]
 * for planes [q0, q1). The planes are zeroed here, so `out` need not be.
 */
export function col2imF32(cols: usize, sN: i32, sR: i32, sP: i32, C: i32, H: i32, W: i32, q0: i32, q1: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, outH: i32, outW: i32, out: usize): void {
  for (let q = q0; q < q1; q++) {
    const n = q / C;
    const c = q - n * C;
    const plane = out + (<usize>(q * H * W) << 2);
    fillF32(plane, H * W, 0);
    for (let i = 0; i < kh; i++) {
      const offH = i * dh - ph;
      const ohLo = min(lowOut(offH, sh), outH);
      const ohHi = max(ohLo, highOut(offH, sh, H, outH));
      for (let j = 0; j < kw; j++) {
        const offW = j * dw - pw;
        const owLo = min(lowOut(offW, sw), outW);
        const owHi = max(owLo, highOut(offW, sw, W, outW));
        const len = owHi - owLo;
        const rowBase = n * sN + ((c * kh + i) * kw + j) * sR;
        for (let oh = ohLo; oh < ohHi; oh++) {
          const src = cols + (<usize>(rowBase + (oh * outW + owLo) * sP) << 2);
          const dst = plane + (<usize>((oh * sh + offH) * W + owLo * sw + offW) << 2);
          if (sw == 1 && sP == 1) {
            let k = 0;
            for (; k + 4 <= len; k += 4) {
              const p = <usize>k << 2;
              v128.store(dst + p, f32x4.add(v128.load(dst + p), v128.load(src + p)));
            }
            for (; k < len; k++) {
              const p = <usize>k << 2;
              store<f32>(dst + p, load<f32>(dst + p) + load<f32>(src + p));
            }
          } else {
            for (let k = 0; k < len; k++) {
              const pd = dst + (<usize>(k * sw) << 2);
              store<f32>(pd, load<f32>(pd) + load<f32>(src + (<usize>(k * sP) << 2)));
            }
          }
        }
      }
    }
  }
}

/** Column offsets of four adjacent 2x2 / stride-2 windows (static, not a v128.const: see vmath.ts). */
const POOL2_LANES = memory.data<i32>([0, 2, 4, 6], 16);

// Four adjacent max-pool windows (column starts w0, w0+sw, w0+2sw, w0+3sw, all inside the row, unit
// column steps, sw 1 or 2) as one f32x4 per tap, in the scalar path's tap order and tie rule.
@inline
function maxPool4(xPlane: usize, sH: i32, W: i32, h0: i32, iLo: i32, iHi: i32, dh: i32, w0: i32, kw: i32, sw: i32,
  o: usize, a: usize): void {
  let best = f32x4.splat(-Infinity);
  let bi = i32x4.splat(-1);
  const lanes = sw == 1 ? i32x4(0, 1, 2, 3) : i32x4(0, 2, 4, 6);
  for (let i = iLo; i < iHi; i++) {
    const hh = h0 + i * dh;
    const rowP = xPlane + (<usize>(hh * sH + w0) << 2);
    for (let j = 0; j < kw; j++) {
      const p = rowP + (<usize>j << 2);
      let v: v128;
      if (sw == 1) {
        v = v128.load(p);
      } else {
        // x[j], x[j+2], x[j+4], x[j+6] from two loads that stay within the window's last column
        v = i8x16.shuffle(v128.load(p), v128.load(p, 12), 0, 1, 2, 3, 8, 9, 10, 11, 20, 21, 22, 23, 28, 29, 30, 31);
      }
      const take = v128.or(v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best))), i32x4.lt_s(bi, i32x4.splat(0)));
      best = v128.bitselect(v, best, take);
      bi = v128.bitselect(i32x4.add(i32x4.splat(hh * W + w0 + j), lanes), bi, take);
    }
  }
  v128.store(o, best);
  v128.store(a, bi);
}

/**
 * Max pooling for planes [q0, q1): out [N, C, outH, outW] and argmax (int32, h*W + w within the plane).
 * The first maximum in window order wins, and the first NaN beats everything (as mox's argmax); a
 * window whose valid taps are all -inf points at its first valid tap, as PyTorch does, and a window
 * with no tap inside the image (possible with dilation) gives -inf and argmax -1.
 */
export function maxPool2dF32(x: usize, sN: i32, sC: i32, sH: i32, sW: i32, C: i32, H: i32, W: i32, q0: i32, q1: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, outH: i32, outW: i32, out: usize, argmax: usize): void {
  const L = outH * outW;
  // Outputs [owA, owB) have windows wholly inside the row; with unit column steps they run 4 at a time.
  const vec = sW == 1 && dw == 1 && (sw == 1 || sw == 2);
  const owA = lowOut(-pw, sw);
  const owB = highOut((kw - 1) * dw - pw, sw, W, outW);
  // PyTorch's MaxPool2d(2) (2x2 windows, stride 2, no padding or dilation) on rows of unit stride: four
  // outputs from four loads, with no loop over taps (the general path keeps its loop state and the
  // arguments it reloads from the stack per tap, ~3x slower).
  const pool2 = kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && ph == 0 && pw == 0 && sW == 1;
  for (let q = q0; q < q1; q++) {
    const n = q / C;
    const c = q - n * C;
    const xPlane = x + (<usize>(n * sN + c * sC) << 2);
    let o = out + (<usize>(q * L) << 2);
    let a = argmax + (<usize>(q * L) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - ph;
      let iLo = 0, iHi = kh;
      if (h0 < 0 || h0 + (kh - 1) * dh >= H) { iLo = lowOut(h0, dh); iHi = min(kh, highOut(h0, dh, H, kh)); }
      let owStart = 0;
      if (pool2 && h0 + 1 < H) {
        const row0 = xPlane + (<usize>(h0 * sH) << 2);
        const row1 = row0 + (<usize>sH << 2);
        for (; owStart + 4 <= outW && 2 * owStart + 8 <= W; owStart += 4) {
          const p0 = row0 + (<usize>(2 * owStart) << 2);
          const p1 = row1 + (<usize>(2 * owStart) << 2);
          const r0a = v128.load(p0), r0b = v128.load(p0, 16);
          const r1a = v128.load(p1), r1b = v128.load(p1, 16);
          // taps in window order (0,0), (0,1), (1,0), (1,1); the first is taken whatever it holds
          let best = i32x4.shuffle(r0a, r0b, 0, 2, 4, 6);
          const i00 = i32x4.add(i32x4.splat(h0 * W + 2 * owStart), v128.load(POOL2_LANES));
          let bi = i00;
          let v = i32x4.shuffle(r0a, r0b, 1, 3, 5, 7);
          let take = v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
          best = v128.bitselect(v, best, take);
          bi = v128.bitselect(i32x4.add(i00, i32x4.splat(1)), bi, take);
          v = i32x4.shuffle(r1a, r1b, 0, 2, 4, 6);
          take = v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
          best = v128.bitselect(v, best, take);
          bi = v128.bitselect(i32x4.add(i00, i32x4.splat(W)), bi, take);
          v = i32x4.shuffle(r1a, r1b, 1, 3, 5, 7);
          take = v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
          best = v128.bitselect(v, best, take);
          bi = v128.bitselect(i32x4.add(i00, i32x4.splat(W + 1)), bi, take);
          v128.store(o, best);
          v128.store(a, bi);
          o += 16;
          a += 16;
        }
      }
      for (let ow = owStart; ow < outW; ow++) {
        if (vec && ow >= owA && ow + 4 <= owB) {
          maxPool4(xPlane, sH, W, h0, iLo, iHi, dh, ow * sw - pw, kw, sw, o, a);
          ow += 3;
          o += 16;
          a += 16;
          continue;
        }
        const w0 = ow * sw - pw;
        let jLo = 0, jHi = kw;
        if (w0 < 0 || w0 + (kw - 1) * dw >= W) { jLo = lowOut(w0, dw); jHi = min(kw, highOut(w0, dw, W, kw)); }
        let best = -Infinity as f32;
        let bi = -1;
        for (let i = iLo; i < iHi; i++) {
          const hh = h0 + i * dh;
          const rowP = xPlane + (<usize>(hh * sH) << 2);
          for (let j = jLo; j < jHi; j++) {
            const ww = w0 + j * dw;
            const v = load<f32>(rowP + (<usize>(ww * sW) << 2));
            // branch-free: on random data the winner changes unpredictably and mispredicts dominate
            const take = <i32>(v > best) | (<i32>(v != v) & <i32>(best == best)) | <i32>(bi < 0);
            best = select<f32>(v, best, take);
            bi = select<i32>(hh * W + ww, bi, take);
          }
        }
        store<f32>(o, best);
        store<i32>(a, bi);
        o += 4;
        a += 4;
      }
    }
  }
}

/**
 * zeros [N, C, H, W], then each gradient g[q, o] added at argmax[q, o] within plane q, for planes
 * [q0, q1). g and argmax are read through strides (shape [N, C, outH, outW]); an index outside the
 * plane is skipped rather than written, so a bad index can never touch another tensor's memory.
 */
export function maxPool2dBackwardF32(g: usize, gN: i32, gC: i32, gH: i32, gW: i32, idx: usize, iN: i32, iC: i32, iH: i32, iW: i32,
  C: i32, H: i32, W: i32, q0: i32, q1: i32, outH: i32, outW: i32, out: usize): void {
  const HW = H * W;
  for (let q = q0; q < q1; q++) {
    const n = q / C;
    const c = q - n * C;
    const plane = out + (<usize>(q * HW) << 2);
    fillF32(plane, HW, 0);
    if (gW == 1 && iW == 1 && gH == outW && iH == outW) {
      // contiguous planes of g and argmax (the usual case): one run of outH * outW, no stride products
      const gP = g + (<usize>(n * gN + c * gC) << 2);
      const iP = idx + (<usize>(n * iN + c * iC) << 2);
      const L = outH * outW;
      for (let o = 0; o < L; o++) {
        const k = load<i32>(iP + (<usize>o << 2));
        if (<u32>k < <u32>HW) {
          const p = plane + (<usize>k << 2);
          store<f32>(p, load<f32>(p) + load<f32>(gP + (<usize>o << 2)));
        }
      }
      continue;
    }
    for (let oh = 0; oh < outH; oh++) {
      const gRow = g + (<usize>(n * gN + c * gC + oh * gH) << 2);
      const iRow = idx + (<usize>(n * iN + c * iC + oh * iH) << 2);
      for (let ow = 0; ow < outW; ow++) {
        const k = load<i32>(iRow + (<usize>(ow * iW) << 2));
        if (<u32>k < <u32>HW) {
          const p = plane + (<usize>k << 2);
          store<f32>(p, load<f32>(p) + load<f32>(gRow + (<usize>(ow * gW) << 2)));
        }
      }
    }
  }
}

// PyTorch's average-pooling divisor for the window starting at (h0, w0) (flags & 1: count padding).
@inline
function avgDivisor(h0: i32, w0: i32, kh: i32, kw: i32, H: i32, W: i32, ph: i32, pw: i32, flags: i32, divisor: f32): f32 {
  if (divisor != 0) return divisor;
  let he = min(h0 + kh, H + ph);
  let we = min(w0 + kw, W + pw);
  let hs = h0;
  let ws = w0;
  if (!(flags & 1)) {
    hs = max(hs, 0);
    ws = max(ws, 0);
    he = min(he, H);
    we = min(we, W);
  }
  return <f32>((he - hs) * (we - ws));
}

/** Average pooling for planes [q0, q1); flags & 1 counts padding in the divisor; a non-zero `divisor` overrides it. */
export function avgPool2dF32(x: usize, sN: i32, sC: i32, sH: i32, sW: i32, C: i32, H: i32, W: i32, q0: i32, q1: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, outH: i32, outW: i32, flags: i32, divisor: f32, out: usize): void {
  const L = outH * outW;
  for (let q = q0; q < q1; q++) {
    const n = q / C;
    const c = q - n * C;
    const xPlane = x + (<usize>(n * sN + c * sC) << 2);
    let o = out + (<usize>(q * L) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - ph;
      let iLo = 0, iHi = kh;
      if (h0 < 0 || h0 + (kh - 1) * dh >= H) { iLo = lowOut(h0, dh); iHi = min(kh, highOut(h0, dh, H, kh)); }
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * sw - pw;
        let jLo = 0, jHi = kw;
        if (w0 < 0 || w0 + (kw - 1) * dw >= W) { jLo = lowOut(w0, dw); jHi = min(kw, highOut(w0, dw, W, kw)); }
        let s: f32 = 0;
        for (let i = iLo; i < iHi; i++) {
          const rowP = xPlane + (<usize>((h0 + i * dh) * sH) << 2);
          for (let j = jLo; j < jHi; j++) s += load<f32>(rowP + (<usize>((w0 + j * dw) * sW) << 2));
        }
        store<f32>(o, s / avgDivisor(h0, w0, kh, kw, H, W, ph, pw, flags, divisor));
        o += 4;
      }
    }
  }
}

/** The adjoint of avgPool2dF32: g [N, C, outH, outW] (strided) spread over zeros [N, C, H, W], planes [q0, q1). */
export function avgPool2dBackwardF32(g: usize, gN: i32, gC: i32, gH: i32, gW: i32, C: i32, H: i32, W: i32, q0: i32, q1: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, outH: i32, outW: i32, flags: i32, divisor: f32, out: usize): void {
  for (let q = q0; q < q1; q++) {
    const n = q / C;
    const c = q - n * C;
    const plane = out + (<usize>(q * H * W) << 2);
    fillF32(plane, H * W, 0);
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - ph;
      let iLo = 0, iHi = kh;
      if (h0 < 0 || h0 + (kh - 1) * dh >= H) { iLo = lowOut(h0, dh); iHi = min(kh, highOut(h0, dh, H, kh)); }
      const gRow = g + (<usize>(n * gN + c * gC + oh * gH) << 2);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * sw - pw;
        let jLo = 0, jHi = kw;
        if (w0 < 0 || w0 + (kw - 1) * dw >= W) { jLo = lowOut(w0, dw); jHi = min(kw, highOut(w0, dw, W, kw)); }
        const v = load<f32>(gRow + (<usize>(ow * gW) << 2)) / avgDivisor(h0, w0, kh, kw, H, W, ph, pw, flags, divisor);
        for (let i = iLo; i < iHi; i++) {
          const rowP = plane + (<usize>((h0 + i * dh) * W) << 2);
          for (let j = jLo; j < jHi; j++) {
            const p = rowP + (<usize>(w0 + j * dw) << 2);
            store<f32>(p, load<f32>(p) + v);
          }
        }
      }
    }
  }
}
