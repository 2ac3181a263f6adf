// The fused row kernels (softmax / log-softmax, layer norm, cross-entropy) on the WASM fast path against
// the TypeScript reference kernels and against the composed (unfused) ops, on random shapes with odd
// sizes, strided views and one and two threads; and the SIMD exp against Math.exp.
//
// Tolerances: the reference computes in float64 and rounds once; the fast kernels work in float32,
// where each operation adds up to half an ulp (2^-24 ~ 6e-8 relative) and a row sum of n terms in 8
// SIMD lanes gathers ~n/8 roundings in the worst case. For the row lengths here (<= 300) that is a few
// 1e-6 relative; the bounds below leave about 2-4x headroom over that.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import type { View } from '../src/backend/backend.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { referenceBackend } from '../src/backend/cpu/reference-backend.js';
import * as refRows from '../src/backend/cpu/rows.js';
import { fusedKernel } from '../src/backend/fused.js';
import { assertClose } from '../test-support/assert.js';

const F = mox.nn.functional;
const fast = cpuBackend.info().kernels !== 'typescript';
// the CPU's registered fused kernels (WASM where they take the call), checked against rows.ts
const cpuLayerNorm = fusedKernel('cpu', 'layerNorm')!;
const cpuCrossEntropy = fusedKernel('cpu', 'crossEntropy')!;
const gen = new mox.Generator(4321);
const SIZES = [1, 7, 13, 127];
const pick = <T>(xs: readonly T[]): T => xs[gen.int(0, xs.length)]!;

/** A float32 tensor of `shape`: contiguous, transposed storage, or a step-2 slice of a wider one. */
function layout(shape: number[], kind: number, scale = 1, shift = 0): Tensor {
  const mk = (s: number[]): Tensor => mox.randn(s, { generator: gen }).mul(scale).add(shift);
  if (kind === 0 || shape.length < 2) return mk(shape);
  if (kind === 1) return mk([...shape].reverse()).permute([...shape.keys()].reverse());
  const wide = mk([...shape.slice(0, -1), shape[shape.length - 1]! * 2]);
  return wide.slice(...shape.slice(0, -1).map(() => null), [0, null, 2]);
}

/** |a - e| <= atol + rtol * |e| elementwise; NaN must meet NaN. */
const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void =>
  assertClose(actual, expected, { rtol, atol, equalNan: true, msg: what });

const maxAbs = (xs: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!));
  return m;
};
const arr = (buf: unknown, n: number): Float64Array => Float64Array.from((buf as Float32Array).subarray(0, n));
const data = (t: Tensor): Float64Array => Float64Array.from(t.dataSync() as Float32Array);

/** Random [rows..., n] shapes: odd last sizes, one or two leading dims, and one big enough for every kernel to split across 2 threads. */
function shapes(): number[][] {
  return [
    [pick(SIZES)],
    [pick(SIZES), pick(SIZES)],
    [gen.int(1, 5), pick(SIZES), pick(SIZES)],
    [gen.int(1, 40), gen.int(1, 70)],
    [1040, 127],
  ];
}

/** Every layout for small shapes; the big one (there to split across threads) contiguous only, for time. */
const layoutsFor = (shape: number[]): number[] => (shape.reduce((a, d) => a * d, 1) > 50000 ? [0] : [0, 1, 2]);

