// Tests for the CPU reference backend: each kernel on small hand-checked cases, on strided, transposed,
// offset and stride-0 (broadcast) views, and against naive re-implementations on random data.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend as B, CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import type { View, Window2d } from '../src/backend/backend.js';
import type { DType, TypedArray } from '../src/base/dtype.js';
import { dtypeOfArray } from '../src/base/dtype.js';
import { IndexError } from '../src/errors.js';
import { mulberry32 } from '../test-support/fixtures.js';
import { assertClose } from '../test-support/assert.js';

/** Deterministic uniform [-1, 1) numbers. */
function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() * 2 - 1;
}

// ---- helpers ----

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** A view over a fresh buffer holding `data`; contiguous unless strides/offset are given. */
function view(data: TypedArray, shape: number[], strides?: number[], offset = 0): View {
  return { buf: B.fromArray(data), dtype: dtypeOfArray(data), shape, strides: strides ?? stridesOf(shape), offset };
}

function f64(...xs: number[]): Float64Array {
  return Float64Array.from(xs);
}
function f32(...xs: number[]): Float32Array {
  return Float32Array.from(xs);
}
function i32(...xs: number[]): Int32Array {
  return Int32Array.from(xs);
}

/** Reads a contiguous result buffer back as a plain array. */
function out(buf: unknown, shape: number[], dtype: DType): number[] {
  return Array.from(B.read({ buf, dtype, shape, strides: stridesOf(shape), offset: 0 }));
}

// tol/2 + tol/2 * |e| never exceeds the tol * max(1, |e|) these tests were written against
const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void =>
  assertClose(actual, expected, { atol: tol / 2, rtol: tol / 2, equalNan: true });

function randArray(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => r());
}

// ---- memory ----

