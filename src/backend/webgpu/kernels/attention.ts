// Fused scaled-dot-product attention in WGSL, flash-attention style: the [Lq, Lk] weights never reach
// memory. The forward keeps, per query row, a running max and sum of exp(scores) (online softmax) and
// rescales its output accumulator whenever the max grows; it writes the output and the row's
// log-sum-exp (lse). The backward rebuilds every weight from q, k and lse:
//   D_i = rowsum(dO_i * O_i);  P_ij = exp(s_ij - lse_i);  dP_ij = dO_i . v_j (times the dropout mask);
//   dS_ij = P_ij (dP_ij - D_i);  dV_j = sum_i Z_ij dO_i (Z: the dropped weights);
//   dK_j = scale * sum_i dS_ij q_i;  dQ_i = scale * sum_j dS_ij k_j
// as three kernels: D, then one parallel over key blocks that loops over all query blocks (dK, dV), then
// one parallel over query blocks that loops over all key blocks (dQ). Every output element is summed by
// one thread in a fixed order: no atomics, so results are deterministic.
//
// Thread layout: a workgroup owns ROWS rows (queries in the forward and dQ, keys in dK/dV) with TPR
// threads per row, and walks the other side in blocks of COLS staged in workgroup memory. A row's TPR
// threads first split the block's dot products (thread t takes the block's entries t, t + TPR, ...),
// write them to workgroup memory, and then split the row's output columns (thread t owns the vec4
// columns t, t + TPR, ...) for the accumulation. So a thread holds a quarter of a row's accumulators,
// small enough to stay in registers at head size 128, and neighbouring threads read neighbouring vec4s.
// Staged rows are padded by one vec4 so that threads on different rows hit different banks.
//
// Scores are kept in base 2: q (or k) is staged pre-multiplied by scale * log2(e), so a weight is one
// exp2. Causal blocks entirely above the diagonal are skipped, and the query blocks that see the most
// keys are started first. Operands are read in place through their strides; the batch index is
// decomposed over up to MAX_BATCH_DIMS leading axes (merged across operands where the strides allow).

import type { AttentionDropout, View } from '../../backend.js';
import { DTypeError, DeviceError, ShapeError, fmtShape } from '../../../errors.js';
import { ENTRY_ARGS, Params, PRELUDE, linearIndex, type Engine } from '../engine.js';
import { allocate, MATH } from './elementwise.js';
import { binding, bufOf, coalesce, type GpuBuffer } from './common.js';
import { attentionShapeProblem } from '../../attention-shape.js';
import { numel, sameShape } from '../../../base/shape.js';

/** Threads per row: a quarter of a 64-wide head each, 128 threads for 32 rows. */
const TPR = 4;
/** Leading (batch) axes a kernel decomposes, after dropping size-1 axes. */
export const MAX_BATCH_DIMS = 4;
/**
 * Largest head size (E and Ev) taken: a thread accumulates a quarter of a row (of dK and dV at once in
 * the backward), and past 256 that no longer fits in registers.
 */
export const MAX_HEAD_DIM = 256;
/** Threads per workgroup of the D kernel (one thread per query row). */
const ROW_WG = 64;

const LOG2E = Math.LOG2E;
const LN2 = Math.LN2;

/** Rows per workgroup and entries per staged block; tried from the first, the first that fits wins. */
interface Tile {
  readonly rows: number;
  readonly cols: number;
}
const TILES: readonly Tile[] = [
  { rows: 32, cols: 32 },
  { rows: 32, cols: 16 },
  { rows: 16, cols: 16 },
  { rows: 16, cols: 8 },
  { rows: 8, cols: 8 },
];

type Kind = 'forward' | 'dkv' | 'dq';

/** Head-size constants of one kernel variant (vec4 counts, padded row strides). */
interface Dims {
  e: number;
  ev: number;
  /** vec4s per row of q/k and of v/dO. */
  e4: number;
  v4: number;
  /** vec4 columns a thread owns of q/k and of v/dO rows. */
  ept: number;
  vpt: number;
  /** Row strides (vec4) of staged q/k and v/dO tiles: every owned column plus one vec4 of padding. */
  ep: number;
  vp: number;
}

function dimsOf(e: number, ev: number): Dims {
  const e4 = Math.ceil(e / 4);
  const v4 = Math.ceil(ev / 4);
  const ept = Math.ceil(e4 / TPR);
  const vpt = Math.ceil(v4 / TPR);
  return { e, ev, e4, v4, ept, vpt, ep: ept * TPR + 1, vp: vpt * TPR + 1 };
}

