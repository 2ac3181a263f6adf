// Quantized weights in WGSL (the layouts and the exact arithmetic are src/backend/quant-format.ts's): the
// product of float activations with a quantized weight (quantMatmul) and the dequantized lookup of its
// rows (quantRows). The packed weight stays packed: each kernel unpacks the bytes it reads with shifts
// (a signed byte is `bitcast<i32>(w << 24u) >> 24u`, a nibble `(w >> s) & 15u`); no float copy of the
// weight is ever made. WGSL's packed_4x8_integer_dot_product extension is not used (lavapipe may lack it).
//
// quantMatmul, x [M, K] times the transpose of a weight [N, K]:
// - int8 (weight-only): one pass; the bytes become floats inside the kernel, x stays float.
// - dynamic-int8: a first pass quantizes each row of x to 7 unsigned bits (one workgroup per row: the
//   min and max by a tree, then the scale and zero point, then the bytes, packed four to a word), then
//   the product is an integer dot product in i32 (exact) with quant-format's float epilogue.
// - int4 (Q4_0): a first pass quantizes x to int8 blocks of 32 (Q8_0: one thread per row and block,
//   with the block's scale and sum of q), then per group an exact i32 dot product with the nibbles and
//   one float product per group, as llama.cpp does.
// The product kernel gives each workgroup R weight rows (n) and TM rows of x (m): T = 256 / R threads
// share one weight row, striding over its words (int4: its groups) so that neighbouring threads read
// neighbouring words, each thread keeping TM partial sums; a tree in workgroup memory adds the threads'
// partials and the row's first thread writes the TM outputs. With M = 1 (decoding) the weight is read
// once, in full, by N / R workgroups; with M > 1 each weight word read serves TM rows of x.
//
// The quantization of activations must pick the same integers as the host reference, so its two float
// divisions (the scale, s = range / 127, and 1 / s) are done by div_rn below, correctly rounded: WGSL
// only promises 2.5 ulp for `/`, and one ulp off in s can move a value across a rounding boundary. The
// products and sums that follow are correctly rounded in WGSL, and round() ties to even, as required.

import type { View } from '../../backend.js';
import { DTypeError, DeviceError, ShapeError, ValueError, fmtShape } from '../../../errors.js';
import { INT4_GROUP, type QuantWeightViews } from '../../quant-format.js';
import { ENTRY_ARGS, Params, PRELUDE, linearIndex, split, type Engine } from '../engine.js';
import { bufOf, type GpuBuffer } from './common.js';
import { allocate } from './elementwise.js';

/** Threads per workgroup of the product kernels. */
const WG = 256;
/** Threads of the element-wise kernels (activation blocks, row lookup). */
const ITEM_WG = 64;

/**
 * Weight rows per workgroup of the product, per scheme (a power of two dividing 256; the row's 256 / R
 * threads stride over it). 16 rows of 16 threads: each row is read in runs of 64 contiguous bytes (int4:
 * 256), whole memory segments on a GPU, and the tree over a row's threads is 4 levels deep. On lavapipe
 * (decoding, M = 1, N 3072 or 50257, K 768) 16 rows ran 2-5x faster than 4 and within the noise of 32;
 * fewer threads per row would cut the runs a GPU reads below a segment. Mutable on purpose, like
 * matmulTuning, so another GPU can be tried without a rebuild.
 */
export const quantTuning: { rowsPerGroup: Record<QuantWeightViews['layout']['scheme'], number> } = {
  rowsPerGroup: { int8: 16, 'dynamic-int8': 16, int4: 16 },
};
const rowsPerGroup = (scheme: QuantWeightViews['layout']['scheme']): number => quantTuning.rowsPerGroup[scheme];
/** Rows of x per workgroup: 1 for decoding, else 4 or 8 sharing each weight word read. */
const rowsOfX = (M: number): number => (M === 1 ? 1 : M <= 4 ? 4 : 8);

/**
 * WGSL: a / b correctly rounded (to nearest) for finite non-zero b, by long division of
 * the 24-bit significands. Zeros, infinities, NaN and subnormal quotients go to the hardware's `/`.
 */
