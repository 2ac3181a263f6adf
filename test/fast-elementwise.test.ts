// The WASM fast paths of the CPU backend against the TypeScript reference kernels, on random shapes
// with odd sizes, transposed / sliced / broadcast views, and one and two threads. Results may differ
// only by float32 rounding: the reference computes in float64 and rounds once.

import { describe, it, after } from 'node:test';
import os from 'node:os';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { referenceBackend } from '../src/backend/cpu/reference-backend.js';
import type { BinaryOp, UnaryOp } from '../src/backend/backend.js';
import { wasmRuntime } from '../src/backend/cpu/wasm/runtime.js';
import { assertClose } from '../test-support/assert.js';

const fast = cpuBackend.info().kernels !== 'typescript';
const gen = new mox.Generator(1234);
const rnd = (lo: number, hi: number): number => gen.int(lo, hi);
const SIZES = [1, 7, 13, 127];

/** A float32 tensor of `shape` presented through one of several layouts. */
function layout(shape: number[], kind: number, scale = 1, shift = 0): Tensor {
  const base = mox.randn(shape, { generator: gen }).mul(scale).add(shift);
  if (kind === 0 || shape.length < 2) return base;
  if (kind === 1)
    return mox
      .randn([...shape].reverse(), { generator: gen })
      .mul(scale)
      .add(shift)
      .permute([...shape.keys()].reverse());
  // a step-2 slice along the last axis of a wider tensor
  const wide = mox
    .randn([...shape.slice(0, -1), shape[shape.length - 1]! * 2], { generator: gen })
    .mul(scale)
    .add(shift);
  return wide.slice(...shape.slice(0, -1).map(() => null), [0, null, 2]);
}

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void =>
  assertClose(actual, expected, { rtol, atol, equalNan: true, msg: what });

const read = (buf: unknown, n: number): Float32Array | Uint8Array => (buf as Float32Array).slice(0, n);

function shapes(): number[][] {
  return [[rnd(1, 40)], [SIZES[rnd(0, 4)]!, SIZES[rnd(0, 4)]!], [rnd(1, 5), SIZES[rnd(0, 4)]!, rnd(1, 9)], [300, 257]];
}

