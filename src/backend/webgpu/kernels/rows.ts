// Row kernels in WGSL: softmax / log-softmax, layer norm and its backward, cross-entropy with logits and
// its backward. A row is reduced by one workgroup: its threads stride over the row, each keeping a
// private partial, and a tree in workgroup memory combines the partials (max, sum, mean, variance).
// Rows are addressed through strides, so no input is made contiguous first. Row counts above the
// 65535-workgroups-per-dimension limit use the engine's split grid (row = wid.x + wid.y * nwg.x).

import type { View } from '../../backend.js';
import { DTypeError, IndexError, ShapeError, fmtShape } from '../../../errors.js';
import { ENTRY_ARGS, Params, PRELUDE, linearIndex, type Engine } from '../engine.js';
import { allocate, MATH } from './elementwise.js';
import { contiguousStrides, numel } from '../../../base/shape.js';
import { binding, bufOf, stridedIndex, wgslType, type GpuBuffer } from './common.js';

/** Threads per row: short rows would leave most of 256 threads idle through every tree level. */
const rowWorkgroup = (len: number): number => (len <= 256 ? 64 : 256);
/** Threads per workgroup of the one-thread-per-item kernels. */
const ITEM_WG = 64;

/** Every view of a row kernel holds float32 (float64 has no GPU type, integers no meaning here). */
function checkFloat(op: string, views: readonly (View | null)[]): void {
  for (const v of views) {
    if (!v) continue;
    wgslType(v.dtype, op);
    if (v.dtype !== 'float32') throw new DTypeError(op, `expected float32, got ${v.dtype} ${fmtShape(v.shape)}`);
  }
}

const without = <T>(xs: readonly T[], axis: number): T[] => xs.filter((_, i) => i !== axis);

/**
 * WGSL `fn row_at(i: u32) -> vec4<u32>`: for row i of `lead` (the shape of the row index space), the
 * element offset where the row starts in each of up to four operands (unused lanes are 0). Writes the
 * shape, offsets and strides into params now; `code()` builds the WGSL (only on a cache miss), which
 * depends on nothing but `key` (stridedIndex's, which counts the operands).
 */
function rowAddressing(
  op: string,
  params: Params,
  lead: readonly number[],
  views: readonly { offset: number; strides: readonly number[] }[],
): { key: string; code(): string } {
  const idx = stridedIndex(op, params, lead, views);
  const count = views.length;
  return {
    key: idx.key,
    code: (): string => {
      const lanes = Array.from({ length: count }, (_, k) => `o${k}`);
      while (lanes.length < 4) lanes.push('0u');
      return `fn row_at(i: u32) -> vec4<u32> {
    ${idx.code}
    return vec4<u32>(${lanes.join(', ')});
}`;
    },
  };
}

/** WGSL: torch's max, where NaN wins (the CPU reference's v > m || v != v). */
const MAX_NAN = /* wgsl */ `
fn max_nan(a: f32, b: f32) -> f32 { return select(a, b, b > a || is_nan(b)); }
`;

/**
 * WGSL workgroup reductions over `wg` threads: every thread passes its partial and gets the combined
 * value back. They contain barriers, so callers must be in workgroup-uniform control flow.
 */
function workgroupReductions(wg: number): string {
  return /* wgsl */ `${MAX_NAN}
var<workgroup> red: array<vec2<f32>, ${wg}>;
fn wg_sum2(v: vec2<f32>, t: u32) -> vec2<f32> {
  red[t] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (t < s) { red[t] = red[t] + red[t + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  // nobody may overwrite red[0] for the next reduction before everyone has read it
  workgroupBarrier();
  return r;
}
fn wg_max(v: f32, t: u32) -> f32 {
  red[t].x = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (t < s) { red[t].x = max_nan(red[t].x, red[t + s].x); }
    workgroupBarrier();
  }
  let r = red[0].x;
  workgroupBarrier();
  return r;
}
`;
}

/** The WGSL head of a one-workgroup-per-row kernel; `row` is uniform, so the early return is too. */
const rowEntry = (wg: number): string => `@compute @workgroup_size(${wg}) fn main(${ENTRY_ARGS}) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pu(0u)) { return; }
  let t = lid.x;`;

