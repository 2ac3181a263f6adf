// Elementwise kernels in WGSL: unary, binary, where, the casting strided copy, and fill. One thread per
// output element; inputs are addressed through their strides (broadcast = stride 0), so no input is
// made contiguous first. Float math is f32; int32 arithmetic stays in i32 where the CPU's would.

import type { BinaryOp, UnaryOp, View } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import { DeviceError } from '../../../errors.js';
import { Params, type Engine } from '../engine.js';
import { numel } from '../../../base/shape.js';
import { binding, bufOf, convert, elementGroups, elementKernel, stridedIndex, wgslType, type GpuBuffer } from './common.js';

/** Math WGSL lacks, written to match the CPU reference (src/backend/cpu/math.ts) in f32. */
export const MATH = /* wgsl */ `
fn is_nan(x: f32) -> bool { return !(x == x); }
// Runtime (not constant) values, since WGSL rejects constant expressions that are infinite or NaN.
fn f_inf() -> f32 { var u = 0x7f800000u; return bitcast<f32>(u); }
fn f_nan() -> f32 { var u = 0x7fc00000u; return bitcast<f32>(u); }
fn m_sigmoid(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }
fn m_log1p(x: f32) -> f32 { let u = 1.0 + x; if (u == 1.0) { return x; } return log(u) * x / (u - 1.0); }
fn m_expm1(x: f32) -> f32 {
  if (abs(x) < 1e-5) { return x + 0.5 * x * x; }
  let u = exp(x); if (u == 1.0) { return x; } let um1 = u - 1.0; if (um1 == -1.0) { return -1.0; }
  return um1 * x / log(u);
}
fn m_tanh(x: f32) -> f32 {
  // tanh through exp overflows for large |x| on some drivers; past 9 it is +-1 in f32 anyway.
  let c = clamp(x, -9.0, 9.0);
  if (abs(c) < 0.0004) { return c; }
  let e = m_expm1(-2.0 * abs(c));
  return sign(c) * (-e / (2.0 + e));
}
fn m_softplus(x: f32) -> f32 { return max(x, 0.0) + m_log1p(exp(-abs(x))); }
// W. J. Cody's rational approximations (as the CPU reference), in f32.
fn m_erf(x: f32) -> f32 {
  let y = abs(x);
  if (is_nan(x)) { return x; }
  if (y <= 0.46875) {
    let z = y * y;
    var num = 0.185777706184603153 * z; var den = z;
    num = (num + 3.1611237438705656) * z; den = (den + 23.6012909523441209) * z;
    num = (num + 113.864154151050156) * z; den = (den + 244.024637934444173) * z;
    num = (num + 377.485237685302021) * z; den = (den + 1282.61652607737228) * z;
    return x * (num + 3209.37758913846947) / (den + 2844.23683343917062);
  }
  var r: f32;
  if (y <= 4.0) {
    var num = 2.15311535474403846e-8 * y; var den = y;
    num = (num + 0.564188496988670089) * y; den = (den + 15.7449261107098347) * y;
    num = (num + 8.88314979438837594) * y; den = (den + 117.693950891312499) * y;
    num = (num + 66.1191906371416295) * y; den = (den + 537.181101862009858) * y;
    num = (num + 298.635138197400131) * y; den = (den + 1621.38957456669019) * y;
    num = (num + 881.95222124176909) * y; den = (den + 3290.79923573345963) * y;
    num = (num + 1712.04761263407058) * y; den = (den + 4362.61909014324716) * y;
    num = (num + 2051.07837782607147) * y; den = (den + 3439.36767414372164) * y;
    r = (num + 1230.33935479799725) / (den + 1230.33935480374942);
  } else {
    if (y >= 10.0) { return sign(x); }
    let z = 1.0 / (y * y);
    var num = 0.0163153871373020978 * z; var den = z;
    num = (num + 0.305326634961232344) * z; den = (den + 2.56852019228982242) * z;
    num = (num + 0.360344899949804439) * z; den = (den + 1.87295284992346047) * z;
    num = (num + 0.125781726111229246) * z; den = (den + 0.527905102951428412) * z;
    num = (num + 0.0160837851487422766) * z; den = (den + 0.0605183413124413191) * z;
    r = z * (num + 6.58749161529837803e-4) / (den + 0.00233520497626869185);
    r = (0.56418958354775628695 - r) / y;
  }
  let s = trunc(y * 16.0) / 16.0;
  let erfc = exp(-s * s) * exp(-(y - s) * (y + s)) * r;
  let v = 1.0 - erfc;
  return select(v, -v, x < 0.0);
}
// C's pow, which WGSL's pow (undefined for x < 0) is not: integer exponents of negative bases, 1^y = 1.
fn m_pow(x: f32, y: f32) -> f32 {
  if (x == 1.0 || y == 0.0) { return 1.0; }
  if (y == 1.0) { return x; }
  if (y == 2.0) { return x * x; }
  if (is_nan(x) || is_nan(y)) { return x + y; }
  if (x == 0.0) { if (y > 0.0) { return 0.0; } return f_inf(); }
  let a = exp2(y * log2(abs(x)));
  if (x > 0.0) { return a; }
  if (floor(y) != y) { return f_nan(); }
  let odd = abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
  return select(a, -a, odd);
}
fn m_maximum(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return a + b; } return max(a, b); }
fn m_minimum(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return a + b; } return min(a, b); }
`;

