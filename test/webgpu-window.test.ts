// The WebGPU sliding-window kernels (src/backend/webgpu/kernels/window.ts) against the CPU reference:
// im2col / col2im called directly on both backends, then conv2d, convTranspose2d and the poolings
// through the public API, forward and backward. Sizes are odd and small (lavapipe runs on the CPU);
// the cases cover padding, dilation, stride > kernel, overlapping windows, ties, NaN, windows with no
// tap in the image, and inputs that are strided views rather than contiguous tensors.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import type { View, Window2d } from '../src/backend/backend.js';
import type { TypedArray } from '../src/base/dtype.js';
import { referenceBackend } from '../src/backend/cpu/reference-backend.js';
import { windowOut } from '../src/ops/conv.js';
import { assertClose, gpu, openGpu } from '../test-support/webgpu.js';

const backend = await openGpu();
const F = mox.nn.functional;

const gen = new mox.Generator(123);
const randn = (shape: number[]): Tensor => mox.randn(shape, { generator: gen, device: 'cpu' });
/** Small integers, so that windows hold ties. */
const randTies = (shape: number[]): Tensor => randn(shape).mul(1.5).round();

const contiguous = (shape: readonly number[]): number[] => {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
};

/** A GPU kernel's result buffer, read back as a contiguous array of `shape`. */
const readGpu = (buf: unknown, shape: readonly number[], dtype: 'float32' | 'int32' = 'float32'): Promise<TypedArray> =>
  backend.readAsync({ buf, dtype, shape, strides: contiguous(shape), offset: 0 });

function assertArraysClose(actual: TypedArray, expected: TypedArray, what: string, rtol = 1e-5, atol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const x = Number(actual[i]);
    const y = Number(expected[i]);
    if ((Number.isNaN(x) && Number.isNaN(y)) || x === y) continue;
    assert.ok(Math.abs(x - y) <= atol + rtol * Math.abs(y), `${what}: element ${i}: got ${x}, expected ${y}`);
  }
}

/**
 * assertClose that also accepts equal infinities (test-support's assertClose computes inf - inf = NaN
 * and fails), for pooled outputs that hold -inf. Exact by default.
 */
async function assertSame(actual: Tensor, expected: Tensor, what: string, rtol = 0, atol = 0): Promise<void> {
  assert.equal(actual.device, 'webgpu', `${what}: device`);
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  assertArraysClose(await actual.data(), expected.dataSync(), what, rtol, atol);
}

const win = (k: [number, number], s: [number, number], p: [number, number], d: [number, number]): Window2d => ({
  kernel: k,
  stride: s,
  padding: p,
  dilation: d,
});

/** Output size of a window over an [.., H, W] input. */
const outSize = (h: number, w: number, g: Window2d): [number, number] => [
  windowOut(h, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0]),
  windowOut(w, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1]),
];

/** im2col of one input on both backends (cpuView and gpuView hold the same elements), compared. */
async function checkIm2col(cpuView: View, gpuView: View, g: Window2d, padValue: number, what: string): Promise<void> {
  const [N, C, H, W] = cpuView.shape as [number, number, number, number];
  const [oh, ow] = outSize(H, W, g);
  const rows = C * g.kernel[0] * g.kernel[1];
  for (const batchInColumns of [false, true]) {
    const expected = referenceBackend.im2col(cpuView, g, oh, ow, padValue, batchInColumns) as TypedArray;
    const buf = backend.im2col(gpuView, g, oh, ow, padValue, batchInColumns);
    const shape = batchInColumns ? [rows, N * oh * ow] : [N, rows, oh * ow];
    assertArraysClose(await readGpu(buf, shape), expected, `${what} (batchInColumns ${batchInColumns})`, 0, 0);
    backend.free(buf);
  }
}

