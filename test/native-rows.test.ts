// The native row, attention and Adam kernels (native/rows.c, attention.c, optim.c) against their
// WebAssembly twins (assembly/rows.ts, attention.ts, optim.ts) in one process, on the same heap
// inputs: odd sizes around the vector widths (1, 3, 17, 33, 65, 1000+), strided rows and transposed
// attention operands, edge values (NaN, +-inf, -0, huge and subnormal), and split work (column bands,
// row ranges) that must give the same bits as one call. Then the public ops on two threads, on sizes
// the callers split, against one thread (the same bits) and the float64 reference.
//
// Tolerances: both tiers compute in float32 with the same formulas, but sum in a different lane
// order (16 or 8 lanes against 4 or 8), and the native GEMM and exp may fuse a multiply-add where
// the WebAssembly build rounds twice. Each rounding is 2^-24 ~ 6e-8 relative; a row sum of n terms
// in k lanes gathers up to ~n/k of them, so rows of ~1000 differ by up to a few 1e-6 relative in
// the worst case. The bounds (2e-5 relative for rows, 1e-4 for attention, whose outputs add GEMM
// sums of O(1) terms that cancel) leave several times that. Adam has no reduction and no fused
// multiply-add on either side, so it must match bit for bit.

import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { wasmRuntime, type WasmRuntime } from '../src/backend/cpu/wasm/runtime.js';
import type { KernelExports } from '../src/backend/cpu/wasm/kernels.js';
import { assertClose } from '../test-support/assert.js';

const F = mox.nn.functional;
const runtime = wasmRuntime();
const gen = new mox.Generator(777);
const SIZES = [1, 3, 17, 33, 65, 1000, 1031];

/** Skips (never passes silently) where the native kernels are not running. */
function needNative(t: TestContext): WasmRuntime | null {
  if (!runtime) t.skip('native kernels not running: no WebAssembly runtime');
  else if (!runtime.native) t.skip(`native kernels not running: ${runtime.nativeReason}`);
  else return runtime;
  return null;
}

/** The two tiers' kernels: [native, WebAssembly]. */
const tiers = (r: WasmRuntime): [string, KernelExports][] => [
  [`native-${r.native!.level}`, r.exports],
  ['wasm', r.wasmExports],
];

const allocs: Float32Array[] = [];
function f32(r: WasmRuntime, n: number): Float32Array {
  const a = r.heap.allocArray('float32', Math.max(1, n), true) as Float32Array;
  allocs.push(a);
  return a;
}
function i32(r: WasmRuntime, n: number): Int32Array {
  const a = r.heap.allocArray('int32', Math.max(1, n), true) as Int32Array;
  allocs.push(a as unknown as Float32Array);
  return a;
}
after(() => {
  for (const a of allocs) runtime?.heap.freeArray(a);
});

/** n normal floats * scale + shift, in the heap. */
function randomF32(r: WasmRuntime, n: number, scale = 1, shift = 0): Float32Array {
  const a = f32(r, n);
  const src = mox.randn([Math.max(1, n)], { generator: gen }).dataSync() as Float32Array;
  for (let i = 0; i < n; i++) a[i] = src[i]! * scale + shift;
  return a;
}

const close = (got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, what: string): void =>
  assertClose(got, want, { rtol, atol, equalNan: true, msg: what });

/** The same bits (NaN equal to NaN, -0 distinct from +0). */
function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    const [a, b] = [got[i]!, want[i]!];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (!Object.is(a, b)) assert.fail(`${what}: element ${i} is ${a}, expected ${b}`);
  }
}

/** Rows of n with edge values: NaN, +inf, all -inf, -0, huge, subnormal (for n >= 3). */
function edgeRows(r: WasmRuntime, n: number, rs: number): { x: Float32Array; rows: number } {
  const rows = 8;
  const x = randomF32(r, rows * rs, 2);
  const put = (row: number, j: number, v: number): void => {
    x[row * rs + (j % n)] = v;
  };
  put(0, n >> 1, Number.NaN);
  put(1, n - 1, Number.POSITIVE_INFINITY);
  for (let j = 0; j < n; j++) put(2, j, Number.NEGATIVE_INFINITY);
  put(3, 0, Number.NEGATIVE_INFINITY);
  for (let j = 0; j < n; j++) put(4, j, j % 2 ? -0 : 0);
  // huge for exp, yet no partial sum of a row can overflow float32 in any order (1031 * 3e35 < 3.4e38):
  // the tiers sum the label-smoothing mean in different orders, and a sum that overflowed in one
  // and not the other would compare an order, not the kernels
  for (let j = 0; j < n; j++) put(5, j, (j % 3) - 1 === 0 ? 3e35 : -3e35);
  for (let j = 0; j < n; j++) put(6, j, 1e-40 * (j % 5));
  return { x, rows };
}

