// float32 elementwise kernels over a 2-D iteration space: `rows` rows of `n` elements, each operand
// addressed as base + 4*(r*rowStride + i*colStride). Callers collapse any tensor layout to this form
// (contiguous tensors become one row). Column strides of 0 (a broadcast) or 1 (contiguous) take the
// SIMD loop; anything else takes the scalar loop. The op switch is resolved at compile time: each
// `case` instantiates its own loop with a constant op code, which the optimizer folds.

// op codes: one table with the TypeScript callers (src/backend/cpu/wasm/op-codes.ts)
import {
  UNARY_NEG as NEG, UNARY_ABS as ABS, UNARY_SQRT as SQRT, UNARY_RSQRT as RSQRT, UNARY_SQUARE as SQUARE,
  UNARY_RECIPROCAL as RECIPROCAL, UNARY_RELU as RELU, UNARY_LEAKY_RELU as LEAKY_RELU, UNARY_AFFINE as AFFINE,
  UNARY_CLAMP as CLAMP, UNARY_EXP as EXP, UNARY_LOG as LOG, UNARY_TANH as TANH, UNARY_SIGMOID as SIGMOID,
  UNARY_SILU as SILU, UNARY_SOFTPLUS as SOFTPLUS, UNARY_SIN as SIN, UNARY_COS as COS, UNARY_LOG1P as LOG1P,
  UNARY_EXPM1 as EXPM1, UNARY_GELU_TANH as GELU_TANH, UNARY_GELU_TANH_GRAD as GELU_TANH_GRAD, BINARY_ADD as ADD,
  BINARY_SUB as SUB, BINARY_MUL as MUL, BINARY_DIV as DIV, BINARY_MAX as MAX, BINARY_MIN as MIN, BINARY_POW as POW,
  COMPARE_EQ as EQ, COMPARE_NE as NE, COMPARE_LT as LT, COMPARE_LE as LE, COMPARE_GT as GT, COMPARE_GE as GE
} from '../src/backend/cpu/wasm/op-codes';
import { expV, oneV } from './vmath';

@inline function ld(p: usize, cs: i32): v128 {
  return cs == 1 ? v128.load(p) : v128.load32_splat(p);
}

@inline function sigmoid(x: f32): f32 {
  // split by sign so exp never overflows
  if (x >= 0) return 1 / (1 + Mathf.exp(-x));
  const e = Mathf.exp(x);
  return e / (1 + e);
}

// GELU with the tanh approximation, written with a sigmoid: 0.5 (1 + tanh u) = sigmoid(2u), which
// keeps its relative accuracy where 1 + tanh u is tiny (x very negative).
const GELU_K: f32 = 0.7978845608028654; // sqrt(2 / pi)
const GELU_A: f32 = 0.044715;

@inline function geluTanhS(x: f32): f32 {
  return x * sigmoid(2 * GELU_K * (x + GELU_A * x * x * x));
}

@inline function geluTanhGradS(x: f32): f32 {
  const s = sigmoid(2 * GELU_K * (x + GELU_A * x * x * x));
  const du = GELU_K * (1 + 3 * GELU_A * x * x);
  return s + 2 * x * s * (1 - s) * du;
}

@inline function unaryS(op: i32, x: f32, p0: f32, p1: f32): f32 {
  switch (op) {
    case GELU_TANH: return geluTanhS(x);
    case GELU_TANH_GRAD: return geluTanhGradS(x);
    case NEG: return -x;
    case ABS: return Mathf.abs(x);
    case SQRT: return Mathf.sqrt(x);
    case RSQRT: return 1 / Mathf.sqrt(x);
    case SQUARE: return x * x;
    case RECIPROCAL: return 1 / x;
    case RELU: return x > 0 ? x : (x != x ? x : 0);
    case LEAKY_RELU: return x > 0 ? x : x * p0;
    case AFFINE: return x * p0 + p1;
    case CLAMP: return x != x ? x : min(max(x, p0), p1);
    case EXP: return Mathf.exp(x);
    case LOG: return Mathf.log(x);
    case TANH: return Mathf.tanh(x);
    case SIGMOID: return sigmoid(x);
    case SILU: return x * sigmoid(x);
    case SOFTPLUS: return x > 20 ? x : Mathf.log1p(Mathf.exp(x));
    case SIN: return Mathf.sin(x);
    case COS: return Mathf.cos(x);
    case LOG1P: return Mathf.log1p(x);
    case EXPM1: return Mathf.expm1(x);
    default: return x;
  }
}

