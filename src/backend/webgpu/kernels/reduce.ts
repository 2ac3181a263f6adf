// Reductions in WGSL: sum, prod, max, min, argmax, argmin over any set of axes, matching
// src/backend/cpu/reduce.ts.
//
// x is addressed through its strides with two index decompositions: the kept axes give the start of an
// output's block, the reduced axes (in row-major order, which argmax/argmin report) the position in it.
// Both sets of axes are coalesced first, so a contiguous last-axis or full reduction walks one stride.
//
// One kernel shape covers every case: a workgroup of 256 threads is a grid of COLS outputs x LANES
// threads per output. Each thread folds a strided run of its output's block serially, then the LANES
// partial results meet in a shared-memory tree. The grid is picked per call:
// - small block (<= 64): LANES = 1, one thread per output and no tree;
// - the block runs along a strided axis while the outputs are contiguous (e.g. summing over the batch
//   axis): 32 outputs x 8 lanes, so neighbouring threads read neighbouring elements;
// - otherwise the block itself is the contiguous run: 32 or 256 lanes per output.
// When there are too few outputs to fill the GPU (a full sum is one output), each block is cut into
// chunks, one workgroup each, which write partial results; the partials [outputs, chunks] are reduced
// again by the same kernel until one chunk is left. That keeps every serial run short (16 to 256
// elements), so float32 sums of millions of elements stay accurate.
//
// Integer and bool inputs accumulate in i32 (wrapping, exact like the CPU's int32 result); float32 in
// f32. max/min propagate NaN; argmax/argmin pick the first extreme, a NaN counting as the extreme.

import type { ReduceOp, View } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import { DeviceError, ValueError, fmtShape } from '../../../errors.js';
import { ENTRY_ARGS, Params, PRELUDE, type Engine } from '../engine.js';
import { contiguousStrides, numel } from '../../../base/shape.js';
import { MAX_RANK, binding, bufOf, coalesce, convert, wgslType, type GpuBuffer } from './common.js';
import { allocate, fill, stridedCopy } from './elementwise.js';

const WG = 256;
/** Blocks up to this size get one thread per output. */
const SERIAL_MAX_BLOCK = 64;
/** Blocks from this size get a whole workgroup per output (when not reduced column-wise). */
const WIDE_MIN_BLOCK = 1024;
/** Bounds on the elements one thread folds serially before the tree takes over. */
const MIN_PER_THREAD = 16;
const MAX_PER_THREAD = 256;
/** Enough workgroups to keep a large GPU busy; blocks are chunked until a call has about this many. */
const TARGET_GROUPS = 2048;

/** A set of axes after coalescing: shape and strides, at least one axis. */
interface Axes {
  shape: number[];
  strides: number[];
}

/** What one pass reduces: values (and, after a first argmax/argmin pass, their block positions). */
interface Source {
  buf: GpuBuffer;
  dtype: DType;
  offset: number;
  kept: Axes;
  red: Axes;
  /** int32 block positions parallel to the values, or null when the position is the loop index. */
  positions: GpuBuffer | null;
}

/** How a workgroup's 256 threads split into outputs (cols) and threads per output (lanes). */
interface Grid {
  cols: number;
  lanes: number;
  /** Neighbouring threads take neighbouring outputs (else neighbouring lanes of one output). */
  outputsAdjacent: boolean;
}

function coalesced(op: string, shape: readonly number[], strides: readonly number[]): Axes {
  const c = coalesce(shape, [strides]);
  if (c.shape.length > MAX_RANK) {
    throw new DeviceError(op, `${c.shape.length} axes after merging exceed the WebGPU kernels' ${MAX_RANK} (shape ${fmtShape(shape)})`);
  }
  return { shape: c.shape, strides: c.strides[0]! };
}

function chooseGrid(src: Source, outSize: number, block: number): Grid {
  if (block <= SERIAL_MAX_BLOCK) return { cols: WG, lanes: 1, outputsAdjacent: true };
  const keptInner = src.kept.strides[src.kept.strides.length - 1]!;
  const redInner = src.red.strides[src.red.strides.length - 1]!;
  if (keptInner === 1 && redInner !== 1 && outSize >= 32) return { cols: 32, lanes: 8, outputsAdjacent: true };
  const lanes = block >= WIDE_MIN_BLOCK ? WG : 32;
  return { cols: WG / lanes, lanes, outputsAdjacent: false };
}