/** Geometries with odd sizes, padding, dilation, stride > kernel and overlapping windows. */
const GEOMETRIES: { name: string; shape: [number, number, number, number]; w: Window2d }[] = [
  { name: '3x3 stride 1 pad 1', shape: [2, 3, 7, 9], w: win([3, 3], [1, 1], [1, 1], [1, 1]) },
  { name: '3x2 stride 2x3 pad 2x1 dilation 2x1', shape: [2, 3, 11, 10], w: win([3, 2], [2, 3], [2, 1], [2, 1]) },
  { name: '2x2 stride 3 (gaps between windows)', shape: [3, 2, 10, 11], w: win([2, 2], [3, 3], [0, 0], [1, 1]) },
  { name: '5x3 stride 1 pad 3x2 dilation 1x3 (overlap, wide padding)', shape: [2, 4, 9, 13], w: win([5, 3], [1, 1], [3, 2], [1, 3]) },
  { name: '1x1 stride 2', shape: [2, 5, 9, 9], w: win([1, 1], [2, 2], [0, 0], [1, 1]) },
];

describe('webgpu im2col', () => {
  for (const { name, shape, w } of GEOMETRIES) {
    it(`matches the CPU: ${name}`, async () => {
      const x = randn(shape);
      await checkIm2col(x.view_(), gpu(x).view_(), w, 0, name);
    });
  }

  it('fills out-of-image taps with padValue (-inf, as max pooling would)', async () => {
    const x = randn([2, 3, 5, 6]);
    await checkIm2col(x.view_(), gpu(x).view_(), win([3, 3], [2, 1], [1, 1], [1, 2]), -Infinity, 'padValue -inf');
    await checkIm2col(x.view_(), gpu(x).view_(), win([3, 3], [2, 1], [1, 1], [1, 2]), 2.5, 'padValue 2.5');
  });

  it('reads a permuted NHWC tensor through its strides', async () => {
    const nhwc = randn([2, 7, 9, 3]);
    const cpuX = nhwc.permute(0, 3, 1, 2);
    const gpuX = gpu(nhwc).permute(0, 3, 1, 2);
    assert.equal(gpuX.isContiguous(), false);
    await checkIm2col(cpuX.view_(), gpuX.view_(), win([3, 2], [2, 1], [1, 1], [1, 2]), 0, 'NHWC');
  });

  it('reads a channel slice at an offset', async () => {
    const x = randn([2, 6, 8, 7]);
    await checkIm2col(x.narrow(1, 2, 3).view_(), gpu(x).narrow(1, 2, 3).view_(), win([3, 3], [1, 2], [1, 0], [2, 1]), 0, 'narrowed');
  });

  it('copies int32 elements exactly', async () => {
    const x = mox.tensor(
      Int32Array.from({ length: 2 * 2 * 5 * 5 }, (_, i) => ((i * 7919) % 1000) - 500),
      { shape: [2, 2, 5, 5] },
    );
    const w = win([2, 3], [1, 2], [1, 1], [1, 1]);
    const [oh, ow] = outSize(5, 5, w);
    const expected = referenceBackend.im2col(x.view_(), w, oh, ow, -3) as TypedArray;
    const buf = backend.im2col(gpu(x).view_(), w, oh, ow, -3);
    assertArraysClose(await readGpu(buf, [2, 2 * 6, oh * ow], 'int32'), expected, 'int32 im2col', 0, 0);
  });
});

describe('webgpu col2im', () => {
  for (const { name, shape, w } of GEOMETRIES) {
    it(`matches the CPU: ${name}`, async () => {
      const [N, C, H, W] = shape;
      const [oh, ow] = outSize(H, W, w);
      const cols = randn([N, C * w.kernel[0] * w.kernel[1], oh * ow]);
      const expected = referenceBackend.col2im(cols.view_(), w, C, H, W, oh, ow) as TypedArray;
      const buf = backend.col2im(gpu(cols).view_(), w, C, H, W, oh, ow);
      assertArraysClose(await readGpu(buf, shape), expected, name);
      backend.free(buf);
    });
  }

  it('reads batch-in-columns gradients through strides ([rows, N, P] transposed)', async () => {
    const [N, C, H, W] = [3, 2, 8, 7];
    const w = win([3, 3], [2, 1], [1, 1], [1, 1]);
    const [oh, ow] = outSize(H, W, w);
    const rows = C * 9;
    const g = randn([rows, N, oh * ow]);
    const cpuCols = g.transpose(0, 1);
    const gpuCols = gpu(g).transpose(0, 1);
    const expected = referenceBackend.col2im(cpuCols.view_(), w, C, H, W, oh, ow) as TypedArray;
    const buf = backend.col2im(gpuCols.view_(), w, C, H, W, oh, ow);
    assertArraysClose(await readGpu(buf, [N, C, H, W]), expected, 'strided cols');
  });

  it('is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>', async () => {
    const [N, C, H, W] = [2, 3, 9, 8];
    const w = win([3, 2], [2, 2], [1, 1], [2, 1]);
    const [oh, ow] = outSize(H, W, w);
    const x = randn([N, C, H, W]);
    const c = randn([N, C * 6, oh * ow]);
    const ax = await readGpu(backend.im2col(gpu(x).view_(), w, oh, ow, 0), [N, C * 6, oh * ow]);
    const atc = await readGpu(backend.col2im(gpu(c).view_(), w, C, H, W, oh, ow), [N, C, H, W]);
    const dot = (a: TypedArray, b: TypedArray): number => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Number(a[i]) * Number(b[i]);
      return s;
    };
    const lhs = dot(ax, c.dataSync());
    const rhs = dot(atc, x.dataSync());
    assert.ok(Math.abs(lhs - rhs) <= 1e-3 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
  });

  it('rejects cols of the wrong shape, naming the op and the shape', () => {
    const cols = gpu(randn([2, 5, 4]));
    assert.throws(() => backend.col2im(cols.view_(), win([2, 2], [1, 1], [0, 0], [1, 1]), 2, 3, 3, 2, 2), /col2im: .*\[2,5,4\]/);
  });
});