/** Whether op has a SIMD form here (the rest run the scalar loop, still without leaving wasm). */
@inline function unaryHasV(op: i32): bool {
  return op <= CLAMP || op == EXP || op == SIGMOID || op == SILU || op == GELU_TANH || op == GELU_TANH_GRAD;
}

// GELU's splatted constants, loaded from static memory where used (see EXP_K in vmath.ts: V8 would
// rebuild each v128.const on every loop trip)
const GELU_KV = memory.data<f32>([
  2 * GELU_K, 2 * GELU_K, 2 * GELU_K, 2 * GELU_K,
  GELU_A, GELU_A, GELU_A, GELU_A,
  GELU_K, GELU_K, GELU_K, GELU_K,
  3 * GELU_A, 3 * GELU_A, 3 * GELU_A, 3 * GELU_A,
  2, 2, 2, 2,
], 16);

/** 2u = 2 sqrt(2/pi) (x + 0.044715 x^3) */
@inline function geluArg2V(x: v128): v128 {
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  return f32x4.mul(v128.load(GELU_KV), f32x4.add(x, f32x4.mul(v128.load(GELU_KV, 16), x3)));
}

@inline function sigmoidV(x: v128): v128 {
  // 1 / (1 + e^-x): e^-x overflows to inf for x < -88 and the quotient is then 0, as it should be
  const one = oneV();
  return f32x4.div(one, f32x4.add(one, expV(f32x4.neg(x))));
}

@inline function unaryV(op: i32, x: v128, p0: v128, p1: v128): v128 {
  switch (op) {
    case NEG: return f32x4.neg(x);
    case ABS: return f32x4.abs(x);
    case SQRT: return f32x4.sqrt(x);
    case RSQRT: return f32x4.div(f32x4.splat(1), f32x4.sqrt(x));
    case SQUARE: return f32x4.mul(x, x);
    case RECIPROCAL: return f32x4.div(f32x4.splat(1), x);
    // keep NaN: select x where x > 0 or x != x
    case RELU: return v128.bitselect(x, f32x4.splat(0), v128.or(f32x4.gt(x, f32x4.splat(0)), f32x4.ne(x, x)));
    case LEAKY_RELU: return v128.bitselect(x, f32x4.mul(x, p0), f32x4.gt(x, f32x4.splat(0)));
    case AFFINE: return f32x4.add(f32x4.mul(x, p0), p1);
    case CLAMP: return v128.bitselect(x, f32x4.min(f32x4.max(x, p0), p1), f32x4.ne(x, x));
    case EXP: return expV(x);
    case SIGMOID: return sigmoidV(x);
    case SILU: return f32x4.mul(x, sigmoidV(x));
    case GELU_TANH: return f32x4.mul(x, sigmoidV(geluArg2V(x)));
    case GELU_TANH_GRAD: {
      const s = sigmoidV(geluArg2V(x));
      const one = oneV();
      const du = f32x4.mul(v128.load(GELU_KV, 32), f32x4.add(one, f32x4.mul(v128.load(GELU_KV, 48), f32x4.mul(x, x))));
      const t = f32x4.mul(f32x4.mul(v128.load(GELU_KV, 64), x), f32x4.mul(s, f32x4.sub(one, s)));
      return f32x4.add(s, f32x4.mul(t, du));
    }
    default: return x;
  }
}