// ---------------------------------------------------------------------------------------------------
// softmax

/**
 * Below this many rows, a row whose elements are strided in memory still gets a workgroup: one thread
 * per row would leave the GPU mostly idle. From it on, one thread per row reads neighbouring rows'
 * elements at neighbouring addresses (coalesced), which the workgroup-per-row kernel cannot when the
 * softmax axis is not the innermost in memory.
 */
const COLUMN_MIN_ROWS = 2048;

export function softmax(engine: Engine, x: View, axis: number, log: boolean): GpuBuffer {
  const op = log ? 'logSoftmax' : 'softmax';
  const rank = x.shape.length;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    throw new IndexError(op, `axis ${axis} is out of range for a tensor of rank ${rank} ${fmtShape(x.shape)}`);
  }
  checkFloat(op, [x]);
  const size = numel(x.shape);
  const out = allocate(engine, x.dtype, size);
  if (size === 0) return out;
  const len = x.shape[axis]!;
  const rows = size / len;
  const outStrides = contiguousStrides(x.shape);
  const p = new Params().u(rows, len, x.strides[axis]!, outStrides[axis]!);
  const rowAt = rowAddressing(op, p, without(x.shape, axis), [
    { offset: x.offset, strides: without(x.strides, axis) },
    { offset: 0, strides: without(outStrides, axis) },
  ]);
  const columns = Math.abs(x.strides[axis]!) !== 1 && len > 1 && rows >= COLUMN_MIN_ROWS;
  const wg = columns ? ITEM_WG : rowWorkgroup(len);
  // With one thread per row the "reductions" are the thread's own loop; otherwise workgroup trees.
  const code = (): string => {
    const [first, step, max, sum] = columns
      ? ['0u', '1u', (v: string) => v, (v: string) => v]
      : ['t', `${wg}u`, (v: string) => `wg_max(${v}, t)`, (v: string) => `wg_sum2(vec2<f32>(${v}, 0.0), t).x`];
    const write = log
      ? `let ls = log(s);
  for (var k = ${first}; k < len; k += ${step}) { Y[b.y + k * os] = (X[b.x + k * xs] - m) - ls; }`
      : `let inv = 1.0 / s;
  for (var k = ${first}; k < len; k += ${step}) { Y[b.y + k * os] = exp(X[b.x + k * xs] - m) * inv; }`;
    const head = columns
      ? `@compute @workgroup_size(${wg}) fn main(${ENTRY_ARGS}) {
  let row = ${linearIndex(wg)};
  if (row >= pu(0u)) { return; }`
      : rowEntry(wg);
    return `${PRELUDE}${MATH}${columns ? MAX_NAN : workgroupReductions(wg)}
${binding(1, 'X', x.dtype, 'read')}
${binding(2, 'Y', x.dtype, 'read_write')}
${rowAt.code()}
${head}
  let len = pu(1u); let xs = pu(2u); let os = pu(3u);
  let b = row_at(row);
  // Subtracting the row max keeps exp from overflowing; log-softmax is x - max - log(sum), which keeps
  // the precision of tiny probabilities that log(softmax) would round to log(0).
  var m = -f_inf();
  for (var k = ${first}; k < len; k += ${step}) { m = max_nan(m, X[b.x + k * xs]); }
  m = ${max('m')};
  var s = 0.0;
  for (var k = ${first}; k < len; k += ${step}) { s = s + exp(X[b.x + k * xs] - m); }
  s = ${sum('s')};
  ${write}
}`;
  };
  const key = `softmax|${log ? 'log' : ''}|${columns ? 'col' : 'row'}|${wg}|${x.dtype}|${rowAt.key}`;
  engine.dispatch({ key, code }, [bufOf(x).buffer, out.buffer], p, columns ? Math.ceil(rows / wg) : rows);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// layer norm

/** x [..., D] seen as rows: the leading shape, D, and the stride along D (rank 0 is one row of one). */
function lastAxis(x: View): { lead: number[]; d: number; stride: number } {
  const r = x.shape.length;
  return r === 0 ? { lead: [], d: 1, stride: 1 } : { lead: x.shape.slice(0, -1), d: x.shape[r - 1]!, stride: x.strides[r - 1]! };
}