describe('native row kernels against the WebAssembly kernels', () => {
  it('softmaxRows: softmax and log-softmax, strided rows, odd sizes, edge values', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    for (const n of SIZES) {
      for (const rs of [n, n + 5]) {
        for (const edge of [false, true]) {
          const { x, rows } = edge ? edgeRows(rt, n, rs) : { x: randomF32(rt, 5 * rs, 3, 1), rows: 5 };
          for (const log of [0, 1]) {
            const outs = tiers(rt).map(([, k]) => {
              const out = f32(rt, rows * n);
              k.softmaxRows(x.byteOffset, rs, out.byteOffset, rows, n, log);
              return out;
            });
            // log-softmax near 0 is a difference of O(max |x|) values: absolute error scaled by the row
            close(outs[0]!, outs[1]!, 2e-5, log ? 4e-6 : 1e-30, `softmaxRows n ${n} rs ${rs} log ${log} edge ${edge}`);
          }
        }
      }
    }
  });

  it('layerNormRows, layerNormBackwardRows: with and without weight and bias, large means', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    for (const n of SIZES) {
      const rs = n + 3;
      const rows = 6;
      // shift 1000: the two-pass variance must not cancel away; the mean's own rounding (an ulp of
      // 1000 ~ 6e-5) then moves every x - mean, hence the looser absolute bound
      for (const [shift, atol] of [
        [0.5, 2e-5],
        [1000, 5e-3],
      ] as const) {
        const x = randomF32(rt, rows * rs, 2, shift);
        const g = randomF32(rt, rows * rs);
        const w = randomF32(rt, n, 1, 1);
        const b = randomF32(rt, n);
        for (const flags of [0, 1, 2, 3]) {
          const res = tiers(rt).map(([, k]) => {
            const [y, mean, rstd, dx] = [f32(rt, rows * n), f32(rt, rows), f32(rt, rows), f32(rt, rows * n)];
            k.layerNormRows(
              x.byteOffset,
              rs,
              w.byteOffset,
              b.byteOffset,
              y.byteOffset,
              mean.byteOffset,
              rstd.byteOffset,
              rows,
              n,
              1e-5,
              flags,
            );
            k.layerNormBackwardRows(
              g.byteOffset,
              rs,
              x.byteOffset,
              rs,
              mean.byteOffset,
              rstd.byteOffset,
              w.byteOffset,
              dx.byteOffset,
              rows,
              n,
              flags & 1,
            );
            return { y, mean, rstd, dx };
          });
          const what = `layerNorm n ${n} shift ${shift} flags ${flags}`;
          close(res[0]!.mean, res[1]!.mean, 2e-6, 0, `${what} mean`);
          close(res[0]!.rstd, res[1]!.rstd, 2e-5, 0, `${what} rstd`);
          close(res[0]!.y, res[1]!.y, 2e-5, atol, `${what} y`);
          close(res[0]!.dx, res[1]!.dx, 2e-5, atol, `${what} dx`);
        }
      }
    }
  });

  it('layerNormParams: column bands give the same bits as one call, and match WebAssembly', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    for (const n of SIZES) {
      for (const rows of [1, 3, 70]) {
        const rs = n + 7;
        const x = randomF32(rt, rows * rs, 1.5, 0.25);
        const g = randomF32(rt, rows * rs);
        const [mean, rstd] = [f32(rt, rows), f32(rt, rows)];
        const y = f32(rt, rows * n);
        rt.exports.layerNormRows(x.byteOffset, rs, 0, 0, y.byteOffset, mean.byteOffset, rstd.byteOffset, rows, n, 1e-5, 0);
        for (const flags of [1, 2, 3]) {
          const run = (k: KernelExports, bands: number[]): [Float32Array, Float32Array] => {
            const [dw, db] = [f32(rt, n), f32(rt, n)];
            dw.fill(Number.NaN); // every column must be written
            db.fill(Number.NaN);
            for (let i = 0; i + 1 < bands.length; i++) {
              k.layerNormParams(
                g.byteOffset,
                rs,
                x.byteOffset,
                rs,
                mean.byteOffset,
                rstd.byteOffset,
                dw.byteOffset,
                db.byteOffset,
                rows,
                bands[i]!,
                bands[i + 1]!,
                flags,
              );
            }
            if (!(flags & 1)) dw.fill(0);
            if (!(flags & 2)) db.fill(0);
            return [dw, db];
          };
          const what = `layerNormParams n ${n} rows ${rows} flags ${flags}`;
          const whole = run(rt.exports, [0, n]);
          const banded = run(rt.exports, [0, Math.floor(n / 3), Math.floor(n / 3) + 1, n]);
          sameBits(banded[0], whole[0], `${what} dw banded`);
          sameBits(banded[1], whole[1], `${what} db banded`);
          const wasm = run(rt.wasmExports, [0, n]);
          close(whole[0], wasm[0], 2e-5, 1e-5, `${what} dw`);
          close(whole[1], wasm[1], 2e-5, 1e-5, `${what} db`);
        }
      }
    }
  });

  it('crossEntropyRows and its backward: ignoreIndex, label smoothing, shared and per-row gout, edge logits', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    for (const n of SIZES) {
      const rs = n + 2;
      for (const edge of [false, true]) {
        const { x, rows } = edge ? edgeRows(rt, n, rs) : { x: randomF32(rt, 9 * rs, 4), rows: 9 };
        const tgt = i32(rt, rows);
        for (let r = 0; r < rows; r++) tgt[r] = r % 4 === 3 ? -100 : (r * 7919) % n;
        const gout = randomF32(rt, rows);
        for (const eps of [0, 0.1]) {
          for (const gstride of [0, 1]) {
            const res = tiers(rt).map(([, k]) => {
              const [loss, lse, dx] = [f32(rt, rows), f32(rt, rows), f32(rt, rows * n)];
              k.crossEntropyRows(x.byteOffset, rs, tgt.byteOffset, loss.byteOffset, lse.byteOffset, rows, n, -100, eps);
              k.crossEntropyBackwardRows(
                x.byteOffset,
                rs,
                tgt.byteOffset,
                lse.byteOffset,
                gout.byteOffset,
                gstride,
                dx.byteOffset,
                rows,
                n,
                -100,
                eps,
              );
              return { loss, lse, dx };
            });
            const what = `crossEntropy n ${n} edge ${edge} eps ${eps} gstride ${gstride}`;
            // lse of a huge row (3e35) is exact to an ulp; loss is a difference of O(|x|) terms
            close(res[0]!.lse, res[1]!.lse, 2e-6, 4e-6, `${what} lse`);
            close(res[0]!.loss, res[1]!.loss, 2e-5, 2e-5, `${what} loss`);
            close(res[0]!.dx, res[1]!.dx, 2e-5, 1e-7, `${what} dx`);
          }
        }
      }
    }
  });
});

