// The WASM window and embedding kernels (im2col, col2im, max/avg pooling and their gradients,
// indexSelect (float32 and int32) / indexAdd along dim 0) against the TypeScript reference kernels, on random geometry
// with odd sizes, strided and transposed inputs, and one and two threads.
//
// Data movement (im2col, indexSelect, max pooling and its argmax) must match exactly. Kernels that sum
// differ by float32 rounding only: the reference adds in float64 and rounds once, the fast kernel
// rounds after each of its m additions, so |fast - ref| <= m * 2^-24 * sum|terms| (+ one rounding of
// the result). The bound is computed per element from the reference run on |input|.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { cpuBackend as B } from '../src/backend/cpu/cpu-backend.js';
import { referenceBackend as R } from '../src/backend/cpu/reference-backend.js';
import type { AvgPoolDivisor, View, Window2d } from '../src/backend/backend.js';
import { windowOut } from '../src/ops/conv.js';
import { mulberry32 as rng } from '../test-support/fixtures.js';

const fast = B.info().kernels !== 'typescript';
const U = 2 ** -24;
const ODD = [1, 7, 13, 127];

const stridesOf = (shape: readonly number[]): number[] => {
  const s: number[] = [];
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
};

/**
 * A float32 view of `shape` on the heap with random values: contiguous (kind 0), with the last two
 * axes stored transposed (kind 1), or every other element of a buffer twice as wide (kind 2).
 */
function randView(shape: number[], kind: number, r: () => number, gen: () => number = () => r() * 2 - 1): View {
  const n = shape.reduce((a, b) => a * b, 1);
  const k = shape.length;
  const buf = B.alloc('float32', kind === 2 ? 2 * n + 1 : n) as Float32Array;
  for (let i = 0; i < buf.length; i++) buf[i] = gen();
  if (kind === 1 && k >= 2) {
    const stored = [...shape.slice(0, -2), shape[k - 1]!, shape[k - 2]!];
    const s = stridesOf(stored);
    return { buf, dtype: 'float32', shape, strides: [...s.slice(0, -2), s[k - 1]!, s[k - 2]!], offset: 0 };
  }
  if (kind === 2) return { buf, dtype: 'float32', shape, strides: stridesOf(shape).map((s) => s * 2), offset: 1 };
  return { buf, dtype: 'float32', shape, strides: stridesOf(shape), offset: 0 };
}

/** The same elements with absolute values, contiguous (for the rounding bound). */
function absView(v: View): View {
  const a = B.read(v) as Float32Array;
  return { buf: a.map(Math.abs), dtype: 'float32', shape: v.shape, strides: stridesOf(v.shape), offset: 0 };
}

/** Rows 0, 2, 4, ... of a [2*rows, ...] buffer: each row contiguous, rows spaced apart. */
function rowStep2(shape: number[], r: () => number): View {
  const v = randView([shape[0]! * 2, ...shape.slice(1)], 0, r);
  return { ...v, shape, strides: [v.strides[0]! * 2, ...v.strides.slice(1)] };
}

const arr = (buf: unknown, n: number): Float32Array => (buf as Float32Array).subarray(0, n);

function same(fastBuf: unknown, refBuf: unknown, n: number, what: string): void {
  const a = arr(fastBuf, n),
    e = arr(refBuf, n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(e[i]!) && Number.isNaN(a[i]!)) continue;
    assert.equal(a[i], e[i], `${what}: element ${i}`);
  }
}

/** |fast - ref| <= (m * U) * bound + U * |ref| per element; m = additions per element at most. */
function withinRounding(fastBuf: unknown, refBuf: unknown, bound: unknown, n: number, m: number, what: string): void {
  const a = arr(fastBuf, n),
    e = arr(refBuf, n),
    b = arr(bound, n);
  for (let i = 0; i < n; i++) {
    const tol = (m + 1) * U * b[i]! + U * Math.abs(e[i]!) + 1e-30;
    assert.ok(Math.abs(a[i]! - e[i]!) <= tol, `${what}: element ${i}: ${a[i]} vs ${e[i]} (tol ${tol})`);
  }
}