export const DIV_RN = /* wgsl */ `
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a) & 0x7fffffffu;
  let ub = bitcast<u32>(b) & 0x7fffffffu;
  if (ua == 0u || ua >= 0x7f800000u || ub == 0u || ub >= 0x7f800000u) { return a / b; }
  let sign = (bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u;
  var ea = i32(ua >> 23u);
  var ma = ua & 0x7fffffu;
  if (ea == 0) { let sh = countLeadingZeros(ma) - 8u; ma = ma << sh; ea = 1 - i32(sh); } else { ma = ma | 0x800000u; }
  var eb = i32(ub >> 23u);
  var mb = ub & 0x7fffffu;
  if (eb == 0) { let sh = countLeadingZeros(mb) - 8u; mb = mb << sh; eb = 1 - i32(sh); } else { mb = mb | 0x800000u; }
  var e = ea - eb;
  if (ma < mb) { ma = ma << 1u; e = e - 1; }
  // ma / mb in [1, 2): 24 quotient bits; r ends as twice the remainder
  var r = ma;
  var q = 0u;
  for (var i = 0u; i < 24u; i = i + 1u) {
    q = q << 1u;
    if (r >= mb) { r = r - mb; q = q | 1u; }
    r = r << 1u;
  }
  // round up past half (a quotient of two floats is never exactly halfway between two floats)
  if (r > mb) { q = q + 1u; }
  if (q == 0x1000000u) { q = 0x800000u; e = e + 1; }
  let be = e + 127;
  if (be >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
  if (be <= 0) { return a / b; }
  return bitcast<f32>(sign | (u32(be) << 23u) | (q & 0x7fffffu));
}
`;

/** WGSL: the four signed bytes of a word, and its four low or high nibbles, as vec4<i32>. */
const UNPACK = /* wgsl */ `
fn bytes_s(w: u32) -> vec4<i32> {
  return vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u, bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u);
}
fn bytes_u(w: u32) -> vec4<i32> {
  return vec4<i32>(i32(w & 255u), i32((w >> 8u) & 255u), i32((w >> 16u) & 255u), i32(w >> 24u));
}
fn nibbles(w: u32, s: u32) -> vec4<i32> {
  let v = w >> s;
  return vec4<i32>(i32(v & 15u), i32((v >> 8u) & 15u), i32((v >> 16u) & 15u), i32((v >> 24u) & 15u));
}
`;

function checkWeight(op: string, w: QuantWeightViews): void {
  const { rows, rowBytes, groups, scheme } = w.layout;
  if (w.data.dtype !== 'int32' || w.data.shape.length !== 2 || w.data.shape[0] !== rows || w.data.shape[1] !== rowBytes / 4)
    throw new ShapeError(
      op,
      `a ${scheme} weight of ${rows} rows needs int32 data [${rows}, ${rowBytes / 4}], got ${w.data.dtype} ${fmtShape(w.data.shape)}`,
    );
  if (w.scales.dtype !== 'float32' || w.scales.shape.length !== 2 || w.scales.shape[0] !== rows || w.scales.shape[1] !== groups)
    throw new ShapeError(
      op,
      `a ${scheme} weight of ${rows} rows needs float32 scales [${rows}, ${groups}], got ${w.scales.dtype} ${fmtShape(w.scales.shape)}`,
    );
  if (scheme === 'dynamic-int8') {
    const s = w.rowSums;
    if (!s) throw new ValueError(op, `a dynamic-int8 weight needs its rowSums [${rows}]`);
    if (s.dtype !== 'int32' || s.shape.length !== 1 || s.shape[0] !== rows)
      throw new ShapeError(op, `rowSums must be int32 [${rows}], got ${s.dtype} ${fmtShape(s.shape)}`);
  }
}

