// The native elementwise and reduction kernels (native/elementwise.c) against their WebAssembly
// twins (assembly/elementwise.ts, assembly/reduce.ts) in one process, on the same heap inputs: odd
// row lengths, several rows with padded row strides, contiguous / broadcast (stride 0) / strided
// columns, and edge values (NaN, infinities, -0, huge, tiny and subnormal). Then the public ops on
// two threads against one, on sizes that split both ways (by rows and within one long row), and the
// op-code table native/op-codes.h against src/backend/cpu/wasm/op-codes.ts. (copy32 and copy32x3
// have no native twin: their time is memcpy's in both tiers.)
//
// Tolerances. Comparisons, selects, max / min, +-*/, sqrt and the polynomial-free ops
// are IEEE-exact in both tiers: bit for bit (NaN payloads aside). affine may differ by one rounding
// of x*p0 (the native build fuses the multiply-add). The transcendentals differ in method (native:
// vector polynomials for all of a row; WebAssembly: the same exp for its vector body, Mathf for the
// rest): each is within ~2e-6 relative of the float64 value (test/fast-elementwise.test.ts holds both
// to that), so the two are held to twice that, 8e-6 relative + 2e-7 absolute near zero, with
// NaN, the infinities and the saturated values required to agree. Row sums accumulate in float64 in
// a different order: the rounded results may differ by one float32 ulp.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mox from '../src/index.js';
import * as codes from '../src/backend/cpu/wasm/op-codes.js';
import { assertClose } from '../test-support/assert.js';
import { EDGES, Scratch, both, nativeRuntime, rng, sameBits } from '../test-support/native-diff.js';

const { rt, reason } = nativeRuntime();
const SIZES = [1, 3, 16, 17, 33, 65, 1000, 1037];
const ROOT = join(import.meta.dirname, '..', '..');

/** Values: mostly N(0, 2)-ish spread, with edge values and exact ties sprinkled in. */
function values(r: () => number): (i: number) => number {
  return () => {
    const u = r();
    if (u < 0.08) return EDGES[Math.floor(r() * EDGES.length)]!;
    if (u < 0.15) return Math.round(r() * 4) - 2;
    return (r() * 2 - 1) * 6;
  };
}

// column-stride cases: contiguous, broadcast, strided
const STRIDES = [1, 0, 3];

const EXACT_UNARY = new Set<number>([
  codes.UNARY_NEG,
  codes.UNARY_ABS,
  codes.UNARY_SQRT,
  codes.UNARY_RSQRT,
  codes.UNARY_SQUARE,
  codes.UNARY_RECIPROCAL,
  codes.UNARY_RELU,
  codes.UNARY_LEAKY_RELU,
  codes.UNARY_CLAMP,
]);
const unaryCodes = Object.entries(codes).filter(([k]) => k.startsWith('UNARY_')) as [string, number][];