interface Geo {
  n: number;
  c: number;
  h: number;
  w: number;
  win: Window2d;
  outH: number;
  outW: number;
  ceil: boolean;
}

/** Random pooling / conv geometry with at least one output; padding at most half the kernel. */
function randGeo(r: () => number, big: boolean): Geo {
  const pick = (xs: number[]): number => xs[Math.floor(r() * xs.length)]!;
  // big enough that every kernel splits across two threads (2 x PARALLEL_MIN_ELEMENTS of work)
  if (big) {
    const win: Window2d = { kernel: [3, 3], stride: [1, 2], padding: [1, 1], dilation: [1, 1] };
    return { n: 8, c: 16, h: 61, w: 67, win, outH: 61, outW: 34, ceil: false };
  }
  for (;;) {
    const k: [number, number] = [pick([1, 2, 3, 4]), pick([1, 2, 3, 5])];
    const stride: [number, number] = [pick([1, 2, 3]), pick([1, 2, 2, 3])];
    const dilation: [number, number] = [pick([1, 1, 2]), pick([1, 1, 2])];
    const padding: [number, number] = [Math.floor(r() * (Math.floor(k[0] / 2) + 1)), Math.floor(r() * (Math.floor(k[1] / 2) + 1))];
    const n = pick([1, 2, 3]);
    const c = pick([1, 2, 7]);
    const h = pick(ODD.slice(0, 3).concat([pick(ODD)]));
    const w = pick(ODD);
    const ceil = r() < 0.3;
    const outH = windowOut(h, k[0], stride[0], padding[0], dilation[0], ceil);
    const outW = windowOut(w, k[1], stride[1], padding[1], dilation[1], ceil);
    if (outH > 0 && outW > 0 && n * c * outH * outW < 300_000)
      return { n, c, h, w, win: { kernel: k, stride, padding, dilation }, outH, outW, ceil };
  }
}

const desc = (g: Geo, kind: number): string =>
  `x [${g.n},${g.c},${g.h},${g.w}] kind ${kind} k ${g.win.kernel} s ${g.win.stride} p ${g.win.padding} d ${g.win.dilation} -> ${g.outH}x${g.outW}`;

const CASES = 12;