/** Bytes of workgroup memory a kernel declares for a tile (must match the declarations below). */
function sharedBytes(kind: Kind, t: Tile, d: Dims): number {
  const vec = 16;
  switch (kind) {
    case 'forward': // Qs, Ks, Vs, Ps, Mx, Ls
      return vec * (t.rows * d.ep + t.cols * d.ep + t.cols * d.vp) + 4 * (t.rows * (t.cols + 1) + 2 * t.rows * TPR);
    case 'dq': // Qs, Gs, Ks, Vs, Ss
      return vec * (t.rows * (d.ep + d.vp) + t.cols * (d.ep + d.vp)) + 4 * t.rows * (t.cols + 1);
    case 'dkv': // Ks, Vs, Qs, Gs, Zs, Ss, Lw, Dw
      return vec * (t.rows * (d.ep + d.vp) + t.cols * (d.ep + d.vp)) + 4 * (2 * t.cols * (t.rows + 1) + 2 * t.cols);
  }
}

/** The first tile whose workgroup memory fits the device, or null. */
function tileFor(kind: Kind, d: Dims, limits: GPUSupportedLimits): Tile | null {
  return (
    TILES.find(
      (t) => sharedBytes(kind, t, d) <= limits.maxComputeWorkgroupStorageSize && t.rows * TPR <= limits.maxComputeInvocationsPerWorkgroup,
    ) ?? null
  );
}

/** Why the kernels cannot take shapes that fit together (null when they can). */
function sizeProblem(q: readonly number[], k: readonly number[], v: readonly number[], limits: GPUSupportedLimits): string | null {
  const [e, ev, lk] = [q[q.length - 1]!, v[v.length - 1]!, k[k.length - 2]!];
  if (lk === 0) return 'there are no keys';
  if (e < 1 || ev < 1 || e > MAX_HEAD_DIM || ev > MAX_HEAD_DIM) return `head sizes must lie in [1, ${MAX_HEAD_DIM}]`;
  if (q.slice(0, -2).filter((n) => n !== 1).length > MAX_BATCH_DIMS) return `more than ${MAX_BATCH_DIMS} leading axes`;
  const d = dimsOf(e, ev);
  if ((['forward', 'dkv', 'dq'] as const).some((kind) => !tileFor(kind, d, limits)))
    return 'the head sizes need more workgroup memory than this device has';
  return null;
}

/** Whether attention/attentionBackward take q, k, v of these shapes on a device with these limits. */
export function supportsAttention(q: readonly number[], k: readonly number[], v: readonly number[], limits: GPUSupportedLimits): boolean {
  return attentionShapeProblem(q, k, v) === null && sizeProblem(q, k, v, limits) === null;
}

/** Raises a DTypeError for a non-float32 view, a ShapeError for shapes that do not fit, a DeviceError for sizes the kernels lack. */
function check(op: string, views: Record<string, View>, limits: GPUSupportedLimits): void {
  for (const [name, x] of Object.entries(views)) {
    if (x.dtype !== 'float32') throw new DTypeError(op, `${name} must be float32, got ${x.dtype} ${fmtShape(x.shape)}`);
  }
  const { q, k, v } = views as { q: View; k: View; v: View };
  const shapes = `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`;
  const bad = attentionShapeProblem(q.shape, k.shape, v.shape);
  if (bad) throw new ShapeError(op, `${bad}: ${shapes}`);
  const why = sizeProblem(q.shape, k.shape, v.shape, limits);
  if (why) throw new DeviceError(op, `${why}: ${shapes}`);
}

// ---------------------------------------------------------------------------------------------------
// parameters

// Word indices of the parameters every kernel shares.
const P_GROUPS = 0; // workgroups (or rows, for D) to run
const P_BLOCKS = 1; // row blocks per batch entry
const P_LQ = 2;
const P_LK = 3;
const P_CAUSAL = 4;
const P_SCALE_LOG2 = 5; // f32: scale * log2(e)
const P_SCALE = 6; // f32
const P_SEED = 7;
const P_THRESHOLD = 8; // dropout: keep when hash >> 8 >= this
const P_KEEP_SCALE = 9; // f32: 1 / (1 - p)
// The inner loops' trip counts (vec4s per q/k row, per v/dO row, entries per staged block) come from
// parameters rather than WGSL constants: Mesa's lavapipe unrolls constant loops completely, and its
// LLVM then spends tens of seconds on each kernel; GPU compilers unroll runtime loops partially anyway.
const P_E4 = 10;
const P_V4 = 11;
const P_COLS = 12;
const P_SHAPE = 13; // MAX_BATCH_DIMS words: the merged batch shape, innermost first, padded with 1
const P_OPERANDS = P_SHAPE + MAX_BATCH_DIMS;
/** Words per operand: offset, row stride, column stride, then batch strides innermost first. */
const OPERAND_WORDS = 3 + MAX_BATCH_DIMS;
/** The parameter index where operand n's words start. */
const operandAt = (n: number): number => P_OPERANDS + n * OPERAND_WORDS;