/** Offset and stride of a [D] vector view, as the kernels address it. */
function vectorOf(op: string, name: string, v: View, d: number): [number, number] {
  if (numel(v.shape) !== d) throw new ShapeError(op, `${name} must have ${d} elements (the last axis), got ${fmtShape(v.shape)}`);
  return [v.offset, v.strides.length ? v.strides[v.strides.length - 1]! : 0];
}

export function layerNorm(
  engine: Engine,
  x: View,
  weight: View | null,
  bias: View | null,
  eps: number,
): { y: GpuBuffer; mean: GpuBuffer; rstd: GpuBuffer } {
  const op = 'layerNorm';
  checkFloat(op, [x, weight, bias]);
  const { lead, d, stride } = lastAxis(x);
  const rows = numel(lead);
  const y = allocate(engine, x.dtype, rows * d);
  const mean = allocate(engine, x.dtype, rows);
  const rstd = allocate(engine, x.dtype, rows);
  if (rows === 0) return { y, mean, rstd };
  const p = new Params().u(rows, d, stride).f(eps);
  p.u(...(weight ? vectorOf(op, 'weight', weight, d) : [0, 0]), ...(bias ? vectorOf(op, 'bias', bias, d) : [0, 0]));
  const rowAt = rowAddressing(op, p, lead, [{ offset: x.offset, strides: x.strides.slice(0, -1) }]);
  const wg = rowWorkgroup(d);
  // Bindings in this order: X, then W and B where given, then Y, MEAN, RSTD.
  const buffers = [bufOf(x).buffer];
  if (weight) buffers.push(bufOf(weight).buffer);
  if (bias) buffers.push(bufOf(bias).buffer);
  buffers.push(y.buffer, mean.buffer, rstd.buffer);
  const code = (): string => {
    const names: [string, 'read' | 'read_write'][] = [['X', 'read']];
    if (weight) names.push(['W', 'read']);
    if (bias) names.push(['B', 'read']);
    names.push(['Y', 'read_write'], ['MEAN', 'read_write'], ['RSTD', 'read_write']);
    const decls = names.map(([name, access], i) => binding(i + 1, name, x.dtype, access));
    return `${PRELUDE}${MATH}${workgroupReductions(wg)}
${decls.join('\n')}
${rowAt.code()}
${rowEntry(wg)}
  let d = pu(1u); let xs = pu(2u); let eps = pf(3u);
  let xb = row_at(row).x;
  var s = 0.0;
  for (var k = t; k < d; k += ${wg}u) { s = s + X[xb + k * xs]; }
  let mu = wg_sum2(vec2<f32>(s, 0.0), t).x / f32(d);
  // The variance from the centred values (two passes), as the CPU reference: E[x^2] - mu^2 cancels.
  var ss = 0.0;
  for (var k = t; k < d; k += ${wg}u) { let c = X[xb + k * xs] - mu; ss = ss + c * c; }
  let rs = 1.0 / sqrt(wg_sum2(vec2<f32>(ss, 0.0), t).x / f32(d) + eps);
  if (t == 0u) { MEAN[row] = mu; RSTD[row] = rs; }
  for (var k = t; k < d; k += ${wg}u) {
    var v = (X[xb + k * xs] - mu) * rs;
    ${weight ? 'v = v * W[pu(4u) + k * pu(5u)];' : ''}
    ${bias ? 'v = v + B[pu(6u) + k * pu(7u)];' : ''}
    Y[row * d + k] = v;
  }
}`;
  };
  const key = `layerNorm|${wg}|${weight ? 'w' : ''}${bias ? 'b' : ''}|${x.dtype}|${rowAt.key}`;
  engine.dispatch({ key, code }, buffers, p, rows);
  return { y, mean, rstd };
}

/** Rows summed by one workgroup of the column-sum kernel before its partial goes to memory. */
const CHUNK_ROWS = 256;
/** Columns per workgroup of the column-sum kernels. */
const COLUMN_WG = 64;