const SQRT1_2 = 'f32(0.70710678118654752)';
const SQRT_2_OVER_PI = 'f32(0.79788456080286536)';
const INV_SQRT_2PI = 'f32(0.39894228040143268)';

/** The f32 expression of a unary op applied to `x` (p0, p1: its scalar parameters). */
function unaryExpr(op: UnaryOp): string {
  switch (op) {
    case 'neg':
      return '-x';
    case 'abs':
      return 'abs(x)';
    case 'sign':
      return 'select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0)';
    case 'exp':
      return 'exp(x)';
    case 'log':
      return 'log(x)';
    case 'log1p':
      return 'm_log1p(x)';
    case 'expm1':
      return 'm_expm1(x)';
    case 'sqrt':
      return 'sqrt(x)';
    case 'rsqrt':
      return '1.0 / sqrt(x)';
    case 'square':
      return 'x * x';
    case 'reciprocal':
      return '1.0 / x';
    case 'sin':
      return 'sin(x)';
    case 'cos':
      return 'cos(x)';
    case 'tanh':
      return 'm_tanh(x)';
    case 'sigmoid':
      return 'm_sigmoid(x)';
    case 'relu':
      return 'select(x, 0.0, x < 0.0)';
    case 'erf':
      return 'm_erf(x)';
    case 'gelu':
      return `0.5 * x * (1.0 + m_erf(x * ${SQRT1_2}))`;
    case 'geluTanh':
      return `0.5 * x * (1.0 + m_tanh(${SQRT_2_OVER_PI} * (x + 0.044715 * x * x * x)))`;
    case 'geluGrad':
      return `0.5 * (1.0 + m_erf(x * ${SQRT1_2})) + x * exp(-0.5 * x * x) * ${INV_SQRT_2PI}`;
    case 'geluTanhGrad':
      return `gelu_tanh_grad(x)`;
    case 'silu':
      return 'x * m_sigmoid(x)';
    case 'softplus':
      return 'm_softplus(x)';
    case 'floor':
      return 'floor(x)';
    case 'ceil':
      return 'ceil(x)';
    case 'round':
      return 'round(x)';
    case 'not':
      return 'select(0.0, 1.0, x == 0.0)';
    case 'leakyRelu':
      return 'select(x * p0, x, x > 0.0)';
    case 'powScalar':
      return 'm_pow(x, p0)';
    case 'clamp':
      return 'clamp_nan(x, p0, p1)';
    case 'affine':
      return 'x * p0 + p1';
  }
  throw new DeviceError('unary', `unknown op '${String(op)}'`);
}

const UNARY_HELPERS = /* wgsl */ `
fn gelu_tanh_grad(x: f32) -> f32 {
  let t = m_tanh(${SQRT_2_OVER_PI} * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * ${SQRT_2_OVER_PI} * (1.0 + 3.0 * 0.044715 * x * x);
}
// torch.clamp's min(max(x, lo), hi): NaN stays NaN, lo > hi gives hi.
fn clamp_nan(x: f32, lo: f32, hi: f32) -> f32 { let v = select(x, lo, x < lo); return select(v, hi, v > hi); }
`;

