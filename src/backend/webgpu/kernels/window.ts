// Sliding-window kernels in WGSL: im2col / col2im (conv2d and its gradients) and max / average pooling.
//
// Every kernel runs one thread per element of its result and addresses its inputs through their
// strides, so no input is made contiguous first. The adjoints (col2im and both pooling backwards) are
// gathers: each image element walks the windows that can contain it and sums what they send back, in
// a fixed order. No two threads write one element, so the results are deterministic without atomics
// (WGSL has no float atomics anyway).
//
// Geometry follows the CPU reference (src/backend/cpu/window.ts, pool.ts): the window at output
// (oh, ow) starts at (oh*sh - ph, ow*sw - pw) and its taps step by the dilation. Coordinates are i32,
// since window starts go negative in the padding.

import type { AvgPoolDivisor, View, Window2d } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import { ShapeError, fmtShape } from '../../../errors.js';
import { ENTRY_ARGS, Params, PRELUDE, linearIndex, type Engine } from '../engine.js';
import { binding, bufOf, convert, wgslType, type GpuBuffer } from './common.js';
import { allocate } from './elementwise.js';
import { check4d, numel } from '../../../base/shape.js';

const WG = 256;
const groups = (n: number): number => Math.ceil(n / WG);

// ---- shared parameter layout and WGSL ----

/**
 * Parameter words shared by the kernels that know their window: the thread count, the image and
 * output sizes, the window, then the strided input view. Kernel-specific values follow at EXTRA.
 */
const GEOMETRY_WORDS = `
  let total = pu(0u);
  let N = pi(1u); let C = pi(2u); let H = pi(3u); let W = pi(4u);
  let OH = pi(5u); let OW = pi(6u);
  let KH = pi(7u); let KW = pi(8u);
  let SH = pi(9u); let SW = pi(10u);
  let PH = pi(11u); let PW = pi(12u);
  let DH = pi(13u); let DW = pi(14u);
  let X0 = pi(15u); let XS0 = pi(16u); let XS1 = pi(17u); let XS2 = pi(18u); let XS3 = pi(19u);`;
const EXTRA = 20;

function geometryParams(total: number, image: readonly number[], outH: number, outW: number, w: Window2d, v: View): Params {
  const strides = [...v.strides, 0, 0, 0, 0].slice(0, 4);
  return new Params()
    .u(total)
    .i(...image, outH, outW, ...w.kernel, ...w.stride, ...w.padding, ...w.dilation)
    .i(v.offset, ...strides);
}

/** A kernel over `total` threads: `body` runs with the geometry lets in scope and `t` the thread. */
function kernel(bindings: string[], body: string, helpers = ''): string {
  return `${PRELUDE}${HELPERS}${helpers}
${bindings.join('\n')}
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  let t = ${linearIndex(WG)};
  ${GEOMETRY_WORDS}
  if (t >= total) { return; }
  ${body}
}`;
}

const HELPERS = /* wgsl */ `
// A bit test: unlike x != x, no compiler may fold it away under a no-NaN assumption.
fn nan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn neg_inf() -> f32 { var u = 0xff800000u; return bitcast<f32>(u); }
// ceil(a / b) for a > 0, b > 0
fn ceil_div(a: i32, b: i32) -> i32 { return (a + b - 1) / b; }
// Taps [lo, hi) of a window starting at \`start\` (step dil, k taps) that fall inside [0, size): pool.ts's tapRange.
fn tap_range(start: i32, k: i32, dil: i32, size: i32) -> vec2<i32> {
  var lo = 0;
  if (start < 0) { lo = ceil_div(-start, dil); }
  var hi = 0;
  if (size - start > 0) { hi = min(k, ceil_div(size - start, dil)); }
  return vec2<i32>(lo, max(lo, hi));
}
`;

/** WGSL reading parameter word `i` as a value of `dtype`'s stored type. */
function paramOf(dtype: DType, i: number): string {
  switch (wgslType(dtype)) {
    case 'f32':
      return `pf(${i}u)`;
    case 'i32':
      return `pi(${i}u)`;
    case 'u32':
      return `pu(${i}u)`;
  }
}