interface Header {
  groups: number;
  blocks: number;
  d: Dims;
  /** Entries per staged block. */
  cols: number;
  lq: number;
  lk: number;
  causal: boolean;
  scale: number;
  dropout: AttentionDropout | null;
}

/**
 * The shared parameters and, for each view, its offset, row and column strides (the last two axes; a
 * view of rank r - 1, like lse, has column stride 0) and its strides along the batch axes merged
 * across all the views.
 */
function params(h: Header, lead: readonly number[], views: readonly View[]): Params {
  const p = new Params();
  const threshold = h.dropout ? Math.ceil(h.dropout.p * 2 ** 24) : 0;
  p.u(h.groups, h.blocks, h.lq, h.lk, h.causal ? 1 : 0)
    .f(h.scale * LOG2E, h.scale)
    .u(h.dropout?.seed ?? 0, threshold)
    .f(h.dropout ? 1 / (1 - h.dropout.p) : 1);
  p.u(h.d.e4, h.d.v4, h.cols);
  const merged = coalesce(
    lead,
    views.map((x) => x.strides.slice(0, lead.length)),
  );
  if (merged.shape.length > MAX_BATCH_DIMS) {
    throw new DeviceError('attention', `${merged.shape.length} leading axes ${fmtShape(lead)} exceed the kernels' ${MAX_BATCH_DIMS}`);
  }
  const innermostFirst = <T>(xs: readonly T[], pad: T): T[] => [...xs].reverse().concat(new Array<T>(MAX_BATCH_DIMS - xs.length).fill(pad));
  p.u(...innermostFirst(merged.shape, 1));
  views.forEach((x, n) => {
    const r = lead.length;
    p.u(x.offset, x.strides[r] ?? 0, x.strides[r + 1] ?? 0, ...innermostFirst(merged.strides[n]!, 0));
  });
  return p;
}

/** WGSL shared by the kernels: batch addressing, the dropout hash, constants. */
const HELPERS = /* wgsl */ `
const LOG2E = ${LOG2E};
const LN2 = ${LN2};
// The element offset where batch entry b of the operand whose parameters start at \`at\` begins.
fn batch_offset(b: u32, at: u32) -> u32 {
  var rem = b;
  var o = pu(at);
  for (var d = 0u; d < ${MAX_BATCH_DIMS}u; d++) {
    let n = pu(${P_SHAPE}u + d);
    o += (rem % n) * pu(at + 3u + d);
    rem = rem / n;
  }
  return o;
}
// pcg4d (Jarzynski and Olano 2020): a counter-based hash, so the backward regenerates the forward's
// mask. The rule (and its host twin) is documented at AttentionDropout in backend.ts.
fn keep(b: u32, i: u32, j: u32) -> bool {
  var v = vec4<u32>(pu(${P_SEED}u), b, i, j) * 1664525u + 1013904223u;
  v.x += v.y * v.w; v.y += v.z * v.x; v.z += v.x * v.y; v.w += v.y * v.z;
  v ^= v >> vec4<u32>(16u);
  v.x += v.y * v.w; v.y += v.z * v.x; v.z += v.x * v.y; v.w += v.y * v.z;
  return (v.x >> 8u) >= pu(${P_THRESHOLD}u);
}
`;

/** WGSL head of a one-workgroup-per-(batch, row block) kernel: w, b, blk (the block), r, t. */
const BLOCK_ENTRY = (threads: number): string => `@compute @workgroup_size(${threads}) fn main(${ENTRY_ARGS}) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= pu(${P_GROUPS}u)) { return; }
  let nblk = pu(${P_BLOCKS}u);
  let lq = pu(${P_LQ}u);
  let lk = pu(${P_LK}u);
  let causal = pu(${P_CAUSAL}u) != 0u;
  let ne4 = pu(${P_E4}u);
  let nv4 = pu(${P_V4}u);
  let ncols = pu(${P_COLS}u);
  let b = w / nblk;
  let blk = w % nblk;
  let r = lid.x / ${TPR}u;
  let t = lid.x % ${TPR}u;
  let neg = -f_inf();`;

/**
 * WGSL staging rows [first, first + rows) of operand `n` (buffer `src`, batch offset `base`) into the
 * vec4 tile `dst` with row stride `stride`: zero past `limit` rows and past `width` columns, so padded
 * lanes add nothing to dot products. Neighbouring threads read neighbouring columns.
 */