describe('cpu backend: memory', () => {
  it('alloc is zero-filled and typed by dtype; byteLength counts bytes', () => {
    assert.equal(B.name, 'cpu');
    assert.ok(B instanceof CpuBackend);
    const a = B.alloc('float32', 7);
    assert.equal(B.byteLength(a), 28);
    assert.deepEqual(out(a, [7], 'float32'), [0, 0, 0, 0, 0, 0, 0]);
    assert.equal(B.byteLength(B.alloc('float64', 3)), 24);
    assert.equal(B.byteLength(B.alloc('int32', 5)), 20);
    assert.equal(B.byteLength(B.alloc('bool', 13)), 13);
    assert.ok(B.read({ buf: B.alloc('bool', 2), dtype: 'bool', shape: [2], strides: [1], offset: 0 }) instanceof Uint8Array);
    B.free(a);
  });

  it('fromArray copies', () => {
    const src = f32(1, 2, 3);
    const buf = B.fromArray(src);
    src[0] = 99;
    assert.deepEqual(out(buf, [3], 'float32'), [1, 2, 3]);
  });

  it('read returns a contiguous copy of a strided, offset view', async () => {
    const buf = B.fromArray(f64(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    // rows 1..2 of a [4,3] matrix, transposed: shape [3,2], strides [1,3], offset 3
    const v: View = { buf, dtype: 'float64', shape: [3, 2], strides: [1, 3], offset: 3 };
    assert.deepEqual(Array.from(B.read(v)), [3, 6, 4, 7, 5, 8]);
    assert.deepEqual(Array.from(await B.readAsync(v)), [3, 6, 4, 7, 5, 8]);
    // a stride-0 view repeats
    assert.deepEqual(Array.from(B.read({ buf, dtype: 'float64', shape: [2, 3], strides: [0, 1], offset: 9 })), [9, 10, 11, 9, 10, 11]);
    // a scalar view
    assert.deepEqual(Array.from(B.read({ buf, dtype: 'float64', shape: [], strides: [], offset: 5 })), [5]);
  });

  it('copy writes into a strided destination with casts', () => {
    const dst = B.alloc('int32', 6);
    const src = view(f32(-2.7, 2.7, 0.5, -0.5, 3, 1e3), [2, 3]);
    // write the [2,3] source into the transpose of a [3,2] destination
    B.copy(src, { buf: dst, dtype: 'int32', shape: [2, 3], strides: [1, 2], offset: 0 });
    assert.deepEqual(out(dst, [6], 'int32'), [-2, 0, 2, 3, 0, 1000]);
    const bools = B.alloc('bool', 4);
    B.copy(view(f64(0, -0.1, NaN, 256), [4]), { buf: bools, dtype: 'bool', shape: [4], strides: [1], offset: 0 });
    assert.deepEqual(out(bools, [4], 'bool'), [0, 1, 1, 1]);
  });

  it('copy between overlapping views of one buffer reads before writing', () => {
    const buf = B.fromArray(f32(1, 2, 3, 4, 5));
    B.copy({ buf, dtype: 'float32', shape: [4], strides: [1], offset: 0 }, { buf, dtype: 'float32', shape: [4], strides: [1], offset: 1 });
    assert.deepEqual(out(buf, [5], 'float32'), [1, 1, 2, 3, 4]);
  });

  it('fill writes a strided view only', () => {
    const buf = B.alloc('float32', 12);
    B.fill({ buf, dtype: 'float32', shape: [4], strides: [3], offset: 1 }, 2.5); // column 1 of [4,3]
    assert.deepEqual(out(buf, [12], 'float32'), [0, 2.5, 0, 0, 2.5, 0, 0, 2.5, 0, 0, 2.5, 0]);
    const b = B.alloc('bool', 3);
    B.fill({ buf: b, dtype: 'bool', shape: [3], strides: [1], offset: 0 }, 0.5);
    assert.deepEqual(out(b, [3], 'bool'), [1, 1, 1]);
  });
});

// ---- elementwise ----

describe('cpu backend: unary', () => {
  const xs = [-2.5, -1, -0.5, 0, 0.3, 1, 2];
  const x = view(f64(...xs), [7]);
  const cases: [Parameters<typeof B.unary>[0], (v: number) => number, number[]?][] = [
    ['neg', (v) => -v],
    ['abs', Math.abs],
    ['exp', Math.exp],
    ['expm1', Math.expm1],
    ['sin', Math.sin],
    ['cos', Math.cos],
    ['tanh', Math.tanh],
    ['square', (v) => v * v],
    ['reciprocal', (v) => 1 / v],
    ['floor', Math.floor],
    ['ceil', Math.ceil],
    ['relu', (v) => Math.max(v, 0)],
    ['sigmoid', (v) => 1 / (1 + Math.exp(-v))],
    ['silu', (v) => v / (1 + Math.exp(-v))],
    ['softplus', (v) => Math.log(1 + Math.exp(v))],
    ['sign', Math.sign],
    ['leakyRelu', (v) => (v > 0 ? v : 0.1 * v), [0.1]],
    ['powScalar', (v) => v ** 3, [3]],
    ['clamp', (v) => Math.min(Math.max(v, -1), 0.5), [-1, 0.5]],
    ['affine', (v) => v * 2 - 1, [2, -1]],
  ];
  for (const [op, f, params] of cases) {
    it(op, () => close(out(B.unary(op, x, 'float64', params), [7], 'float64'), xs.map(f), 1e-14));
  }

  it('log, log1p, sqrt, rsqrt on positive inputs', () => {
    const p = [0.25, 1, 4, 13];
    const v = view(f64(...p), [4]);
    close(out(B.unary('log', v, 'float64'), [4], 'float64'), p.map(Math.log));
    close(out(B.unary('log1p', v, 'float64'), [4], 'float64'), p.map(Math.log1p));
    close(out(B.unary('sqrt', v, 'float64'), [4], 'float64'), p.map(Math.sqrt));
    close(out(B.unary('rsqrt', v, 'float64'), [4], 'float64'), [2, 1, 0.5, 1 / Math.sqrt(13)]);
  });

  it('erf matches known values to ~1e-16', () => {
    const known: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2.5, 0.999593047982555],
      [-3, -0.9999779095030014],
      [0, 0],
      [0.1, 0.1124629160182849],
      [-0.46875, -0.4926134732179379],
      [5, 0.9999999999984626],
      [30, 1],
    ];
    const got = out(B.unary('erf', view(f64(...known.map((k) => k[0])), [known.length]), 'float64'), [known.length], 'float64');
    known.forEach(([, e], i) =>
      assert.ok(Math.abs(got[i]! - e) <= 2e-16 * Math.max(Math.abs(e), 1e-300) + 1e-300, `erf(${known[i]![0]}) = ${got[i]} vs ${e}`),
    );
  });

  it('erf agrees with its power series to 1e-14 relative on [-3, 3]', () => {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): all terms positive, so
    // the series itself is accurate to a few ulps.
    const series = (v: number): number => {
      let term = v,
        sum = v;
      for (let n = 1; n < 200; n++) {
        term *= (2 * v * v) / (2 * n + 1);
        sum += term;
        if (Math.abs(term) < 1e-18 * Math.abs(sum)) break;
      }
      return (2 / Math.sqrt(Math.PI)) * Math.exp(-v * v) * sum;
    };
    const pts = Array.from({ length: 241 }, (_, i) => -3 + i * 0.025 + 1e-3);
    const got = out(B.unary('erf', view(f64(...pts), [pts.length]), 'float64'), [pts.length], 'float64');
    pts.forEach((p, i) => {
      const e = series(p);
      assert.ok(Math.abs(got[i]! - e) <= 1e-14 * Math.abs(e), `erf(${p}) = ${got[i]} vs ${e}`);
    });
  });

  it('gelu (erf form) and geluTanh', () => {
    const v = view(f64(1, -0.5, 0), [3]);
    close(out(B.unary('gelu', v, 'float64'), [3], 'float64'), [0.8413447460685429, -0.15426876936299344, 0], 1e-15);
    close(out(B.unary('geluTanh', v, 'float64'), [3], 'float64'), [0.8411919906082768, -0.15428599017485606, 0], 1e-15);
  });

  it('sigmoid, softplus and silu stay finite for large |x|', () => {
    const v = view(f64(-1000, 1000, -50, 50), [4]);
    close(out(B.unary('sigmoid', v, 'float64'), [4], 'float64'), [0, 1, Math.exp(-50) / (1 + Math.exp(-50)), 1]);
    close(out(B.unary('softplus', v, 'float64'), [4], 'float64'), [0, 1000, Math.exp(-50), 50]);
    close(out(B.unary('silu', v, 'float64'), [4], 'float64'), [-0, 1000, -50 * Math.exp(-50), 50]);
  });

  it('round is half-to-even; sign/relu/clamp of NaN follow torch', () => {
    const r = out(B.unary('round', view(f64(0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6), [8]), 'float64'), [8], 'float64');
    assert.deepEqual(r, [0, 2, 2, -0, -2, -2, 2, -3]);
    const nan = view(f64(NaN), [1]);
    assert.deepEqual(out(B.unary('sign', nan, 'float64'), [1], 'float64'), [0]);
    assert.ok(Number.isNaN(out(B.unary('relu', nan, 'float64'), [1], 'float64')[0]));
    assert.ok(Number.isNaN(out(B.unary('clamp', nan, 'float64', [0, 1]), [1], 'float64')[0]));
  });

  it("'not' gives bool; outDtype casts (float32 rounding, int32 truncation)", () => {
    assert.deepEqual(out(B.unary('not', view(f32(0, 1, -2, NaN), [4]), 'bool'), [4], 'bool'), [1, 0, 0, 0]);
    assert.deepEqual(out(B.unary('affine', view(i32(1, -3), [2]), 'int32', [1.5, 0]), [2], 'int32'), [1, -4]);
    assert.deepEqual(out(B.unary('exp', view(f64(1), [1]), 'float32'), [1], 'float32'), [Math.fround(Math.E)]);
    assert.deepEqual(out(B.unary('affine', view(f64(0.5, 0, 256), [3]), 'bool', [1, 0]), [3], 'bool'), [1, 0, 1]);
  });

  it('reads transposed, offset and broadcast views', () => {
    // [3,2] transposed view of a [2,3] buffer with an offset of 1
    const buf = f64(100, 0, 1, 2, 3, 4, 5);
    const t: View = { buf: B.fromArray(buf), dtype: 'float64', shape: [3, 2], strides: [1, 3], offset: 1 };
    assert.deepEqual(out(B.unary('neg', t, 'float64'), [6], 'float64'), [-0, -3, -1, -4, -2, -5]);
    // stride-0 broadcast of a 13-element row to [7, 13]
    const row = randArray(13, 1);
    const bc: View = { buf: B.fromArray(row), dtype: 'float64', shape: [7, 13], strides: [0, 1], offset: 0 };
    const got = out(B.unary('square', bc, 'float64'), [91], 'float64');
    for (let i = 0; i < 7; i++) for (let j = 0; j < 13; j++) assert.equal(got[i * 13 + j], row[j]! * row[j]!);
    // size-1 and scalar views
    assert.deepEqual(out(B.unary('neg', view(f64(4), [1, 1, 1]), 'float64'), [1], 'float64'), [-4]);
    assert.deepEqual(out(B.unary('neg', view(f64(4), []), 'float64'), [1], 'float64'), [-4]);
    assert.equal(B.byteLength(B.unary('neg', view(f64(), [0, 3]), 'float64')), 0);
  });
});