describe('native attention against the WebAssembly kernels', () => {
  /**
   * nb entries of q [lq, e], k [lk, e], v [lk, ev], g [lq, ev]; `layout` 0 contiguous, 1 q and g
   * transposed in storage (column stride 1 along rows), k and v rows twice as far apart (a slice).
   */
  function setup(r: WasmRuntime, nb: number, lq: number, lk: number, e: number, ev: number, layout: number) {
    const strides = i32(r, 8);
    const entries = i32(r, nb * 4);
    const mats = (rows: number, cols: number, transposed: boolean, spread: number) => {
      const a = randomF32(r, nb * rows * cols * spread);
      const [rsX, csX] = transposed ? [1, rows] : [cols * spread, 1];
      return { a, rsX, csX, size: rows * cols * spread };
    };
    const q = mats(lq, e, layout === 1, 1);
    const k = mats(lk, e, false, layout === 1 ? 2 : 1);
    const v = mats(lk, ev, false, layout === 1 ? 2 : 1);
    const g = mats(lq, ev, layout === 1, 1);
    [q, k, v, g].forEach((m, i) => {
      strides[2 * i] = m.rsX;
      strides[2 * i + 1] = m.csX;
    });
    const table = new Uint32Array(entries.buffer, entries.byteOffset, nb * 4);
    for (let b = 0; b < nb; b++) [q, k, v, g].forEach((m, i) => (table[4 * b + i] = m.a.byteOffset + b * m.size * 4));
    return { strides, entries };
  }

  it('forward and backward: causal or not, odd lengths, strided operands, dropout with a seed over 2^31', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    const QB = 32;
    const shapes: [number, number, number, number, number][] = [
      [1, 1, 1, 1, 1],
      [2, 3, 3, 3, 5],
      [3, 17, 17, 16, 16],
      [2, 33, 65, 17, 3],
      [1, 65, 33, 64, 32],
      [2, 64, 64, 32, 32],
      [1, 70, 1000, 8, 8],
    ];
    for (const [nb, lq, lk, e, ev] of shapes) {
      for (const layout of [0, 1]) {
        const { strides, entries } = setup(rt, nb, lq, lk, e, ev, layout);
        for (const causal of [0, 1]) {
          for (const dropP of [0, 0.25]) {
            const seed = 0xdeadbeef;
            const threshold = Math.ceil(dropP * 2 ** 24);
            const scale = 1 / Math.sqrt(e);
            const res = tiers(rt).map(([, k]) => {
              const [out, lse] = [f32(rt, nb * lq * ev), f32(rt, nb * lq)];
              const s = f32(rt, 2 * QB * lk);
              const scratch = rt.scratchFor(0);
              k.attentionF32(
                nb,
                strides.byteOffset,
                entries.byteOffset,
                lq,
                lk,
                e,
                ev,
                out.byteOffset,
                lse.byteOffset,
                5,
                causal,
                scale,
                dropP,
                seed,
                threshold,
                s.byteOffset,
                scratch,
              );
              const [dq, dk, dv] = [f32(rt, nb * lq * e), f32(rt, nb * lk * e), f32(rt, nb * lk * ev)];
              k.attentionBackwardF32(
                nb,
                strides.byteOffset,
                entries.byteOffset,
                lq,
                lk,
                e,
                ev,
                out.byteOffset,
                lse.byteOffset,
                dq.byteOffset,
                dk.byteOffset,
                dv.byteOffset,
                5,
                causal,
                scale,
                dropP,
                seed,
                threshold,
                s.byteOffset,
                s.byteOffset + QB * lk * 4,
                scratch,
              );
              return { out, lse, dq, dk, dv };
            });
            const what = `attention nb ${nb} lq ${lq} lk ${lk} e ${e} ev ${ev} layout ${layout} causal ${causal} p ${dropP}`;
            for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) close(res[0]![key], res[1]![key], 1e-4, 2e-5, `${what} ${key}`);
          }
        }
      }
    }
  });
});