function stage(
  dst: string,
  src: string,
  n: number,
  base: string,
  first: string,
  limit: string,
  rows: number,
  width: number,
  stride: number,
  threads: number,
  scale = '',
): string {
  const lanes = (stride - 1) * 4;
  const at = operandAt(n);
  return `for (var x = lid.x; x < ${rows * lanes}u; x += ${threads}u) {
    let rr = x / ${lanes}u;
    let c = x % ${lanes}u;
    let g = ${first} + rr;
    var val = 0.0;
    if (g < ${limit} && c < ${width}u) { val = ${src}[${base} + g * pu(${at + 1}u) + c * pu(${at + 2}u)]${scale}; }
    ${dst}[rr * ${stride}u + c / 4u][c % 4u] = val;
  }`;
}

/** `n` WGSL lines from `line(x)`, x = 0 .. n - 1: the small per-thread loops are unrolled into named registers. */
const unroll = (n: number, line: (x: number) => string, sep = '\n    '): string => Array.from({ length: n }, (_, x) => line(x)).join(sep);

/** WGSL writing a thread's owned vec4 columns `${acc}0, ${acc}1, ...` (times `mul`) of row `row` to contiguous `dst`. */
function writeRow(dst: string, acc: string, owned: number, width: number, row: string, mul: string): string {
  return unroll(
    owned,
    (c) => `{
      let col = (t + ${c * TPR}u) * 4u;
      let val = ${acc}${c} * ${mul};
      ${unroll(4, (u) => `if (col + ${u}u < ${width}u) { ${dst}[${row} * ${width}u + col + ${u}u] = val[${u}]; }`, '\n      ')}
    }`,
  );
}

/** WGSL declaring `${name}0, ${name}1, ...` zeroed: `count` of `type`. */
const zeros = (name: string, count: number, type: string): string => unroll(count, (x) => `var ${name}${x} = ${type}();`);

// ---------------------------------------------------------------------------------------------------
// forward

// Operand order of the forward's parameters.
const F_Q = 0;
const F_K = 1;
const F_V = 2;

function forwardCode(t: Tile, d: Dims, dropout: boolean): string {
  const { rows, cols } = t;
  const threads = rows * TPR;
  const kpt = cols / TPR;
  const sp = cols + 1;
  const weight = (x: number): string => (dropout ? `select(0.0, p${x} * pf(${P_KEEP_SCALE}u), keep(b, i, j0 + t + ${x * TPR}u))` : `p${x}`);
  return `${PRELUDE}${MATH}${HELPERS}
${binding(1, 'Q', 'float32', 'read')}
${binding(2, 'K', 'float32', 'read')}
${binding(3, 'V', 'float32', 'read')}
${binding(4, 'O', 'float32', 'read_write')}
${binding(5, 'LSE', 'float32', 'read_write')}
var<workgroup> Qs: array<vec4<f32>, ${rows * d.ep}>;
var<workgroup> Ks: array<vec4<f32>, ${cols * d.ep}>;
var<workgroup> Vs: array<vec4<f32>, ${cols * d.vp}>;
var<workgroup> Ps: array<f32, ${rows * sp}>;
var<workgroup> Mx: array<f32, ${threads}>;
var<workgroup> Ls: array<f32, ${threads}>;
${BLOCK_ENTRY(threads)}
  // Causal rows at the end see the most keys: their blocks start first.
  let i0 = (nblk - 1u - blk) * ${rows}u;
  let i = i0 + r;
  let qo = batch_offset(b, ${operandAt(F_Q)}u);
  let ko = batch_offset(b, ${operandAt(F_K)}u);
  let vo = batch_offset(b, ${operandAt(F_V)}u);
  ${stage('Qs', 'Q', F_Q, 'qo', 'i0', 'lq', rows, d.e, d.ep, threads, ` * pf(${P_SCALE_LOG2}u)`)}
  var m = neg;
  var l = 0.0;
  ${zeros('acc', d.vpt, 'vec4<f32>')}
  var nkb = (lk + ${cols - 1}u) / ${cols}u;
  if (causal) { nkb = min(nkb, (min(i0 + ${rows}u, lq) - 1u) / ${cols}u + 1u); }
  for (var kb = 0u; kb < nkb; kb++) {
    let j0 = kb * ${cols}u;
    workgroupBarrier();
    ${stage('Ks', 'K', F_K, 'ko', 'j0', 'lk', cols, d.e, d.ep, threads)}
    ${stage('Vs', 'V', F_V, 'vo', 'j0', 'lk', cols, d.ev, d.vp, threads)}
    workgroupBarrier();
    // This thread's scores (base 2): keys t, t + ${TPR}, ... of the block.
    ${zeros('s', kpt, 'f32')}
    for (var e4 = 0u; e4 < ne4; e4++) {
      let qv = Qs[r * ${d.ep}u + e4];
      ${unroll(kpt, (x) => `s${x} += dot(qv, Ks[(t + ${x * TPR}u) * ${d.ep}u + e4]);`, '\n      ')}
    }
    var lm = neg;
    ${unroll(
      kpt,
      (x) => `if (j0 + t + ${x * TPR}u >= lk || (causal && j0 + t + ${x * TPR}u > i)) { s${x} = neg; }
    lm = max(lm, s${x});`,
    )}
    Mx[lid.x] = lm;
    workgroupBarrier();
    var mn = m;
    ${unroll(TPR, (y) => `mn = max(mn, Mx[r * ${TPR}u + ${y}u]);`)}
    // A row that has seen only masked keys keeps max -inf: shift by 0 then, so its weights are exp2(-inf) = 0.
    let shift = select(mn, 0.0, mn == neg);
    ${unroll(
      kpt,
      (x) => `let p${x} = exp2(s${x} - shift);
    Ps[r * ${sp}u + t + ${x * TPR}u] = ${weight(x)};`,
    )}
    Ls[lid.x] = ${unroll(kpt, (x) => `p${x}`, ' + ')};
    workgroupBarrier();
    // Rescale what the earlier blocks summed to the new max, then add this block.
    let alpha = exp2(m - shift);
    l = l * alpha + ${unroll(TPR, (y) => `Ls[r * ${TPR}u + ${y}u]`, ' + ')};
    ${unroll(d.vpt, (c) => `acc${c} *= alpha;`)}
    for (var jj = 0u; jj < ncols; jj++) {
      let p = Ps[r * ${sp}u + jj];
      let vrow = jj * ${d.vp}u + t;
      ${unroll(d.vpt, (c) => `acc${c} += p * Vs[vrow + ${c * TPR}u];`, '\n      ')}
    }
    m = mn;
  }
  if (i < lq) {
    let row = b * lq + i;
    let inv = 1.0 / l;
    ${writeRow('O', 'acc', d.vpt, d.ev, 'row', 'inv')}
    if (t == 0u) { LSE[row] = (m + log2(l)) * LN2; }
  }
}`;
}