describe('SIMD exp (assembly/vmath.ts)', { skip: !fast && 'WASM kernels unavailable' }, () => {
  it('is within 2 ulp of Math.exp on a dense grid over [-88, 88], and exact on special values', () => {
    const rt = cpuBackend.rt!;
    const n = 1 << 18;
    const src = rt.heap.allocArray('float32', n) as Float32Array;
    const dst = rt.heap.allocArray('float32', n) as Float32Array;
    const bits = new Int32Array(2);
    const pair = new Float32Array(bits.buffer);
    const ulps = (a: number, b: number): number => {
      pair[0] = a;
      pair[1] = b;
      return Math.abs(bits[0]! - bits[1]!);
    };
    let worst = 0;
    // 4 sweeps of 2^18 points: a step of ~1.7e-4, offset per sweep so the tails (n % 4) are hit too
    for (let sweep = 0; sweep < 4; sweep++) {
      for (let i = 0; i < n; i++) src[i] = -88 + (176 * (i * 4 + sweep)) / (4 * n);
      rt.exports.vexp!(src.byteOffset, dst.byteOffset, n - sweep);
      for (let i = 0; i < n - sweep; i++) worst = Math.max(worst, ulps(dst[i]!, Math.fround(Math.exp(src[i]!))));
    }
    assert.ok(worst <= 2, `max error ${worst} ulp`);
    const special = [Infinity, -Infinity, NaN, 0, -0, 89, 1000, -104, -1000, 88.72, -87.5, -100];
    src.set(special);
    rt.exports.vexp!(src.byteOffset, dst.byteOffset, special.length);
    const got = Array.from(dst.subarray(0, special.length));
    assert.deepEqual(got.slice(0, 9), [Infinity, 0, NaN, 1, 1, Infinity, Infinity, 0, 0]);
    // largest finite result, and results in the subnormal range (relative accuracy is lost there)
    assert.ok(ulps(got[9]!, Math.fround(Math.exp(src[9]!))) <= 2);
    assert.ok(Math.abs(got[10]! - Math.exp(-87.5)) <= 2 * 2 ** -149 + 1e-6 * Math.exp(-87.5));
    assert.ok(Math.abs(got[11]! - Math.exp(-100)) <= 2 ** -149);
    rt.heap.freeArray(src);
    rt.heap.freeArray(dst);
  });
});