export function layerNormBackward(
  engine: Engine,
  g: View,
  x: View,
  mean: View,
  rstd: View,
  weight: View | null,
  withBias: boolean,
): { dx: GpuBuffer; dweight: GpuBuffer | null; dbias: GpuBuffer | null } {
  const op = 'layerNormBackward';
  checkFloat(op, [g, x, mean, rstd, weight]);
  const { lead, d, stride: xs } = lastAxis(x);
  if (g.shape.length !== x.shape.length || g.shape.some((n, i) => n !== x.shape[i])) {
    throw new ShapeError(op, `the gradient ${fmtShape(g.shape)} must have the input's shape ${fmtShape(x.shape)}`);
  }
  for (const [name, v] of [
    ['mean', mean],
    ['rstd', rstd],
  ] as const) {
    if (v.shape.length !== lead.length || v.shape.some((n, i) => n !== lead[i])) {
      throw new ShapeError(
        op,
        `${name} must have shape ${fmtShape(lead)} (the input ${fmtShape(x.shape)} without its last axis), got ${fmtShape(v.shape)}`,
      );
    }
  }
  const gs = lastAxis(g).stride;
  const rows = numel(lead);
  const dx = allocate(engine, x.dtype, rows * d);
  const dweight = weight ? allocate(engine, x.dtype, d) : null;
  const dbias = withBias ? allocate(engine, x.dtype, d) : null;
  const [wOff, wStride] = weight ? vectorOf(op, 'weight', weight, d) : [0, 0];
  // Row starts of x, g, mean and rstd, in row_at's lanes x, y, z, w.
  const operands = [
    { offset: x.offset, strides: x.strides.slice(0, -1) },
    { offset: g.offset, strides: g.strides.slice(0, -1) },
    { offset: mean.offset, strides: mean.strides },
    { offset: rstd.offset, strides: rstd.strides },
  ];
  const inputs = [bufOf(x).buffer, bufOf(g).buffer, bufOf(mean).buffer, bufOf(rstd).buffer];

  if (rows > 0 && d > 0) {
    // dx, one workgroup per row: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w.
    const p = new Params().u(rows, d, xs, gs, wOff, wStride);
    const rowAt = rowAddressing(op, p, lead, operands);
    const wg = rowWorkgroup(d);
    // Bindings: X, G, M, R, then W where given, then DX.
    const buffers = [...inputs, ...(weight ? [bufOf(weight).buffer] : []), dx.buffer];
    const code = (): string => {
      const names = ['X', 'G', 'M', 'R', ...(weight ? ['W'] : [])];
      const decls = names.map((name, i) => binding(i + 1, name, x.dtype, 'read'));
      decls.push(binding(names.length + 1, 'DX', x.dtype, 'read_write'));
      const gw = weight ? 'G[b.y + k * gs] * W[pu(4u) + k * pu(5u)]' : 'G[b.y + k * gs]';
      return `${PRELUDE}${MATH}${workgroupReductions(wg)}
${decls.join('\n')}
${rowAt.code()}
${rowEntry(wg)}
  let d = pu(1u); let xs = pu(2u); let gs = pu(3u);
  let b = row_at(row);
  let mu = M[b.z]; let rs = R[b.w];
  var acc = vec2<f32>(0.0, 0.0);
  for (var k = t; k < d; k += ${wg}u) {
    let gw = ${gw};
    let xh = (X[b.x + k * xs] - mu) * rs;
    acc = acc + vec2<f32>(gw, gw * xh);
  }
  let avg = wg_sum2(acc, t) / f32(d);
  for (var k = t; k < d; k += ${wg}u) {
    let gw = ${gw};
    let xh = (X[b.x + k * xs] - mu) * rs;
    DX[row * d + k] = rs * (gw - avg.x - xh * avg.y);
  }
}`;
    };
    const key = `layerNormBackward|${wg}|${weight ? 'w' : ''}|${x.dtype}|${rowAt.key}`;
    engine.dispatch({ key, code }, buffers, p, rows);
  }
  if (dweight || dbias) columnSums(engine, { rows, d, xs, gs, lead, operands, inputs, dweight, dbias });
  return { dx, dweight, dbias };
}