export function attention(
  engine: Engine,
  q: View,
  k: View,
  v: View,
  causal: boolean,
  scale: number,
  dropout: AttentionDropout | null = null,
): { out: GpuBuffer; lse: GpuBuffer } {
  const limits = engine.device.limits;
  check('attention', { q, k, v }, limits);
  const r = q.shape.length;
  const lead = q.shape.slice(0, -2);
  const [lq, e] = q.shape.slice(-2) as [number, number];
  const lk = k.shape[r - 2]!;
  const ev = v.shape[r - 1]!;
  const nb = numel(lead);
  const out = allocate(engine, 'float32', nb * lq * ev);
  const lse = allocate(engine, 'float32', nb * lq);
  const d = dimsOf(e, ev);
  const tile = tileFor('forward', d, limits)!;
  const blocks = Math.ceil(lq / tile.rows);
  const groups = nb * blocks;
  const p = params({ groups, blocks, d, cols: tile.cols, lq, lk, causal, scale, dropout }, lead, [q, k, v]);
  const kernel = {
    key: `attention|${tile.rows}x${tile.cols}|${e}|${ev}|${dropout ? 'dropout' : ''}`,
    code: () => forwardCode(tile, d, dropout !== null),
  };
  engine.dispatch(kernel, [bufOf(q).buffer, bufOf(k).buffer, bufOf(v).buffer, out.buffer, lse.buffer], p, groups);
  return { out, lse };
}

// ---------------------------------------------------------------------------------------------------
// backward

// Operand order of the backward's parameters (D's kernel uses its own: g, out).
const B_Q = 0;
const B_K = 1;
const B_V = 2;
const B_G = 3;
const B_LSE = 4;

const BACKWARD_BINDINGS = [
  binding(1, 'Q', 'float32', 'read'),
  binding(2, 'K', 'float32', 'read'),
  binding(3, 'V', 'float32', 'read'),
  binding(4, 'G', 'float32', 'read'),
  binding(5, 'LSE', 'float32', 'read'),
  binding(6, 'D', 'float32', 'read'),
].join('\n');

/** D_i = rowsum(dO_i * O_i), one thread per query row (what dS subtracts; see the top of the file); the row length is P_COLS. */
function rowDotCode(): string {
  return `${PRELUDE}${HELPERS}
${binding(1, 'G', 'float32', 'read')}
${binding(2, 'O', 'float32', 'read')}
${binding(3, 'D', 'float32', 'read_write')}
@compute @workgroup_size(${ROW_WG}) fn main(${ENTRY_ARGS}) {
  let row = ${linearIndex(ROW_WG)};
  if (row >= pu(${P_GROUPS}u)) { return; }
  let lq = pu(${P_LQ}u);
  let b = row / lq;
  let i = row % lq;
  let go = batch_offset(b, ${operandAt(0)}u) + i * pu(${operandAt(0) + 1}u);
  let oo = batch_offset(b, ${operandAt(1)}u) + i * pu(${operandAt(1) + 1}u);
  var s = 0.0;
  for (var c = 0u; c < pu(${P_COLS}u); c++) { s += G[go + c * pu(${operandAt(0) + 2}u)] * O[oo + c * pu(${operandAt(1) + 2}u)]; }
  D[row] = s;
}`;
}