/** x [M, K] times the quantized weight's transpose, plus bias [N] or null: out [M, N] float32, contiguous. */
export function quantMatmul(engine: Engine, x: View, w: QuantWeightViews, bias: View | null): GpuBuffer {
  const op = 'quantizedLinear';
  checkWeight(op, w);
  const { rows: N, cols: K, rowBytes, groups: G, scheme } = w.layout;
  if (x.dtype !== 'float32') throw new DTypeError(op, `input must be float32, got ${x.dtype}`);
  if (x.shape.length !== 2 || x.shape[1] !== K)
    throw new ShapeError(op, `input must be [M, ${K}] (the weight's input features), got ${fmtShape(x.shape)}`);
  if (bias && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== N))
    throw new ShapeError(op, `bias must be float32 [${N}], got ${bias.dtype} ${fmtShape(bias.shape)}`);
  const M = x.shape[0]!;
  const out = allocate(engine, 'float32', M * N);
  if (M * N === 0) return out;

  const R = rowsPerGroup(scheme);
  if (!Number.isInteger(R) || R < 1 || R > WG || (R & (R - 1)) !== 0)
    throw new DeviceError(op, `quantTuning.rowsPerGroup.${scheme} must be a power of two from 1 to ${WG}, got ${R}`);
  const TM = rowsOfX(M);
  const rowBlocks = Math.ceil(N / R);
  const total = rowBlocks * Math.ceil(M / TM);
  const kWords = Math.ceil(K / 4);
  // words 0..14; a layer without bias binds its scales in the bias slot (read, never used)
  const p = new Params().u(N, M, K, rowBytes / 4, kWords, rowBlocks, total, w.data.offset, w.scales.offset, G);
  p.u(bias ? 1 : 0, bias?.offset ?? 0, bias?.strides[0] ?? 0, w.rowSums?.offset ?? 0);
  const biasBuf = bias ? bufOf(bias).buffer : bufOf(w.scales).buffer;
  const dataBuf = bufOf(w.data).buffer;
  const scaleBuf = bufOf(w.scales).buffer;

  if (scheme === 'int8') {
    p.u(x.offset, x.strides[0]!, x.strides[1]!);
    engine.dispatch(
      { key: `quantMatmul|int8|${TM}|${R}`, code: () => productKernel('int8', TM, R) },
      [bufOf(x).buffer, dataBuf, scaleBuf, biasBuf, out.buffer],
      p,
      split(total),
    );
    return out;
  }

  const temps: GpuBuffer[] = [];
  const temp = (dtype: 'int32' | 'float32', n: number): GpuBuffer => {
    const t = allocate(engine, dtype, Math.max(1, n));
    temps.push(t);
    return t;
  };
  try {
    if (scheme === 'dynamic-int8') {
      const wordsPerRow = rowBytes / 4;
      const qx = temp('int32', M * wordsPerRow);
      const qp = temp('int32', M * 2);
      const pq = new Params().u(M, K, wordsPerRow, x.offset, x.strides[0]!, x.strides[1]!);
      engine.dispatch({ key: 'quantRowsU7', code: quantizeRowsU7 }, [bufOf(x).buffer, qx.buffer, qp.buffer], pq, split(M));
      engine.dispatch(
        { key: `quantMatmul|dynamic-int8|${TM}|${R}`, code: () => productKernel('dynamic-int8', TM, R) },
        [qx.buffer, qp.buffer, dataBuf, scaleBuf, bufOf(w.rowSums!).buffer, biasBuf, out.buffer],
        p,
        split(total),
      );
      return out;
    }
    const qx = temp('int32', M * G * (INT4_GROUP / 4));
    const d = temp('float32', M * G);
    const sums = temp('int32', M * G);
    const pq = new Params().u(M * G, M, K, G, x.offset, x.strides[0]!, x.strides[1]!);
    engine.dispatch(
      { key: 'quantBlocksQ8', code: quantizeBlocksQ8 },
      [bufOf(x).buffer, qx.buffer, d.buffer, sums.buffer],
      pq,
      Math.ceil((M * G) / ITEM_WG),
    );
    engine.dispatch(
      { key: `quantMatmul|int4|${TM}|${R}`, code: () => productKernel('int4', TM, R) },
      [qx.buffer, d.buffer, sums.buffer, dataBuf, scaleBuf, biasBuf, out.buffer],
      p,
      split(total),
    );
    return out;
  } finally {
    // commands recorded later may reuse them (engine.ts's ordering rules)
    for (const t of temps) engine.release(t);
  }
}