/** How many chunks to cut each block into: enough workgroups, serial runs within bounds. */
function chunkCount(grid: Grid, outSize: number, block: number): number {
  if (grid.lanes === 1) return 1;
  const outGroups = Math.ceil(outSize / grid.cols);
  const useful = Math.ceil(block / (grid.lanes * MIN_PER_THREAD));
  const wanted = Math.ceil(TARGET_GROUPS / outGroups);
  const needed = Math.ceil(block / (grid.lanes * MAX_PER_THREAD));
  const n = Math.max(1, needed, Math.min(useful, wanted));
  // no empty chunks: recount with the chunk length this gives
  return Math.ceil(block / Math.ceil(block / n));
}

// ---- WGSL ----

const isArg = (op: ReduceOp): boolean => op === 'argmax' || op === 'argmin';

/** WGSL of an offset function over coalesced axes whose shape and strides sit at params[at..]. */
function offsetFn(name: string, rank: number, at: number): string {
  const lines = [`fn ${name}(flat: u32) -> u32 {`, '  var rem = flat;', '  var off = 0u;'];
  for (let d = rank - 1; d >= 1; d--) {
    lines.push(`  { let n = pu(${at + d}u); off = off + (rem % n) * pu(${at + rank + d}u); rem = rem / n; }`);
  }
  // the leading coordinate needs no modulo: flat is inside the shape
  lines.push(`  return off + rem * pu(${at + rank}u);`, '}');
  return lines.join('\n');
}

/** Identity, fold and (for argmax/argmin) "candidate beats current" in the accumulator type T. */
function opHelpers(op: ReduceOp, float: boolean): string {
  const T = float ? 'f32' : 'i32';
  const common = /* wgsl */ `
// A NaN test on the bits: robust where a compiler assumes x == x.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// Runtime infinities: WGSL rejects constant expressions that overflow.
fn f_inf() -> f32 { var u = 0x7f800000u; return bitcast<f32>(u); }
const NO_POSITION = 2147483647i;
`;
  const lowest = float ? '-f_inf()' : 'bitcast<i32>(0x80000000u)';
  const highest = float ? 'f_inf()' : '2147483647i';
  switch (op) {
    case 'sum':
      return `${common}fn identity() -> ${T} { return ${T}(0); }
fn fold(a: ${T}, b: ${T}) -> ${T} { return a + b; }`;
    case 'prod':
      return `${common}fn identity() -> ${T} { return ${T}(1); }
fn fold(a: ${T}, b: ${T}) -> ${T} { return a * b; }`;
    case 'max':
    case 'min': {
      const pick = `${op}(a, b)`;
      const body = float ? `if (is_nan(a)) { return a; } if (is_nan(b)) { return b; } return ${pick};` : `return ${pick};`;
      return `${common}fn identity() -> ${T} { return ${op === 'max' ? lowest : highest}; }
fn fold(a: ${T}, b: ${T}) -> ${T} { ${body} }`;
    }
    case 'argmax':
    case 'argmin': {
      const cmp = op === 'argmax' ? '>' : '<';
      // Ties (and two NaNs) go to the earlier position, so the fold order never matters.
      const nanRule = float
        ? `let vn = is_nan(v); let an = is_nan(a);
  if (vn || an) { return vn && (!an || vp < ap); }
  `
        : '';
      return `${common}fn identity() -> ${T} { return ${op === 'argmax' ? lowest : highest}; }
fn beats(v: ${T}, vp: i32, a: ${T}, ap: i32) -> bool {
  ${nanRule}return v ${cmp} a || (v == a && vp < ap);
}`;
    }
  }
  throw new DeviceError('reduce', `unknown op '${String(op)}'`);
}

interface KernelSpec {
  op: ReduceOp;
  srcDtype: DType;
  accDtype: DType;
  keptRank: number;
  redRank: number;
  grid: Grid;
  withPositions: boolean;
  /** The final output's dtype, or null for a pass writing partial results in accDtype. */
  outDtype: DType | null;
}