/**
 * WGSL for one (query i, key j) pair of the backward, given its score s (base 2), dp = dO_i . v_j, the
 * row's lse (base 2) li and D_i di, and whether the pair is unmasked: sets z (the weight, dropped, that
 * multiplied v_j) and ds (dS_ij).
 */
function pairTerms(x: number, dropout: boolean, unmasked: string, li: string, di: string): string {
  const terms = dropout
    ? `let p = exp2(s${x} - ${li});
      let kept = keep(b, i, j);
      z${x} = select(0.0, p * pf(${P_KEEP_SCALE}u), kept);
      ds${x} = p * (select(0.0, dp${x} * pf(${P_KEEP_SCALE}u), kept) - ${di});`
    : `let p = exp2(s${x} - ${li});
      z${x} = p;
      ds${x} = p * (dp${x} - ${di});`;
  return `var z${x} = 0.0;
    var ds${x} = 0.0;
    if (${unmasked}) {
      ${terms}
    }`;
}

/** dK and dV: a workgroup per (batch, block of ROWS keys), looping over the query blocks that see them. */
function dkvCode(tl: Tile, d: Dims, dropout: boolean): string {
  const { rows, cols } = tl;
  const threads = rows * TPR;
  const qpt = cols / TPR;
  const rs = rows + 1;
  return `${PRELUDE}${MATH}${HELPERS}
${BACKWARD_BINDINGS}
${binding(7, 'DK', 'float32', 'read_write')}
${binding(8, 'DV', 'float32', 'read_write')}
var<workgroup> Ks: array<vec4<f32>, ${rows * d.ep}>;
var<workgroup> Vs: array<vec4<f32>, ${rows * d.vp}>;
var<workgroup> Qs: array<vec4<f32>, ${cols * d.ep}>;
var<workgroup> Gs: array<vec4<f32>, ${cols * d.vp}>;
var<workgroup> Zs: array<f32, ${cols * rs}>;
var<workgroup> Ss: array<f32, ${cols * rs}>;
var<workgroup> Lw: array<f32, ${cols}>;
var<workgroup> Dw: array<f32, ${cols}>;
${BLOCK_ENTRY(threads)}
  let j0 = blk * ${rows}u;
  let j = j0 + r;
  let qo = batch_offset(b, ${operandAt(B_Q)}u);
  let go = batch_offset(b, ${operandAt(B_G)}u);
  let lo = batch_offset(b, ${operandAt(B_LSE)}u);
  let ko = batch_offset(b, ${operandAt(B_K)}u);
  let vo = batch_offset(b, ${operandAt(B_V)}u);
  ${stage('Ks', 'K', B_K, 'ko', 'j0', 'lk', rows, d.e, d.ep, threads, ` * pf(${P_SCALE_LOG2}u)`)}
  ${stage('Vs', 'V', B_V, 'vo', 'j0', 'lk', rows, d.ev, d.vp, threads)}
  ${zeros('dk', d.ept, 'vec4<f32>')}
  ${zeros('dv', d.vpt, 'vec4<f32>')}
  let nqb = (lq + ${cols - 1}u) / ${cols}u;
  // Under the causal mask, queries before the block's first key see none of its keys.
  var qb0 = 0u;
  if (causal) { qb0 = j0 / ${cols}u; }
  for (var qb = qb0; qb < nqb; qb++) {
    let i0 = qb * ${cols}u;
    workgroupBarrier();
    ${stage('Qs', 'Q', B_Q, 'qo', 'i0', 'lq', cols, d.e, d.ep, threads)}
    ${stage('Gs', 'G', B_G, 'go', 'i0', 'lq', cols, d.ev, d.vp, threads)}
    for (var x = lid.x; x < ${cols}u; x += ${threads}u) {
      let i = i0 + x;
      var li = 0.0;
      var di = 0.0;
      if (i < lq) { li = LSE[lo + i * pu(${operandAt(B_LSE) + 1}u)] * LOG2E; di = D[b * lq + i]; }
      Lw[x] = li;
      Dw[x] = di;
    }
    workgroupBarrier();
    // This thread's pairs: key j with queries t, t + ${TPR}, ... of the block.
    ${zeros('s', qpt, 'f32')}
    ${zeros('dp', qpt, 'f32')}
    for (var e4 = 0u; e4 < ne4; e4++) {
      let kv = Ks[r * ${d.ep}u + e4];
      ${unroll(qpt, (x) => `s${x} += dot(kv, Qs[(t + ${x * TPR}u) * ${d.ep}u + e4]);`, '\n      ')}
    }
    for (var e4 = 0u; e4 < nv4; e4++) {
      let vv = Vs[r * ${d.vp}u + e4];
      ${unroll(qpt, (x) => `dp${x} += dot(vv, Gs[(t + ${x * TPR}u) * ${d.vp}u + e4]);`, '\n      ')}
    }
    ${unroll(
      qpt,
      (x) => `{
    let ii = t + ${x * TPR}u;
    let i = i0 + ii;
    ${pairTerms(x, dropout, 'i < lq && j < lk && !(causal && j > i)', 'Lw[ii]', 'Dw[ii]')}
    Zs[ii * ${rs}u + r] = z${x};
    Ss[ii * ${rs}u + r] = ds${x};
    }`,
    )}
    workgroupBarrier();
    for (var ii = 0u; ii < ncols; ii++) {
      let z = Zs[ii * ${rs}u + r];
      let ds = Ss[ii * ${rs}u + r];
      let grow = ii * ${d.vp}u + t;
      let qrow = ii * ${d.ep}u + t;
      ${unroll(d.vpt, (c) => `dv${c} += z * Gs[grow + ${c * TPR}u];`, '\n      ')}
      ${unroll(d.ept, (c) => `dk${c} += ds * Qs[qrow + ${c * TPR}u];`, '\n      ')}
    }
  }
  if (j < lk) {
    let row = b * lk + j;
    let scale = pf(${P_SCALE}u);
    ${writeRow('DK', 'dk', d.ept, d.e, 'row', 'scale')}
    ${writeRow('DV', 'dv', d.vpt, d.ev, 'row', '1.0')}
  }
}`;
}