for (const threads of [1, 2]) {
  describe(`cpu fast kernels vs reference (${threads} thread${threads > 1 ? 's' : ''})`, {
    skip: !fast && 'WASM kernels unavailable',
  }, () => {
    const before = mox.getNumThreads();
    mox.setNumThreads(threads);
    after(() => mox.setNumThreads(before));

    const unaryOps: [UnaryOp, number[] | undefined, number, number][] = [
      ['neg', undefined, 0, 0],
      ['abs', undefined, 0, 0],
      ['sqrt', undefined, 1e-6, 0],
      ['rsqrt', undefined, 1e-6, 0],
      ['square', undefined, 1e-6, 0],
      ['reciprocal', undefined, 1e-6, 0],
      ['relu', undefined, 0, 0],
      ['leakyRelu', [0.1], 1e-6, 0],
      ['affine', [1.5, -0.25], 1e-6, 1e-7],
      ['clamp', [-0.5, 0.7], 0, 0],
      ['exp', undefined, 2e-6, 0],
      ['log', undefined, 2e-6, 1e-7],
      ['tanh', undefined, 2e-6, 1e-7],
      ['sigmoid', undefined, 2e-6, 1e-7],
      ['silu', undefined, 2e-6, 1e-7],
      ['softplus', undefined, 2e-6, 1e-7],
      ['sin', undefined, 2e-6, 1e-7],
      ['cos', undefined, 2e-6, 1e-7],
      ['log1p', undefined, 2e-6, 1e-7],
      ['expm1', undefined, 2e-6, 1e-7],
      ['geluTanh', undefined, 4e-6, 1e-7],
      ['geluTanhGrad', undefined, 4e-6, 1e-7],
    ];
    for (const [op, params, rtol, atol] of unaryOps) {
      it(`unary ${op}`, () =>
        mox.scope(() => {
          const positive = op === 'sqrt' || op === 'rsqrt' || op === 'log';
          for (const shape of shapes()) {
            for (let kind = 0; kind < 3; kind++) {
              const x = positive ? layout(shape, kind).abs().add(0.05) : layout(shape, kind, 2);
              const v = x.view_();
              const n = x.size;
              close(
                read(cpuBackend.unary(op, v, 'float32', params), n),
                read(referenceBackend.unary(op, v, 'float32', params), n),
                rtol,
                atol,
                `${op} [${shape}] layout ${kind}`,
              );
            }
          }
        }));
    }

    const binaryOps: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'pow', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];
    for (const op of binaryOps) {
      it(`binary ${op} with broadcasting`, () =>
        mox.scope(() => {
          const cmp = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(op);
          for (const shape of shapes()) {
            for (let kind = 0; kind < 3; kind++) {
              const a = op === 'pow' ? layout(shape, kind).abs().add(0.1) : layout(shape, kind);
              // b: same shape, a row vector, a column, or a scalar, broadcast through stride 0
              const variants: Tensor[] = [
                layout(shape, (kind + 1) % 3),
                mox.randn([shape[shape.length - 1]!], { generator: gen }),
                mox.randn([], { generator: gen }),
              ];
              if (shape.length >= 2) variants.push(mox.randn([...shape.slice(0, -1), 1], { generator: gen }));
              for (const b0 of variants) {
                const b = b0.expand(shape);
                if (cmp && b0.size > 1) b.copy_(mox.where(mox.rand(shape, { generator: gen }).lt(0.3), a, b)); // some equal pairs
                const [va, vb] = [a.view_(), b.view_()];
                const out = cmp ? 'bool' : 'float32';
                const n = a.size;
                close(
                  read(cpuBackend.binary(op, va, vb, out), n),
                  read(referenceBackend.binary(op, va, vb, out), n),
                  2e-6,
                  1e-7,
                  `${op} [${shape}] with [${b0.shape}] layout ${kind}`,
                );
              }
            }
          }
        }));
    }

    it('where', () =>
      mox.scope(() => {
        for (const shape of shapes()) {
          const c = mox.rand(shape, { generator: gen }).lt(0.5);
          const a = layout(shape, 1);
          const b = mox.randn([shape[shape.length - 1]!], { generator: gen }).expand(shape);
          const n = a.size;
          close(
            read(cpuBackend.where(c.view_(), a.view_(), b.view_(), 'float32'), n),
            read(referenceBackend.where(c.view_(), a.view_(), b.view_(), 'float32'), n),
            0,
            0,
            `where [${shape}]`,
          );
        }
      }));

    for (const op of ['sum', 'max', 'min'] as const) {
      it(`reduce ${op} over inner, outer and middle axes`, () =>
        mox.scope(() => {
          for (const shape of [
            [SIZES[rnd(0, 4)]!, SIZES[rnd(0, 4)]!],
            [3, 127, 13],
            [1, 7, 1],
            [500, 300],
          ]) {
            for (let kind = 0; kind < 3; kind++) {
              const x = layout(shape, kind);
              const r = shape.length;
              const axesList = [[r - 1], [0], r > 2 ? [1] : [0, 1], r > 2 ? [1, 2] : [1]];
              for (const axes of axesList) {
                const v = x.view_();
                const n = shape.filter((_, i) => !axes.includes(i)).reduce((p, d) => p * d, 1);
                const m = axes.reduce((p, a) => p * shape[a]!, 1);
                close(
                  read(cpuBackend.reduce(op, v, axes, 'float32'), n),
                  read(referenceBackend.reduce(op, v, axes, 'float32'), n),
                  1e-5,
                  1e-5 * Math.sqrt(m),
                  `${op} [${shape}] axes [${axes}] layout ${kind}`,
                );
              }
            }
          }
        }));
    }

    it('matmul: sizes, transposed operands, broadcast batches, bias and relu epilogue', () =>
      mox.scope(() => {
        const dims = [1, 7, 13, 127, 300];
        for (let t = 0; t < 14; t++) {
          const [m, k, n] = [dims[rnd(0, 5)]!, dims[rnd(0, 5)]!, dims[rnd(0, 5)]!];
          const a = t % 2 ? mox.randn([k, m], { generator: gen }).T : mox.randn([m, k], { generator: gen });
          const b = t % 3 ? mox.randn([n, k], { generator: gen }).T : mox.randn([k, n], { generator: gen });
          const bias = mox.randn([n], { generator: gen });
          const epi = t % 4 === 0 ? { bias: bias.view_(), relu: t % 8 === 0 } : undefined;
          close(
            read(cpuBackend.matmul(a.view_(), b.view_(), 'float32', epi), m * n),
            read(referenceBackend.matmul(a.view_(), b.view_(), 'float32', epi), m * n),
            1e-4,
            1e-5 * Math.sqrt(k),
            `matmul ${m}x${k}x${n} case ${t}`,
          );
        }
        // wider than one packed block of B columns (NC = 2048) and deeper than one K block (KC = 256),
        // with a transposed B and the bias epilogue (applied once, after the last K block)
        {
          const [m, k, n] = [5, 300, 2100];
          const a = mox.randn([m, k], { generator: gen });
          const b = mox.randn([n, k], { generator: gen }).T;
          const epi = { bias: mox.randn([n], { generator: gen }).view_(), relu: true };
          close(
            read(cpuBackend.matmul(a.view_(), b.view_(), 'float32', epi), m * n),
            read(referenceBackend.matmul(a.view_(), b.view_(), 'float32', epi), m * n),
            1e-4,
            1e-5 * Math.sqrt(k),
            `matmul ${m}x${k}x${n} across column and depth blocks`,
          );
        }
        // batched with a broadcast (stride 0) right operand, and a 4-D batch
        const a = mox.randn([3, 2, 13, 7], { generator: gen });
        const b = mox.randn([7, 5], { generator: gen }).expand([3, 2, 7, 5]);
        close(
          read(cpuBackend.matmul(a.view_(), b.view_(), 'float32'), 3 * 2 * 13 * 5),
          read(referenceBackend.matmul(a.view_(), b.view_(), 'float32'), 3 * 2 * 13 * 5),
          1e-5,
          1e-6,
          'batched matmul',
        );
        // the same shared right operand, with the bias epilogue, run as one stacked product (rows of
        // consecutive batch entries follow on) and per entry (rows sliced out of taller matrices)
        const w = mox.randn([7, 300], { generator: gen });
        const bias = mox.randn([300], { generator: gen });
        for (const x of [mox.randn([4, 13, 7], { generator: gen }), mox.randn([4, 20, 7], { generator: gen }).slice(null, [3, 16])]) {
          const wb = w.expand([4, 7, 300]);
          const epi = { bias: bias.view_() };
          close(
            read(cpuBackend.matmul(x.view_(), wb.view_(), 'float32', epi), 4 * 13 * 300),
            read(referenceBackend.matmul(x.view_(), wb.view_(), 'float32', epi), 4 * 13 * 300),
            1e-4,
            1e-5,
            `shared-operand matmul, A strides ${x.strides.join(',')}`,
          );
        }
      }));

    it('strided copies of two to five levels (permuted, sliced, broadcast) match element by element', () =>
      mox.scope(() => {
        const cases: [number[], (t: Tensor) => Tensor][] = [
          [[12, 8, 64, 32], (t) => t.transpose(1, 2)], // attention heads back to [B, T, H, D] (big enough to split)
          [[3, 5, 7, 9], (t) => t.permute([3, 1, 0, 2])],
          [[2, 3, 4, 5, 6], (t) => t.permute([4, 2, 0, 3, 1])],
          [[6, 7, 300], (t) => t.slice(null, [1, 6], [0, null, 3]).transpose(0, 1)],
          [[5, 1, 9], (t) => t.expand([5, 4, 9]).transpose(0, 1)],
          [[1, 13], (t) => t.expand([7, 13]).T],
        ];
        for (const [shape, view] of cases) {
          const x = view(mox.randn(shape, { generator: gen }));
          const got = x.contiguous();
          const want = new Float32Array(x.size);
          const strides = x.strides;
          const idx = new Array<number>(x.ndim).fill(0);
          const src = x.view_();
          const data = src.buf as Float32Array;
          for (let i = 0; i < x.size; i++) {
            let off = src.offset;
            for (let d = 0; d < x.ndim; d++) off += idx[d]! * strides[d]!;
            want[i] = data[off]!;
            for (let d = x.ndim - 1; d >= 0 && ++idx[d]! === x.shape[d]!; d--) idx[d] = 0;
          }
          assert.deepEqual(got.dataSync(), want, `copy of [${x.shape.join(', ')}] with strides [${strides.join(', ')}]`);
        }
      }));

    it('the pool polls between kernels only while it has no more threads than cores, and computes the same either way', () =>
      mox.scope(() => {
        const rt = wasmRuntime()!;
        const cores = os.availableParallelism();
        const saved = mox.getNumThreads();
        const a = mox.randn([300, 257], { generator: gen });
        const want = Array.from(a.exp().mul(a).dataSync());
        try {
          for (const n of [1, cores, cores + 2]) {
            mox.setNumThreads(n);
            assert.equal(rt.pool.polls, n <= cores, `${n} threads on ${cores} cores`);
            assert.deepEqual(Array.from(a.exp().mul(a).dataSync()), want, `${n} threads: same result`);
          }
        } finally {
          mox.setNumThreads(saved);
        }
      }));

    it('recycled heap blocks come back zeroed when asked', () => {
      const rt = wasmRuntime()!;
      for (const n of [1, 17, 1000, 123457]) {
        const a = rt.heap.allocArray('float32', n, false) as Float32Array;
        a.fill(7);
        rt.heap.freeArray(a);
        const b = rt.heap.allocArray('float32', n, true) as Float32Array;
        assert.equal(b.byteOffset, a.byteOffset, 'the block was recycled');
        assert.ok(
          b.every((v) => v === 0),
          `${n} floats zeroed`,
        );
        rt.heap.freeArray(b);
      }
    });
  });
}