interface ColumnSumJob {
  rows: number;
  d: number;
  xs: number;
  gs: number;
  lead: readonly number[];
  operands: { offset: number; strides: readonly number[] }[];
  /** x, g, mean, rstd. */
  inputs: GPUBuffer[];
  dweight: GpuBuffer | null;
  dbias: GpuBuffer | null;
}

/**
 * dweight[j] = sum over rows of g * xhat, dbias[j] = sum over rows of g. One thread per column and
 * chunk of CHUNK_ROWS rows (neighbouring threads read neighbouring columns), each writing its chunk's
 * partial to [chunks, D]; a second pass sums the chunks. One chunk writes the result directly.
 */
function columnSums(engine: Engine, job: ColumnSumJob): void {
  const { rows, d, dweight, dbias } = job;
  const dtype = (dweight ?? dbias)!.dtype;
  if (d === 0) return;
  // Chunks go on the grid's y axis, at most 65535 of them.
  const chunkRows = Math.max(CHUNK_ROWS, Math.ceil(rows / 65535));
  const chunks = Math.max(1, Math.ceil(rows / chunkRows));
  const partial = (out: GpuBuffer | null): GpuBuffer | null => (out && chunks > 1 ? allocate(engine, dtype, chunks * d) : out);
  const dwPart = partial(dweight);
  const dbPart = partial(dbias);

  const p = new Params().u(rows, d, job.xs, job.gs, chunkRows);
  const rowAt = rowAddressing('layerNormBackward', p, job.lead, job.operands);
  // Only what is summed is bound: a declared binding the shader does not use breaks the bind group.
  const bound: [string, GPUBuffer, 'read' | 'read_write'][] = dwPart
    ? [
        ['X', job.inputs[0]!, 'read'],
        ['G', job.inputs[1]!, 'read'],
        ['M', job.inputs[2]!, 'read'],
        ['R', job.inputs[3]!, 'read'],
        ['DW', dwPart.buffer, 'read_write'],
      ]
    : [['G', job.inputs[1]!, 'read']];
  if (dbPart) bound.push(['DB', dbPart.buffer, 'read_write']);
  const buffers = bound.map(([, b]) => b);
  const code = (): string => `${PRELUDE}
${bound.map(([name, , access], i) => binding(i + 1, name, dtype, access)).join('\n')}
${rowAt.code()}
@compute @workgroup_size(${COLUMN_WG}) fn main(${ENTRY_ARGS}) {
  let d = pu(1u); let xs = pu(2u); let gs = pu(3u); let chunkRows = pu(4u);
  let j = wid.x * ${COLUMN_WG}u + lid.x;
  if (j >= d) { return; }
  let chunk = wid.y;
  let end = min(pu(0u), (chunk + 1u) * chunkRows);
  var dw = 0.0;
  var db = 0.0;
  for (var r = chunk * chunkRows; r < end; r = r + 1u) {
    let b = row_at(r);
    let gj = G[b.y + j * gs];
    ${dwPart ? 'dw = dw + gj * (X[b.x + j * xs] - M[b.z]) * R[b.w];' : ''}
    ${dbPart ? 'db = db + gj;' : ''}
  }
  ${dwPart ? 'DW[chunk * d + j] = dw;' : ''}
  ${dbPart ? 'DB[chunk * d + j] = db;' : ''}
}`;
  const key = `layerNormColumnSums|${dwPart ? 'w' : ''}${dbPart ? 'b' : ''}|${dtype}|${rowAt.key}`;
  engine.dispatch({ key, code }, buffers, p, [Math.ceil(d / COLUMN_WG), chunks, 1]);
  if (chunks === 1) return;

  const q = new Params().u(d, chunks);
  const pairs: [GpuBuffer, GpuBuffer][] = [];
  if (dweight && dwPart) pairs.push([dwPart, dweight]);
  if (dbias && dbPart) pairs.push([dbPart, dbias]);
  const sumKernel = {
    key: `columnChunkSum|${dtype}`,
    code: (): string => `${PRELUDE}
${binding(1, 'PART', dtype, 'read')}
${binding(2, 'OUT', dtype, 'read_write')}
@compute @workgroup_size(${COLUMN_WG}) fn main(${ENTRY_ARGS}) {
  let j = ${linearIndex(COLUMN_WG)};
  let d = pu(0u);
  if (j >= d) { return; }
  var s = 0.0;
  for (var c = 0u; c < pu(1u); c = c + 1u) { s = s + PART[c * d + j]; }
  OUT[j] = s;
}`,
  };
  for (const [part, out] of pairs) {
    engine.dispatch(sumKernel, [part.buffer, out.buffer], q, Math.ceil(d / COLUMN_WG));
    engine.release(part);
  }
}