@inline function unary2d(op: i32, rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, p0: f32, p1: f32): void {
  const v0 = f32x4.splat(p0);
  const v1 = f32x4.splat(p1);
  const simd = unaryHasV(op) && (csX == 1 || csX == 0);
  for (let r = 0; r < rows; r++) {
    const px = x + ((<usize>r * rsX) << 2);
    const po = o + ((<usize>r * n) << 2);
    let i = 0;
    if (simd) {
      // two vectors per trip: the transcendental forms are long dependent chains, and two independent
      // ones let the core overlap them (measured: GELU-tanh's gradient 3.4 -> 2.9 ns per element)
      for (; i + 8 <= n; i += 8) {
        const y0 = unaryV(op, ld(px + ((<usize>i * csX) << 2), csX), v0, v1);
        const y1 = unaryV(op, ld(px + ((<usize>(i + 4) * csX) << 2), csX), v0, v1);
        v128.store(po + (<usize>i << 2), y0);
        v128.store(po + (<usize>i << 2), y1, 16);
      }
      for (; i + 4 <= n; i += 4) v128.store(po + (<usize>i << 2), unaryV(op, ld(px + ((<usize>i * csX) << 2), csX), v0, v1));
    }
    for (; i < n; i++) store<f32>(po + (<usize>i << 2), unaryS(op, load<f32>(px + ((<usize>i * csX) << 2)), p0, p1));
  }
}

export function unaryF32(op: i32, rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, p0: f32, p1: f32): void {
  switch (op) {
    case NEG: unary2d(NEG, rows, n, x, rsX, csX, o, p0, p1); break;
    case ABS: unary2d(ABS, rows, n, x, rsX, csX, o, p0, p1); break;
    case SQRT: unary2d(SQRT, rows, n, x, rsX, csX, o, p0, p1); break;
    case RSQRT: unary2d(RSQRT, rows, n, x, rsX, csX, o, p0, p1); break;
    case SQUARE: unary2d(SQUARE, rows, n, x, rsX, csX, o, p0, p1); break;
    case RECIPROCAL: unary2d(RECIPROCAL, rows, n, x, rsX, csX, o, p0, p1); break;
    case RELU: unary2d(RELU, rows, n, x, rsX, csX, o, p0, p1); break;
    case LEAKY_RELU: unary2d(LEAKY_RELU, rows, n, x, rsX, csX, o, p0, p1); break;
    case AFFINE: unary2d(AFFINE, rows, n, x, rsX, csX, o, p0, p1); break;
    case CLAMP: unary2d(CLAMP, rows, n, x, rsX, csX, o, p0, p1); break;
    case EXP: unary2d(EXP, rows, n, x, rsX, csX, o, p0, p1); break;
    case LOG: unary2d(LOG, rows, n, x, rsX, csX, o, p0, p1); break;
    case TANH: unary2d(TANH, rows, n, x, rsX, csX, o, p0, p1); break;
    case SIGMOID: unary2d(SIGMOID, rows, n, x, rsX, csX, o, p0, p1); break;
    case SILU: unary2d(SILU, rows, n, x, rsX, csX, o, p0, p1); break;
    case SOFTPLUS: unary2d(SOFTPLUS, rows, n, x, rsX, csX, o, p0, p1); break;
    case SIN: unary2d(SIN, rows, n, x, rsX, csX, o, p0, p1); break;
    case COS: unary2d(COS, rows, n, x, rsX, csX, o, p0, p1); break;
    case LOG1P: unary2d(LOG1P, rows, n, x, rsX, csX, o, p0, p1); break;
    case EXPM1: unary2d(EXPM1, rows, n, x, rsX, csX, o, p0, p1); break;
    case GELU_TANH: unary2d(GELU_TANH, rows, n, x, rsX, csX, o, p0, p1); break;
    case GELU_TANH_GRAD: unary2d(GELU_TANH_GRAD, rows, n, x, rsX, csX, o, p0, p1); break;
  }
}