for (const threads of [1, 2]) {
  describe(`fused row kernels, ${threads} thread${threads > 1 ? 's' : ''}`, { skip: !fast && 'WASM kernels unavailable' }, () => {
    const before = mox.getNumThreads();
    mox.setNumThreads(threads);
    after(() => mox.setNumThreads(before));

    it('softmax / logSoftmax over the last axis match the reference kernel', () =>
      mox.scope(() => {
        for (const shape of shapes()) {
          for (const kind of layoutsFor(shape)) {
            const x = layout(shape, kind, 4);
            const v = x.view_();
            const axis = shape.length - 1;
            const size = x.size;
            for (const log of [false, true]) {
              const got = arr(cpuBackend.softmax(v, axis, log), size);
              const want = arr(referenceBackend.softmax(v, axis, log), size);
              // softmax: relative error of exp (1 ulp) and of the f32 row sum; log-softmax: absolute, scaled by
              // the magnitudes x - max and log(sum) that are subtracted in float32
              if (log) close(got, want, 2e-6, 2e-6, `logSoftmax ${JSON.stringify(shape)} layout ${kind}`);
              else close(got, want, 1e-5, 1e-9, `softmax ${JSON.stringify(shape)} layout ${kind}`);
            }
          }
        }
      }));

    it('softmax handles -inf, all -inf rows, +inf and NaN like the reference', () =>
      mox.scope(() => {
        const rows = [
          [0, -Infinity, 1, 2, -Infinity, 3, 4], // masked entries -> exactly 0
          [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity], // NaN row, as torch
          [1, 2, NaN, 3, 4, 5, 6],
          [1, Infinity, 2, 3, 4, 5, 6],
          [-1e30, 1e30, 0, 0, 0, 0, 0],
          [80, 81, 82, 83, 84, 85, 86], // exp of the raw values would overflow
        ];
        const x = mox.tensor(Float32Array.from(rows.flat()), { shape: [rows.length, 7] });
        for (const log of [false, true]) {
          const got = arr(cpuBackend.softmax(x.view_(), 1, log), x.size);
          const want = arr(referenceBackend.softmax(x.view_(), 1, log), x.size);
          close(got, want, 1e-5, 1e-9, `special rows log=${log}`);
          if (!log) assert.equal(got[1], 0);
        }
      }));

    it('softmax over a non-last axis still matches (reference path)', () =>
      mox.scope(() => {
        const x = layout([5, 13, 7], 0);
        close(data(mox.softmax(x, 1)), arr(referenceBackend.softmax(x.view_(), 1, false), x.size), 1e-6, 1e-9, 'axis 1');
      }));

    it('layerNorm kernels match the reference (forward and backward, with and without affine)', () =>
      mox.scope(() => {
        shapes().forEach((shape, si) => {
          const n = shape[shape.length - 1]!;
          for (const kind of layoutsFor(shape)) {
            // one weight/bias combination per (shape, layout), cycling so that all four occur
            for (const affine of [(si + kind) % 4]) {
              const x = layout(shape, kind, 3, 2); // an offset mean tests the two-pass variance
              const w = affine & 1 ? mox.randn([n], { generator: gen }).view_() : null;
              const b = affine & 2 ? mox.randn([n], { generator: gen }).view_() : null;
              const g = layout(shape, (kind + 1) % 3).view_();
              const what = `layerNorm ${JSON.stringify(shape)} layout ${kind} affine ${affine}`;
              const f = cpuLayerNorm.forward(cpuBackend, x.view_(), w, b, 1e-5);
              const r = refRows.layerNorm(x.view_(), w, b, 1e-5);
              const rows = x.size / n;
              close(arr(f.y, x.size), arr(r.y, x.size), 2e-5, 2e-5, `${what}: y`);
              close(arr(f.mean, rows), arr(r.mean, rows), 1e-5, 1e-5, `${what}: mean`);
              close(arr(f.rstd, rows), arr(r.rstd, rows), 1e-5, 0, `${what}: rstd`);
              const meanV: View = { buf: r.mean, dtype: 'float32', shape: [rows], strides: [1], offset: 0 };
              const rstdV: View = { buf: r.rstd, dtype: 'float32', shape: [rows], strides: [1], offset: 0 };
              const fb = cpuLayerNorm.backward(cpuBackend, g, x.view_(), meanV, rstdV, w, b !== null);
              const rb = refRows.layerNormBackward(g, x.view_(), meanV, rstdV, w, b !== null);
              // dx: a difference of row sums, so judged against the row's magnitude rather than per element
              const dxR = arr(rb.dx, x.size);
              close(arr(fb.dx, x.size), dxR, 0, 2e-5 * (1 + maxAbs(dxR)), `${what}: dx`);
              // dweight / dbias sum over up to 300 rows in float32
              for (const [name, fa, ra] of [
                ['dweight', fb.dweight, rb.dweight],
                ['dbias', fb.dbias, rb.dbias],
              ] as const) {
                assert.equal(fa === null, ra === null, `${what}: ${name} presence`);
                if (ra) close(arr(fa, n), arr(ra, n), 0, 1e-5 * rows * (1 + maxAbs(arr(ra, n)) / Math.max(rows, 1)), `${what}: ${name}`);
              }
            }
          }
        });
      }));

    it('crossEntropy kernels match the reference (ignoreIndex, label smoothing, shared and per-row gout)', () =>
      mox.scope(() => {
        for (const [nr, c] of [
          [1, 1],
          [7, 13],
          [13, 7],
          [127, 1],
          [32, 10],
          [768, 65],
        ] as const) {
          for (const kind of [0, 1]) {
            for (const smoothing of [0, 0.1]) {
              const x = layout([nr, c], kind, 3);
              const ignore = c > 1 ? 1 : -100;
              const t = mox.tensor(Int32Array.from({ length: nr }, () => (gen.random() < 0.2 ? ignore : gen.int(0, c))));
              const what = `crossEntropy [${nr},${c}] layout ${kind} smoothing ${smoothing}`;
              const f = cpuCrossEntropy.forward(cpuBackend, x.view_(), t.view_(), ignore, smoothing);
              const r = refRows.crossEntropy(x.view_(), t.view_(), ignore, smoothing);
              close(arr(f.loss, nr), arr(r.loss, nr), 1e-5, 2e-6, `${what}: loss`);
              close(arr(f.lse, nr), arr(r.lse, nr), 1e-6, 1e-6, `${what}: lse`);
              const lseV: View = { buf: r.lse, dtype: 'float32', shape: [nr], strides: [1], offset: 0 };
              for (const g of [mox.tensor(0.37), layout([nr], 0)]) {
                const fd = arr(cpuCrossEntropy.backward(cpuBackend, g.view_(), x.view_(), t.view_(), lseV, ignore, smoothing), nr * c);
                const rd = arr(refRows.crossEntropyBackward(g.view_(), x.view_(), t.view_(), lseV, ignore, smoothing), nr * c);
                close(fd, rd, 1e-5, 1e-6 * (1 + maxAbs(rd)), `${what}: dlogits (gout ${g.shape.length ? 'per row' : 'shared'})`);
              }
            }
          }
        }
      }));
  });
}