/** Appends `value` to params in `dtype`'s stored form (as a typed array of the dtype would hold it). */
function pushValue(p: Params, dtype: DType, value: number): void {
  const t = wgslType(dtype);
  if (t === 'f32') p.f(value);
  else if (t === 'i32') p.i(value);
  else p.u(value !== 0 ? 1 : 0);
}

/** The type sums of `dtype` accumulate in: f32 for floats, i32 for integers and bools. */
const sumDtype = (dtype: DType): DType => (dtype === 'float32' ? 'float32' : 'int32');

// ---- im2col / col2im ----

/**
 * x [N, C, H, W] -> cols [N, C*kh*kw, OH*OW] (or [C*kh*kw, N*OH*OW] with batchInColumns): row
 * (c*kh + i)*kw + j holds tap (i, j) of every window; taps outside the image read padValue.
 */
/**
 * WGSL visiting every output window (oh, ow) whose tap (ki, kj) lands on image pixel (y, x) (i32 names
 * KH..OW as the kernels declare them); `body` runs with ki, kj, oh, ow bound. The adjoint kernels
 * (col2im, the average-pooling backward) gather through it, so no two threads write one element.
 */
function coveringWindows(body: string): string {
  return `for (var ki = 0; ki < KH; ki++) {
    let th = y + PH - ki * DH;
    if (th < 0) { break; } // th only falls as ki grows
    if (th % SH != 0 || th / SH >= OH) { continue; }
    let oh = th / SH;
    for (var kj = 0; kj < KW; kj++) {
      let tw = x + PW - kj * DW;
      if (tw < 0) { break; }
      if (tw % SW != 0 || tw / SW >= OW) { continue; }
      let ow = tw / SW;
      ${body}
    }
  }`;
}

export function im2col(
  engine: Engine,
  x: View,
  w: Window2d,
  outH: number,
  outW: number,
  padValue: number,
  batchInColumns = false,
): GpuBuffer {
  const [N, C, H, W] = check4d('im2col', x.shape, 'x');
  const [kh, kw] = w.kernel;
  const total = N * C * kh * kw * outH * outW;
  const out = allocate(engine, x.dtype, total);
  if (total === 0) return out;
  const p = geometryParams(total, [N, C, H, W], outH, outW, w, x).u(batchInColumns ? 1 : 0);
  pushValue(p, x.dtype, padValue);
  const code = (): string =>
    kernel(
      [binding(1, 'X', x.dtype, 'read'), binding(2, 'Y', x.dtype, 'read_write')],
      `
  let P = OH * OW;
  let i = i32(t);
  let q = i / P;
  let pos = i % P;
  var n: i32; var r: i32;
  if (pu(${EXTRA}u) != 0u) { n = q % N; r = q / N; } else { n = q / (C * KH * KW); r = q % (C * KH * KW); }
  let kj = r % KW; let ki = (r / KW) % KH; let c = r / (KW * KH);
  let ih = (pos / OW) * SH - PH + ki * DH;
  let iw = (pos % OW) * SW - PW + kj * DW;
  if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
    Y[t] = X[u32(X0 + n * XS0 + c * XS1 + ih * XS2 + iw * XS3)];
  } else {
    Y[t] = ${paramOf(x.dtype, EXTRA + 1)};
  }`,
    );
  engine.dispatch({ key: `im2col|${x.dtype}`, code }, [bufOf(x).buffer, out.buffer], p, groups(total));
  return out;
}

/**
 * The adjoint of im2col: cols [N, C*kh*kw, OH*OW] summed into [N, C, H, W]. Each pixel gathers the
 * taps that read it: tap i of window oh reads row oh*sh - ph + i*dh, so oh = (y + ph - i*dh) / sh when
 * that divides exactly and lands in [0, OH). Out-of-image taps map to no pixel and are dropped.
 */
