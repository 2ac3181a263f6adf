// Direct 2-D max and average pooling and their gradients, over strided [N, C, H, W] views.
//
// Pooling on im2col would materialise kh*kw copies of the input; a direct window walk reads each input
// once and keeps, for max pooling, only the winning position (the flat index h*W + w within the plane)
// so the backward pass is one scatter-add. The window at output (oh, ow) starts at
// (oh*sh - ph, ow*sw - pw) and its taps step by the dilation; taps outside the image are skipped.

import type { AvgPoolDivisor, View, Window2d } from '../backend.js';
import type { TypedArray } from '../../base/dtype.js';
import { typedArrayFor } from '../../base/dtype.js';
import { ShapeError, fmtShape } from '../../errors.js';
import { dataOf, storeAs } from './strided.js';
import { check4d } from '../../base/shape.js';

/** Taps [lo, hi) of a window starting at `start` (step `dil`, k taps) that fall inside [0, size). */
export function tapRange(start: number, k: number, dil: number, size: number): [number, number] {
  const lo = start >= 0 ? 0 : Math.ceil(-start / dil);
  const hi = size - start <= 0 ? 0 : Math.min(k, Math.ceil((size - start) / dil));
  return [lo, Math.max(lo, hi)];
}

/** PyTorch's avg_pool2d divisor for the window starting at (h0, w0); dilation plays no part in it. */
export function avgDivisor(h0: number, w0: number, w: Window2d, h: number, width: number, div: AvgPoolDivisor): number {
  if (div.divisorOverride) return div.divisorOverride;
  const [kh, kw] = w.kernel;
  const [ph, pw] = w.padding;
  let hs = h0,
    ws = w0;
  let he = Math.min(h0 + kh, h + ph);
  let we = Math.min(w0 + kw, width + pw);
  if (!div.countIncludePad) {
    hs = Math.max(hs, 0);
    ws = Math.max(ws, 0);
    he = Math.min(he, h);
    we = Math.min(we, width);
  }
  return (he - hs) * (we - ws);
}

export function maxPool2d(x: View, w: Window2d, outH: number, outW: number): { out: TypedArray; argmax: Int32Array } {
  const [N, C, H, W] = check4d('maxPool2d', x.shape);
  const [sN, sC, sH, sW] = x.strides as [number, number, number, number];
  const [kh, kw] = w.kernel;
  const [strH, strW] = w.stride;
  const [ph, pw] = w.padding;
  const [dh, dw] = w.dilation;
  const out = typedArrayFor(x.dtype, N * C * outH * outW);
  const argmax = new Int32Array(out.length);
  const xd = dataOf(x);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = x.offset + n * sN + c * sC;
      for (let oh = 0; oh < outH; oh++) {
        const h0 = oh * strH - ph;
        const [iLo, iHi] = tapRange(h0, kh, dh, H);
        for (let ow = 0; ow < outW; ow++, o++) {
          const w0 = ow * strW - pw;
          const [jLo, jHi] = tapRange(w0, kw, dw, W);
          let best = -Infinity;
          let bi = -1;
          for (let i = iLo; i < iHi; i++) {
            const hh = h0 + i * dh;
            for (let j = jLo; j < jHi; j++) {
              const ww = w0 + j * dw;
              const v = xd[base + hh * sH + ww * sW]!;
              // the first valid tap is taken even at -inf; the first NaN wins and nothing displaces it
              if (v > best || (v !== v && best === best) || bi < 0) {
                best = v;
                bi = hh * W + ww;
              }
            }
          }
          out[o] = best;
          argmax[o] = bi;
        }
      }
    }
  }
  return { out, argmax };
}