// ---------------------------------------------------------------------------------------------------
// cross-entropy

/** Checks logits [N, C] and int32 targets [N]; returns N, C and the targets' offset and stride. */
function checkLogits(op: string, logits: View, target: View): { n: number; c: number; tOff: number; tStride: number } {
  if (logits.shape.length !== 2) throw new ShapeError(op, `logits must be [N, C], got ${fmtShape(logits.shape)}`);
  checkFloat(op, [logits]);
  if (target.dtype !== 'int32')
    throw new DTypeError(op, `targets must be int32 class indices, got ${target.dtype} ${fmtShape(target.shape)}`);
  const [n, c] = logits.shape as [number, number];
  if (numel(target.shape) !== n)
    throw new ShapeError(op, `expected ${n} targets for logits ${fmtShape(logits.shape)}, got ${fmtShape(target.shape)}`);
  // Targets are [N]; any view of N elements whose elements lie along one axis will do.
  const walked = target.shape.map((len, i) => [len, target.strides[i]!] as const).filter(([len]) => len > 1);
  if (walked.length > 1) throw new ShapeError(op, `targets must be one-dimensional, got ${fmtShape(target.shape)}`);
  return { n, c, tOff: target.offset, tStride: walked[0]?.[1] ?? 0 };
}

/**
 * Per row of logits [N, C]: lse = logsumexp(x), loss = (1 - s) * (lse - x[t]) + s * (lse - mean(x));
 * both 0 where t == ignoreIndex. A target outside [0, C) (which callers reject before launching, since
 * the GPU cannot raise) gives NaN rather than reading another row.
 */
export function crossEntropy(
  engine: Engine,
  logits: View,
  target: View,
  ignoreIndex: number,
  labelSmoothing: number,
): { loss: GpuBuffer; lse: GpuBuffer } {
  const op = 'crossEntropy';
  const { n, c, tOff, tStride } = checkLogits(op, logits, target);
  const loss = allocate(engine, logits.dtype, n);
  const lse = allocate(engine, logits.dtype, n);
  if (n === 0) return { loss, lse };
  const [rs, cs] = logits.strides as [number, number];
  const p = new Params()
    .u(n, c, logits.offset, rs, cs, tOff, tStride)
    .i(ignoreIndex)
    .f(1 - labelSmoothing, labelSmoothing);
  const wg = rowWorkgroup(c);
  const code = (): string => `${PRELUDE}${MATH}${workgroupReductions(wg)}
${binding(1, 'X', logits.dtype, 'read')}
${binding(2, 'T', 'int32', 'read')}
${binding(3, 'LOSS', logits.dtype, 'read_write')}
${binding(4, 'LSE', logits.dtype, 'read_write')}
var<workgroup> target_shared: i32;
${rowEntry(wg)}
  let c = pu(1u); let cs = pu(4u);
  let xo = pu(2u) + row * pu(3u);
  if (t == 0u) { target_shared = T[pu(5u) + row * pu(6u)]; }
  // Read through workgroup memory so the branch below is uniform and may skip the reductions.
  let tgt = workgroupUniformLoad(&target_shared);
  if (tgt == pi(7u)) {
    if (t == 0u) { LOSS[row] = 0.0; LSE[row] = 0.0; }
    return;
  }
  if (tgt < 0 || tgt >= i32(c)) {
    if (t == 0u) { LOSS[row] = f_nan(); LSE[row] = f_nan(); }
    return;
  }
  var m = -f_inf();
  for (var k = t; k < c; k += ${wg}u) { m = max_nan(m, X[xo + k * cs]); }
  m = wg_max(m, t);
  var acc = vec2<f32>(0.0, 0.0);
  for (var k = t; k < c; k += ${wg}u) { let v = X[xo + k * cs]; acc = acc + vec2<f32>(exp(v - m), v); }
  let tot = wg_sum2(acc, t);
  if (t == 0u) {
    let l = m + log(tot.x);
    let smoothing = pf(9u);
    var v = pf(8u) * (l - X[xo + u32(tgt) * cs]);
    if (smoothing != 0.0) { v = v + smoothing * (l - tot.y / f32(c)); }
    LOSS[row] = v;
    LSE[row] = l;
  }
}`;
  engine.dispatch(
    { key: `crossEntropy|${wg}|${logits.dtype}`, code },
    [bufOf(logits).buffer, bufOf(target).buffer, loss.buffer, lse.buffer],
    p,
    n,
  );
  return { loss, lse };
}