describe('native elementwise kernels vs WebAssembly', () => {
  it('native/op-codes.h has exactly the op codes of op-codes.ts', () => {
    const h = readFileSync(join(ROOT, 'native', 'op-codes.h'), 'utf8');
    const fromH = Object.fromEntries(
      [...h.matchAll(/^#define ((?:UNARY|BINARY|COMPARE|REDUCE)_\w+) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
    assert.deepEqual(fromH, { ...codes });
  });

  it('unaryF32, every op, agrees (bit for bit where IEEE-exact, else within 8e-6)', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const r = rng(1);
    for (const [name, op] of unaryCodes) {
      const [p0, p1] = op === codes.UNARY_CLAMP ? [-0.5, 0.7] : op === codes.UNARY_LEAKY_RELU ? [0.1, 0] : [1.5, -0.25];
      for (const n of SIZES) {
        for (const cs of STRIDES) {
          const rows = n > 100 ? 2 : 3;
          const rs = n * (cs || 1) + 5;
          const s: Scratch = new Scratch(rt);
          try {
            const x = s.f32(rows * rs + n * cs + 1, values(r));
            const o = s.pair(rows * n);
            both(rt, 'unaryF32', (i) => [op, rows, n, x.ptr, rs, cs, o[i].ptr, p0, p1]);
            const what = `${name} n ${n} cs ${cs}`;
            if (EXACT_UNARY.has(op)) sameBits(o[0].a, o[1].a, what);
            else if (op === codes.UNARY_AFFINE) {
              // one rounding of x*p0 apart at most
              const xa = new Float32Array(rows * n);
              for (let rr = 0; rr < rows; rr++) for (let i = 0; i < n; i++) xa[rr * n + i] = x.a[rr * rs + i * cs]!;
              o[1].a.forEach((e, i) => {
                const tol = 2 ** -23 * (Math.abs(xa[i]! * p0) + Math.abs(p1));
                if (!(Math.abs(o[0].a[i]! - e) <= tol || Object.is(o[0].a[i], e) || (e !== e && o[0].a[i] !== o[0].a[i])))
                  assert.fail(`${what}: element ${i}: ${o[0].a[i]} vs ${e}`);
              });
            } else assertClose(o[0].a, o[1].a, { rtol: 8e-6, atol: 2e-7, equalNan: true, msg: what });
          } finally {
            s.free();
          }
        }
      }
    }
  });

  it('binaryF32, compareF32 and whereF32 agree (bit for bit but pow, within 8e-6)', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const r = rng(2);
    const binary = Object.entries(codes).filter(([k]) => k.startsWith('BINARY_')) as [string, number][];
    const compare = Object.entries(codes).filter(([k]) => k.startsWith('COMPARE_')) as [string, number][];
    for (const n of SIZES) {
      for (const [ca, cb] of [
        [1, 1],
        [1, 0],
        [0, 1],
        [2, 3],
        [0, 0],
      ] as const) {
        const rows = 3;
        const [ra, rb] = [n * (ca || 1) + 3, n * (cb || 1) + 1];
        const s: Scratch = new Scratch(rt);
        try {
          const a = s.f32(rows * ra + 1, values(r));
          // b shares many values with a (ties for the comparisons and max / min, including -0 vs 0)
          const b = s.f32(rows * rb + 1, (i) => (r() < 0.3 ? a.a[i % a.a.length]! : r() < 0.1 ? -0 : values(r)(i)));
          for (const [name, op] of binary) {
            const o: ReturnType<Scratch['pair']> = s.pair(rows * n);
            const pa = op === codes.BINARY_POW ? s.f32(rows * ra + 1, (i) => Math.abs(a.a[i]!)) : a;
            both(rt, 'binaryF32', (i) => [op, rows, n, pa.ptr, ra, ca, b.ptr, rb, cb, o[i].ptr]);
            const what = `${name} n ${n} strides ${ca}/${cb}`;
            if (op === codes.BINARY_POW) assertClose(o[0].a, o[1].a, { rtol: 8e-6, atol: 2e-7, equalNan: true, msg: what });
            else sameBits(o[0].a, o[1].a, what);
          }
          for (const [name, op] of compare) {
            const o = [s.u8(rows * n, () => 7), s.u8(rows * n, () => 7)];
            both(rt, 'compareF32', (i) => [op, rows, n, a.ptr, ra, ca, b.ptr, rb, cb, o[i]!.ptr]);
            assert.deepEqual(o[0]!.a, o[1]!.a, `${name} n ${n} strides ${ca}/${cb}`);
          }
          for (const cc of [1, 0, 2]) {
            const c = s.u8(rows * (n * 2 + 1), () => [0, 1, 2, 255, 0][Math.floor(r() * 5)]!);
            const o = s.pair(rows * n);
            both(rt, 'whereF32', (i) => [rows, n, c.ptr, n * 2 + 1, cc, a.ptr, ra, ca, b.ptr, rb, cb, o[i].ptr]);
            sameBits(o[0].a, o[1].a, `where n ${n} strides ${cc}/${ca}/${cb}`);
          }
        } finally {
          s.free();
        }
      }
    }
  });

  it('reduceRowsF32 and reduceColsF32 agree (sums within 1 ulp, max / min and column sums exactly)', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const r = rng(4);
    for (const n of SIZES) {
      for (const cs of [1, 3]) {
        for (const rows of [1, 2, 7]) {
          const s: Scratch = new Scratch(rt);
          try {
            const rs = n * cs + 1;
            const x = s.f32(rows * rs + n * cs + 1, values(r));
            const finite = s.f32(rows * rs + n * cs + 1, () => (r() * 2 - 1) * 6);
            for (const [name, op] of [
              ['sum', codes.REDUCE_SUM],
              ['max', codes.REDUCE_MAX],
              ['min', codes.REDUCE_MIN],
            ] as const) {
              for (const src of [x, finite]) {
                const o: ReturnType<Scratch['pair']> = s.pair(rows);
                both(rt, 'reduceRowsF32', (i) => [op, rows, n, src.ptr, rs, cs, o[i].ptr]);
                const what = `reduceRows ${name} n ${n} cs ${cs} rows ${rows}`;
                if (op === codes.REDUCE_SUM) assertClose(o[0].a, o[1].a, { rtol: 2 ** -23, atol: 0, equalNan: true, msg: what });
                else sameBits(o[0].a, o[1].a, what);
                // columns: out[j] over `rows` rows of stride rs
                const oc = s.pair(n);
                both(rt, 'reduceColsF32', (i) => [op, rows, n, src.ptr, rs, cs, oc[i].ptr]);
                sameBits(oc[0].a, oc[1].a, `reduceCols ${name} n ${n} cs ${cs} rows ${rows}`);
              }
            }
          } finally {
            s.free();
          }
        }
      }
    }
  });

  it('the public ops give the same bits on two threads as on one (split by rows and within a row)', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const before = mox.getNumThreads();
    const run = (threads: number, shape: number[]): Float32Array[] =>
      mox.scope(() => {
        mox.setNumThreads(threads);
        const gen = new mox.Generator(5);
        const x = mox.randn(shape, { generator: gen }).mul(3);
        x.requiresGrad = true;
        const b = mox.randn([shape[shape.length - 1]!], { generator: gen });
        const y = mox.nn.functional.gelu(x, 'tanh');
        const z = y.add(b).mul(x).tanh();
        const e = x.exp().log1p();
        z.sum().add(e.sum()).backward();
        return [y, z, e, x.grad!, x.max(-1), x.sum(0), mox.where(x.gt(b), x, b)].map((t) => t.dataSync() as Float32Array);
      });
    try {
      for (const shape of [
        [768, 771],
        [1, 600_001],
      ]) {
        const one = run(1, shape);
        const two = run(2, shape);
        one.forEach((a, i) => sameBits(two[i]!, a, `[${shape}] result ${i}: 2 threads vs 1`));
      }
    } finally {
      mox.setNumThreads(before);
    }
  });
});
