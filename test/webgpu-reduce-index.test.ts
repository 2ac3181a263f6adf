// The WebGPU reduction and indexing kernels (src/backend/webgpu/kernels/reduce.ts, indexing.ts) against
// the CPU through the public API: every reduction over no, one, several and negative axes, on
// contiguous, transposed and step-2-sliced inputs of odd sizes; blocks big enough for the multi-pass
// and column-wise paths; NaN and empty edge cases; gradients; and gather / scatterAdd / indexSelect /
// embedding, whose backward adds repeated ids atomically.
//
// Tolerances: the GPU sums in float32 (short serial runs joined by trees), the CPU in float64 rounded
// once, so sums of n unit-scale terms differ by a few ulps of the sum's scale: rtol 1e-5 with atol
// 1e-5 covers the small cases, rtol 1e-4 the 300000-element one.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertClose, gpu, openGpu } from '../test-support/webgpu.js';

await openGpu();

const F = mox.nn.functional;
const gen = new mox.Generator(123);
const randn = (shape: number[]): Tensor => mox.randn(shape, { generator: gen });

/** A float32 tensor of `shape`: contiguous (0), transposed storage (1), or a step-2 slice of a wider one (2). */
function layout(shape: number[], kind: number): Tensor {
  if (kind === 0 || shape.length < 2) return randn(shape);
  if (kind === 1) return randn([...shape].reverse()).permute([...shape.keys()].reverse());
  const wide = randn([...shape.slice(0, -1), shape[shape.length - 1]! * 2]);
  return wide.slice(...shape.slice(0, -1).map(() => null), [0, null, 2]);
}

const LAYOUTS = ['contiguous', 'transposed', 'sliced'];
type Axis = number | number[] | null;
const AXES: Axis[] = [null, 0, -1, 1, [0, 2], [-1, -3], [1, 2]];

/** Runs `f` on x and on its GPU copy and compares. */
async function same(x: Tensor, f: (t: Tensor) => Tensor, rtol = 1e-5, atol = 1e-5, what = 'result'): Promise<void> {
  await assertClose(f(gpu(x)), f(x), rtol, atol, what);
}