export function maxPool2dBackward(g: View, argmax: View, inShape: readonly number[]): TypedArray {
  const [N, C, H, W] = check4d('maxPool2dBackward', inShape);
  check4d('maxPool2dBackward', g.shape);
  const [, , outH, outW] = g.shape as [number, number, number, number];
  if (g.shape[0] !== N || g.shape[1] !== C || argmax.shape.some((d, i) => d !== g.shape[i])) {
    throw new ShapeError(
      'maxPool2dBackward',
      `gradient ${fmtShape(g.shape)} and argmax ${fmtShape(argmax.shape)} do not fit input ${fmtShape(inShape)}`,
    );
  }
  const acc = new Float64Array(N * C * H * W);
  const gd = dataOf(g);
  const id = dataOf(argmax);
  const HW = H * W;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * HW;
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const k =
            id[argmax.offset + n * argmax.strides[0]! + c * argmax.strides[1]! + oh * argmax.strides[2]! + ow * argmax.strides[3]!]!;
          if (k === -1) continue; // a window with no tap inside the image
          if (k < 0 || k >= HW) throw new ShapeError('maxPool2dBackward', `argmax ${k} is outside a ${H}x${W} plane`);
          acc[plane + k]! += gd[g.offset + n * g.strides[0]! + c * g.strides[1]! + oh * g.strides[2]! + ow * g.strides[3]!]!;
        }
      }
    }
  }
  return storeAs(g.dtype, acc);
}

export function avgPool2d(x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): TypedArray {
  const [N, C, H, W] = check4d('avgPool2d', x.shape);
  const [sN, sC, sH, sW] = x.strides as [number, number, number, number];
  const [kh, kw] = w.kernel;
  const [strH, strW] = w.stride;
  const [ph, pw] = w.padding;
  const [dh, dw] = w.dilation;
  const acc = new Float64Array(N * C * outH * outW);
  const xd = dataOf(x);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = x.offset + n * sN + c * sC;
      for (let oh = 0; oh < outH; oh++) {
        const h0 = oh * strH - ph;
        const [iLo, iHi] = tapRange(h0, kh, dh, H);
        for (let ow = 0; ow < outW; ow++, o++) {
          const w0 = ow * strW - pw;
          const [jLo, jHi] = tapRange(w0, kw, dw, W);
          let s = 0;
          for (let i = iLo; i < iHi; i++) {
            for (let j = jLo; j < jHi; j++) s += xd[base + (h0 + i * dh) * sH + (w0 + j * dw) * sW]!;
          }
          acc[o] = s / avgDivisor(h0, w0, w, H, W, div);
        }
      }
    }
  }
  return storeAs(x.dtype, acc);
}

export function avgPool2dBackward(g: View, w: Window2d, inShape: readonly number[], div: AvgPoolDivisor): TypedArray {
  const [N, C, H, W] = check4d('avgPool2dBackward', inShape);
  const [gN, gC, outH, outW] = check4d('avgPool2dBackward', g.shape);
  if (gN !== N || gC !== C)
    throw new ShapeError('avgPool2dBackward', `gradient ${fmtShape(g.shape)} does not fit input ${fmtShape(inShape)}`);
  const [kh, kw] = w.kernel;
  const [strH, strW] = w.stride;
  const [ph, pw] = w.padding;
  const [dh, dw] = w.dilation;
  const acc = new Float64Array(N * C * H * W);
  const gd = dataOf(g);
  const [s0, s1, s2, s3] = g.strides as [number, number, number, number];
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let oh = 0; oh < outH; oh++) {
        const h0 = oh * strH - ph;
        const [iLo, iHi] = tapRange(h0, kh, dh, H);
        for (let ow = 0; ow < outW; ow++) {
          const w0 = ow * strW - pw;
          const [jLo, jHi] = tapRange(w0, kw, dw, W);
          const v = gd[g.offset + n * s0 + c * s1 + oh * s2 + ow * s3]! / avgDivisor(h0, w0, w, H, W, div);
          for (let i = iLo; i < iHi; i++) {
            for (let j = jLo; j < jHi; j++) acc[plane + (h0 + i * dh) * W + w0 + j * dw]! += v;
          }
        }
      }
    }
  }
  return storeAs(g.dtype, acc);
}