function newOutput(engine: Engine, dtype: DType, size: number): GpuBuffer {
  wgslType(dtype);
  const { buffer, capacity } = engine.acquire(size * 4);
  return { buffer, capacity, dtype, size };
}

/** A fresh buffer for `size` elements of `dtype` (contents undefined). */
export const allocate = newOutput;

const kernel = (bindings: string[], body: string, extra = ''): string => elementKernel(bindings, body, MATH + extra);
const groups = elementGroups;

export function unary(engine: Engine, op: UnaryOp, x: View, outDtype: DType, params: readonly number[] = []): GpuBuffer {
  const size = numel(x.shape);
  const out = newOutput(engine, outDtype, size);
  if (size === 0) return out;
  let p0 = params[0] ?? 0;
  let p1 = params[1] ?? 0;
  if (op === 'clamp') {
    p0 = params[0] ?? -Infinity;
    p1 = params[1] ?? Infinity;
  }
  if (op === 'affine') p0 = params[0] ?? 1;
  const p = new Params().u(size).f(p0, p1);
  const idx = stridedIndex('unary', p, x.shape, [x]);
  // Exact in integer arithmetic where it matters: int32 neg/abs/square and plain copies.
  const intPath = x.dtype !== 'float32' && outDtype === 'int32' && ['neg', 'abs', 'square'].includes(op);
  const xv = intPath ? convert('X[o0]', x.dtype, 'int32') : convert('X[o0]', x.dtype, 'float32');
  const expr = intPath ? (op === 'neg' ? '-x' : op === 'abs' ? 'abs(x)' : 'x * x') : unaryExpr(op);
  const code = (): string =>
    kernel(
      [binding(1, 'X', x.dtype, 'read'), binding(2, 'Y', outDtype, 'read_write')],
      `${idx.code}
  let p0 = pf(1u); let p1 = pf(2u);
  let x = ${xv};
  let v = ${expr};
  Y[i] = ${intPath ? 'v' : convert('v', 'float32', outDtype)};`,
      UNARY_HELPERS,
    );
  engine.dispatch({ key: `unary|${op}|${x.dtype}|${outDtype}|${idx.key}`, code }, [bufOf(x).buffer, out.buffer], p, groups(size));
  return out;
}

const COMPARE: Partial<Record<BinaryOp, string>> = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' };

function binaryExpr(op: BinaryOp, int: boolean): string {
  const cmp = COMPARE[op];
  if (cmp) return `select(0, 1, a ${cmp} b)`;
  switch (op) {
    case 'add':
      return 'a + b';
    case 'sub':
      return 'a - b';
    case 'mul':
      return 'a * b';
    case 'div':
      return int ? 'i32(trunc(f32(a) / f32(b)))' : 'a / b';
    case 'pow':
      return int ? 'i32(m_pow(f32(a), f32(b)))' : 'm_pow(a, b)';
    case 'maximum':
      return int ? 'max(a, b)' : 'm_maximum(a, b)';
    case 'minimum':
      return int ? 'min(a, b)' : 'm_minimum(a, b)';
    // truthiness is != 0, NaN included (NaN != 0 is true)
    case 'and':
      return 'select(0, 1, a != 0 && b != 0)';
    case 'or':
      return 'select(0, 1, a != 0 || b != 0)';
  }
  throw new DeviceError('binary', `unknown op '${String(op)}'`);
}