// Parameter words: 0 outputs, 1 block, 2 chunks, 3 chunk length, 4 offset, 5-6 partial-result strides
// (per output, per chunk), then kept shape and strides, then reduced shape and strides.
const KEPT_AT = 7;

/** The cache key of a kernel: every field of the spec, which is all kernelCode reads. */
function kernelKey(s: KernelSpec): string {
  const g = s.grid;
  return `reduce|${s.op}|${s.srcDtype}|${s.accDtype}|${s.keptRank}.${s.redRank}|${g.cols}x${g.lanes}${g.outputsAdjacent ? 'a' : ''}|${s.withPositions ? 'p' : ''}|${s.outDtype ?? '-'}`;
}

function kernelCode(s: KernelSpec): string {
  const arg = isArg(s.op);
  const float = s.accDtype === 'float32';
  const T = wgslType(s.accDtype);
  const { cols, lanes, outputsAdjacent } = s.grid;
  const bindings = [binding(1, 'X', s.srcDtype, 'read')];
  let next = 2;
  if (s.withPositions) bindings.push(binding(next++, 'XP', 'int32', 'read'));
  if (s.outDtype) {
    bindings.push(binding(next++, 'Y', s.outDtype, 'read_write'));
  } else {
    bindings.push(binding(next++, 'PV', s.accDtype, 'read_write'));
    if (arg) bindings.push(binding(next++, 'PP', 'int32', 'read_write'));
  }
  const shared = lanes > 1 ? `var<workgroup> sv: array<${T}, ${WG}>;\n${arg ? `var<workgroup> sp: array<i32, ${WG}>;\n` : ''}` : '';
  const load = convert('X[xi]', s.srcDtype, s.accDtype);
  const step = outputsAdjacent ? `${cols}u` : '1u';
  const fold = arg
    ? `let v = ${load};
      let vp = ${s.withPositions ? 'XP[xi]' : 'i32(p)'};
      if (beats(v, vp, acc, at)) { acc = v; at = vp; }`
    : `acc = fold(acc, ${load});`;
  const tree =
    lanes === 1
      ? ''
      : `
  sv[t] = acc;${arg ? ' sp[t] = at;' : ''}
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      let u = t + s * ${step};
      ${arg ? 'if (beats(sv[u], sp[u], sv[t], sp[t])) { sv[t] = sv[u]; sp[t] = sp[u]; }' : 'sv[t] = fold(sv[t], sv[u]);'}
    }
    workgroupBarrier();
  }
  acc = sv[t];${arg ? ' at = sp[t];' : ''}`;
  let store: string;
  if (s.outDtype) {
    store = `Y[o] = ${arg ? convert('at', 'int32', s.outDtype) : convert('acc', s.accDtype, s.outDtype)};`;
  } else {
    store = `let w = o * pu(5u) + chunk * pu(6u);
    PV[w] = acc;${arg ? '\n    PP[w] = at;' : ''}`;
  }
  const redAt = KEPT_AT + 2 * s.keptRank;
  return `${PRELUDE}${opHelpers(s.op, float)}
${bindings.join('\n')}
${shared}${offsetFn('kept_offset', s.keptRank, KEPT_AT)}
${offsetFn('block_offset', s.redRank, redAt)}
@compute @workgroup_size(${WG}) fn main(${ENTRY_ARGS}) {
  let t = lid.x;
  let item = wid.x + wid.y * nwg.x;
  let chunk = item % pu(2u);
  let col = ${outputsAdjacent ? `t % ${cols}u` : `t / ${lanes}u`};
  let lane = ${outputsAdjacent ? `t / ${cols}u` : `t % ${lanes}u`};
  let o = (item / pu(2u)) * ${cols}u + col;
  let in_range = o < pu(0u);
  var acc = identity();${arg ? '\n  var at = NO_POSITION;' : ''}
  if (in_range) {
    let base = pu(4u) + kept_offset(o);
    let start = chunk * pu(3u);
    let end = min(start + pu(3u), pu(1u));
    for (var p = start + lane; p < end; p = p + ${lanes}u) {
      let xi = base + block_offset(p);
      ${fold}
    }
  }${tree}
  if (in_range && lane == 0u) {
    ${store}
  }
}`;
}

// ---- host side ----

