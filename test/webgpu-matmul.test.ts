// The WebGPU matmul kernel against the CPU: every tile variant over awkward sizes, strided (transposed,
// sliced, batch-broadcast) operands, batched shapes, the bias/relu epilogue, int32, and the backward
// products. Results may differ from the CPU by float32 rounding, so the tolerance grows with K.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import type { View } from '../src/backend/backend.js';
import { chooseTile, matmulTuning, type MatmulTile } from '../src/backend/webgpu/kernels/matmul.js';
import { assertClose, gpu, openGpu } from '../test-support/webgpu.js';

const backend = await openGpu();
const gen = new mox.Generator(123);
const randn = (shape: number[]): Tensor => mox.randn(shape, { generator: gen });

/** Float32 sums of K products drift from the CPU's float64 ones by about K roundings. */
const atolFor = (k: number): number => 1e-4 * Math.max(1, k / 64);

async function checkMatmul(a: Tensor, b: Tensor, what: string): Promise<void> {
  const expected = a.matmul(b);
  const actual = gpu(a).matmul(gpu(b));
  await assertClose(actual, expected, 1e-4, atolFor(a.shape[a.ndim - 1]!), what);
}

/** Runs `body` with only `tile` in the tuning table, so every product uses that kernel variant. */
async function withTile(tile: MatmulTile, body: () => Promise<void>): Promise<void> {
  const saved = { tiles: matmulTuning.tiles, enoughGroups: matmulTuning.enoughGroups };
  matmulTuning.tiles = [tile];
  try {
    await body();
  } finally {
    Object.assign(matmulTuning, saved);
  }
}

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 13],
  [7, 13, 1],
  [13, 7, 7],
  [7, 1, 13],
  [127, 128, 129],
  [128, 128, 128],
  [129, 127, 128],
  [33, 129, 65],
];

describe('webgpu matmul: every tile variant', () => {
  for (const tile of matmulTuning.tiles) {
    const name = `${tile.BM}x${tile.BN}x${tile.BK} tile, ${tile.TM}x${tile.TN} per thread`;
    it(`${name}: sizes with edges in M, N and K`, async () => {
      await withTile(tile, async () => {
        for (const [m, k, n] of SIZES) await checkMatmul(randn([m, k]), randn([k, n]), `[${m},${k}] @ [${k},${n}]`);
      });
    });
    it(`${name}: transposed operands`, async () => {
      await withTile(tile, async () => {
        const [m, k, n] = [37, 45, 70];
        const a = randn([m, k]);
        const b = randn([k, n]);
        const aT = randn([k, m]).transpose(-2, -1);
        const bT = randn([n, k]).transpose(-2, -1);
        await checkMatmul(aT, b, 'a^T @ b');
        await checkMatmul(a, bT, 'a @ b^T');
        await checkMatmul(aT, bT, 'a^T @ b^T');
      });
    });
    it(`${name}: a batch of 5`, async () => {
      await withTile(tile, async () => {
        await checkMatmul(randn([5, 40, 19]), randn([5, 19, 66]), 'batched');
      });
    });
  }
});

describe('webgpu matmul: shapes and layouts', () => {
  it('a larger product (300x257 @ 257x190)', async () => {
    await checkMatmul(randn([300, 257]), randn([257, 190]), 'large');
  });

  it('batched 3-D and 4-D, with a broadcast batch axis', async () => {
    await checkMatmul(randn([4, 13, 9]), randn([4, 9, 11]), '3-D');
    await checkMatmul(randn([2, 3, 5, 7]), randn([2, 3, 7, 6]), '4-D');
    await checkMatmul(randn([2, 1, 5, 7]), randn([3, 7, 4]), '[2,1,5,7] @ [3,7,4]');
    await checkMatmul(randn([5, 7]), randn([3, 7, 4]), '2-D @ 3-D');
    await checkMatmul(randn([3, 5, 7]), randn([7, 4]), '3-D @ 2-D');
  });

  it('batch axes that cannot be merged, sliced operands with offsets', async () => {
    // permuted batch axes: strides [35, 70] do not merge into one batch index
    const a = randn([3, 2, 5, 7]).transpose(0, 1);
    const b = randn([2, 3, 7, 6]);
    await checkMatmul(a, b, 'permuted batch');
    const big = randn([20, 30]);
    await checkMatmul(big.narrow(0, 3, 11).narrow(1, 2, 17), big.narrow(0, 1, 17).narrow(1, 5, 9), 'slices of one buffer');
    const x = randn([9, 12]);
    await checkMatmul(x, x.transpose(0, 1), 'x @ x^T (one buffer bound twice)');
  });

  it('more than 65535 batches (the grid is split over several dispatches)', async () => {
    await checkMatmul(randn([65537, 2, 3]), randn([65537, 3, 2]), '65537 batches');
  });

  it('1-D operands (vector-matrix, matrix-vector, dot)', async () => {
    const v = randn([23]);
    await checkMatmul(v, randn([23, 9]), 'v @ M');
    await checkMatmul(randn([9, 23]), v, 'M @ v');
    await checkMatmul(v, randn([23]), 'dot');
  });

  it('K = 0 gives zeros, M = 0 or N = 0 an empty result', async () => {
    await checkMatmul(randn([3, 0]), randn([0, 4]), 'K = 0');
    await checkMatmul(randn([0, 5]), randn([5, 3]), 'M = 0');
    await checkMatmul(randn([4, 5]), randn([5, 0]), 'N = 0');
    await checkMatmul(randn([0, 4, 5]), randn([0, 5, 3]), 'no batches');
  });

  it('int32 products are exact, mixed int32 @ float32 computes in float32', async () => {
    const a = mox.randint(-50, 50, [19, 31], { generator: gen });
    const b = mox.randint(-50, 50, [31, 10], { generator: gen });
    const actual = gpu(a).matmul(gpu(b));
    assert.equal(actual.dtype, 'int32');
    assert.deepEqual([...(await actual.data())], [...a.matmul(b).dataSync()]);
    // wrapping like the CPU's int32 store when a sum leaves the int32 range
    const big = mox.full([2, 3], 2_000_000_000, { dtype: 'int32' });
    const ones = mox.ones([3, 2], { dtype: 'int32' });
    assert.deepEqual([...(await gpu(big).matmul(gpu(ones)).data())], [...big.matmul(ones).dataSync()]);
    const f = randn([31, 8]);
    await checkMatmul(a, f, 'int32 @ float32');
  });

  it('picks a smaller tile when the large one would leave the GPU idle', () => {
    const limits = backend.device.limits;
    const [large, medium, small] = matmulTuning.tiles as [MatmulTile, MatmulTile, MatmulTile];
    assert.equal(chooseTile(4096, 4096, 1, limits), large);
    assert.equal(chooseTile(1024, 1024, 1, limits), medium);
    assert.equal(chooseTile(64, 64, 1, limits), small);
    assert.equal(chooseTile(256, 256, 64, limits), large);
  });
});