export function col2im(
  engine: Engine,
  cols: View,
  w: Window2d,
  channels: number,
  h: number,
  width: number,
  outH: number,
  outW: number,
): GpuBuffer {
  const [kh, kw] = w.kernel;
  const rows = channels * kh * kw;
  const P = outH * outW;
  if (cols.shape.length !== 3 || cols.shape[1] !== rows || cols.shape[2] !== P) {
    throw new ShapeError(
      'col2im',
      `expected cols [N, ${rows}, ${P}] for ${channels} channels, kernel ${kh}x${kw} and output ${outH}x${outW}, got ${fmtShape(cols.shape)}`,
    );
  }
  const N = cols.shape[0]!;
  const total = N * channels * h * width;
  const out = allocate(engine, cols.dtype, total);
  if (total === 0) return out;
  const acc = sumDtype(cols.dtype);
  const p = geometryParams(total, [N, channels, h, width], outH, outW, w, cols);
  const code = (): string =>
    kernel(
      [binding(1, 'X', cols.dtype, 'read'), binding(2, 'Y', cols.dtype, 'read_write')],
      `
  let i = i32(t);
  let x = i % W; let y = (i / W) % H; let c = (i / (W * H)) % C; let n = i / (W * H * C);
  var acc = ${wgslType(acc)}(0);
  ${coveringWindows(`let r = (c * KH + ki) * KW + kj;
      acc += ${convert('X[u32(X0 + n * XS0 + r * XS1 + (oh * OW + ow) * XS2)]', cols.dtype, acc)};`)}
  Y[t] = ${convert('acc', acc, cols.dtype)};`,
    );
  engine.dispatch({ key: `col2im|${cols.dtype}`, code }, [bufOf(cols).buffer, out.buffer], p, groups(total));
  return out;
}

// ---- max pooling ----

/**
 * One thread per output window: the first maximum over its in-image taps, with its flat index h*W + w.
 * NaN propagates (the first NaN wins); a window with no tap in the image gives -inf and argmax -1.
 */
export function maxPool2d(engine: Engine, x: View, w: Window2d, outH: number, outW: number): { out: GpuBuffer; argmax: GpuBuffer } {
  const [N, C, H, W] = check4d('maxPool2d', x.shape, 'x');
  const total = N * C * outH * outW;
  const out = allocate(engine, x.dtype, total);
  const argmax = allocate(engine, 'int32', total);
  if (total === 0) return { out, argmax };
  const p = geometryParams(total, [N, C, H, W], outH, outW, w, x);
  const code = (): string => {
    const float = x.dtype === 'float32';
    const T = wgslType(x.dtype);
    // An empty window's value: -inf, or for integer dtypes what -inf becomes when stored as one (0).
    const empty = float ? 'neg_inf()' : `${T}(0)`;
    const nanWins = float ? ' || (nan_f32(v) && !nan_f32(best))' : '';
    const body = `
  let i = i32(t);
  let ow = i % OW; let oh = (i / OW) % OH; let c = (i / (OW * OH)) % C; let n = i / (OW * OH * C);
  let h0 = oh * SH - PH; let w0 = ow * SW - PW;
  let ri = tap_range(h0, KH, DH, H); let rj = tap_range(w0, KW, DW, W);
  let base = X0 + n * XS0 + c * XS1;
  var best = ${empty};
  var bi = -1;
  for (var ki = ri.x; ki < ri.y; ki++) {
    let hh = h0 + ki * DH;
    for (var kj = rj.x; kj < rj.y; kj++) {
      let ww = w0 + kj * DW;
      let v = X[u32(base + hh * XS2 + ww * XS3)];
      if (bi < 0 || v > best${nanWins}) { best = v; bi = hh * W + ww; }
    }
  }
  Y[t] = best;
  A[t] = bi;`;
    return kernel([binding(1, 'X', x.dtype, 'read'), binding(2, 'Y', x.dtype, 'read_write'), binding(3, 'A', 'int32', 'read_write')], body);
  };
  engine.dispatch({ key: `maxPool2d|${x.dtype}`, code }, [bufOf(x).buffer, out.buffer, argmax.buffer], p, groups(total));
  return { out, argmax };
}