describe('cpu backend: binary and where', () => {
  it('broadcast add through stride-0 views', () => {
    const a: View = { buf: B.fromArray(f32(1, 2, 3)), dtype: 'float32', shape: [3, 4], strides: [1, 0], offset: 0 };
    const b: View = { buf: B.fromArray(f32(10, 20, 30, 40)), dtype: 'float32', shape: [3, 4], strides: [0, 1], offset: 0 };
    assert.deepEqual(out(B.binary('add', a, b, 'float32'), [12], 'float32'), [11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43]);
    assert.deepEqual(out(B.binary('sub', a, b, 'float32'), [4], 'float32').slice(0, 4), [-9, -19, -29, -39]);
  });

  it('arithmetic on transposed odd-sized operands matches a per-element loop', () => {
    const [m, n] = [7, 13];
    const ad = randArray(m * n, 2),
      bd = randArray(m * n, 3);
    const a: View = { buf: B.fromArray(ad), dtype: 'float64', shape: [m, n], strides: [1, m], offset: 0 }; // transposed
    const b = view(bd, [m, n]);
    const ops: [Parameters<typeof B.binary>[0], (x: number, y: number) => number][] = [
      ['add', (x, y) => x + y],
      ['sub', (x, y) => x - y],
      ['mul', (x, y) => x * y],
      ['div', (x, y) => x / y],
      ['maximum', Math.max],
      ['minimum', Math.min],
      ['pow', (x, y) => Math.abs(x) ** y],
    ];
    for (const [op, f] of ops) {
      const A = op === 'pow' ? { ...a, buf: B.fromArray(ad.map(Math.abs)) } : a;
      const got = out(B.binary(op, A, b, 'float64'), [m * n], 'float64');
      const want: number[] = [];
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) want.push(f(ad[j * m + i]!, bd[i * n + j]!));
      close(got, want, 1e-15);
    }
  });

  it('comparisons and logic give bool 0/1', () => {
    const a = view(f64(1, 2, 3, NaN, 0), [5]);
    const b = view(f64(2, 2, 2, NaN, 5), [5]);
    const cmp = (op: Parameters<typeof B.binary>[0]) => out(B.binary(op, a, b, 'bool'), [5], 'bool');
    assert.deepEqual(cmp('eq'), [0, 1, 0, 0, 0]);
    assert.deepEqual(cmp('ne'), [1, 0, 1, 1, 1]);
    assert.deepEqual(cmp('lt'), [1, 0, 0, 0, 1]);
    assert.deepEqual(cmp('le'), [1, 1, 0, 0, 1]);
    assert.deepEqual(cmp('gt'), [0, 0, 1, 0, 0]);
    assert.deepEqual(cmp('ge'), [0, 1, 1, 0, 0]);
    assert.deepEqual(cmp('and'), [1, 1, 1, 1, 0]);
    assert.deepEqual(cmp('or'), [1, 1, 1, 1, 1]);
  });

  it('maximum/minimum propagate NaN; pow keeps C special cases', () => {
    const a = view(f64(NaN, 1, 1, -1), [4]);
    const b = view(f64(1, NaN, NaN, Infinity), [4]);
    const mx = out(B.binary('maximum', a, b, 'float64'), [4], 'float64');
    assert.ok(Number.isNaN(mx[0]) && Number.isNaN(mx[1]));
    const mn = out(B.binary('minimum', a, b, 'float64'), [4], 'float64');
    assert.ok(Number.isNaN(mn[0]) && Number.isNaN(mn[1]));
    assert.deepEqual(out(B.binary('pow', a, b, 'float64'), [4], 'float64').slice(1), [1, 1, 1]);
  });

  it('int32 results wrap like int32 arithmetic', () => {
    const a = view(i32(7, -7, 0x10000, 2147483647), [4]);
    const b = view(i32(2, 2, 0x10001, 1), [4]);
    assert.deepEqual(out(B.binary('mul', a, b, 'int32'), [4], 'int32'), [14, -14, 0x10000, 2147483647]);
    assert.deepEqual(out(B.binary('add', a, b, 'int32'), [4], 'int32'), [9, -5, 0x20001, -2147483648]);
  });

  it('where picks a where cond is nonzero, over broadcast views', () => {
    const cond: View = { buf: B.fromArray(Uint8Array.from([1, 0, 1])), dtype: 'bool', shape: [2, 3], strides: [0, 1], offset: 0 };
    const a = view(f32(1, 2, 3, 4, 5, 6), [2, 3]);
    const b: View = { buf: B.fromArray(f32(-1)), dtype: 'float32', shape: [2, 3], strides: [0, 0], offset: 0 };
    assert.deepEqual(out(B.where(cond, a, b, 'float32'), [6], 'float32'), [1, -1, 3, 4, -1, 6]);
  });
});