/**
 * dlogits [N, C] = gout[r] * (exp(x - lse) - (1 - s) * onehot(t) - s / C), zero rows where t ==
 * ignoreIndex. Given the forward's lse nothing is reduced, so it runs one thread per element.
 */
export function crossEntropyBackward(
  engine: Engine,
  gout: View,
  logits: View,
  target: View,
  lse: View,
  ignoreIndex: number,
  labelSmoothing: number,
): GpuBuffer {
  const op = 'crossEntropyBackward';
  const { n, c, tOff, tStride } = checkLogits(op, logits, target);
  checkFloat(op, [gout, lse]);
  const gSize = numel(gout.shape);
  if (gSize !== 1 && gSize !== n)
    throw new ShapeError(op, `the upstream gradient must have 1 or ${n} elements, got ${fmtShape(gout.shape)}`);
  if (numel(lse.shape) !== n) throw new ShapeError(op, `lse must have ${n} elements, got ${fmtShape(lse.shape)}`);
  const size = n * c;
  const dx = allocate(engine, logits.dtype, size);
  if (size === 0) return dx;
  const lastStride = (v: View): number => (v.shape.length ? v.strides[v.shape.length - 1]! : 0);
  // One shared upstream value (a scalar or a stride-0 row) is read at stride 0.
  const gStride = gSize === 1 ? 0 : lastStride(gout);
  const [rs, cs] = logits.strides as [number, number];
  const p = new Params()
    .u(size, c, logits.offset, rs, cs, tOff, tStride, gout.offset, gStride, lse.offset, lastStride(lse))
    .i(ignoreIndex)
    .f(1 - labelSmoothing, labelSmoothing / c);
  const code = (): string => `${PRELUDE}${MATH}
${binding(1, 'GO', gout.dtype, 'read')}
${binding(2, 'X', logits.dtype, 'read')}
${binding(3, 'T', 'int32', 'read')}
${binding(4, 'LSE', lse.dtype, 'read')}
${binding(5, 'DX', logits.dtype, 'read_write')}
@compute @workgroup_size(${ITEM_WG}) fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(ITEM_WG)};
  if (i >= pu(0u)) { return; }
  let c = pu(1u);
  let r = i / c;
  let j = i % c;
  let tgt = T[pu(5u) + r * pu(6u)];
  if (tgt == pi(11u)) { DX[i] = 0.0; return; }
  if (tgt < 0 || tgt >= i32(c)) { DX[i] = f_nan(); return; }
  let prob = exp(X[pu(2u) + r * pu(3u) + j * pu(4u)] - LSE[pu(9u) + r * pu(10u)]);
  let hit = select(0.0, pf(12u), u32(tgt) == j);
  DX[i] = GO[pu(7u) + r * pu(8u)] * (prob - pf(13u) - hit);
}`;
  const key = `crossEntropyBackward|${gout.dtype}|${logits.dtype}|${lse.dtype}`;
  engine.dispatch(
    { key, code },
    [bufOf(gout).buffer, bufOf(logits).buffer, bufOf(target).buffer, bufOf(lse).buffer, dx.buffer],
    p,
    Math.ceil(size / ITEM_WG),
  );
  return dx;
}