describe('native Adam against the WebAssembly kernel', () => {
  it('adamStepF32: the same bits for every flag and amsgrad, odd sizes, edge values', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    for (const n of SIZES) {
      const p0 = randomF32(rt, n);
      const g = randomF32(rt, n, 0.1);
      const m0 = randomF32(rt, n, 0.01);
      const v0 = randomF32(rt, n, 0.01);
      // v = 0 in every other element: the first step's v is then c2 * g * g alone, where a change of
      // rounding in that product shows instead of vanishing into the sum
      for (let i = 0; i < n; i++) v0[i] = i % 2 ? Math.abs(v0[i]!) : 0;
      const edges = [Number.NaN, Number.POSITIVE_INFINITY, -0, 0, 1e30, -1e30, 1e-40, -1e-40];
      for (let i = 0; i < Math.min(n, edges.length); i++) g[(i * 5) % n] = edges[i]!;
      if (n > 16) p0[11] = -0;
      for (const flags of [0, 1, 2, 3, 4, 5, 7]) {
        for (const ams of [false, true]) {
          const res = tiers(rt).map(([, k]) => {
            const [p, m, v, vx] = [f32(rt, n), f32(rt, n), f32(rt, n), f32(rt, n)];
            p.set(p0.subarray(0, n));
            m.set(m0.subarray(0, n));
            v.set(v0.subarray(0, n));
            vx.set(v0.subarray(0, n));
            for (let i = 0; i < n; i += 7) vx[i] = v0[i]! * 2;
            // two steps, so the second starts from the first's state
            for (let step = 0; step < 2; step++) {
              k.adamStepF32(
                p.byteOffset,
                g.byteOffset,
                m.byteOffset,
                v.byteOffset,
                ams ? vx.byteOffset : 0,
                n,
                0.9,
                0.999,
                1e-8,
                0.01,
                0.999,
                1e-3,
                0.03,
                flags,
              );
            }
            return [p, m, v, vx].map((a) => a.subarray(0, n));
          });
          const what = `adam n ${n} flags ${flags} amsgrad ${ams}`;
          ['p', 'm', 'v', 'vmax'].forEach((name, i) => sameBits(res[0]![i]!, res[1]![i]!, `${what} ${name}`));
        }
      }
    }
  });
});