/** dynamic-int8's first pass: one workgroup per row of x -> its bytes in [0, 127] packed in words (zero past K), scale and zero point. */
function quantizeRowsU7(): string {
  return `${PRELUDE}${DIV_RN}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> QX: array<u32>;
@group(0) @binding(3) var<storage, read_write> QP: array<u32>;
var<workgroup> red: array<vec2<f32>, ${WG}>;
var<workgroup> sz: vec2<f32>;
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= pu(0u)) { return; }
  let t = lid.x;
  let K = pu(1u); let words = pu(2u);
  let xb = pu(3u) + m * pu(4u); let xs = pu(5u);
  var lo = 0.0; var hi = 0.0;
  for (var k = t; k < K; k += ${WG}u) { let v = X[xb + k * xs]; lo = min(lo, v); hi = max(hi, v); }
  red[t] = vec2<f32>(lo, hi);
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (t < s) { red[t] = vec2<f32>(min(red[t].x, red[t + s].x), max(red[t].y, red[t + s].y)); }
    workgroupBarrier();
  }
  if (t == 0u) {
    var sc = div_rn(red[0].y - red[0].x, 127.0);
    // 1 where the range is 0 or not finite, as the reference
    if (!(sc > 0.0) || (bitcast<u32>(sc) & 0x7f800000u) == 0x7f800000u) { sc = 1.0; }
    let inv = div_rn(1.0, sc);
    let z = clamp(round(-red[0].x * inv), 0.0, 127.0);
    sz = vec2<f32>(inv, z);
    QP[2u * m] = bitcast<u32>(sc);
    QP[2u * m + 1u] = u32(z);
  }
  workgroupBarrier();
  let inv = sz.x; let z = i32(sz.y);
  for (var j = t; j < words; j += ${WG}u) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let k = 4u * j + b;
      if (k < K) { word = word | (u32(clamp(i32(round(X[xb + k * xs] * inv)) + z, 0, 127)) << (8u * b)); }
    }
    QX[m * words + j] = word;
  }
}`;
}

/** int4's first pass: one thread per row of x and block of 32 -> int8 bytes packed in words (zero past K), the block's scale and sum of q. */
function quantizeBlocksQ8(): string {
  return `${PRELUDE}${DIV_RN}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> QX: array<u32>;
@group(0) @binding(3) var<storage, read_write> D: array<f32>;
@group(0) @binding(4) var<storage, read_write> S: array<i32>;
@compute @workgroup_size(${ITEM_WG}) fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(ITEM_WG)};
  if (i >= pu(0u)) { return; }
  let K = pu(2u); let G = pu(3u);
  let m = i / G; let g = i % G;
  let xb = pu(4u) + m * pu(5u); let xs = pu(6u);
  let k0 = g * ${INT4_GROUP}u; let k1 = min(K, k0 + ${INT4_GROUP}u);
  var amax = 0.0;
  for (var k = k0; k < k1; k++) { amax = max(amax, abs(X[xb + k * xs])); }
  let dx = div_rn(amax, 127.0);
  let inv = select(0.0, div_rn(1.0, dx), dx != 0.0);
  var sum = 0;
  for (var j = 0u; j < ${INT4_GROUP / 4}u; j++) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let k = k0 + 4u * j + b;
      if (k < k1) {
        let v = i32(round(X[xb + k * xs] * inv));
        sum += v;
        word = word | ((bitcast<u32>(v) & 255u) << (8u * b));
      }
    }
    QX[i * ${INT4_GROUP / 4}u + j] = word;
  }
  D[i] = dx;
  S[i] = sum;
}`;
}

/**
 * The product kernel of a scheme for R weight rows and TM rows of x per workgroup. Parameters (see quantMatmul): 0 N, 1 M,
 * 2 K, 3 words per weight row, 4 words holding K bytes, 5 row blocks, 6 workgroups, 7 data offset,
 * 8 scales offset, 9 groups (int4), 10 has bias, 11 bias offset, 12 bias stride, 13 rowSums offset,
 * then (int8) 14 x offset, 15 x row stride, 16 x column stride.
 */