/** dQ: a workgroup per (batch, block of ROWS queries), looping over the key blocks they see. */
function dqCode(tl: Tile, d: Dims, dropout: boolean): string {
  const { rows, cols } = tl;
  const threads = rows * TPR;
  const kpt = cols / TPR;
  const sp = cols + 1;
  return `${PRELUDE}${MATH}${HELPERS}
${BACKWARD_BINDINGS}
${binding(7, 'DQ', 'float32', 'read_write')}
var<workgroup> Qs: array<vec4<f32>, ${rows * d.ep}>;
var<workgroup> Gs: array<vec4<f32>, ${rows * d.vp}>;
var<workgroup> Ks: array<vec4<f32>, ${cols * d.ep}>;
var<workgroup> Vs: array<vec4<f32>, ${cols * d.vp}>;
var<workgroup> Ss: array<f32, ${rows * sp}>;
${BLOCK_ENTRY(threads)}
  let i0 = (nblk - 1u - blk) * ${rows}u;
  let i = i0 + r;
  let qo = batch_offset(b, ${operandAt(B_Q)}u);
  let go = batch_offset(b, ${operandAt(B_G)}u);
  let ko = batch_offset(b, ${operandAt(B_K)}u);
  let vo = batch_offset(b, ${operandAt(B_V)}u);
  ${stage('Qs', 'Q', B_Q, 'qo', 'i0', 'lq', rows, d.e, d.ep, threads, ` * pf(${P_SCALE_LOG2}u)`)}
  ${stage('Gs', 'G', B_G, 'go', 'i0', 'lq', rows, d.ev, d.vp, threads)}
  var li = 0.0;
  var di = 0.0;
  if (i < lq) {
    li = LSE[batch_offset(b, ${operandAt(B_LSE)}u) + i * pu(${operandAt(B_LSE) + 1}u)] * LOG2E;
    di = D[b * lq + i];
  }
  ${zeros('dq', d.ept, 'vec4<f32>')}
  var nkb = (lk + ${cols - 1}u) / ${cols}u;
  if (causal) { nkb = min(nkb, (min(i0 + ${rows}u, lq) - 1u) / ${cols}u + 1u); }
  for (var kb = 0u; kb < nkb; kb++) {
    let j0 = kb * ${cols}u;
    workgroupBarrier();
    ${stage('Ks', 'K', B_K, 'ko', 'j0', 'lk', cols, d.e, d.ep, threads)}
    ${stage('Vs', 'V', B_V, 'vo', 'j0', 'lk', cols, d.ev, d.vp, threads)}
    workgroupBarrier();
    // This thread's pairs: query i with keys t, t + ${TPR}, ... of the block.
    ${zeros('s', kpt, 'f32')}
    ${zeros('dp', kpt, 'f32')}
    for (var e4 = 0u; e4 < ne4; e4++) {
      let qv = Qs[r * ${d.ep}u + e4];
      ${unroll(kpt, (x) => `s${x} += dot(qv, Ks[(t + ${x * TPR}u) * ${d.ep}u + e4]);`, '\n      ')}
    }
    for (var e4 = 0u; e4 < nv4; e4++) {
      let gv = Gs[r * ${d.vp}u + e4];
      ${unroll(kpt, (x) => `dp${x} += dot(gv, Vs[(t + ${x * TPR}u) * ${d.vp}u + e4]);`, '\n      ')}
    }
    ${unroll(
      kpt,
      (x) => `{
    let jj = t + ${x * TPR}u;
    let j = j0 + jj;
    ${pairTerms(x, dropout, 'i < lq && j < lk && !(causal && j > i)', 'li', 'di')}
    Ss[r * ${sp}u + jj] = ds${x};
    }`,
    )}
    workgroupBarrier();
    for (var jj = 0u; jj < ncols; jj++) {
      let ds = Ss[r * ${sp}u + jj];
      let krow = jj * ${d.ep}u + t;
      ${unroll(d.ept, (c) => `dq${c} += ds * Ks[krow + ${c * TPR}u];`, '\n      ')}
    }
  }
  if (i < lq) {
    let row = b * lq + i;
    let scale = pf(${P_SCALE}u);
    ${writeRow('DQ', 'dq', d.ept, d.e, 'row', 'scale')}
  }
}`;
}

