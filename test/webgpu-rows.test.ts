// The WebGPU row kernels (softmax / log-softmax, layer norm, cross-entropy) and the fused Adam update
// against the CPU: the same op through the public API on a CPU tensor and on its GPU copy, on odd sizes,
// transposed and step-2-sliced views, forward and backward. The kernels are also called on the backend
// directly, against the reference backend, for paths the public API reaches only through other GPU
// kernels (the chunked column sums of layer norm's backward, cross-entropy's target checks).
//
// Tolerances: the CPU computes row statistics in float64 and rounds once; the GPU works in float32 with
// tree sums, a few ulps (~1e-6 relative) off for the rows here.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import type { Buffer, View } from '../src/backend/backend.js';
import * as refRows from '../src/backend/cpu/rows.js';
import { fusedKernel, registerFusedKernel } from '../src/backend/fused.js';
import { contiguousStrides } from '../src/base/shape.js';
import { assertClose, gpu, openGpu } from '../test-support/webgpu.js';

const backend = await openGpu();
const gpuLayerNorm = fusedKernel('webgpu', 'layerNorm')!;
const gpuCrossEntropy = fusedKernel('webgpu', 'crossEntropy')!;
const F = mox.nn.functional;
const gen = new mox.Generator(123);

const randn = (shape: number[], scale = 1): Tensor => mox.randn(shape, { generator: gen }).mul(scale);

/** How a test's input is laid out in memory: the shape to allocate and the view taken of it. */
interface Layout {
  name: string;
  base(shape: number[]): number[];
  view(t: Tensor): Tensor;
}

const contiguous: Layout = { name: 'contiguous', base: (s) => s, view: (t) => t };
/** Allocated with the axes reversed, then permuted back: the last axis is the slowest in memory. */
const transposed: Layout = {
  name: 'transposed',
  base: (s) => [...s].reverse(),
  view: (t) => t.permute([...t.shape.keys()].reverse()),
};
/** Every other element of a last axis twice as long. */
const stepTwo: Layout = {
  name: 'step-2 slice',
  base: (s) => [...s.slice(0, -1), s[s.length - 1]! * 2],
  view: (t) => t.slice(...t.shape.slice(0, -1).map(() => null), [0, null, 2]),
};
const LAYOUTS = [contiguous, transposed, stepTwo];

/** The same view of a random CPU tensor and of its GPU copy; `grad` makes the bases leaves needing grad. */
function inputs(shape: number[], layout: Layout, opts: { scale?: number; grad?: boolean } = {}) {
  const base = randn(layout.base(shape), opts.scale ?? 1);
  if (opts.grad) base.requiresGrad = true;
  const baseGpu = gpu(base);
  return { base, baseGpu, cpu: layout.view(base), gpu: layout.view(baseGpu) };
}

/** Backpropagates sum(y * g) for one random g on both devices. */
function backwardWithRandom(yCpu: Tensor, yGpu: Tensor): void {
  const g = randn([...yCpu.shape]);
  yCpu.mul(g).sum().backward();
  yGpu.mul(gpu(g)).sum().backward();
}

const viewOf = (buf: Buffer, shape: readonly number[], dtype: 'float32' | 'int32' = 'float32'): View => ({
  buf,
  dtype,
  shape,
  strides: contiguousStrides(shape),
  offset: 0,
});

/** A GPU kernel's output buffer read back, then freed. */
async function readBack(buf: Buffer, shape: readonly number[]): Promise<Float32Array> {
  const data = (await backend.readAsync(viewOf(buf, shape))) as Float32Array;
  backend.free(buf);
  return data;
}

function assertArraysClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}: element ${i}: got ${a}, expected ${e}`);
  }
}

describe('webgpu softmax and logSoftmax', () => {
  const ops = [
    { name: 'softmax', run: (t: Tensor, axis: number) => t.softmax(axis) },
    { name: 'logSoftmax', run: (t: Tensor, axis: number) => t.logSoftmax(axis) },
  ];

  it('match the CPU along the last axis for odd and long rows in every layout', async () => {
    for (const len of [1, 7, 13, 127, 300, 2049]) {
      for (const rows of [1, 13]) {
        for (const layout of LAYOUTS) {
          const x = inputs([rows, len], layout);
          for (const op of ops) {
            await assertClose(op.run(x.gpu, -1), op.run(x.cpu, -1), 1e-5, 1e-6, `${op.name} [${rows},${len}] ${layout.name}`);
          }
        }
      }
    }
  });

  it('match the CPU along non-last axes, through the per-row and the per-thread (column) kernels', async () => {
    // [3,7,700] axis 1 and the transposed [2100,13] along axis 1 have 2100 rows whose elements are 700
    // and 2100 apart: the one-thread-per-row kernel. The others get a workgroup per row.
    const cases: [number[], Layout, number][] = [
      [[127], contiguous, 0],
      [[5, 13, 7], contiguous, 0],
      [[5, 13, 7], contiguous, 1],
      [[5, 13, 7], transposed, 1],
      [[7, 1, 13], stepTwo, 0],
      [[3, 7, 700], contiguous, 1],
      [[2100, 13], transposed, 1],
      [[2100, 13], transposed, 0],
      [[4, 600, 3], stepTwo, 1],
    ];
    for (const [shape, layout, axis] of cases) {
      const x = inputs(shape, layout);
      for (const op of ops) {
        await assertClose(op.run(x.gpu, axis), op.run(x.cpu, axis), 1e-5, 1e-6, `${op.name} [${shape}] ${layout.name} axis ${axis}`);
      }
    }
  });

  it('run more rows than one grid dimension holds (65535 workgroups)', async () => {
    const x = inputs([70000, 3], contiguous);
    for (const op of ops) await assertClose(op.run(x.gpu, 1), op.run(x.cpu, 1), 1e-5, 1e-6, `${op.name} [70000,3]`);
  });

  it('stay finite and stable on rows of values near +-80, and give NaN for an all -inf row as the CPU', async () => {
    const big = randn([6, 50], 80);
    const fixed = mox.tensor([
      [80, -80, 80, 0, -80],
      [80, 80, 80, 80, 80],
      [-80, -80, -80, -80, -79],
      [-Infinity, 0, 1, -Infinity, 2],
      [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
    ]);
    for (const x of [big, fixed]) {
      for (const op of ops) {
        // compared here rather than by assertClose, which cannot match -inf (log(0)) with itself
        const data = await op.run(gpu(x), -1).data();
        assertArraysClose(data, op.run(x, -1).dataSync(), 1e-5, 1e-5, `${op.name} of large values [${x.shape}]`);
        const rowLen = x.shape[1]!;
        // every row but the all -inf one must be free of NaN and +inf
        const finiteRows = x === fixed ? 4 : x.shape[0]!;
        for (let i = 0; i < finiteRows * rowLen; i++) {
          assert.ok(!Number.isNaN(data[i]!) && data[i] !== Infinity, `${op.name}: element ${i} is ${data[i]}`);
        }
      }
    }
  });

  it('give the CPU gradients for last and non-last axes and strided inputs', async () => {
    const cases: [number[], Layout, number][] = [
      [[13, 7], contiguous, 1],
      [[7, 13], transposed, 1],
      [[5, 127], stepTwo, 1],
      [[5, 13, 7], contiguous, 1],
      [[13, 7], transposed, 0],
    ];
    for (const [shape, layout, axis] of cases) {
      for (const op of ops) {
        const x = inputs(shape, layout, { grad: true });
        backwardWithRandom(op.run(x.cpu, axis), op.run(x.gpu, axis));
        await assertClose(x.baseGpu.grad!, x.base.grad!, 1e-4, 1e-5, `${op.name} grad [${shape}] ${layout.name} axis ${axis}`);
      }
    }
  });
});

describe('webgpu layerNorm', () => {
  /** weight and bias present or not, in every combination the op allows. */
  const affine = [
    { weight: true, bias: true },
    { weight: true, bias: false },
    { weight: false, bias: true },
    { weight: false, bias: false },
  ];

  it('matches the CPU forward with and without weight and bias, for odd sizes and strided inputs', async () => {
    const shapes = [
      [1, 1],
      [4, 7],
      [3, 5, 13],
      [6, 127],
      [2, 300],
      [3, 1100],
    ];
    for (const shape of shapes) {
      const d = shape[shape.length - 1]!;
      for (const layout of LAYOUTS) {
        for (const { weight, bias } of affine) {
          const x = inputs(shape, layout, { scale: 3 });
          const w = weight ? randn([d]) : null;
          const b = bias ? randn([d]) : null;
          const eps = d === 1 ? 1e-3 : 1e-5;
          const want = F.layerNorm(x.cpu.add(1), [d], w, b, eps);
          const got = F.layerNorm(x.gpu.add(1), [d], w && gpu(w), b && gpu(b), eps);
          await assertClose(got, want, 1e-4, 1e-5, `layerNorm [${shape}] ${layout.name} weight ${weight} bias ${bias}`);
        }
      }
    }
  });

  it('gives the CPU gradients of x, weight and bias, many rows included', async () => {
    const cases: [number[], Layout][] = [
      [[4, 7], contiguous],
      [[3, 5, 13], transposed],
      [[6, 127], stepTwo],
      [[1000, 96], contiguous],
      [[300, 300], transposed],
    ];
    for (const [shape, layout] of cases) {
      const d = shape[shape.length - 1]!;
      for (const { weight, bias } of affine) {
        const x = inputs(shape, layout, { grad: true });
        const w = weight ? randn([d]).requiresGrad_() : null;
        const b = bias ? randn([d]).requiresGrad_() : null;
        const wg = w && gpu(w);
        const bg = b && gpu(b);
        backwardWithRandom(F.layerNorm(x.cpu, [d], w, b), F.layerNorm(x.gpu, [d], wg, bg));
        const what = `layerNorm [${shape}] ${layout.name} weight ${weight} bias ${bias}`;
        await assertClose(x.baseGpu.grad!, x.base.grad!, 1e-4, 1e-4, `${what}: x.grad`);
        if (w) await assertClose(wg!.grad!, w.grad!, 1e-4, 1e-4, `${what}: weight.grad`);
        if (b) await assertClose(bg!.grad!, b.grad!, 1e-4, 1e-4, `${what}: bias.grad`);
      }
    }
  });

  it('runs mox.nn.LayerNorm on the GPU, forward and backward, like the CPU module', async () => {
    const state = { weight: randn([13]), bias: randn([13]) };
    const onCpu = new mox.nn.LayerNorm(13);
    onCpu.loadStateDict(state);
    const onGpu = new mox.nn.LayerNorm(13);
    onGpu.loadStateDict(state);
    onGpu.to('webgpu');
    const x = inputs([2, 7, 13], contiguous, { grad: true });
    const yCpu = onCpu.forward(x.cpu);
    const yGpu = onGpu.forward(x.gpu);
    await assertClose(yGpu, yCpu, 1e-4, 1e-5, 'LayerNorm forward');
    backwardWithRandom(yCpu, yGpu);
    await assertClose(x.baseGpu.grad!, x.base.grad!, 1e-4, 1e-4, 'LayerNorm x.grad');
    await assertClose(onGpu.weight!.grad!, onCpu.weight!.grad!, 1e-4, 1e-4, 'LayerNorm weight.grad');
    await assertClose(onGpu.bias!.grad!, onCpu.bias!.grad!, 1e-4, 1e-4, 'LayerNorm bias.grad');
  });

  it('kernels match the reference backend directly, chunked column sums and more than 65535 rows included', async () => {
    // [1000,96]: 4 chunks of rows; [600,300]: 256 threads per row; [70000,3]: a split grid and 274
    // chunks (slow on a software GPU, so with weight and bias only).
    const cases: [number[], typeof affine][] = [
      [[1000, 96], affine],
      [[600, 300], affine],
      [[7, 13], affine],
      [[70000, 3], [affine[0]!]],
    ];
    for (const [shape, combos] of cases) {
      const [rows, d] = shape as [number, number];
      for (const { weight, bias } of combos) {
        const x = randn(shape);
        const g = randn(shape);
        const w = weight ? randn([d]) : null;
        const b = bias ? randn([d]) : null;
        const what = `[${shape}] weight ${weight} bias ${bias}`;
        const want = refRows.layerNorm(x.view_(), w?.view_() ?? null, b?.view_() ?? null, 1e-5);
        const [xg, gg, wg, bg] = [gpu(x), gpu(g), w && gpu(w), b && gpu(b)];
        const got = gpuLayerNorm.forward(backend, xg.view_(), wg?.view_() ?? null, bg?.view_() ?? null, 1e-5);
        assertArraysClose(await readBack(got.y, shape), want.y as Float32Array, 1e-4, 1e-5, `layerNorm y ${what}`);
        const meanGpu = viewOf(got.mean, [rows]);
        const rstdGpu = viewOf(got.rstd, [rows]);
        assertArraysClose(await backend.readAsync(meanGpu), want.mean as Float32Array, 1e-4, 1e-5, `layerNorm mean ${what}`);
        assertArraysClose(await backend.readAsync(rstdGpu), want.rstd as Float32Array, 1e-4, 1e-5, `layerNorm rstd ${what}`);

        // The backward gets the reference's statistics on both devices: rows of 3 values can be nearly
        // constant, where float32 statistics would differ enough to hide what the backward itself does.
        const meanCpu = mox.tensor(want.mean as Float32Array);
        const rstdCpu = mox.tensor(want.rstd as Float32Array);
        const [meanStat, rstdStat] = [gpu(meanCpu), gpu(rstdCpu)];
        const wantBack = refRows.layerNormBackward(g.view_(), x.view_(), meanCpu.view_(), rstdCpu.view_(), w?.view_() ?? null, bias);
        const gotBack = gpuLayerNorm.backward(
          backend,
          gg.view_(),
          xg.view_(),
          meanStat.view_(),
          rstdStat.view_(),
          wg?.view_() ?? null,
          bias,
        );
        assertArraysClose(await readBack(gotBack.dx, shape), wantBack.dx as Float32Array, 1e-4, 1e-4, `layerNormBackward dx ${what}`);
        assert.equal(gotBack.dweight === null, !weight, `dweight present iff weight ${what}`);
        assert.equal(gotBack.dbias === null, !bias, `dbias present iff withBias ${what}`);
        // column sums over up to 70000 rows: float32 partials lose a few more digits than one row
        if (gotBack.dweight)
          assertArraysClose(
            await readBack(gotBack.dweight, [d]),
            wantBack.dweight as Float32Array,
            1e-4,
            1e-3,
            `layerNormBackward dweight ${what}`,
          );
        if (gotBack.dbias)
          assertArraysClose(
            await readBack(gotBack.dbias, [d]),
            wantBack.dbias as Float32Array,
            1e-4,
            1e-3,
            `layerNormBackward dbias ${what}`,
          );
        backend.free(got.mean);
        backend.free(got.rstd);
      }
    }
  });
});

describe('webgpu crossEntropy', () => {
  /** Logits [n, c] (in a layout) and int32 targets with every third row set to ignoreIndex. */
  function problem(n: number, c: number, layout: Layout, ignoreIndex: number) {
    const x = inputs([n, c], layout, { scale: 3, grad: true });
    const t = mox.randint(0, c, [n], { generator: gen });
    const ids = Array.from(t.dataSync(), (v, i) => (i % 3 === 1 ? ignoreIndex : v));
    const target = mox.tensor(ids, { dtype: 'int32' });
    return { x, target, targetGpu: gpu(target) };
  }

  it('matches the CPU loss and gradient through the public API for each reduction, with ignored rows and label smoothing', async () => {
    for (const [n, c] of [
      [1, 7],
      [13, 7],
      [7, 127],
      [5, 1000],
    ] as [number, number][]) {
      for (const layout of LAYOUTS) {
        for (const reduction of ['mean', 'sum', 'none'] as const) {
          for (const labelSmoothing of [0, 0.1]) {
            const ignoreIndex = -100;
            const { x, target, targetGpu } = problem(n, c, layout, ignoreIndex);
            const opts = { ignoreIndex, labelSmoothing, reduction };
            const what = `crossEntropy [${n},${c}] ${layout.name} ${reduction} smoothing ${labelSmoothing}`;
            const want = F.crossEntropy(x.cpu, target, opts);
            const got = F.crossEntropy(x.gpu, targetGpu, opts);
            await assertClose(got, want, 1e-5, 1e-5, what);
            backwardWithRandom(want, got);
            await assertClose(x.baseGpu.grad!, x.base.grad!, 1e-4, 1e-5, `${what}: grad`);
          }
        }
      }
    }
  });

  it('kernels match the reference backend directly, with ignored rows, smoothing and a shared (stride-0) upstream gradient', async () => {
    for (const [n, c] of [
      [1, 7],
      [13, 7],
      [7, 127],
      [5, 1000],
    ] as [number, number][]) {
      for (const layout of LAYOUTS) {
        for (const labelSmoothing of [0, 0.1]) {
          const ignoreIndex = 2;
          const { x, target, targetGpu } = problem(n, c, layout, ignoreIndex);
          const what = `[${n},${c}] ${layout.name} smoothing ${labelSmoothing}`;
          const want = refRows.crossEntropy(x.cpu.view_(), target.view_(), ignoreIndex, labelSmoothing);
          const got = gpuCrossEntropy.forward(backend, x.gpu.view_(), targetGpu.view_(), ignoreIndex, labelSmoothing);
          assertArraysClose(await readBack(got.loss, [n]), want.loss as Float32Array, 1e-5, 1e-5, `crossEntropy loss ${what}`);
          const lseGpu = viewOf(got.lse, [n]);
          assertArraysClose(await backend.readAsync(lseGpu), want.lse as Float32Array, 1e-5, 1e-5, `crossEntropy lse ${what}`);
          const lseCpu = viewOf(want.lse, [n]);

          const perRow = randn([n]);
          const shared = mox.tensor([0.37]).expand([n]);
          for (const [name, gout] of [
            ['per-row', perRow],
            ['stride-0', shared],
          ] as const) {
            const wantDx = refRows.crossEntropyBackward(gout.view_(), x.cpu.view_(), target.view_(), lseCpu, ignoreIndex, labelSmoothing);
            const goutGpu = name === 'stride-0' ? gpu(mox.tensor([0.37])).expand([n]) : gpu(gout);
            const gotDx = gpuCrossEntropy.backward(
              backend,
              goutGpu.view_(),
              x.gpu.view_(),
              targetGpu.view_(),
              lseGpu,
              ignoreIndex,
              labelSmoothing,
            );
            assertArraysClose(await readBack(gotDx, [n, c]), wantDx as Float32Array, 1e-5, 1e-6, `crossEntropyBackward ${name} ${what}`);
          }
          backend.free(got.lse);
        }
      }
    }
  });
});

describe('webgpu Adam and AdamW', () => {
  it('the optimizers step through the fused adamStep kernel', () => {
    let calls = 0;
    const fused = fusedKernel('webgpu', 'adamStep')!;
    registerFusedKernel('webgpu', 'adamStep', {
      forward: (...args) => {
        calls++;
        fused.forward(...args);
      },
    });
    try {
      const w = gpu(randn([5]).requiresGrad_());
      const opt = new mox.optim.Adam([w]);
      w.grad = gpu(randn([5]));
      opt.step();
    } finally {
      registerFusedKernel('webgpu', 'adamStep', fused);
    }
    assert.equal(calls, 1);
  });

  const configs = [
    { name: 'Adam', make: mox.optim.Adam, opts: { lr: 0.01 } },
    { name: 'Adam weight decay amsgrad', make: mox.optim.Adam, opts: { lr: 0.01, weightDecay: 0.1, amsgrad: true } },
    {
      name: 'Adam maximize',
      make: mox.optim.Adam,
      opts: { lr: 0.02, betas: [0.8, 0.99] as [number, number], weightDecay: 0.05, maximize: true },
    },
    { name: 'AdamW', make: mox.optim.AdamW, opts: { lr: 0.01, weightDecay: 0.1 } },
    {
      name: 'AdamW amsgrad maximize',
      make: mox.optim.AdamW,
      opts: { lr: 0.01, weightDecay: 0.02, amsgrad: true, maximize: true, eps: 1e-6 },
    },
  ];

  it('match the CPU over 3 steps for each configuration, odd sizes included', async () => {
    for (const shape of [[1], [13, 7], [127]]) {
      for (const { name, make, opts } of configs) {
        const w = randn(shape).requiresGrad_();
        const wGpu = gpu(w);
        const optCpu = new make([w], opts);
        const optGpu = new make([wGpu], opts);
        for (let step = 0; step < 3; step++) {
          // steps 2 and 3 see gradients of a different scale, so amsgrad's running max matters
          const g = randn(shape, step === 1 ? 0.1 : 1);
          w.grad = g;
          wGpu.grad = gpu(g);
          optCpu.step();
          optGpu.step();
          await assertClose(wGpu, w, 1e-5, 1e-6, `${name} [${shape}] step ${step + 1}`);
        }
      }
    }
  });
});