// ---- the ops: fused against composed ----

/** The composed layer norm (the op's fallback), written out so the fused op has an independent reference. */
function composedLayerNorm(x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): Tensor {
  const mean = x.mean(-1, true);
  const centered = x.sub(mean);
  let y = centered.mul(centered.square().mean(-1, true).add(eps).rsqrt());
  if (w) y = y.mul(w);
  if (b) y = y.add(b);
  return y;
}

/** Runs f on fresh leaves copied from `inputs`, backpropagates sum(out * r), returns out and grads. */
function valueAndGrads(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], dtype: 'float32' | 'float64', r?: Tensor): Float64Array[] {
  const leaves = inputs.map((t) => t.to(dtype).detach().requiresGrad_());
  const out = f(...leaves);
  (r ? out.mul(r.to(dtype)).sum() : out.sum()).backward();
  return [Float64Array.from(out.dataSync()), ...leaves.map((l) => Float64Array.from(l.grad!.dataSync()))];
}

for (const threads of [1, 2]) {
  describe(`fused ops vs composed ops, ${threads} thread${threads > 1 ? 's' : ''}`, () => {
    const before = mox.getNumThreads();
    mox.setNumThreads(threads);
    after(() => mox.setNumThreads(before));

    it('layerNorm: values and gradients of x, weight, bias', () =>
      mox.scope(() => {
        for (const shape of [[7], [13, 7], [2, 3, 127], [300, 127], [gen.int(1, 9), pick(SIZES)]]) {
          const n = shape[shape.length - 1]!;
          const x = layout(shape, gen.int(0, 3), 2, 1);
          const w = mox.randn([n], { generator: gen });
          const b = mox.randn([n], { generator: gen });
          const r = mox.randn(shape, { generator: gen });
          const what = `layerNorm ${JSON.stringify(shape)}`;
          // float64 composed is the reference; float32 fused must be within float32 rounding of it,
          // and float64 fused (the reference kernels) must agree with it to float64 rounding
          const want = valueAndGrads((a, c, d) => composedLayerNorm(a, c, d, 1e-5), [x, w, b], 'float64', r);
          const got32 = valueAndGrads((a, c, d) => F.layerNorm(a, n, c, d), [x, w, b], 'float32', r);
          const got64 = valueAndGrads((a, c, d) => F.layerNorm(a, n, c, d), [x, w, b], 'float64', r);
          ['y', 'dx', 'dweight', 'dbias'].forEach((name, i) => {
            const scale = 1 + maxAbs(want[i]!);
            close(got32[i]!, want[i]!, 0, (i < 2 ? 3e-5 : 3e-5 * Math.sqrt(x.size / n)) * scale, `${what} float32 ${name}`);
            close(got64[i]!, want[i]!, 0, 1e-12 * scale * (x.size / n), `${what} float64 ${name}`);
          });
          // no affine parameters
          const want0 = valueAndGrads((a) => composedLayerNorm(a, null, null, 1e-3), [x], 'float64', r);
          const got0 = valueAndGrads((a) => F.layerNorm(a, [n], null, null, 1e-3), [x], 'float32', r);
          close(got0[0]!, want0[0]!, 0, 3e-5 * (1 + maxAbs(want0[0]!)), `${what} no affine y`);
          close(got0[1]!, want0[1]!, 0, 3e-5 * (1 + maxAbs(want0[1]!)), `${what} no affine dx`);
        }
      }));

    it('crossEntropy: values and gradients for each reduction, ignoreIndex and label smoothing', () =>
      mox.scope(() => {
        for (const [nr, c] of [
          [1, 7],
          [7, 13],
          [13, 1],
          [32, 10],
          [127, 13],
        ] as const) {
          for (const reduction of ['mean', 'sum', 'none'] as const) {
            for (const smoothing of [0, 0.2]) {
              const x = layout([nr, c], gen.int(0, 2), 2);
              const ignore = gen.random() < 0.5 ? -100 : 0;
              const t = mox.tensor(Int32Array.from({ length: nr }, (_, i) => (i > 0 && gen.random() < 0.25 ? ignore : gen.int(0, c))));
              const r = reduction === 'none' ? mox.randn([nr], { generator: gen }) : undefined;
              const opts = { reduction, labelSmoothing: smoothing, ignoreIndex: ignore };
              // class weights of 1 change nothing but route crossEntropy through the composed path
              const ones = mox.ones([c], { dtype: 'float64' });
              const want = valueAndGrads((a) => F.crossEntropy(a, t, { ...opts, weight: ones }), [x], 'float64', r);
              const got32 = valueAndGrads((a) => F.crossEntropy(a, t, opts), [x], 'float32', r);
              const got64 = valueAndGrads((a) => F.crossEntropy(a, t, opts), [x], 'float64', r);
              const what = `crossEntropy [${nr},${c}] ${reduction} smoothing ${smoothing} ignore ${ignore}`;
              if (reduction === 'mean' && Array.from(t.dataSync()).every((v) => v === ignore)) {
                // the mean over no rows is 0/0: NaN loss, as composed and torch; the gradient is zero (as torch's),
                // where the composed path's mask multiplies 0 by 1/0 and gets NaN
                assert.ok(Number.isNaN(got32[0]![0]!) && Number.isNaN(want[0]![0]!), `${what}: NaN loss`);
                assert.ok(
                  got32[1]!.every((v) => v === 0),
                  `${what}: zero gradient`,
                );
                continue;
              }
              for (const i of [0, 1]) {
                const scale = 1 + maxAbs(want[i]!);
                close(got32[i]!, want[i]!, 0, 1e-5 * scale, `${what} float32 ${i ? 'grad' : 'loss'}`);
                close(got64[i]!, want[i]!, 0, 1e-12 * scale * nr, `${what} float64 ${i ? 'grad' : 'loss'}`);
              }
            }
          }
        }
      }));

    it('crossEntropy: out-of-range targets raise IndexError on the fused path too', () =>
      mox.scope(() => {
        const x = mox.zeros([2, 3]);
        assert.throws(() => F.crossEntropy(x, mox.tensor(Int32Array.from([0, 3]))), mox.IndexError);
        assert.throws(() => F.crossEntropy(x, mox.tensor(Int32Array.from([-2, 0])), { ignoreIndex: -1 }), mox.IndexError);
        // an ignored row is left out of the mean
        assert.ok(Math.abs(F.crossEntropy(x, mox.tensor(Int32Array.from([-1, 0])), { ignoreIndex: -1 }).item() - Math.log(3)) < 1e-6);
      }));
  });
}