for (const threads of [1, 2]) {
  describe(`fast conv/pool/embedding kernels vs reference (${threads} thread${threads > 1 ? 's' : ''})`, {
    skip: !fast && 'WASM kernels unavailable',
  }, () => {
    const run = (fn: () => void) => (): void => {
      const before = mox.getNumThreads();
      mox.setNumThreads(threads);
      try {
        fn();
      } finally {
        mox.setNumThreads(before);
      }
    };

    it(
      'im2col matches exactly (pad 0 and -inf)',
      run(() => {
        const r = rng(11 + threads);
        for (let t = 0; t < CASES; t++) {
          const g = randGeo(r, t === 0);
          const kind = t % 3;
          const x = randView([g.n, g.c, g.h, g.w], kind, r);
          const pad = t % 2 ? -Infinity : 0;
          const rows = g.c * g.win.kernel[0] * g.win.kernel[1];
          const P = g.outH * g.outW;
          const std = R.im2col(x, g.win, g.outH, g.outW, pad) as Float32Array;
          same(B.im2col(x, g.win, g.outH, g.outW, pad), std, g.n * rows * P, `im2col ${desc(g, kind)}`);
          // batch along the columns: [rows, N*P] is the [N, rows, P] result with its first two axes swapped
          const byBatch = R.im2col(x, g.win, g.outH, g.outW, pad, true) as Float32Array;
          same(B.im2col(x, g.win, g.outH, g.outW, pad, true), byBatch, g.n * rows * P, `im2col batchInColumns ${desc(g, kind)}`);
          for (let i = 0; i < g.n * rows * P; i += 7) {
            const n = Math.floor(i / (rows * P)),
              r = Math.floor(i / P) % rows,
              p = i % P;
            assert.ok(Object.is(byBatch[(r * g.n + n) * P + p], std[i]), `reference batchInColumns layout at ${i}`);
          }
        }
      }),
    );

    it(
      'col2im within float32 rounding of the float64 sum',
      run(() => {
        const r = rng(21 + threads);
        for (let t = 0; t < CASES; t++) {
          const g = randGeo(r, t === 0);
          const kind = t % 3;
          const rows = g.c * g.win.kernel[0] * g.win.kernel[1];
          const cols = randView([g.n, rows, g.outH * g.outW], kind, r);
          const n = g.n * g.c * g.h * g.w;
          const args = [g.win, g.c, g.h, g.w, g.outH, g.outW] as const;
          const bound = R.col2im(absView(cols), ...args);
          withinRounding(
            B.col2im(cols, ...args),
            R.col2im(cols, ...args),
            bound,
            n,
            g.win.kernel[0] * g.win.kernel[1],
            `col2im ${desc(g, kind)}`,
          );
        }
      }),
    );

    it(
      'maxPool2d: values and argmax exactly, ties to the first, NaN and -inf',
      run(() => {
        const r = rng(31 + threads);
        for (let t = 0; t < CASES; t++) {
          const g = randGeo(r, t === 0);
          const kind = t % 3;
          // coarse values make ties common; some NaN and -inf test the special rules
          const gen =
            t % 4 === 3
              ? (): number => {
                  const u = r();
                  return u < 0.05 ? NaN : u < 0.2 ? -Infinity : Math.round(u * 4);
                }
              : (): number => Math.round(r() * 6) / 2;
          const x = randView([g.n, g.c, g.h, g.w], kind, r, gen);
          const n = g.n * g.c * g.outH * g.outW;
          const f = B.maxPool2d(x, g.win, g.outH, g.outW);
          const e = R.maxPool2d(x, g.win, g.outH, g.outW);
          same(f.out, e.out, n, `maxPool2d out ${desc(g, kind)}`);
          assert.deepEqual(
            Array.from((f.argmax as Int32Array).subarray(0, n)),
            Array.from((e.argmax as Int32Array).subarray(0, n)),
            `maxPool2d argmax ${desc(g, kind)}`,
          );
        }
      }),
    );

    it(
      'maxPool2d 2x2 stride 2 (the unrolled path): odd sizes, ceil mode, strided rows, ties, NaN and -inf',
      run(() => {
        const r = rng(41 + threads);
        const win: Window2d = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };
        const shapes: [number, number, number, number][] = [
          [2, 3, 26, 26],
          [1, 2, 27, 33],
          [3, 1, 8, 9],
          [1, 1, 2, 17],
          [64, 16, 26, 26],
        ];
        for (const [t, [n, c, h, w]] of shapes.entries()) {
          for (const ceil of [false, true]) {
            const outH = windowOut(h, 2, 2, 0, 1, ceil);
            const outW = windowOut(w, 2, 2, 0, 1, ceil);
            const gen =
              t % 2
                ? (): number => {
                    const u = r();
                    return u < 0.05 ? NaN : u < 0.2 ? -Infinity : Math.round(u * 4);
                  }
                : (): number => Math.round(r() * 6) / 2;
            for (const x of [randView([n, c, h, w], 0, r, gen), { ...rowStep2([n, c, h, w], r) }]) {
              const size = n * c * outH * outW;
              const f = B.maxPool2d(x, win, outH, outW);
              const e = R.maxPool2d(x, win, outH, outW);
              const what = `maxPool2d 2x2 x [${n},${c},${h},${w}]${ceil ? ' ceil' : ''} strides ${x.strides}`;
              same(f.out, e.out, size, what);
              assert.deepEqual(
                Array.from((f.argmax as Int32Array).subarray(0, size)),
                Array.from((e.argmax as Int32Array).subarray(0, size)),
                `${what}: argmax`,
              );
            }
          }
        }
      }),
    );

    it(
      'maxPool2dBackward within float32 rounding',
      run(() => {
        const r = rng(41 + threads);
        for (let t = 0; t < CASES; t++) {
          const geo = randGeo(r, t === 0);
          const x = randView([geo.n, geo.c, geo.h, geo.w], 0, r);
          const { argmax } = R.maxPool2d(x, geo.win, geo.outH, geo.outW);
          const oshape = [geo.n, geo.c, geo.outH, geo.outW];
          const kind = t % 3;
          const gy = randView(oshape, kind, r);
          // argmax as a transposed view for kind 1, to read indices through strides too
          const am: View =
            kind === 1
              ? (() => {
                  const st = stridesOf([geo.n, geo.c, geo.outW, geo.outH]);
                  const buf = B.alloc('int32', (argmax as Int32Array).length) as Int32Array;
                  const a = argmax as Int32Array;
                  for (let q = 0; q < geo.n * geo.c; q++) {
                    for (let i = 0; i < geo.outH; i++)
                      for (let j = 0; j < geo.outW; j++)
                        buf[q * geo.outH * geo.outW + j * geo.outH + i] = a[q * geo.outH * geo.outW + i * geo.outW + j]!;
                  }
                  return { buf, dtype: 'int32', shape: oshape, strides: [st[0]!, st[1]!, st[3]!, st[2]!], offset: 0 };
                })()
              : { buf: B.fromArray(argmax as Int32Array), dtype: 'int32', shape: oshape, strides: stridesOf(oshape), offset: 0 };
          const inShape = [geo.n, geo.c, geo.h, geo.w];
          const n = inShape.reduce((a, b) => a * b, 1);
          // an input gets one term per window it wins, and at most kh*kw windows contain it
          const m = geo.win.kernel[0] * geo.win.kernel[1];
          withinRounding(
            B.maxPool2dBackward(gy, am, inShape),
            R.maxPool2dBackward(gy, am, inShape),
            R.maxPool2dBackward(absView(gy), am, inShape),
            n,
            m,
            `maxPool2dBackward ${desc(geo, kind)}`,
          );
        }
      }),
    );

    it(
      'avgPool2d forward and backward within float32 rounding (divisor rules)',
      run(() => {
        const r = rng(51 + threads);
        for (let t = 0; t < CASES; t++) {
          const geo = randGeo(r, t === 0);
          const g = { ...geo, win: { ...geo.win, dilation: [1, 1] as [number, number] } };
          g.outH = windowOut(g.h, g.win.kernel[0], g.win.stride[0], g.win.padding[0], 1, g.ceil);
          g.outW = windowOut(g.w, g.win.kernel[1], g.win.stride[1], g.win.padding[1], 1, g.ceil);
          if (g.outH <= 0 || g.outW <= 0) continue;
          const div: AvgPoolDivisor = { countIncludePad: t % 2 === 0, divisorOverride: t % 5 === 4 ? 3 : undefined };
          const kind = t % 3;
          const x = randView([g.n, g.c, g.h, g.w], kind, r);
          const area = g.win.kernel[0] * g.win.kernel[1];
          const nOut = g.n * g.c * g.outH * g.outW;
          const what = `${desc(g, kind)} ${JSON.stringify(div)}`;
          // the fast kernel divides in float32: one more rounding, covered by the +1 in withinRounding
          withinRounding(
            B.avgPool2d(x, g.win, g.outH, g.outW, div),
            R.avgPool2d(x, g.win, g.outH, g.outW, div),
            R.avgPool2d(absView(x), g.win, g.outH, g.outW, div),
            nOut,
            area + 1,
            `avgPool2d ${what}`,
          );
          const gy = randView([g.n, g.c, g.outH, g.outW], kind, r);
          const inShape = [g.n, g.c, g.h, g.w];
          withinRounding(
            B.avgPool2dBackward(gy, g.win, inShape, div),
            R.avgPool2dBackward(gy, g.win, inShape, div),
            R.avgPool2dBackward(absView(gy), g.win, inShape, div),
            g.n * g.c * g.h * g.w,
            area + 1,
            `avgPool2dBackward ${what}`,
          );
        }
      }),
    );

    it(
      'indexSelect and indexAdd along dim 0 (embedding rows)',
      run(() => {
        const r = rng(61 + threads);
        const shapes = [
          [1, 1],
          [7, 13],
          [127, 7],
          [13, 1, 127],
          [50, 4, 7],
          [3000, 128],
        ];
        for (const [t, shape] of shapes.entries()) {
          // contiguous; every other element (falls back to the reference); every other row (fast, strided rows)
          const kind = t === shapes.length - 1 ? 0 : t % 3;
          const x = kind === 2 ? rowStep2(shape, r) : randView(shape, kind === 1 && shape.length === 2 ? 2 : 0, r);
          const nIdx = t === shapes.length - 1 ? 4500 : Math.floor(r() * 40) + 1;
          // repeated indices, read through a step-2 view half the time
          const step = t % 2 ? 2 : 1;
          const ib = B.alloc('int32', nIdx * step) as Int32Array;
          for (let j = 0; j < ib.length; j++) ib[j] = Math.floor(r() * shape[0]!);
          const idx: View = { buf: ib, dtype: 'int32', shape: [nIdx], strides: [step], offset: 0 };
          const row = shape.slice(1).reduce((a, b) => a * b, 1);
          same(B.indexSelect(x, 0, idx), R.indexSelect(x, 0, idx), nIdx * row, `indexSelect [${shape}] kind ${kind}`);
          const src = randView([nIdx, ...shape.slice(1)], kind, r);
          const counts = new Map<number, number>();
          for (let j = 0; j < nIdx; j++) counts.set(ib[j * step]!, (counts.get(ib[j * step]!) ?? 0) + 1);
          const m = Math.max(...counts.values());
          withinRounding(
            B.indexAdd(shape, 0, idx, src),
            R.indexAdd(shape, 0, idx, src),
            R.indexAdd(shape, 0, idx, absView(src)),
            shape.reduce((a, b) => a * b, 1),
            m,
            `indexAdd [${shape}] kind ${kind}`,
          );
        }
        // int32 rows (a batch of class labels, or token ids) are copied bit for bit, values past 2^24 too
        for (const shape of [[3000], [50, 3]]) {
          const n = shape.reduce((a, b) => a * b, 1);
          const xb = B.alloc('int32', n) as Int32Array;
          for (let i = 0; i < n; i++) xb[i] = (i % 2 ? -1 : 1) * (2 ** 30 + i);
          const x: View = { buf: xb, dtype: 'int32', shape, strides: stridesOf(shape), offset: 0 };
          const ib = B.alloc('int32', 37) as Int32Array;
          for (let j = 0; j < ib.length; j++) ib[j] = Math.floor(r() * shape[0]!);
          const idx: View = { buf: ib, dtype: 'int32', shape: [37], strides: [1], offset: 0 };
          const got = B.indexSelect(x, 0, idx);
          assert.ok(got instanceof Int32Array, `indexSelect int32 [${shape}] gives int32`);
          same(got, R.indexSelect(x, 0, idx), 37 * (shape[1] ?? 1), `indexSelect int32 [${shape}]`);
        }
      }),
    );
  });
}

describe('fast embedding kernels keep the reference errors', { skip: !fast && 'WASM kernels unavailable' }, () => {
  it('an out-of-range index still raises IndexError', () => {
    const x = randView([5, 3], 0, rng(1));
    const idx: View = { buf: B.fromArray(Int32Array.from([0, 5])), dtype: 'int32', shape: [2], strides: [1], offset: 0 };
    assert.throws(() => B.indexSelect(x, 0, idx), /out of range/);
    assert.throws(() => B.indexAdd([5, 3], 0, idx, randView([2, 3], 0, rng(2))), /out of range/);
  });
});