describe('the public ops on native kernels, two threads', () => {
  const before = mox.getNumThreads();
  after(() => mox.setNumThreads(before));

  /** f's results on `threads` threads, as float arrays. */
  function on(threads: number, f: () => Tensor[]): Float32Array[] {
    mox.setNumThreads(threads);
    return mox.scope(() => f().map((t) => Float32Array.from(t.dataSync() as Float32Array)));
  }

  /** Two threads give the same bits as one, and float32 is close to the float64 reference. */
  function check(what: string, f: (dtype: 'float32' | 'float64') => Tensor[], rtol: number, atol: number): void {
    const one = on(1, () => f('float32'));
    const two = on(2, () => f('float32'));
    const ref = on(1, () => f('float64'));
    one.forEach((a, i) => {
      sameBits(two[i]!, a, `${what} result ${i}: 2 threads against 1`);
      close(a, ref[i]!, rtol, atol, `${what} result ${i}: against float64`);
    });
  }

  it('runs the native kernels (not their WebAssembly twins)', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    for (const name of [
      'softmaxRows',
      'layerNormRows',
      'layerNormBackwardRows',
      'layerNormParams',
      'crossEntropyRows',
      'crossEntropyBackwardRows',
      'attentionF32',
      'attentionBackwardF32',
      'adamStepF32',
    ] as const) {
      assert.notEqual(rt.exports[name], rt.wasmExports[name], `${name} is native`);
    }
  });

  it('softmax, logSoftmax, layerNorm, crossEntropy, attention and Adam on sizes that split', (t) => {
    const rt = needNative(t);
    if (!rt) return;
    const seeded = (shape: number[], dtype: 'float32' | 'float64', seed: number, req = false): Tensor => {
      const x = mox.randn(shape, { generator: new mox.Generator(seed) }).to(dtype);
      return req ? x.requiresGrad_() : x;
    };
    check('softmax', (d) => [mox.softmax(seeded([300, 257], d, 1), -1), mox.logSoftmax(seeded([300, 257], d, 2), -1)], 1e-5, 1e-6);
    check(
      'layerNorm',
      (d) => {
        const x = seeded([1040, 257], d, 3, true);
        const w = seeded([257], d, 4, true);
        const b = seeded([257], d, 5, true);
        const y = F.layerNorm(x, [257], w, b);
        y.mul(seeded([1040, 257], d, 6))
          .sum()
          .backward();
        return [y, x.grad!, w.grad!, b.grad!];
      },
      1e-4,
      1e-4,
    );
    check(
      'crossEntropy',
      (d) => {
        const x = seeded([2000, 65], d, 7, true);
        const tg = mox.tensor(
          Array.from({ length: 2000 }, (_, i) => (i * 31) % 65),
          { dtype: 'int32' },
        );
        const loss = F.crossEntropy(x, tg, { labelSmoothing: 0.1 });
        loss.backward();
        return [loss, x.grad!];
      },
      1e-5,
      1e-6,
    );
    check(
      'attention',
      (d) => {
        const [q, k, v] = [8, 9, 10].map((s) => seeded([4, 4, 64, 32], d, s, true));
        const y = F.scaledDotProductAttention(q!, k!, v!, { isCausal: true });
        y.mul(seeded([4, 4, 64, 32], d, 11))
          .sum()
          .backward();
        return [y, q!.grad!, k!.grad!, v!.grad!];
      },
      1e-4,
      1e-5,
    );
    check(
      'Adam',
      (d) => {
        const p = mox.keep(seeded([363, 363], d, 12));
        const opt = new mox.optim.Adam([p], { lr: 1e-2, amsgrad: true });
        for (let s = 0; s < 3; s++) {
          mox.scope(() => {
            const old = p.grad;
            p.grad = mox.keep(seeded([363, 363], d, 13 + s));
            old?.dispose();
            opt.step();
          });
        }
        return [p];
      },
      1e-5,
      1e-6,
    );
  });
});
