// im2col and its adjoint col2im: the data movement that turns conv2d (and pooling) into matmul.
//
// Layout: x [N, C, H, W] -> cols [N, C*kh*kw, OH*OW]; row c*kh*kw + i*kw + j holds, for every output
// position (oh, ow), the input tap (oh*sh - ph + i*dh, ow*sw - pw + j*dw). A conv weight reshaped to
// [O, C*kh*kw] multiplies it directly. Taps outside the image read `padValue` (0 for conv, -inf for
// max pooling). col2im sums every tap back to the pixel it came from and drops out-of-image taps, so
// it is exactly the transpose of im2col, which is what conv's input gradient needs.

import type { View, Window2d } from '../backend.js';
import type { TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { ShapeError, fmtShape } from '../../errors.js';
import { dataOf, storeAs } from './strided.js';

/** For kernel tap j: the range [lo, hi) of output positions whose input coordinate is inside [0, size). */
function validRange(j: number, stride: number, pad: number, dil: number, size: number, outSize: number): [number, number] {
  // Input coordinate is o*stride + off with off = j*dil - pad; need 0 <= o*stride + off < size.
  const off = j * dil - pad;
  const lo = Math.max(0, Math.ceil(-off / stride));
  const hi = Math.min(outSize, Math.max(0, Math.ceil((size - off) / stride)));
  return [lo, Math.max(lo, hi)];
}

export function im2col(x: View, w: Window2d, outH: number, outW: number, padValue: number, batchInColumns = false): TypedArray {
  if (x.shape.length !== 4) throw new ShapeError('im2col', `expected [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [sN, sC, sH, sW] = x.strides as [number, number, number, number];
  const [kh, kw] = w.kernel;
  const [strH, strW] = w.stride;
  const [ph, pw] = w.padding;
  const [dh, dw] = w.dilation;
  const P = outH * outW;
  const rows = C * kh * kw;
  const out = typedArrayFor(x.dtype, N * rows * P);
  if (out.length === 0) return out;
  // Untouched (out-of-image) entries must hold padValue; fill once, then overwrite the valid taps.
  if (padValue !== 0) out.fill(padValue);
  const xd = dataOf(x);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const xBase = x.offset + n * sN + c * sC;
      for (let i = 0; i < kh; i++) {
        const [ohLo, ohHi] = validRange(i, strH, ph, dh, H, outH);
        for (let j = 0; j < kw; j++) {
          const [owLo, owHi] = validRange(j, strW, pw, dw, W, outW);
          const r = (c * kh + i) * kw + j;
          const rowBase = batchInColumns ? (r * N + n) * P : (n * rows + r) * P;
          for (let oh = ohLo; oh < ohHi; oh++) {
            const ih = oh * strH - ph + i * dh;
            const xRow = xBase + ih * sH + (j * dw - pw) * sW;
            const o = rowBase + oh * outW;
            for (let ow = owLo; ow < owHi; ow++) out[o + ow] = xd[xRow + ow * strW * sW]!;
          }
        }
      }
    }
  }
  return out;
}

export function col2im(cols: View, w: Window2d, channels: number, h: number, width: number, outH: number, outW: number): TypedArray {
  const [kh, kw] = w.kernel;
  const rows = channels * kh * kw;
  const P = outH * outW;
  if (cols.shape.length !== 3 || cols.shape[1] !== rows || cols.shape[2] !== P) {
    throw new ShapeError('col2im', `expected [N, ${rows}, ${P}], got ${fmtShape(cols.shape)}`);
  }
  const N = cols.shape[0]!;
  const [sN, sR, sP] = cols.strides as [number, number, number];
  const [strH, strW] = w.stride;
  const [ph, pw] = w.padding;
  const [dh, dw] = w.dilation;
  // Overlapping windows add several taps into one pixel; float64 keeps that sum order-insensitive.
  const acc = new Float64Array(N * channels * h * width);
  if (acc.length === 0 || P === 0) return storeAs(cols.dtype, acc);
  const cd = dataOf(cols);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < channels; c++) {
      const aBase = (n * channels + c) * h * width;
      for (let i = 0; i < kh; i++) {
        const [ohLo, ohHi] = validRange(i, strH, ph, dh, h, outH);
        for (let j = 0; j < kw; j++) {
          const [owLo, owHi] = validRange(j, strW, pw, dw, width, outW);
          const cBase = cols.offset + n * sN + ((c * kh + i) * kw + j) * sR;
          for (let oh = ohLo; oh < ohHi; oh++) {
            const ih = oh * strH - ph + i * dh;
            const aRow = aBase + ih * width + j * dw - pw;
            const cRow = cBase + oh * outW * sP;
            for (let ow = owLo; ow < owHi; ow++) acc[aRow + ow * strW]! += cd[cRow + ow * sP]!;
          }
        }
      }
    }
  }
  return storeAs(cols.dtype, acc);
}