describe('webgpu matmul: epilogue and autograd', () => {
  it('linear with and without bias (the bias epilogue, weight read transposed)', async () => {
    const x = randn([4, 6, 33]);
    const w = randn([17, 33]);
    const b = randn([17]);
    const f = mox.nn.functional;
    await assertClose(f.linear(gpu(x), gpu(w), gpu(b)), f.linear(x, w, b), 1e-4, atolFor(33), 'linear with bias');
    await assertClose(f.linear(gpu(x), gpu(w)), f.linear(x, w), 1e-4, atolFor(33), 'linear without bias');
    // a strided bias: every other element of a longer vector
    const b2 = randn([34]).slice([0, 34, 2]);
    await assertClose(f.linear(gpu(x), gpu(w), gpu(b2)), f.linear(x, w, b2), 1e-4, atolFor(33), 'strided bias');
  });

  it('the relu epilogue keeps NaN, as the reference does', async () => {
    const xd = randn([10, 21]).dataSync();
    xd[3 * 21 + 4] = NaN; // row 3 becomes NaN throughout
    const x = mox.tensor(xd).reshape(10, 21);
    const w = randn([21, 12]);
    const bias = randn([12]);
    const gx = gpu(x);
    const gw = gpu(w);
    const gb = gpu(bias);
    const viewOf = (t: Tensor, shape = t.shape): View => ({ ...t.view_(), shape });
    const buf = backend.matmul(viewOf(gx), viewOf(gw), 'float32', { bias: viewOf(gb), relu: true });
    const got = await backend.readAsync({ buf, dtype: 'float32', shape: [10, 12], strides: [12, 1], offset: 0 });
    backend.free(buf);
    const expected = x.matmul(w).add(bias).relu().dataSync();
    for (let i = 0; i < expected.length; i++) {
      const [g, e] = [got[i]!, expected[i]!];
      if (Number.isNaN(e)) assert.ok(Number.isNaN(g), `element ${i}: expected NaN, got ${g}`);
      else assert.ok(Math.abs(g - e) <= atolFor(21) + 1e-4 * Math.abs(e), `element ${i}: got ${g}, expected ${e}`);
    }
    assert.ok(expected.some((v) => v === 0) && expected.some((v) => v > 0), 'the case exercises both sides of relu');
  });

  it('gradients of matmul for a and b', async () => {
    const a = randn([3, 14, 9]).requiresGrad_();
    const b = randn([3, 9, 11]).requiresGrad_();
    const g = randn([3, 14, 11]);
    a.matmul(b).backward(g);
    const ga = gpu(a);
    const gb = gpu(b);
    ga.matmul(gb).backward(gpu(g));
    await assertClose(ga.grad!, a.grad!, 1e-4, atolFor(11), 'grad a');
    await assertClose(gb.grad!, b.grad!, 1e-4, atolFor(14), 'grad b');
  });

  it('gradients of linear for x and the weight', async () => {
    const x = randn([2, 5, 13]).requiresGrad_();
    const w = randn([8, 13]).requiresGrad_();
    const bias = randn([8]);
    const g = randn([2, 5, 8]);
    mox.nn.functional.linear(x, w, bias).backward(g);
    const gx = gpu(x);
    const gw = gpu(w);
    mox.nn.functional.linear(gx, gw, gpu(bias)).backward(gpu(g));
    await assertClose(gx.grad!, x.grad!, 1e-4, atolFor(8), 'grad x');
    await assertClose(gw.grad!, w.grad!, 1e-4, atolFor(10), 'grad weight');
  });
});

describe('webgpu matmul: dtypes the GPU does not store', () => {
  it('float64 raises DeviceError when moved to the GPU', () => {
    const t = mox.randn([2, 2], { dtype: 'float64', generator: gen });
    assert.throws(() => t.to('webgpu'), mox.DeviceError);
  });
});