// maxPool2dBackward is given no window geometry, only the argmax, so it cannot enumerate the windows
// that contain a pixel from the stride and kernel. It derives that from the argmax itself, in three
// passes: (1) for every output row oh, the least and greatest input row any argmax in it points at
// (over all planes and columns), and likewise for every output column ow; (2) for every input row y,
// the first and last oh whose bounds contain y, and likewise per input column; (3) each pixel walks
// that rectangle of outputs and sums g where the argmax is the pixel itself. Any output whose argmax
// is (y, x) lies in the rectangle, so the sum is exact whatever the argmax holds; for a real pooling
// the rectangle is the windows that overlap the pixel, as a geometry-aware gather would visit.

/** Parameter words of the three passes: sizes, then the strided g and argmax views. */
const BACKWARD_WORDS = `
  let N = pi(1u); let C = pi(2u); let H = pi(3u); let W = pi(4u);
  let OH = pi(5u); let OW = pi(6u);
  let G0 = pi(7u); let GS0 = pi(8u); let GS1 = pi(9u); let GS2 = pi(10u); let GS3 = pi(11u);
  let A0 = pi(12u); let AS0 = pi(13u); let AS1 = pi(14u); let AS2 = pi(15u); let AS3 = pi(16u);`;

/** Pass 1: one workgroup per output row, then one per output column; a tree min/max over the workgroup. */
const BOUNDS = /* wgsl */ `
var<workgroup> lo_of: array<i32, ${WG}>;
var<workgroup> hi_of: array<i32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  ${BACKWARD_WORDS}
  let line = i32(wid.x + wid.y * nwg.x); // uniform across the workgroup, so barriers stay legal
  if (line >= OH + OW) { return; }
  let rows = line < OH;
  // a row oh spans (n, c, ow); a column ow spans (n, c, oh)
  let inner = select(OH, OW, rows);
  let span = N * C * inner;
  var lo = 0x7fffffff;
  var hi = -1;
  for (var e = i32(lid.x); e < span; e += ${WG}) {
    let nc = e / inner; let k = e % inner;
    let oh = select(k, line, rows); let ow = select(line - OH, k, rows);
    let a = A[u32(A0 + (nc / C) * AS0 + (nc % C) * AS1 + oh * AS2 + ow * AS3)];
    if (a >= 0 && a < H * W) {
      let coord = select(a % W, a / W, rows);
      lo = min(lo, coord); hi = max(hi, coord);
    }
  }
  lo_of[lid.x] = lo; hi_of[lid.x] = hi;
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lid.x < s) { lo_of[lid.x] = min(lo_of[lid.x], lo_of[lid.x + s]); hi_of[lid.x] = max(hi_of[lid.x], hi_of[lid.x + s]); }
  }
  if (lid.x == 0u) { B[2 * line] = lo_of[0]; B[2 * line + 1] = hi_of[0]; }
}`;

/** Pass 2: per input row (then column), the first and last output line whose bounds contain it. */
const RANGES = /* wgsl */ `
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  ${BACKWARD_WORDS}
  let t = i32(${linearIndex(WG)});
  if (t >= H + W) { return; }
  let rows = t < H;
  let coord = select(t - H, t, rows);
  let first = select(OH, 0, rows); // the bounds of columns follow those of rows in B
  let count = select(OW, OH, rows);
  var lo = count;
  var hi = -1;
  for (var k = 0; k < count; k++) {
    if (B[2 * (first + k)] <= coord && coord <= B[2 * (first + k) + 1]) { lo = min(lo, k); hi = k; }
  }
  R[2 * t] = lo; R[2 * t + 1] = hi;
}`;