/** Runs `op` on a CPU tensor and on its GPU copy, compares outputs, then gradients for a random g. */
async function checkOp(x: Tensor, op: (t: Tensor) => Tensor, what: string, tol = { rtol: 1e-5, atol: 1e-5 }, xGpu?: Tensor): Promise<void> {
  const leaf = x;
  leaf.requiresGrad = true;
  const gLeaf = xGpu ?? gpu(leaf);
  const y = op(leaf);
  const gy = op(gLeaf);
  await assertSame(gy, y, `${what}: forward`, tol.rtol, tol.atol);
  const g = randn([...y.shape]);
  y.backward(g);
  gy.backward(gpu(g));
  await assertClose(gLeaf.grad!, leaf.grad!, tol.rtol, tol.atol, `${what}: gradient`);
}

describe('webgpu maxPool2d', () => {
  const cases: { name: string; shape: number[]; k: number | [number, number]; opts: mox.nn.functional.Pool2dOptions }[] = [
    { name: '2x2 stride 2', shape: [2, 3, 8, 8], k: 2, opts: {} },
    { name: '3x3 stride 2 pad 1 (overlapping), odd size', shape: [2, 3, 9, 11], k: 3, opts: { stride: 2, padding: 1 } },
    { name: '3x3 stride 1 (heavy overlap)', shape: [2, 4, 7, 6], k: 3, opts: { stride: 1 } },
    { name: '3x2 dilation 2x3 pad 1', shape: [3, 2, 13, 12], k: [3, 2], opts: { stride: [1, 2], padding: 1, dilation: [2, 3] } },
    { name: '2x2 stride 3 (gaps)', shape: [2, 3, 11, 10], k: 2, opts: { stride: 3 } },
    { name: '3x3 stride 2 ceilMode', shape: [2, 3, 10, 9], k: 3, opts: { stride: 2, ceilMode: true, padding: 1 } },
  ];
  for (const { name, shape, k, opts } of cases) {
    it(`matches the CPU with ties: ${name}`, async () => {
      await checkOp(randTies(shape), (t) => F.maxPool2d(t, k, opts), name);
    });
    it(`matches the CPU's indices: ${name}`, async () => {
      const x = randTies(shape);
      const [, idx] = F.maxPool2dWithIndices(x, k, opts);
      const [, gIdx] = F.maxPool2dWithIndices(gpu(x), k, opts);
      await assertClose(gIdx, idx, 0, 0, `${name}: indices`);
    });
  }

  it('propagates NaN (the first NaN wins) and lets -inf win a window of -inf', async () => {
    const data = randn([2, 2, 6, 7]).dataSync() as Float32Array;
    for (const i of [3, 4, 20, 41, 44, 60]) data[i] = NaN;
    for (const i of [70, 71, 72, 77, 78, 79]) data[i] = -Infinity;
    const x = mox.tensor(data, { shape: [2, 2, 6, 7] });
    const opts = { stride: 1, padding: 1 };
    const [out, idx] = F.maxPool2dWithIndices(x, 3, opts);
    const [gOut, gIdx] = F.maxPool2dWithIndices(gpu(x), 3, opts);
    await assertSame(gOut, out, 'NaN values');
    await assertClose(gIdx, idx, 0, 0, 'NaN indices');
    await checkOp(x, (t) => F.maxPool2d(t, 3, opts), 'NaN gradient');
  });

  it('gives -inf and index -1 for a window with no tap in the image, and skips it backward', async () => {
    // kernel 2 with dilation 3 and padding 1 over a 2x2 image: the taps sit at -1 and 2, both outside
    const x = randn([2, 3, 2, 2]);
    const opts = { stride: 1, padding: 1, dilation: 3 };
    const [out, idx] = F.maxPool2dWithIndices(x, 2, opts);
    const [gOut, gIdx] = F.maxPool2dWithIndices(gpu(x), 2, opts);
    assert.ok((out.dataSync() as Float32Array).every((v) => v === -Infinity));
    await assertSame(gOut, out, 'empty windows');
    await assertClose(gIdx, idx, 0, 0, 'empty window indices');
    await checkOp(x, (t) => F.maxPool2d(t, 2, opts), 'empty window gradient');
  });

  it('reads a permuted NHWC tensor through its strides, and routes its gradient back', async () => {
    const nhwc = randTies([2, 9, 7, 3]);
    nhwc.requiresGrad = true;
    const gNhwc = gpu(nhwc);
    const y = F.maxPool2d(nhwc.permute(0, 3, 1, 2), 3, { stride: 2, padding: 1 });
    const gy = F.maxPool2d(gNhwc.permute(0, 3, 1, 2), 3, { stride: 2, padding: 1 });
    await assertClose(gy, y, 0, 0, 'NHWC forward');
    const g = randn([...y.shape]);
    y.backward(g);
    gy.backward(gpu(g));
    await assertClose(gNhwc.grad!, nhwc.grad!, 1e-5, 1e-5, 'NHWC gradient');
  });

  it('pools int32 tensors exactly', async () => {
    const x = mox.tensor(
      Int32Array.from({ length: 2 * 2 * 7 * 5 }, (_, i) => ((i * 7919) % 201) - 100),
      { shape: [2, 2, 7, 5] },
    );
    const [out, idx] = F.maxPool2dWithIndices(x, 3, { stride: 2, padding: 1 });
    const [gOut, gIdx] = F.maxPool2dWithIndices(gpu(x), 3, { stride: 2, padding: 1 });
    await assertClose(gOut, out, 0, 0, 'int32 values');
    await assertClose(gIdx, idx, 0, 0, 'int32 indices');
  });

  it('maxPool2dBackward sums g over outputs sharing an argmax, whatever the argmax layout', async () => {
    // argmax values no real pooling would give (scattered over the whole plane, several outputs on
    // pixel 7, -1 entries): the gather derives its search rectangles from the argmax, so it still
    // finds each output's pixel
    const [N, C, H, W, OH, OW] = [2, 3, 5, 4, 3, 6];
    const idx = Int32Array.from({ length: N * C * OH * OW }, (_, i) => (i % 7 === 0 ? -1 : (i * 13) % (H * W)));
    idx[5] = 7;
    idx[6] = 7;
    idx[11] = 7;
    const argmax = mox.tensor(idx, { shape: [N, C, OH, OW] });
    const g = randn([N, C, OH, OW]);
    const expected = referenceBackend.maxPool2dBackward(g.view_(), argmax.view_(), [N, C, H, W]) as TypedArray;
    const buf = backend.maxPool2dBackward(gpu(g).view_(), gpu(argmax).view_(), [N, C, H, W]);
    assertArraysClose(await readGpu(buf, [N, C, H, W]), expected, 'arbitrary argmax');
  });
});