function productKernel(scheme: 'int8' | 'dynamic-int8' | 'int4', TM: number, R: number): string {
  const T = WG / R;
  const acc = scheme === 'int8' || scheme === 'int4' ? 'f32' : 'i32';
  let bindings: string;
  let loop: string;
  let result: string;
  if (scheme === 'int8') {
    bindings = `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> SC: array<f32>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<f32>;`;
    loop = `let xo = pu(14u); let xr = pu(15u); let xs = pu(16u);
    for (var j = t; j < pu(4u); j += ${T}u) {
      let q = vec4<f32>(bytes_s(W[wrow + j]));
      let k = 4u * j;
      for (var mm = 0u; mm < ${TM}u; mm++) {
        let m = m0 + mm;
        if (m < M) {
          let xb = xo + m * xr + k * xs;
          if (k + 4u <= K) {
            acc[mm] += dot(vec4<f32>(X[xb], X[xb + xs], X[xb + 2u * xs], X[xb + 3u * xs]), q);
          } else {
            // the row's last, partial word: x past K is another row's (or nothing)
            for (var b = 0u; k + b < K; b++) { acc[mm] += X[xb + b * xs] * q[b]; }
          }
        }
      }
    }`;
    result = 'SC[pu(8u) + n] * red[at]';
  } else if (scheme === 'dynamic-int8') {
    bindings = `@group(0) @binding(1) var<storage, read> QX: array<u32>;
@group(0) @binding(2) var<storage, read> QP: array<u32>;
@group(0) @binding(3) var<storage, read> W: array<u32>;
@group(0) @binding(4) var<storage, read> SC: array<f32>;
@group(0) @binding(5) var<storage, read> RS: array<i32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;`;
    loop = `let words = pu(3u);
    for (var j = t; j < pu(4u); j += ${T}u) {
      let q = bytes_s(W[wrow + j]);
      for (var mm = 0u; mm < ${TM}u; mm++) {
        let m = min(m0 + mm, M - 1u);
        acc[mm] += dot(q, bytes_u(QX[m * words + j]));
      }
    }`;
    result = `bitcast<f32>(QP[2u * m]) * SC[pu(8u) + n] * f32(red[at] - i32(QP[2u * m + 1u]) * RS[pu(13u) + n])`;
  } else {
    bindings = `@group(0) @binding(1) var<storage, read> QX: array<u32>;
@group(0) @binding(2) var<storage, read> D: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<i32>;
@group(0) @binding(4) var<storage, read> W: array<u32>;
@group(0) @binding(5) var<storage, read> SC: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;`;
    // group g of a row: 4 words, byte i holding weight i (low nibble) and i + 16 (high nibble)
    loop = `let G = pu(9u);
    for (var g = t; g < G; g += ${T}u) {
      let w0 = W[wrow + 4u * g]; let w1 = W[wrow + 4u * g + 1u]; let w2 = W[wrow + 4u * g + 2u]; let w3 = W[wrow + 4u * g + 3u];
      let l0 = nibbles(w0, 0u); let l1 = nibbles(w1, 0u); let l2 = nibbles(w2, 0u); let l3 = nibbles(w3, 0u);
      let h0 = nibbles(w0, 4u); let h1 = nibbles(w1, 4u); let h2 = nibbles(w2, 4u); let h3 = nibbles(w3, 4u);
      let sw = SC[pu(8u) + n * G + g];
      for (var mm = 0u; mm < ${TM}u; mm++) {
        let m = min(m0 + mm, M - 1u);
        let xq = (m * G + g) * 8u;
        let isum = dot(l0, bytes_s(QX[xq])) + dot(l1, bytes_s(QX[xq + 1u])) + dot(l2, bytes_s(QX[xq + 2u])) + dot(l3, bytes_s(QX[xq + 3u]))
          + dot(h0, bytes_s(QX[xq + 4u])) + dot(h1, bytes_s(QX[xq + 5u])) + dot(h2, bytes_s(QX[xq + 6u])) + dot(h3, bytes_s(QX[xq + 7u]));
        acc[mm] += D[m * G + g] * sw * f32(isum - 8 * S[m * G + g]);
      }
    }`;
    result = 'red[at]';
  }
  return `${PRELUDE}${UNPACK}
${bindings}
var<workgroup> red: array<${acc}, ${WG * TM}>;
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= pu(6u)) { return; }
  let N = pu(0u); let M = pu(1u); let K = pu(2u);
  let r = lid.x / ${T}u; let t = lid.x % ${T}u;
  let n = (lin % pu(5u)) * ${R}u + r;
  let m0 = (lin / pu(5u)) * ${TM}u;
  var acc: array<${acc}, ${TM}>;
  if (n < N) {
    let wrow = pu(7u) + n * pu(3u);
    ${loop}
  }
  for (var mm = 0u; mm < ${TM}u; mm++) { red[lid.x * ${TM}u + mm] = acc[mm]; }
  workgroupBarrier();
  for (var s = ${T / 2}u; s > 0u; s = s >> 1u) {
    if (t < s) {
      for (var mm = 0u; mm < ${TM}u; mm++) { red[lid.x * ${TM}u + mm] += red[(lid.x + s) * ${TM}u + mm]; }
    }
    workgroupBarrier();
  }
  if (t == 0u && n < N) {
    let b = select(0.0, BIAS[pu(11u) + n * pu(12u)], pu(10u) == 1u);
    for (var mm = 0u; mm < ${TM}u; mm++) {
      let m = m0 + mm;
      let at = lid.x * ${TM}u + mm;
      if (m < M) { OUT[m * N + n] = ${result} + b; }
    }
  }
}`;
}