/** Pass 3: each pixel sums g over the outputs in its rectangle whose argmax is the pixel. */
function gatherArgmax(g: DType): string {
  const acc = sumDtype(g);
  return `
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  ${BACKWARD_WORDS}
  let t = ${linearIndex(WG)};
  if (t >= pu(0u)) { return; }
  let i = i32(t);
  let x = i % W; let y = (i / W) % H; let c = (i / (W * H)) % C; let n = i / (W * H * C);
  let me = y * W + x;
  let gBase = G0 + n * GS0 + c * GS1;
  let aBase = A0 + n * AS0 + c * AS1;
  var acc = ${wgslType(acc)}(0);
  for (var oh = R[2 * y]; oh <= R[2 * y + 1]; oh++) {
    for (var ow = R[2 * (H + x)]; ow <= R[2 * (H + x) + 1]; ow++) {
      if (A[u32(aBase + oh * AS2 + ow * AS3)] == me) {
        acc += ${convert('G[u32(gBase + oh * GS2 + ow * GS3)]', g, acc)};
      }
    }
  }
  Y[t] = ${convert('acc', acc, g)};
}`;
}

/** Passes 1 and 2 depend on no dtype: one kernel each. */
const BOUNDS_KERNEL = {
  key: 'maxPool2dBounds',
  code: (): string => `${PRELUDE}${binding(1, 'A', 'int32', 'read')}\n${binding(2, 'B', 'int32', 'read_write')}\n${BOUNDS}`,
};
const RANGES_KERNEL = {
  key: 'maxPool2dRanges',
  code: (): string => `${PRELUDE}${binding(1, 'B', 'int32', 'read')}\n${binding(2, 'R', 'int32', 'read_write')}\n${RANGES}`,
};

/** zeros(inShape) [N, C, H, W] with each g [N, C, OH, OW] added at its argmax in its plane (-1: none). */
export function maxPool2dBackward(engine: Engine, g: View, argmax: View, inShape: readonly number[]): GpuBuffer {
  const [N, C, H, W] = check4d('maxPool2dBackward', inShape, 'input');
  const [gN, gC, outH, outW] = check4d('maxPool2dBackward', g.shape, 'gradient');
  if (gN !== N || gC !== C || argmax.shape.length !== 4 || argmax.shape.some((d, i) => d !== g.shape[i])) {
    throw new ShapeError(
      'maxPool2dBackward',
      `gradient ${fmtShape(g.shape)} and argmax ${fmtShape(argmax.shape)} do not fit input ${fmtShape(inShape)}`,
    );
  }
  const total = N * C * H * W;
  const out = allocate(engine, g.dtype, total);
  if (total === 0) return out;
  const p = new Params().u(total).i(N, C, H, W, outH, outW, g.offset, ...g.strides, argmax.offset, ...argmax.strides);
  const bounds = allocate(engine, 'int32', 2 * (outH + outW));
  const ranges = allocate(engine, 'int32', 2 * (H + W));
  engine.dispatch(BOUNDS_KERNEL, [bufOf(argmax).buffer, bounds.buffer], p, outH + outW);
  engine.dispatch(RANGES_KERNEL, [bounds.buffer, ranges.buffer], p, groups(H + W));
  const gather = (): string => {
    const bindings = [
      binding(1, 'A', 'int32', 'read'),
      binding(2, 'G', g.dtype, 'read'),
      binding(3, 'R', 'int32', 'read'),
      binding(4, 'Y', g.dtype, 'read_write'),
    ];
    return `${PRELUDE}${bindings.join('\n')}\n${gatherArgmax(g.dtype)}`;
  };
  engine.dispatch(
    { key: `maxPool2dBackward|${g.dtype}`, code: gather },
    [bufOf(argmax).buffer, bufOf(g).buffer, ranges.buffer, out.buffer],
    p,
    groups(total),
  );
  // released buffers wait in quarantine until these dispatches are submitted
  engine.release(bounds);
  engine.release(ranges);
  return out;
}

// ---- average pooling ----

/** pool.ts's avgDivisor: the window area clipped to the padded (or, without countIncludePad, the real) image. */
const AVG_DIVISOR = /* wgsl */ `
fn avg_divisor(h0: i32, w0: i32, KH: i32, KW: i32, H: i32, W: i32, PH: i32, PW: i32) -> f32 {
  let forced = pf(${EXTRA}u);
  if (forced != 0.0) { return forced; }
  var hs = h0; var ws = w0;
  var he = min(h0 + KH, H + PH);
  var we = min(w0 + KW, W + PW);
  if (pu(${EXTRA + 1}u) == 0u) { // countIncludePad false
    hs = max(hs, 0); ws = max(ws, 0);
    he = min(he, H); we = min(we, W);
  }
  return f32((he - hs) * (we - ws));
}
`;