function checkAxes(x: View, axes: readonly number[]): void {
  const rank = x.shape.length;
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i]!;
    if (!Number.isInteger(a) || a < 0 || a >= rank || (i > 0 && a <= axes[i - 1]!)) {
      throw new ValueError('reduce', `axes [${axes.join(',')}] must be sorted, unique and in [0, ${rank}) for shape ${fmtShape(x.shape)}`);
    }
  }
}

export function reduce(engine: Engine, op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): GpuBuffer {
  checkAxes(x, axes);
  wgslType(x.dtype, op);
  const isReduced = x.shape.map((_, i) => axes.includes(i));
  const outShape = x.shape.filter((_, i) => !isReduced[i]);
  const outSize = numel(outShape);
  const block = numel(axes.map((a) => x.shape[a]!));
  const arg = isArg(op);
  if (block === 0 && outSize > 0 && op !== 'sum' && op !== 'prod') {
    throw new ValueError('reduce', `${op} of an empty axis is undefined (shape ${fmtShape(x.shape)}, axes [${axes.join(',')}])`);
  }
  const kept = coalesced(
    op,
    outShape,
    x.strides.filter((_, i) => !isReduced[i]),
  );
  const red = coalesced(
    op,
    axes.map((a) => x.shape[a]!),
    axes.map((a) => x.strides[a]!),
  );
  const out = allocate(engine, outDtype, outSize);
  if (outSize === 0) return out;
  const outView: View = { buf: out, dtype: outDtype, shape: outShape, strides: contiguousStrides(outShape), offset: 0 };
  if (axes.length === 0 && !arg) {
    stridedCopy(engine, x, outView);
    return out;
  }
  if (block === 0) {
    fill(engine, outView, op === 'sum' ? 0 : 1);
    return out;
  }

  const accDtype: DType = x.dtype === 'float32' ? 'float32' : 'int32';
  let src: Source = { buf: bufOf(x), dtype: x.dtype, offset: x.offset, kept, red, positions: null };
  let blockLeft = block;
  const partials: GpuBuffer[] = [];
  try {
    for (;;) {
      const grid = chooseGrid(src, outSize, blockLeft);
      const chunks = chunkCount(grid, outSize, blockLeft);
      const chunkLen = Math.ceil(blockLeft / chunks);
      const final = chunks === 1;
      // Partials are laid out so the next pass reads them the way this one read x: chunk-major when
      // neighbouring outputs were neighbours in x, output-major otherwise.
      const perOutput = grid.outputsAdjacent ? 1 : chunks;
      const perChunk = grid.outputsAdjacent ? outSize : 1;
      const p = new Params().u(outSize, blockLeft, chunks, chunkLen, src.offset, perOutput, perChunk);
      p.u(...src.kept.shape, ...src.kept.strides, ...src.red.shape, ...src.red.strides);
      const spec: KernelSpec = {
        op,
        srcDtype: src.dtype,
        accDtype,
        keptRank: src.kept.shape.length,
        redRank: src.red.shape.length,
        grid,
        withPositions: src.positions !== null,
        outDtype: final ? outDtype : null,
      };
      const kernel = { key: kernelKey(spec), code: (): string => kernelCode(spec) };
      const inputs = [src.buf.buffer, ...(src.positions ? [src.positions.buffer] : [])];
      const groups = Math.ceil(outSize / grid.cols) * chunks;
      if (final) {
        engine.dispatch(kernel, [...inputs, out.buffer], p, groups);
        return out;
      }
      const values = allocate(engine, accDtype, outSize * chunks);
      partials.push(values);
      const positions = arg ? allocate(engine, 'int32', outSize * chunks) : null;
      if (positions) partials.push(positions);
      engine.dispatch(kernel, [...inputs, values.buffer, ...(positions ? [positions.buffer] : [])], p, groups);
      src = {
        buf: values,
        dtype: accDtype,
        offset: 0,
        kept: coalesced(op, [outSize], [perOutput]),
        red: coalesced(op, [chunks], [perChunk]),
        positions,
      };
      blockLeft = chunks;
    }
  } finally {
    // Safe right away: the pool hands them out again only after the recorded passes are submitted.
    for (const b of partials) engine.release(b);
  }
}