export function attentionBackward(
  engine: Engine,
  g: View,
  q: View,
  k: View,
  v: View,
  out: View,
  lse: View,
  causal: boolean,
  scale: number,
  dropout: AttentionDropout | null = null,
): { dq: GpuBuffer; dk: GpuBuffer; dv: GpuBuffer } {
  const op = 'attentionBackward';
  const limits = engine.device.limits;
  check(op, { q, k, v, g, out, lse }, limits);
  const r = q.shape.length;
  const lead = q.shape.slice(0, -2);
  const [lq, e] = q.shape.slice(-2) as [number, number];
  const lk = k.shape[r - 2]!;
  const ev = v.shape[r - 1]!;
  const outShape = [...lead, lq, ev];
  if (!sameShape(g.shape, outShape) || !sameShape(out.shape, outShape)) {
    throw new ShapeError(
      op,
      `the gradient ${fmtShape(g.shape)} and the output ${fmtShape(out.shape)} must have the output's shape ${fmtShape(outShape)}`,
    );
  }
  if (!sameShape(lse.shape, [...lead, lq]))
    throw new ShapeError(op, `lse must have shape ${fmtShape([...lead, lq])}, got ${fmtShape(lse.shape)}`);
  const nb = numel(lead);
  const dq = allocate(engine, 'float32', nb * lq * e);
  const dk = allocate(engine, 'float32', nb * lk * e);
  const dv = allocate(engine, 'float32', nb * lk * ev);
  const dRows = allocate(engine, 'float32', nb * lq);
  const d = dimsOf(e, ev);
  const header = { d, lq, lk, causal, scale, dropout };

  const rowsParams = params({ ...header, groups: nb * lq, blocks: 1, cols: ev }, lead, [g, out]);
  engine.dispatch(
    { key: 'attentionRowDot', code: rowDotCode },
    [bufOf(g).buffer, bufOf(out).buffer, dRows.buffer],
    rowsParams,
    Math.ceil((nb * lq) / ROW_WG),
  );

  const inputs = [bufOf(q).buffer, bufOf(k).buffer, bufOf(v).buffer, bufOf(g).buffer, bufOf(lse).buffer, dRows.buffer];
  const operands = [q, k, v, g, lse];
  const kvTile = tileFor('dkv', d, limits)!;
  const kvBlocks = Math.ceil(lk / kvTile.rows);
  const kvParams = params({ ...header, groups: nb * kvBlocks, blocks: kvBlocks, cols: kvTile.cols }, lead, operands);
  const kvKernel = {
    key: `attentionDkv|${kvTile.rows}x${kvTile.cols}|${e}|${ev}|${dropout ? 'dropout' : ''}`,
    code: () => dkvCode(kvTile, d, dropout !== null),
  };
  engine.dispatch(kvKernel, [...inputs, dk.buffer, dv.buffer], kvParams, nb * kvBlocks);

  const qTile = tileFor('dq', d, limits)!;
  const qBlocks = Math.ceil(lq / qTile.rows);
  const qParams = params({ ...header, groups: nb * qBlocks, blocks: qBlocks, cols: qTile.cols }, lead, operands);
  const qKernel = {
    key: `attentionDq|${qTile.rows}x${qTile.cols}|${e}|${ev}|${dropout ? 'dropout' : ''}`,
    code: () => dqCode(qTile, d, dropout !== null),
  };
  engine.dispatch(qKernel, [...inputs, dq.buffer], qParams, nb * qBlocks);

  engine.release(dRows);
  return { dq, dk, dv };
}