describe('webgpu reductions', () => {
  it('sum, mean, max, min, prod over axes and layouts, keepdim', async () => {
    for (const shape of [
      [7, 13, 5],
      [1, 127, 3],
      [13, 1, 7],
    ]) {
      for (let kind = 0; kind < 3; kind++) {
        const x = layout(shape, kind);
        for (const axis of AXES) {
          const what = `${LAYOUTS[kind]} [${shape}] axis ${JSON.stringify(axis)}`;
          for (const keepdim of [false, true]) {
            await same(x, (t) => t.sum(axis, keepdim), 1e-5, 1e-5, `sum ${what} keepdim ${keepdim}`);
          }
          await same(x, (t) => t.mean(axis), 1e-5, 1e-5, `mean ${what}`);
          await same(x, (t) => t.max(axis), 0, 0, `max ${what}`);
          await same(x, (t) => t.min(axis, true), 0, 0, `min ${what}`);
          // values near 1 keep products in range
          await same(x.mul(0.1).add(1), (t) => t.prod(axis), 1e-5, 1e-6, `prod ${what}`);
        }
      }
    }
  });

  it('argmax and argmin: single axes, flattened, ties go to the first', async () => {
    for (let kind = 0; kind < 3; kind++) {
      const x = layout([7, 13, 5], kind);
      for (const axis of [null, 0, 1, 2, -1]) {
        for (const keepdim of [false, true]) {
          await same(x, (t) => t.argmax(axis, keepdim), 0, 0, `argmax ${LAYOUTS[kind]} axis ${axis}`);
          await same(x, (t) => t.argmin(axis, keepdim), 0, 0, `argmin ${LAYOUTS[kind]} axis ${axis}`);
        }
      }
    }
    // many ties (rounded values) in blocks long enough for the workgroup tree and the multi-pass path
    for (const shape of [
      [3, 1000],
      [2, 70001],
    ]) {
      const x = randn(shape).mul(2).round();
      await same(x, (t) => t.argmax(1), 0, 0, `argmax ties [${shape}]`);
      await same(x, (t) => t.argmin(-1), 0, 0, `argmin ties [${shape}]`);
      await same(x, (t) => t.argmax(0), 0, 0, `argmax ties column [${shape}]`);
      await same(x, (t) => t.argmax(), 0, 0, `argmax ties flat [${shape}]`);
    }
    const ints = mox.tensor(
      [
        [3, 9, 9, 1],
        [-5, -5, -7, -7],
      ],
      { dtype: 'int32' },
    );
    await same(ints, (t) => t.argmax(1), 0, 0, 'int argmax');
    await same(ints, (t) => t.argmin(1), 0, 0, 'int argmin');
  });

  it('large blocks: a 300000-element sum, wide rows, column sums, every path', async () => {
    const big = randn([300000]);
    await same(big, (t) => t.sum(), 1e-4, 1e-3, 'sum of 300000');
    await same(big.add(3), (t) => t.mean(), 1e-4, 1e-5, 'mean of 300000');
    await same(big, (t) => t.max(), 0, 0, 'max of 300000');
    await same(big, (t) => t.argmin(), 0, 0, 'argmin of 300000');
    // rows of each grid: serial (<= 64), 32 lanes, 256 lanes, chunked
    for (const n of [64, 65, 1023, 1024, 5000]) {
      const x = randn([9, n]);
      await same(x, (t) => t.sum(1), 1e-5, 1e-4, `row sum n=${n}`);
      await same(x, (t) => t.max(-1), 0, 0, `row max n=${n}`);
      await same(x, (t) => t.argmax(-1), 0, 0, `row argmax n=${n}`);
    }
    // reducing the leading axis (a bias gradient): outputs contiguous, block strided
    const cols = randn([3001, 67]);
    await same(cols, (t) => t.sum(0), 1e-5, 1e-4, 'column sum');
    await same(cols, (t) => t.min(0), 0, 0, 'column min');
    await same(cols, (t) => t.argmax(0), 0, 0, 'column argmax');
    await same(cols.T, (t) => t.sum(1), 1e-5, 1e-4, 'transposed row sum');
    // few columns, long strided block; and a middle axis
    await same(randn([20000, 3]), (t) => t.sum(0), 1e-5, 1e-4, 'narrow column sum');
    await same(randn([4, 700, 9]), (t) => t.sum(1), 1e-5, 1e-4, 'middle-axis sum');
    await same(randn([4, 700, 9]), (t) => t.argmin(1), 0, 0, 'middle-axis argmin');
  });

  it('int32 and bool: exact sums, max, min, prod, argmax', async () => {
    const x = mox.randint(-1000, 1000, [13, 127, 7], { generator: gen });
    for (const axis of AXES) {
      await same(x, (t) => t.sum(axis), 0, 0, `int sum axis ${JSON.stringify(axis)}`);
      await same(x, (t) => t.max(axis), 0, 0, `int max axis ${JSON.stringify(axis)}`);
      await same(x, (t) => t.min(axis), 0, 0, `int min axis ${JSON.stringify(axis)}`);
    }
    // a sum beyond float32's exact integers: 2^24 + 1 must not round
    const big = mox.tensor([16777216, 1, 0, 0, 0], { dtype: 'int32' });
    const s = gpu(big).sum();
    assert.equal(s.dtype, 'int32');
    assert.equal((await s.data())[0], 16777217);
    const large = mox.randint(0, 100000, [200000], { generator: gen });
    await same(large, (t) => t.sum(), 0, 0, 'int sum of 200000');
    await same(mox.randint(-3, 4, [7, 9], { generator: gen }), (t) => t.prod(1), 0, 0, 'int prod');
    const b = randn([7, 130]).gt(0);
    await same(b, (t) => t.sum(1), 0, 0, 'bool sum');
    await same(b, (t) => t.max(1), 0, 0, 'bool max');
    await same(b, (t) => t.min(0), 0, 0, 'bool min');
    await same(b, (t) => t.argmax(1), 0, 0, 'bool argmax');
  });

  it('var, std, logsumexp', async () => {
    for (let kind = 0; kind < 3; kind++) {
      const x = layout([13, 7, 5], kind);
      for (const axis of [null, 0, -1, [0, 2]] as Axis[]) {
        const what = `${LAYOUTS[kind]} axis ${JSON.stringify(axis)}`;
        await same(x, (t) => t.var(axis), 1e-5, 1e-5, `var ${what}`);
        await same(x, (t) => t.std(axis, { correction: 0, keepdim: true }), 1e-5, 1e-5, `std ${what}`);
        await same(x, (t) => t.logsumexp(axis), 1e-5, 1e-5, `logsumexp ${what}`);
      }
    }
    // rows of infinities take the unshifted path (compared directly: assertClose's difference of two
    // equal infinities is NaN)
    const inf = mox.tensor([
      [-Infinity, -Infinity],
      [1, -Infinity],
      [Infinity, 2],
    ]);
    const lse = await gpu(inf).logsumexp(1).data();
    assert.deepEqual([...lse], [...inf.logsumexp(1).dataSync()]);
  });

  it('NaN propagates through max/min; argmax picks the first NaN', async () => {
    const x = mox.tensor([
      [1, NaN, 3, NaN],
      [2, 5, -1, 0],
      [NaN, 7, 8, 9],
    ]);
    for (const axis of [null, 0, 1]) {
      await same(x, (t) => t.max(axis), 0, 0, `max axis ${axis}`);
      await same(x, (t) => t.min(axis), 0, 0, `min axis ${axis}`);
      await same(x, (t) => t.argmax(axis), 0, 0, `argmax axis ${axis}`);
      await same(x, (t) => t.argmin(axis), 0, 0, `argmin axis ${axis}`);
      await same(x, (t) => t.sum(axis), 0, 0, `sum axis ${axis}`);
    }
    // a NaN deep inside a long block, found across chunks and the tree
    const long = randn([100000]);
    const withNan = mox.where(mox.arange(100000).ne(77777), long, NaN);
    await same(withNan, (t) => t.max(), 0, 0, 'max of a long block with a NaN');
    await same(withNan, (t) => t.argmin(), 0, 0, 'argmin of a long block with a NaN');
  });

  it('empty blocks: sum 0, prod 1, max raises; empty outputs', async () => {
    const e = mox.zeros([3, 0]);
    await same(e, (t) => t.sum(1), 0, 0, 'sum over an empty axis');
    await same(e, (t) => t.prod(1), 0, 0, 'prod over an empty axis');
    await same(e, (t) => t.sum(0), 0, 0, 'sum with an empty output');
    assert.throws(() => gpu(e).max(1), mox.ValueError);
    assert.throws(() => gpu(e).argmax(1), mox.ValueError);
    const g = await openGpu();
    const buf = g.fromArray(new Float32Array(6));
    const view = { buf, dtype: 'float32' as const, shape: [2, 0, 3], strides: [0, 3, 1], offset: 0 };
    assert.throws(() => g.reduce('max', view, [1], 'float32'), /max of an empty axis is undefined \(shape \[2,0,3\], axes \[1\]\)/);
    assert.throws(() => g.reduce('sum', view, [1, 0], 'float32'), /must be sorted, unique/);
    g.free(buf);
  });

  it('axes [] copies and casts', async () => {
    const g = await openGpu();
    const x = layout([5, 7], 1);
    const gx = gpu(x);
    const v = gx.view_();
    const out = g.reduce('sum', v, [], 'int32');
    const back = new Int32Array(await g.readAsync({ buf: out, dtype: 'int32', shape: [5, 7], strides: [7, 1], offset: 0 }));
    const expect = Int32Array.from(x.contiguous().dataSync() as Float32Array);
    assert.deepEqual([...back], [...expect]);
    const arg = g.reduce('argmax', v, [], 'int32');
    const zeros = new Int32Array(await g.readAsync({ buf: arg, dtype: 'int32', shape: [35], strides: [1], offset: 0 }));
    assert.deepEqual([...zeros], new Array(35).fill(0));
    g.free(out);
    g.free(arg);
  });

  it('gradients of sum, mean, max, prod', async () => {
    for (let kind = 0; kind < 3; kind++) {
      for (const axis of [null, 0, -1, [0, 2]] as Axis[]) {
        for (const f of [
          (t: Tensor) => t.sum(axis, true),
          (t: Tensor) => t.mean(axis),
          (t: Tensor) => t.max(axis),
          (t: Tensor) => t.prod(axis),
        ]) {
          const base = layout([5, 7, 3], kind);
          const x = base.mul(0.2).add(1).detach();
          x.requiresGrad = true;
          const gxIn = gpu(x);
          const outC = f(x);
          const outG = f(gxIn);
          const g = randn([...outC.shape]);
          outC.mul(g).sum().backward();
          outG.mul(gpu(g)).sum().backward();
          await assertClose(gxIn.grad!, x.grad!, 1e-5, 1e-5, `grad ${LAYOUTS[kind]} axis ${JSON.stringify(axis)} ${f.toString()}`);
        }
      }
    }
    // a max with ties shares the gradient
    const t = mox.tensor(
      [
        [1, 3, 3],
        [2, 2, 2],
      ],
      { dtype: 'float32' },
    );
    t.requiresGrad = true;
    const gt = gpu(t);
    t.max(1).sum().backward();
    gt.max(1).sum().backward();
    await assertClose(gt.grad!, t.grad!, 1e-6, 1e-7, 'grad of max with ties');
  });
});