// ---- reductions ----

describe('cpu backend: reduce', () => {
  // x = [[0,1,2],[3,4,5]] as float64
  const x = view(f64(0, 1, 2, 3, 4, 5), [2, 3]);

  it('sum over each axis, both, none', () => {
    assert.deepEqual(out(B.reduce('sum', x, [0], 'float64'), [3], 'float64'), [3, 5, 7]);
    assert.deepEqual(out(B.reduce('sum', x, [1], 'float64'), [2], 'float64'), [3, 12]);
    assert.deepEqual(out(B.reduce('sum', x, [0, 1], 'float64'), [1], 'float64'), [15]);
    assert.deepEqual(out(B.reduce('sum', x, [], 'float64'), [6], 'float64'), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(out(B.reduce('sum', x, [], 'float32'), [6], 'float32'), [0, 1, 2, 3, 4, 5]);
  });

  it('sum, prod, max, min over a transposed 3-D view with odd sizes', () => {
    const [p, q, r] = [7, 1, 13];
    const data = randArray(p * q * r, 4);
    // logical [r, q, p] view of a contiguous [p, q, r] buffer
    const v: View = { buf: B.fromArray(data), dtype: 'float64', shape: [r, q, p], strides: [1, r, q * r], offset: 0 };
    const at = (i: number, j: number, k: number) => data[k * q * r + j * r + i]!;
    for (const axes of [[0], [2], [0, 2], [1], [0, 1, 2]]) {
      const keep = [0, 1, 2].filter((a) => !axes.includes(a));
      const shape = [r, q, p];
      const outShape = keep.map((a) => shape[a]!);
      const size = outShape.reduce((s, d) => s * d, 1);
      const want = {
        sum: new Array(size).fill(0),
        prod: new Array(size).fill(1),
        max: new Array(size).fill(-Infinity),
        min: new Array(size).fill(Infinity),
      };
      for (let i = 0; i < r; i++)
        for (let j = 0; j < q; j++)
          for (let k = 0; k < p; k++) {
            const c = [i, j, k];
            let o = 0;
            for (const a of keep) o = o * shape[a]! + c[a]!;
            const val = at(i, j, k);
            want.sum[o] += val;
            want.prod[o] *= val;
            want.max[o] = Math.max(want.max[o], val);
            want.min[o] = Math.min(want.min[o], val);
          }
      for (const op of ['sum', 'prod', 'max', 'min'] as const) {
        close(out(B.reduce(op, v, axes, 'float64'), [size], 'float64'), want[op], 1e-13);
      }
    }
  });

  it('max/min propagate NaN', () => {
    const v = view(f64(1, NaN, 3, 4, 5, 6), [2, 3]);
    const mx = out(B.reduce('max', v, [1], 'float64'), [2], 'float64');
    assert.ok(Number.isNaN(mx[0]));
    assert.equal(mx[1], 6);
    const mn = out(B.reduce('min', v, [0], 'float64'), [3], 'float64');
    assert.deepEqual([mn[0], mn[2]], [1, 3]);
    assert.ok(Number.isNaN(mn[1]));
  });

  it('argmax/argmin: first occurrence on ties, NaN counts as the extreme', () => {
    const v = view(f64(1, 5, 5, 0, 2, 2, 0, 0, NaN, 7, NaN, 1), [3, 4]);
    assert.deepEqual(out(B.reduce('argmax', v, [1], 'int32'), [3], 'int32'), [1, 0, 0]);
    assert.deepEqual(out(B.reduce('argmin', v, [1], 'int32'), [3], 'int32'), [3, 2, 0]);
    assert.deepEqual(out(B.reduce('argmax', v, [0], 'int32'), [4], 'int32'), [2, 2, 2, 2]);
    // over the whole tensor: flat index in row-major order
    const w = view(f64(3, 9, 1, 9, 2, 0), [2, 3]);
    assert.deepEqual(out(B.reduce('argmax', w, [0, 1], 'int32'), [1], 'int32'), [1]);
    assert.deepEqual(out(B.reduce('argmin', w, [0, 1], 'int32'), [1], 'int32'), [5]);
    // over a transposed view: indices refer to the view, not the buffer
    const t: View = { buf: B.fromArray(f64(3, 9, 1, 9, 2, 0)), dtype: 'float64', shape: [3, 2], strides: [1, 3], offset: 0 };
    assert.deepEqual(out(B.reduce('argmax', t, [0], 'int32'), [2], 'int32'), [1, 0]);
    assert.deepEqual(out(B.reduce('argmax', t, [0, 1], 'int32'), [1], 'int32'), [1]); // [3,9,9,2,1,0]
  });

  it('int32 and bool sums are exact', () => {
    const v = view(i32(2147483647, 2147483647, -5), [3]);
    assert.deepEqual(out(B.reduce('sum', v, [0], 'float64'), [1], 'float64'), [4294967289]);
    const m = view(Uint8Array.from([1, 0, 1, 1]), [2, 2]);
    assert.deepEqual(out(B.reduce('sum', m, [1], 'int32'), [2], 'int32'), [1, 2]);
    assert.deepEqual(out(B.reduce('max', m, [1], 'bool'), [2], 'bool'), [1, 1]);
  });

  it('float32 sums accumulate in float64', () => {
    const n = 100003;
    const data = new Float32Array(n).fill(0.1);
    const got = out(B.reduce('sum', view(data, [n]), [0], 'float64'), [1], 'float64')[0]!;
    assert.ok(Math.abs(got - n * Math.fround(0.1)) < 1e-7, String(got));
  });
});

// ---- matmul ----

function naiveMatmul(a: View, b: View): number[] {
  const ad = B.read(a),
    bd = B.read(b);
  const r = a.shape.length;
  const [M, K, N] = [a.shape[r - 2]!, a.shape[r - 1]!, b.shape[r - 1]!];
  const batches = a.shape.slice(0, -2).reduce((s, d) => s * d, 1);
  const res: number[] = [];
  for (let t = 0; t < batches; t++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += ad[t * M * K + i * K + k]! * bd[t * K * N + k * N + j]!;
        res.push(s);
      }
  return res;
}

describe('cpu backend: matmul', () => {
  it('a small hand-checked product', () => {
    const a = view(f32(1, 2, 3, 4, 5, 6), [2, 3]);
    const b = view(f32(7, 8, 9, 10, 11, 12), [3, 2]);
    assert.deepEqual(out(B.matmul(a, b, 'float32'), [4], 'float32'), [58, 64, 139, 154]);
  });

  it('matches a naive triple loop on random transposed / strided inputs of odd sizes', () => {
    let seed = 10;
    for (const [M, K, N] of [
      [1, 1, 1],
      [7, 13, 1],
      [1, 7, 13],
      [13, 7, 7],
      [5, 1, 9],
      [13, 13, 13],
    ] as const) {
      for (const transA of [false, true])
        for (const transB of [false, true]) {
          const ad = randArray(M * K, seed++),
            bd = randArray(K * N, seed++);
          const a: View = transA ? { buf: B.fromArray(ad), dtype: 'float64', shape: [M, K], strides: [1, M], offset: 0 } : view(ad, [M, K]);
          const b: View = transB ? { buf: B.fromArray(bd), dtype: 'float64', shape: [K, N], strides: [1, K], offset: 0 } : view(bd, [K, N]);
          close(out(B.matmul(a, b, 'float64'), [M * N], 'float64'), naiveMatmul(a, b), 1e-13);
        }
    }
  });

  it('batched, with a stride-0 (shared) right operand and an offset, sliced left operand', () => {
    const [Bt, M, K, N] = [3, 4, 5, 7];
    // a: every other row of a [3, 8, 5] buffer, starting at row 1
    const abuf = randArray(Bt * 8 * K, 20);
    const a: View = { buf: B.fromArray(abuf), dtype: 'float64', shape: [Bt, M, K], strides: [8 * K, 2 * K, 1], offset: K };
    const bdat = randArray(K * N, 21);
    const b: View = { buf: B.fromArray(bdat), dtype: 'float64', shape: [Bt, K, N], strides: [0, N, 1], offset: 0 };
    close(out(B.matmul(a, b, 'float64'), [Bt * M * N], 'float64'), naiveMatmul(a, b), 1e-13);
    // also a transposed shared weight (x @ W^T), which takes the dot-product path
    const bt: View = { buf: B.fromArray(bdat), dtype: 'float64', shape: [Bt, K, N], strides: [0, 1, K], offset: 0 };
    close(out(B.matmul(a, bt, 'float64'), [Bt * M * N], 'float64'), naiveMatmul(a, bt), 1e-13);
    // 4-D batch with a broadcast leading dim
    const a4: View = {
      buf: B.fromArray(randArray(2 * M * K, 22)),
      dtype: 'float64',
      shape: [3, 2, M, K],
      strides: [0, M * K, K, 1],
      offset: 0,
    };
    const b4 = view(randArray(3 * 2 * K * N, 23), [3, 2, K, N]);
    close(out(B.matmul(a4, b4, 'float64'), [6 * M * N], 'float64'), naiveMatmul(a4, b4), 1e-13);
  });

  it('int32 and float32 outputs; empty K gives zeros', () => {
    const a = view(i32(1, 2, 3, 4), [2, 2]);
    assert.deepEqual(out(B.matmul(a, a, 'int32'), [4], 'int32'), [7, 10, 15, 22]);
    const e = B.matmul(view(f32(), [2, 0]), view(f32(), [0, 3]), 'float32');
    assert.deepEqual(out(e, [6], 'float32'), [0, 0, 0, 0, 0, 0]);
  });
});

// ---- indexing ----

describe('cpu backend: indexing', () => {
  it('gather along dim 1 and dim 0, with a strided index', () => {
    const x = view(f32(1, 2, 3, 4, 5, 6), [2, 3]);
    const idx = view(i32(2, 0, 1, 1), [2, 2]);
    assert.deepEqual(out(B.gather(x, 1, idx), [4], 'float32'), [3, 1, 5, 5]);
    const idx0 = view(i32(1, 0, 1), [1, 3]);
    assert.deepEqual(out(B.gather(x, 0, idx0), [3], 'float32'), [4, 2, 6]);
    // transposed index view: logical [[2,1],[0,1]]
    const idxT: View = { buf: B.fromArray(i32(2, 0, 1, 1)), dtype: 'int32', shape: [2, 2], strides: [1, 2], offset: 0 };
    assert.deepEqual(out(B.gather(x, 1, idxT), [4], 'float32'), [3, 2, 4, 5]);
  });

  it('gather rejects out-of-range indices with IndexError', () => {
    const x = view(f32(...new Array(14).fill(0)), [2, 7]);
    assert.throws(
      () => B.gather(x, 1, view(i32(0, 9), [1, 2])),
      (e: unknown) => e instanceof IndexError && e.message === 'gather: index 9 is out of range for dim 1 of size 7',
    );
    assert.throws(() => B.gather(x, 1, view(i32(-1), [1, 1])), /gather: index -1 is out of range for dim 1 of size 7/);
  });

  it("scatterAdd adds src into a copy of base, reading only idx's extent of src", () => {
    const base = view(f32(1, 1, 1, 1, 1, 1), [2, 3]);
    const idx = view(i32(0, 0, 2, 1), [2, 2]);
    const src = view(f32(10, 20, 99, 30, 40, 99), [2, 3]); // column 2 is outside idx's extent
    assert.deepEqual(out(B.scatterAdd(base, 1, idx, src), [6], 'float32'), [31, 1, 1, 1, 41, 31]);
    assert.deepEqual(Array.from(B.read(base)), [1, 1, 1, 1, 1, 1]);
    // dim 0, embedding-gradient style: rows of src summed into rows of base
    const idx0: View = { buf: B.fromArray(i32(1, 1, 1)), dtype: 'int32', shape: [3, 2], strides: [0, 0], offset: 0 };
    const src0 = view(f32(1, 2, 3, 4, 5, 6), [3, 2]);
    const base0 = view(f32(0, 0, 0, 0), [2, 2]);
    assert.deepEqual(out(B.scatterAdd(base0, 0, idx0, src0), [4], 'float32'), [0, 0, 9, 12]);
    assert.throws(
      () => B.scatterAdd(base0, 0, view(i32(2), [1, 1]), src0),
      (e: unknown) => e instanceof IndexError && e.message === 'scatterAdd: index 2 is out of range for dim 0 of size 2',
    );
  });

  it('indexSelect picks slices (with repeats) along any dim', () => {
    const x = view(f64(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), [3, 4]);
    assert.deepEqual(out(B.indexSelect(x, 0, view(i32(2, 0, 2), [3])), [12], 'float64'), [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11]);
    assert.deepEqual(out(B.indexSelect(x, 1, view(i32(3, 1), [2])), [6], 'float64'), [3, 1, 7, 5, 11, 9]);
    // transposed input and a strided (every other) index
    const t: View = {
      buf: B.fromArray(f64(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)),
      dtype: 'float64',
      shape: [4, 3],
      strides: [1, 4],
      offset: 0,
    };
    const idx: View = { buf: B.fromArray(i32(1, 99, 0)), dtype: 'int32', shape: [2], strides: [2], offset: 0 };
    assert.deepEqual(out(B.indexSelect(t, 0, idx), [6], 'float64'), [1, 5, 9, 0, 4, 8]);
    assert.throws(
      () => B.indexSelect(x, 1, view(i32(4), [1])),
      (e: unknown) => e instanceof IndexError && e.message === 'indexSelect: index 4 is out of range for dim 1 of size 4',
    );
  });

  it('indexAdd sums slices of src into zeros at idx, repeats accumulating', () => {
    const src = view(f32(1, 2, 3, 4, 5, 6), [3, 2]);
    assert.deepEqual(out(B.indexAdd([4, 2], 0, view(i32(3, 0, 3), [3]), src), [8], 'float32'), [3, 4, 0, 0, 0, 0, 6, 8]);
    const src1 = view(f32(1, 2, 3, 4, 5, 6), [2, 3]);
    assert.deepEqual(out(B.indexAdd([2, 2], 1, view(i32(1, 1, 0), [3]), src1), [4], 'float32'), [3, 3, 6, 9]);
    assert.throws(
      () => B.indexAdd([2, 2], 1, view(i32(0, -3, 0), [3]), src1),
      (e: unknown) => e instanceof IndexError && e.message === 'indexAdd: index -3 is out of range for dim 1 of size 2',
    );
  });
});

// ---- softmax ----

function naiveSoftmax(rows: number[][], log: boolean): number[][] {
  return rows.map((r) => {
    const m = Math.max(...r);
    const s = r.reduce((acc, v) => acc + Math.exp(v - m), 0);
    return r.map((v) => (log ? v - m - Math.log(s) : Math.exp(v - m) / s));
  });
}

describe('cpu backend: softmax', () => {
  it('last axis, stable for large inputs, softmax and log-softmax', () => {
    const x = view(f64(1, 2, 3, 1000, 1001, 1002, -1000, 0, 1000), [3, 3]);
    const rows = [
      [1, 2, 3],
      [1000, 1001, 1002],
      [-1000, 0, 1000],
    ];
    close(out(B.softmax(x, 1, false), [9], 'float64'), naiveSoftmax(rows, false).flat(), 1e-15);
    close(out(B.softmax(x, 1, true), [9], 'float64'), naiveSoftmax(rows, true).flat(), 1e-15);
    const s = out(B.softmax(x, 1, false), [9], 'float64');
    close([s[0]! + s[1]! + s[2]!], [1], 1e-15);
  });

  it("a leading axis of a transposed view; output keeps the view's shape", () => {
    const data = randArray(7 * 13, 30);
    // view [7, 13] as the transpose of a [13, 7] buffer; softmax over axis 0 (length 7)
    const v: View = { buf: B.fromArray(data), dtype: 'float64', shape: [7, 13], strides: [1, 7], offset: 0 };
    const cols: number[][] = [];
    for (let j = 0; j < 13; j++) cols.push(Array.from({ length: 7 }, (_, i) => data[j * 7 + i]!));
    for (const log of [false, true]) {
      const want = naiveSoftmax(cols, log);
      const got = out(B.softmax(v, 0, log), [91], 'float64');
      for (let i = 0; i < 7; i++) for (let j = 0; j < 13; j++) close([got[i * 13 + j]!], [want[j]![i]!], 1e-14);
    }
  });

  it('float32 output and a size-1 axis', () => {
    assert.deepEqual(out(B.softmax(view(f32(5, -2), [2, 1]), 1, false), [2], 'float32'), [1, 1]);
    assert.deepEqual(out(B.softmax(view(f32(5, -2), [2, 1]), 1, true), [2], 'float32'), [0, 0]);
  });
});

// ---- im2col / col2im ----

describe('cpu backend: im2col and col2im', () => {
  it('a 3x3 image, 2x2 kernel, padding 1, stride 2', () => {
    const x = view(f32(1, 2, 3, 4, 5, 6, 7, 8, 9), [1, 1, 3, 3]);
    const w: Window2d = { kernel: [2, 2], stride: [2, 2], padding: [1, 1], dilation: [1, 1] };
    // outH = floor((3 + 2 - 2) / 2) + 1 = 2
    const cols = out(B.im2col(x, w, 2, 2, 0), [16], 'float32');
    // row (i,j) = tap (i,j); columns (oh,ow) at input (2oh-1+i, 2ow-1+j)
    assert.deepEqual(cols, [
      0,
      0,
      0,
      5, // i=0 j=0
      0,
      0,
      4,
      6, // i=0 j=1
      0,
      2,
      0,
      8, // i=1 j=0
      1,
      3,
      7,
      9, // i=1 j=1
    ]);
    const pooled = out(B.im2col(x, w, 2, 2, -Infinity), [16], 'float32');
    assert.deepEqual(pooled.slice(0, 4), [-Infinity, -Infinity, -Infinity, 5]);
  });

  it('dilation and a strided (channels-last) input view', () => {
    // logical [1, 2, 3, 3] stored as [1, 3, 3, 2] (NHWC)
    const nhwc = Float64Array.from({ length: 18 }, (_, i) => i);
    const x: View = { buf: B.fromArray(nhwc), dtype: 'float64', shape: [1, 2, 3, 3], strides: [18, 1, 6, 2], offset: 0 };
    const w: Window2d = { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [2, 2] };
    const cols = out(B.im2col(x, w, 1, 1, 0), [8], 'float64');
    // channel c taps at (0,0),(0,2),(2,0),(2,2): value = (h*3 + w)*2 + c
    assert.deepEqual(cols, [0, 4, 12, 16, 1, 5, 13, 17]);
  });

  it('col2im is the adjoint of im2col on random data', () => {
    const geoms: [Window2d, number, number, number, number][] = [
      [{ kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] }, 3, 7, 5, 0],
      [{ kernel: [3, 2], stride: [2, 3], padding: [1, 0], dilation: [2, 1] }, 2, 13, 7, 0],
      [{ kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1] }, 1, 1, 1, 0],
      [{ kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] }, 2, 7, 7, 0],
    ];
    let seed = 40;
    for (const [w, C, H, W] of geoms) {
      const N = 2;
      const outH = Math.floor((H + 2 * w.padding[0] - w.dilation[0] * (w.kernel[0] - 1) - 1) / w.stride[0]) + 1;
      const outW = Math.floor((W + 2 * w.padding[1] - w.dilation[1] * (w.kernel[1] - 1) - 1) / w.stride[1]) + 1;
      const xd = randArray(N * C * H * W, seed++);
      const rows = C * w.kernel[0] * w.kernel[1];
      const cd = randArray(N * rows * outH * outW, seed++);
      const colsOfX = B.read({
        buf: B.im2col(view(xd, [N, C, H, W]), w, outH, outW, 0),
        dtype: 'float64',
        shape: [cd.length],
        strides: [1],
        offset: 0,
      });
      const imOfC = B.read({
        buf: B.col2im(view(cd, [N, rows, outH * outW]), w, C, H, W, outH, outW),
        dtype: 'float64',
        shape: [xd.length],
        strides: [1],
        offset: 0,
      });
      let lhs = 0,
        rhs = 0;
      for (let i = 0; i < cd.length; i++) lhs += colsOfX[i]! * cd[i]!;
      for (let i = 0; i < xd.length; i++) rhs += xd[i]! * imOfC[i]!;
      assert.ok(Math.abs(lhs - rhs) <= 1e-12 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
    }
  });

  it('col2im sums overlapping taps and reads a strided cols view', () => {
    // 1x1x1x3 image, kernel 1x2, stride 1: cols [1, 2, 2]; pixel 1 receives two taps
    const w: Window2d = { kernel: [1, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    // logical cols [[1,2],[3,4]] stored transposed
    const cols: View = { buf: B.fromArray(f32(1, 3, 2, 4)), dtype: 'float32', shape: [1, 2, 2], strides: [4, 1, 2], offset: 0 };
    assert.deepEqual(out(B.col2im(cols, w, 1, 1, 3, 1, 2), [3], 'float32'), [1, 2 + 3, 4]);
  });
});