describe('webgpu avgPool2d', () => {
  const cases: { name: string; shape: number[]; k: number | [number, number]; opts: mox.nn.functional.AvgPool2dOptions }[] = [
    { name: '2x2 stride 2', shape: [2, 3, 8, 8], k: 2, opts: {} },
    {
      name: '3x3 stride 2 pad 1, countIncludePad true',
      shape: [2, 3, 9, 11],
      k: 3,
      opts: { stride: 2, padding: 1, countIncludePad: true },
    },
    {
      name: '3x3 stride 2 pad 1, countIncludePad false',
      shape: [2, 3, 9, 11],
      k: 3,
      opts: { stride: 2, padding: 1, countIncludePad: false },
    },
    {
      name: '3x2 stride 1 pad 1x1 (overlap), countIncludePad false',
      shape: [3, 2, 7, 6],
      k: [3, 2],
      opts: { stride: 1, padding: 1, countIncludePad: false },
    },
    { name: '2x2 stride 3 (gaps)', shape: [2, 3, 11, 10], k: 2, opts: { stride: 3 } },
    {
      name: '3x3 ceilMode pad 1 (windows past the padded input)',
      shape: [2, 3, 10, 8],
      k: 3,
      opts: { stride: 2, padding: 1, ceilMode: true },
    },
    {
      name: '3x3 ceilMode, countIncludePad false',
      shape: [2, 3, 10, 8],
      k: 3,
      opts: { stride: 2, padding: 1, ceilMode: true, countIncludePad: false },
    },
    { name: '3x3 divisorOverride 5', shape: [2, 3, 9, 9], k: 3, opts: { stride: 2, padding: 1, divisorOverride: 5 } },
  ];
  for (const { name, shape, k, opts } of cases) {
    it(`matches the CPU: ${name}`, async () => {
      await checkOp(randn(shape), (t) => F.avgPool2d(t, k, opts), name);
    });
  }

  it('reads a permuted NHWC tensor through its strides', async () => {
    const nhwc = randn([2, 9, 7, 3]);
    nhwc.requiresGrad = true;
    const gNhwc = gpu(nhwc);
    const opts = { stride: 2, padding: 1, countIncludePad: false };
    const y = F.avgPool2d(nhwc.permute(0, 3, 1, 2), 3, opts);
    const gy = F.avgPool2d(gNhwc.permute(0, 3, 1, 2), 3, opts);
    await assertClose(gy, y, 1e-5, 1e-5, 'NHWC forward');
    const g = randn([...y.shape]);
    y.backward(g);
    gy.backward(gpu(g));
    await assertClose(gNhwc.grad!, nhwc.grad!, 1e-5, 1e-5, 'NHWC gradient');
  });

  it('avgPool2dBackward reads a strided gradient', async () => {
    const [N, C, H, W] = [2, 3, 7, 9];
    const w = win([3, 3], [2, 2], [1, 1], [1, 1]);
    const [oh, ow] = outSize(H, W, w);
    const g = randn([N, oh, ow, C]);
    const div = { countIncludePad: false };
    const expected = referenceBackend.avgPool2dBackward(g.permute(0, 3, 1, 2).view_(), w, [N, C, H, W], div) as TypedArray;
    const buf = backend.avgPool2dBackward(gpu(g).permute(0, 3, 1, 2).view_(), w, [N, C, H, W], div);
    assertArraysClose(await readGpu(buf, [N, C, H, W]), expected, 'strided g');
  });
});