function divisorParams(p: Params, div: AvgPoolDivisor): Params {
  return p.f(div.divisorOverride ?? 0).u(div.countIncludePad ? 1 : 0);
}

/** One thread per output window: the sum of its in-image taps over avg_divisor. */
export function avgPool2d(engine: Engine, x: View, w: Window2d, outH: number, outW: number, div: AvgPoolDivisor): GpuBuffer {
  const [N, C, H, W] = check4d('avgPool2d', x.shape, 'x');
  const total = N * C * outH * outW;
  const out = allocate(engine, x.dtype, total);
  if (total === 0) return out;
  const p = divisorParams(geometryParams(total, [N, C, H, W], outH, outW, w, x), div);
  const code = (): string =>
    kernel(
      [binding(1, 'X', x.dtype, 'read'), binding(2, 'Y', x.dtype, 'read_write')],
      `
  let i = i32(t);
  let ow = i % OW; let oh = (i / OW) % OH; let c = (i / (OW * OH)) % C; let n = i / (OW * OH * C);
  let h0 = oh * SH - PH; let w0 = ow * SW - PW;
  let ri = tap_range(h0, KH, DH, H); let rj = tap_range(w0, KW, DW, W);
  let base = X0 + n * XS0 + c * XS1;
  var s = 0.0;
  for (var ki = ri.x; ki < ri.y; ki++) {
    for (var kj = rj.x; kj < rj.y; kj++) {
      s += ${convert('X[u32(base + (h0 + ki * DH) * XS2 + (w0 + kj * DW) * XS3)]', x.dtype, 'float32')};
    }
  }
  let v = s / avg_divisor(h0, w0, KH, KW, H, W, PH, PW);
  Y[t] = ${convert('v', 'float32', x.dtype)};`,
      AVG_DIVISOR,
    );
  engine.dispatch({ key: `avgPool2d|${x.dtype}`, code }, [bufOf(x).buffer, out.buffer], p, groups(total));
  return out;
}

/**
 * The adjoint of avgPool2d: each pixel gathers g / divisor from every window with a tap on it (tap
 * ki of window oh sits on row oh*sh - ph + ki*dh, as in col2im).
 */
export function avgPool2dBackward(engine: Engine, g: View, w: Window2d, inShape: readonly number[], div: AvgPoolDivisor): GpuBuffer {
  const [N, C, H, W] = check4d('avgPool2dBackward', inShape, 'input');
  const [gN, gC, outH, outW] = check4d('avgPool2dBackward', g.shape, 'gradient');
  if (gN !== N || gC !== C)
    throw new ShapeError('avgPool2dBackward', `gradient ${fmtShape(g.shape)} does not fit input ${fmtShape(inShape)}`);
  const total = numel(inShape);
  const out = allocate(engine, g.dtype, total);
  if (total === 0) return out;
  const p = divisorParams(geometryParams(total, [N, C, H, W], outH, outW, w, g), div);
  const code = (): string =>
    kernel(
      [binding(1, 'X', g.dtype, 'read'), binding(2, 'Y', g.dtype, 'read_write')],
      `
  let i = i32(t);
  let x = i % W; let y = (i / W) % H; let c = (i / (W * H)) % C; let n = i / (W * H * C);
  let base = X0 + n * XS0 + c * XS1;
  var acc = 0.0;
  ${coveringWindows(`let gv = ${convert('X[u32(base + oh * XS2 + ow * XS3)]', g.dtype, 'float32')};
      acc += gv / avg_divisor(oh * SH - PH, ow * SW - PW, KH, KW, H, W, PH, PW);`)}
  Y[t] = ${convert('acc', 'float32', g.dtype)};`,
      AVG_DIVISOR,
    );
  engine.dispatch({ key: `avgPool2dBackward|${g.dtype}`, code }, [bufOf(g).buffer, out.buffer], p, groups(total));
  return out;
}