describe('webgpu indexing', () => {
  it('gather along each dim, strided inputs and index', async () => {
    for (let kind = 0; kind < 3; kind++) {
      const x = layout([7, 13, 5], kind);
      for (const dim of [0, 1, 2, -1]) {
        const d = dim < 0 ? dim + 3 : dim;
        const idxShape = [7, 13, 5].map((n, i) => (i === d ? 11 : Math.max(1, n - 2)));
        const idx = mox.randint(0, [7, 13, 5][d]!, idxShape, { generator: gen });
        await same(x, (t) => t.gather(dim, t.device === 'webgpu' ? gpu(idx) : idx), 0, 0, `gather ${LAYOUTS[kind]} dim ${dim}`);
      }
    }
    // a transposed index
    const x = randn([6, 9]);
    const idx = mox.randint(0, 6, [4, 6], { generator: gen }).T;
    await assertClose(gpu(x).gather(1, gpu(idx)), x.gather(1, idx), 0, 0, 'gather with a transposed index');
    const ints = mox.randint(-50, 50, [5, 8], { generator: gen });
    const ii = mox.randint(0, 8, [5, 3], { generator: gen });
    await assertClose(gpu(ints).gather(1, gpu(ii)), ints.gather(1, ii), 0, 0, 'int gather');
  });

  it('gather backward is scatterAdd; scatterAdd forward with repeats and its gradients', async () => {
    const x = randn([9, 13]);
    x.requiresGrad = true;
    const idx = mox.randint(0, 13, [9, 40], { generator: gen });
    const gx = gpu(x);
    const g = randn([9, 40]);
    x.gather(1, idx).mul(g).sum().backward();
    gx.gather(1, gpu(idx)).mul(gpu(g)).sum().backward();
    await assertClose(gx.grad!, x.grad!, 1e-5, 1e-5, 'gather grad (repeated indices)');

    for (let kind = 0; kind < 3; kind++) {
      const base = layout([7, 13], kind);
      const src = layout([9, 13], kind);
      base.requiresGrad = true;
      src.requiresGrad = true;
      const gb = gpu(base);
      const gs = gpu(src);
      // idx smaller than src along dim 1: only idx's extent of src is read
      const id = mox.randint(0, 7, [9, 11], { generator: gen });
      const outC = base.scatterAdd(0, id, src);
      const outG = gb.scatterAdd(0, gpu(id), gs);
      await assertClose(outG, outC, 1e-5, 1e-5, `scatterAdd ${LAYOUTS[kind]}`);
      const w = randn([7, 13]);
      outC.mul(w).sum().backward();
      outG.mul(gpu(w)).sum().backward();
      await assertClose(gb.grad!, base.grad!, 1e-6, 1e-6, `scatterAdd base grad ${LAYOUTS[kind]}`);
      await assertClose(gs.grad!, src.grad!, 1e-6, 1e-6, `scatterAdd src grad ${LAYOUTS[kind]}`);
    }
    // int32 and many sources into few destinations
    const ib = mox.randint(-9, 9, [3, 4], { generator: gen });
    const is = mox.randint(-9, 9, [500, 4], { generator: gen });
    const ix = mox.randint(0, 3, [500, 4], { generator: gen });
    await assertClose(gpu(ib).scatterAdd(0, gpu(ix), gpu(is)), ib.scatterAdd(0, ix, is), 0, 0, 'int scatterAdd');
  });

  it('indexSelect along each dim, with its indexAdd gradient', async () => {
    for (let kind = 0; kind < 3; kind++) {
      for (const dim of [0, 1, -1]) {
        const x = layout([7, 13, 5], kind);
        x.requiresGrad = true;
        const d = dim < 0 ? dim + 3 : dim;
        const idx = mox.randint(0, [7, 13, 5][d]!, [17], { generator: gen });
        const gx = gpu(x);
        const outC = x.indexSelect(dim, idx);
        const outG = gx.indexSelect(dim, gpu(idx));
        await assertClose(outG, outC, 0, 0, `indexSelect ${LAYOUTS[kind]} dim ${dim}`);
        const g = randn([...outC.shape]);
        outC.mul(g).sum().backward();
        outG.mul(gpu(g)).sum().backward();
        await assertClose(gx.grad!, x.grad!, 1e-5, 1e-5, `indexSelect grad ${LAYOUTS[kind]} dim ${dim}`);
      }
    }
    // a step-2 slice as the index, and a scalar index
    const x = randn([10, 4]);
    const idx = mox.tensor([3, 0, 9, 9, 1, 2], { dtype: 'int32' }).slice([0, null, 2]);
    await assertClose(gpu(x).indexSelect(0, gpu(idx)), x.indexSelect(0, idx), 0, 0, 'indexSelect with a strided index');
    const scalar = mox.tensor(4, { dtype: 'int32' });
    await assertClose(gpu(x).indexSelect(0, gpu(scalar)), x.indexSelect(0, scalar), 0, 0, 'indexSelect with a scalar index');
  });

  it('out-of-range indices: the CPU raises, the GPU skips them without touching other memory', async () => {
    const x = randn([4, 3]);
    const bad = mox.tensor([0, 7, -1, 2], { dtype: 'int32' });
    assert.throws(() => x.indexSelect(0, bad), mox.IndexError);
    const picked = await gpu(x).indexSelect(0, gpu(bad)).data();
    const rows = x.dataSync();
    assert.deepEqual([...picked.slice(0, 3)], [...rows.slice(0, 3)]);
    assert.deepEqual([...picked.slice(3, 9)], [0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...picked.slice(9, 12)], [...rows.slice(6, 9)]);
    const g = await openGpu();
    const sum = g.indexAdd([4, 3], 0, gpu(bad).view_(), gpu(x).view_());
    const added = new Float32Array(await g.readAsync({ buf: sum, dtype: 'float32', shape: [12], strides: [1], offset: 0 }));
    const expect = new Float32Array(12);
    for (let j = 0; j < 3; j++) {
      expect[j] = rows[j]!;
      expect[6 + j] = rows[9 + j]!;
    }
    assert.deepEqual([...added], [...expect]);
    g.free(sum);
  });

  it('embedding forward and backward with repeated ids (atomic adds)', async () => {
    const weight = randn([50, 16]);
    weight.requiresGrad = true;
    // many repeats of few ids: heavy contention on the same rows
    const ids = mox.randint(0, 6, [33, 31], { generator: gen });
    const gw = gpu(weight);
    const outC = F.embedding(ids, weight);
    const outG = F.embedding(gpu(ids), gw);
    await assertClose(outG, outC, 0, 0, 'embedding forward');
    const g = randn([33, 31, 16]);
    outC.mul(g).sum().backward();
    outG.mul(gpu(g)).sum().backward();
    // ~170 terms per entry summed in a different order: a few float32 ulps of the sum's scale
    await assertClose(gw.grad!, weight.grad!, 1e-4, 1e-4, 'embedding weight grad');

    // a larger vocabulary and batch, every id once or more
    const w2 = randn([1000, 48]);
    w2.requiresGrad = true;
    const ids2 = mox.randint(0, 1000, [2048], { generator: gen });
    const gw2 = gpu(w2);
    const g2 = randn([2048, 48]);
    F.embedding(ids2, w2).mul(g2).sum().backward();
    F.embedding(gpu(ids2), gw2).mul(gpu(g2)).sum().backward();
    await assertClose(gw2.grad!, w2.grad!, 1e-5, 1e-5, 'embedding grad, 1000 x 48');
  });

  it('nn.Embedding with a padding index', async () => {
    mox.seed(7);
    const layer = new mox.nn.Embedding(20, 8, { paddingIdx: 3 });
    const gl = new mox.nn.Embedding(20, 8, { paddingIdx: 3 });
    mox.noGrad(() => gl.weight.copy_(layer.weight));
    gl.to('webgpu');
    assert.equal(gl.weight.device, 'webgpu');
    const ids = mox.tensor(
      [
        [3, 1, 3, 5],
        [5, 3, 0, 19],
      ],
      { dtype: 'int32' },
    );
    const outC = layer.forward(ids);
    const outG = gl.forward(gpu(ids));
    await assertClose(outG, outC, 0, 0, 'nn.Embedding forward');
    const g = randn([2, 4, 8]);
    outC.mul(g).sum().backward();
    outG.mul(gpu(g)).sum().backward();
    await assertClose(gl.weight.grad!, layer.weight.grad!, 1e-6, 1e-6, 'nn.Embedding weight grad');
    const padRow = (await gl.weight.grad!.data()).slice(3 * 8, 4 * 8);
    assert.deepEqual([...padRow], new Array(8).fill(0));
  });
});