@inline function binaryS(op: i32, a: f32, b: f32): f32 {
  switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    case DIV: return a / b;
    case MAX: return max(a, b);
    case MIN: return min(a, b);
    case POW: return Mathf.pow(a, b);
    default: return a;
  }
}

@inline function binaryV(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case ADD: return f32x4.add(a, b);
    case SUB: return f32x4.sub(a, b);
    case MUL: return f32x4.mul(a, b);
    case DIV: return f32x4.div(a, b);
    case MAX: return f32x4.max(a, b);
    case MIN: return f32x4.min(a, b);
    default: return a;
  }
}

@inline function binary2d(op: i32, rows: i32, n: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void {
  const simd = op != POW && (csA == 0 || csA == 1) && (csB == 0 || csB == 1);
  for (let r = 0; r < rows; r++) {
    const pa = a + ((<usize>r * rsA) << 2);
    const pb = b + ((<usize>r * rsB) << 2);
    const po = o + ((<usize>r * n) << 2);
    let i = 0;
    if (simd) {
      for (; i + 4 <= n; i += 4) {
        v128.store(po + (<usize>i << 2), binaryV(op, ld(pa + ((<usize>i * csA) << 2), csA), ld(pb + ((<usize>i * csB) << 2), csB)));
      }
    }
    for (; i < n; i++) {
      store<f32>(po + (<usize>i << 2), binaryS(op, load<f32>(pa + ((<usize>i * csA) << 2)), load<f32>(pb + ((<usize>i * csB) << 2))));
    }
  }
}

export function binaryF32(op: i32, rows: i32, n: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void {
  switch (op) {
    case ADD: binary2d(ADD, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case SUB: binary2d(SUB, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case MUL: binary2d(MUL, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case DIV: binary2d(DIV, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case MAX: binary2d(MAX, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case MIN: binary2d(MIN, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case POW: binary2d(POW, rows, n, a, rsA, csA, b, rsB, csB, o); break;
  }
}

@inline function compareS(op: i32, a: f32, b: f32): bool {
  switch (op) {
    case EQ: return a == b;
    case NE: return a != b;
    case LT: return a < b;
    case LE: return a <= b;
    case GT: return a > b;
    default: return a >= b;
  }
}

@inline function compareV(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case EQ: return f32x4.eq(a, b);
    case NE: return f32x4.ne(a, b);
    case LT: return f32x4.lt(a, b);
    case LE: return f32x4.le(a, b);
    case GT: return f32x4.gt(a, b);
    default: return f32x4.ge(a, b);
  }
}

@inline function compare2d(op: i32, rows: i32, n: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void {
  const simd = (csA == 0 || csA == 1) && (csB == 0 || csB == 1);
  for (let r = 0; r < rows; r++) {
    const pa = a + ((<usize>r * rsA) << 2);
    const pb = b + ((<usize>r * rsB) << 2);
    const po = o + <usize>r * n;
    let i = 0;
    if (simd) {
      for (; i + 4 <= n; i += 4) {
        // all-ones lanes -> 1 byte each: narrow 32 -> 16 -> 8 bits and keep the low 4 bytes
        const m = compareV(op, ld(pa + ((<usize>i * csA) << 2), csA), ld(pb + ((<usize>i * csB) << 2), csB));
        const m16 = i16x8.narrow_i32x4_s(m, m);
        const m8 = v128.and(i8x16.narrow_i16x8_s(m16, m16), i8x16.splat(1));
        v128.store32_lane(po + i, m8, 0);
      }
    }
    for (; i < n; i++) {
      store<u8>(po + i, <u8>compareS(op, load<f32>(pa + ((<usize>i * csA) << 2)), load<f32>(pb + ((<usize>i * csB) << 2))));
    }
  }
}

/** Comparisons of float32 operands into 0/1 bytes. */
export function compareF32(op: i32, rows: i32, n: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void {
  switch (op) {
    case EQ: compare2d(EQ, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case NE: compare2d(NE, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case LT: compare2d(LT, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case LE: compare2d(LE, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case GT: compare2d(GT, rows, n, a, rsA, csA, b, rsB, csB, o); break;
    case GE: compare2d(GE, rows, n, a, rsA, csA, b, rsB, csB, o); break;
  }
}

/** o = cond ? a : b, cond as bytes (any nonzero is true), a and b float32. */
export function whereF32(rows: i32, n: i32, c: usize, rsC: i32, csC: i32, a: usize, rsA: i32, csA: i32,
  b: usize, rsB: i32, csB: i32, o: usize): void {
  // branch-free: widen four condition bytes to lane masks and select
  const simd = csC == 1 && (csA == 0 || csA == 1) && (csB == 0 || csB == 1);
  for (let r = 0; r < rows; r++) {
    const pc = c + <usize>r * rsC;
    const pa = a + ((<usize>r * rsA) << 2);
    const pb = b + ((<usize>r * rsB) << 2);
    const po = o + ((<usize>r * n) << 2);
    let i = 0;
    if (simd) {
      for (; i + 4 <= n; i += 4) {
        const bytes = v128.load32_zero(pc + i);
        const mask = i32x4.ne(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(bytes)), i32x4.splat(0));
        const va = ld(pa + ((<usize>i * csA) << 2), csA);
        const vb = ld(pb + ((<usize>i * csB) << 2), csB);
        v128.store(po + (<usize>i << 2), v128.bitselect(va, vb, mask));
      }
    }
    for (; i < n; i++) {
      const v = load<u8>(pc + <usize>i * csC) != 0 ? load<f32>(pa + ((<usize>i * csA) << 2)) : load<f32>(pb + ((<usize>i * csB) << 2));
      store<f32>(po + (<usize>i << 2), v);
    }
  }
}

/** Strided copy of 4-byte elements (float32 or int32, bit for bit) into o, row stride rsO. */
export function copy32(rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, rsO: i32, csO: i32): void {
  for (let r = 0; r < rows; r++) {
    const px = x + ((<usize>r * rsX) << 2);
    const po = o + ((<usize>r * rsO) << 2);
    let i = 0;
    if (csX == 1 && csO == 1) {
      // memory.copy is a call out of the module (~30 ns); short rows (one attention head) copy inline
      if (n >= 256) {
        memory.copy(po, px, <usize>n << 2);
        continue;
      }
      for (; i + 4 <= n; i += 4) v128.store(po + (<usize>i << 2), v128.load(px + (<usize>i << 2)));
    }
    if (csO == 1 && csX == 0) {
      const v = v128.load32_splat(px);
      for (; i + 4 <= n; i += 4) v128.store(po + (<usize>i << 2), v);
    }
    for (; i < n; i++) store<u32>(po + ((<usize>i * csO) << 2), load<u32>(px + ((<usize>i * csX) << 2)));
  }
}

/**
 * copy32 over `outer` blocks spaced osX / osO elements apart: a permuted copy such as [B, H, T, D] ->
 * [B, T, H, D] has three strided levels, and one call per block from JavaScript (B x T calls of H x D
 * elements each for attention heads) cost more than the copying.
 */
export function copy32x3(outer: i32, osX: i32, osO: i32, rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, rsO: i32, csO: i32): void {
  for (let b = 0; b < outer; b++) {
    copy32(rows, n, x + ((<usize>b * osX) << 2), rsX, csX, o + ((<usize>b * osO) << 2), rsO, csO);
  }
}

/**
 * Zeroes `bytes` bytes at `p` with the bulk-memory fill. The heap zeroes recycled blocks with it:
 * TypedArray.fill on a shared buffer runs ~10x slower in V8 (2.8 GB/s for bytes here).
 */
export function zeroBytes(p: usize, bytes: usize): void {
  memory.fill(p, 0, bytes);
}