/**
 * Rows `ids` [n] of the quantized weight, dequantized: [n, K] float32, contiguous. An id outside [0, N)
 * gives a row of zeros, as the WebGPU backend's indexSelect (the embedding's lookup) does: the GPU
 * cannot raise without reading the ids back, a sync that would stall every step. The CPU raises.
 */
export function quantRows(engine: Engine, w: QuantWeightViews, ids: View): GpuBuffer {
  const op = 'embedding';
  checkWeight(op, w);
  if (ids.dtype !== 'int32') throw new DTypeError(op, `indices must be int32, got ${ids.dtype}`);
  if (ids.shape.length !== 1) throw new ShapeError(op, `indices must be 1-D, got ${fmtShape(ids.shape)}`);
  const { rows: N, cols: K, rowBytes, groups: G, scheme } = w.layout;
  const n = ids.shape[0]!;
  const size = n * K;
  const out = allocate(engine, 'float32', size);
  if (size === 0) return out;
  const p = new Params().u(size, N, K, rowBytes / 4, G, w.data.offset, w.scales.offset, ids.offset, ids.strides[0]!);
  const int4 = scheme === 'int4';
  const value = int4
    ? `let g = k / ${INT4_GROUP}u; let j = k % ${INT4_GROUP}u;
  let word = W[wrow + 4u * g + (j & 15u) / 4u];
  let q = i32((word >> (8u * (j & 3u) + select(0u, 4u, j >= 16u))) & 15u);
  Y[i] = SC[pu(6u) + u32(id) * pu(4u) + g] * f32(q - 8);`
    : `let word = W[wrow + k / 4u];
  Y[i] = SC[pu(6u) + u32(id)] * f32(bitcast<i32>(word << (24u - 8u * (k & 3u))) >> 24u);`;
  const code = (): string => `${PRELUDE}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> SC: array<f32>;
@group(0) @binding(3) var<storage, read> IDS: array<i32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${ITEM_WG}) fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(ITEM_WG)};
  if (i >= pu(0u)) { return; }
  let K = pu(2u);
  let row = i / K; let k = i % K;
  let id = IDS[pu(7u) + row * pu(8u)];
  if (id < 0 || u32(id) >= pu(1u)) { Y[i] = 0.0; return; }
  let wrow = pu(5u) + u32(id) * pu(3u);
  ${value}
}`;
  engine.dispatch(
    { key: `quantRows|${int4 ? 'int4' : 'int8'}`, code },
    [bufOf(w.data).buffer, bufOf(w.scales).buffer, bufOf(ids).buffer, out.buffer],
    p,
    Math.ceil(size / ITEM_WG),
  );
  return out;
}