export function binary(engine: Engine, op: BinaryOp, a: View, b: View, outDtype: DType): GpuBuffer {
  const size = numel(a.shape);
  const out = newOutput(engine, outDtype, size);
  if (size === 0) return out;
  // Integer inputs compute in i32 (wrapping like torch's int32), anything with a float in f32.
  const int = a.dtype !== 'float32' && b.dtype !== 'float32' && (outDtype !== 'float32' || !!COMPARE[op] || op === 'and' || op === 'or');
  const ct: DType = int ? 'int32' : 'float32';
  const p = new Params().u(size);
  const idx = stridedIndex('binary', p, a.shape, [a, b]);
  let expr = binaryExpr(op, int);
  const logical = !!COMPARE[op] || op === 'and' || op === 'or';
  if (logical && !int) expr = expr.replace('select(0, 1,', 'select(0.0, 1.0,').replace(/!= 0/g, '!= 0.0');
  const code = (): string =>
    kernel(
      [binding(1, 'A', a.dtype, 'read'), binding(2, 'B', b.dtype, 'read'), binding(3, 'Y', outDtype, 'read_write')],
      `${idx.code}
  let a = ${convert('A[o0]', a.dtype, ct)};
  let b = ${convert('B[o1]', b.dtype, ct)};
  let v = ${expr};
  Y[i] = ${convert('v', ct, outDtype)};`,
    );
  engine.dispatch(
    { key: `binary|${op}|${a.dtype}|${b.dtype}|${outDtype}|${idx.key}`, code },
    [bufOf(a).buffer, bufOf(b).buffer, out.buffer],
    p,
    groups(size),
  );
  return out;
}

export function where(engine: Engine, cond: View, a: View, b: View, outDtype: DType): GpuBuffer {
  const size = numel(a.shape);
  const out = newOutput(engine, outDtype, size);
  if (size === 0) return out;
  const p = new Params().u(size);
  const idx = stridedIndex('where', p, a.shape, [cond, a, b]);
  const ct: DType = a.dtype === b.dtype ? a.dtype : 'float32';
  const code = (): string =>
    kernel(
      [
        binding(1, 'C', cond.dtype, 'read'),
        binding(2, 'A', a.dtype, 'read'),
        binding(3, 'B', b.dtype, 'read'),
        binding(4, 'Y', outDtype, 'read_write'),
      ],
      `${idx.code}
  let c = ${convert('C[o0]', cond.dtype, 'bool')};
  let v = select(${convert('B[o2]', b.dtype, ct)}, ${convert('A[o1]', a.dtype, ct)}, c != 0u);
  Y[i] = ${convert('v', ct, outDtype)};`,
    );
  engine.dispatch(
    { key: `where|${cond.dtype}|${a.dtype}|${b.dtype}|${outDtype}|${idx.key}`, code },
    [bufOf(cond).buffer, bufOf(a).buffer, bufOf(b).buffer, out.buffer],
    p,
    groups(size),
  );
  return out;
}

/** dst[...] = cast(src[...]) over two strided views of one shape, in distinct buffers. */
export function stridedCopy(engine: Engine, src: View, dst: View): void {
  const size = numel(src.shape);
  if (size === 0) return;
  const p = new Params().u(size);
  const idx = stridedIndex('copy', p, src.shape, [src, dst]);
  const code = (): string =>
    kernel(
      [binding(1, 'X', src.dtype, 'read'), binding(2, 'Y', dst.dtype, 'read_write')],
      `${idx.code}
  Y[o1] = ${convert('X[o0]', src.dtype, dst.dtype)};`,
    );
  engine.dispatch({ key: `copy|${src.dtype}|${dst.dtype}|${idx.key}`, code }, [bufOf(src).buffer, bufOf(dst).buffer], p, groups(size));
}

export function fill(engine: Engine, dst: View, value: number): void {
  const size = numel(dst.shape);
  if (size === 0) return;
  const p = new Params().u(size);
  const t = wgslType(dst.dtype);
  if (t === 'f32') p.f(value);
  else if (t === 'i32') p.i(value);
  else p.u(value !== 0 ? 1 : 0);
  const valueAt = p.length - 1;
  const idx = stridedIndex('fill', p, dst.shape, [dst]);
  const read = t === 'f32' ? `pf(${valueAt}u)` : t === 'i32' ? `pi(${valueAt}u)` : `pu(${valueAt}u)`;
  const code = (): string =>
    kernel(
      [binding(1, 'Y', dst.dtype, 'read_write')],
      `${idx.code}
  Y[o0] = ${read};`,
    );
  engine.dispatch({ key: `fill|${dst.dtype}|${idx.key}`, code }, [bufOf(dst).buffer], p, groups(size));
}