// The tests below go through matmul (conv2d is im2col + GEMM; adaptiveAvgPool2d is P_h @ x @ P_w^T).
const CONV_TOL = { rtol: 1e-4, atol: 1e-4 };

describe('webgpu conv2d (im2col + matmul)', () => {
  const cases: { name: string; x: number[]; w: number[]; bias: boolean; opts: mox.nn.functional.Conv2dOptions }[] = [
    { name: '3x3 pad 1', x: [2, 3, 9, 8], w: [4, 3, 3, 3], bias: false, opts: { padding: 1 } },
    { name: '3x3 pad 1 with bias', x: [2, 3, 9, 8], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } },
    {
      name: '3x2 stride 2x1 pad 2x0 dilation 2x3',
      x: [2, 3, 11, 12],
      w: [5, 3, 3, 2],
      bias: false,
      opts: { stride: [2, 1], padding: [2, 0], dilation: [2, 3] },
    },
    { name: '2x2 stride 3 (stride > kernel)', x: [3, 2, 10, 11], w: [3, 2, 2, 2], bias: false, opts: { stride: 3 } },
    { name: 'groups 2, 3x3 stride 2 pad 1', x: [2, 4, 9, 9], w: [6, 2, 3, 3], bias: false, opts: { groups: 2, stride: 2, padding: 1 } },
    { name: "padding 'same', 4x4 (odd total padding)", x: [2, 3, 7, 8], w: [3, 3, 4, 4], bias: false, opts: { padding: 'same' } },
  ];
  for (const c of cases) {
    it(`matches the CPU forward and backward: ${c.name}`, async () => {
      const weight = randn(c.w);
      weight.requiresGrad = true;
      const gWeight = gpu(weight);
      const bias = c.bias ? randn([c.w[0]!]) : null;
      if (bias) bias.requiresGrad = true;
      const gBias = bias ? gpu(bias) : null;
      const x = randn(c.x);
      x.requiresGrad = true;
      const gx = gpu(x);
      const y = F.conv2d(x, weight, bias, c.opts);
      const gy = F.conv2d(gx, gWeight, gBias, c.opts);
      await assertClose(gy, y, CONV_TOL.rtol, CONV_TOL.atol, `${c.name}: forward`);
      const g = randn([...y.shape]);
      y.backward(g);
      gy.backward(gpu(g));
      await assertClose(gx.grad!, x.grad!, CONV_TOL.rtol, CONV_TOL.atol, `${c.name}: input gradient`);
      await assertClose(gWeight.grad!, weight.grad!, CONV_TOL.rtol, CONV_TOL.atol, `${c.name}: weight gradient`);
      if (bias) await assertClose(gBias!.grad!, bias.grad!, CONV_TOL.rtol, CONV_TOL.atol, `${c.name}: bias gradient`);
    });
  }

  it('convolves a permuted NHWC input', async () => {
    const nhwc = randn([2, 8, 7, 3]);
    const weight = randn([4, 3, 3, 3]);
    const gNhwc = gpu(nhwc);
    gNhwc.requiresGrad = true;
    nhwc.requiresGrad = true;
    const y = F.conv2d(nhwc.permute(0, 3, 1, 2), weight, null, { padding: 1, stride: 2 });
    const gy = F.conv2d(gNhwc.permute(0, 3, 1, 2), gpu(weight), null, { padding: 1, stride: 2 });
    await assertClose(gy, y, CONV_TOL.rtol, CONV_TOL.atol, 'NHWC forward');
    const g = randn([...y.shape]);
    y.backward(g);
    gy.backward(gpu(g));
    await assertClose(gNhwc.grad!, nhwc.grad!, CONV_TOL.rtol, CONV_TOL.atol, 'NHWC gradient');
  });

  it('convTranspose2d matches the CPU forward and backward (col2im)', async () => {
    const opts = { stride: 2, padding: 1, outputPadding: 1, dilation: 1 };
    const weight = randn([4, 3, 3, 3]);
    weight.requiresGrad = true;
    const gWeight = gpu(weight);
    await checkOp(
      randn([2, 4, 5, 6]),
      (t) => F.convTranspose2d(t, t.device === 'cpu' ? weight : gWeight, null, opts),
      'convTranspose2d',
      CONV_TOL,
    );
    await assertClose(gWeight.grad!, weight.grad!, CONV_TOL.rtol, CONV_TOL.atol, 'convTranspose2d: weight gradient');
  });

  it('convTranspose2d with groups and dilation', async () => {
    const opts = {
      stride: [2, 1] as [number, number],
      padding: [0, 1] as [number, number],
      dilation: [1, 2] as [number, number],
      groups: 2,
    };
    const weight = randn([4, 2, 2, 3]);
    const gWeight = gpu(weight);
    await checkOp(
      randn([2, 4, 4, 5]),
      (t) => F.convTranspose2d(t, t.device === 'cpu' ? weight : gWeight, null, opts),
      'convTranspose2d groups',
      CONV_TOL,
    );
  });
});

describe('webgpu adaptiveAvgPool2d (matmul)', () => {
  for (const [shape, size] of [
    [
      [2, 3, 9, 7],
      [4, 3],
    ],
    [
      [2, 3, 8, 8],
      [1, 1],
    ],
    [
      [3, 2, 5, 11],
      [5, 4],
    ],
  ] as [number[], [number, number]][]) {
    it(`matches the CPU: ${JSON.stringify(shape)} -> ${size.join('x')}`, async () => {
      await checkOp(randn(shape), (t) => F.adaptiveAvgPool2d(t, size), `adaptive ${size}`);
    });
  }
});
