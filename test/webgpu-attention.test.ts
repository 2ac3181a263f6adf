// The fused WebGPU attention (kernels/attention.ts behind scaledDotProductAttention) against the
// composed matmul/softmax form: on the CPU for outputs and the gradients of q, k and v, causal or not,
// odd and unequal lengths, batch axes that broadcast or cannot be merged (the GPT block's transposed
// heads), a whole TransformerBlock; on the GPU itself with the fused kernels switched off; and its
// attention dropout, rebuilt exactly on the CPU from the mask the kernels' hash gives.
//
// Tolerances: the CPU computes in float64 and rounds once; the GPU sums in float32 in another order,
// a few ulps apart per score, more after the exponentials of rows with large scores.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import {
  attentionDropoutMask,
  causalMask,
  enableFusedAttention,
  fusedAttentionEnabled,
  type AttentionOptions,
} from '../src/ops/attention.js';
import { DeviceError } from '../src/errors.js';
import { assertClose, gpu, openGpu } from '../test-support/webgpu.js';
import { fusedKernel, registerFusedKernel, unregisterFusedKernel } from '../src/backend/fused.js';

const backend = await openGpu();
// The CPU is the composed reference here: its own fused kernel (tested in fast-attention.test.ts) is
// switched off for this file, which runs in a process of its own.
unregisterFusedKernel('cpu', 'attention');
const F = mox.nn.functional;
const gen = new mox.Generator(2024);
const randn = (shape: number[], scale = 1): Tensor => mox.randn(shape, { generator: gen }).mul(scale);

// Counts the calls that reach the fused kernels, to tell the fused path from the composed one.
const calls = { forward: 0, backward: 0 };
const gpuAttention = fusedKernel('webgpu', 'attention')!;
registerFusedKernel('webgpu', 'attention', {
  ...gpuAttention,
  forward: (...args) => {
    calls.forward++;
    return gpuAttention.forward(...args);
  },
  backward: (...args) => {
    calls.backward++;
    return gpuAttention.backward(...args);
  },
});

/** Runs fn and returns how many fused forward and backward calls it made. */
async function counted(fn: () => Promise<void> | void): Promise<{ forward: number; backward: number }> {
  const before = { ...calls };
  await fn();
  return { forward: calls.forward - before.forward, backward: calls.backward - before.backward };
}

/** Leaves on the CPU needing grad, and their GPU copies (leaves too). */
function leaves(...shapes: number[][]): { cpu: Tensor[]; gpu: Tensor[] } {
  const cpu = shapes.map((s) => randn(s).requiresGrad_());
  return { cpu, gpu: cpu.map(gpu) };
}

/** Backpropagates sum(y * g) for one random g on both devices. */
function backwardWithRandom(yCpu: Tensor, yGpu: Tensor): void {
  const g = randn([...yCpu.shape]);
  yCpu.mul(g).sum().backward();
  yGpu.mul(gpu(g)).sum().backward();
}

interface Case {
  q: number[];
  k: number[];
  v: number[];
  causal: boolean;
  scale?: number;
}

/** Output and gradients of q, k, v of one case on the GPU (fused) against the CPU (composed). */
async function checkAgainstCpu(c: Case): Promise<void> {
  const what = `q [${c.q}] k [${c.k}] v [${c.v}]${c.causal ? ' causal' : ''}`;
  const x = leaves(c.q, c.k, c.v);
  const opts: AttentionOptions = { isCausal: c.causal, scale: c.scale };
  const want = F.scaledDotProductAttention(x.cpu[0]!, x.cpu[1]!, x.cpu[2]!, opts);
  const n = await counted(async () => {
    const got = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, opts);
    await assertClose(got, want, 1e-4, 1e-5, `${what}: output`);
    backwardWithRandom(want, got);
    for (const [i, name] of ['q', 'k', 'v'].entries()) {
      await assertClose(x.gpu[i]!.grad!, x.cpu[i]!.grad!, 1e-4, 2e-5, `${what}: gradient of ${name}`);
    }
  });
  assert.deepEqual(n, { forward: 1, backward: 1 }, `${what}: the fused kernels ran once each way`);
}

describe('webgpu fused attention against the CPU', () => {
  it('is on by default and takes float32 calls without a mask', () => {
    assert.equal(fusedAttentionEnabled(), true);
    assert.equal(gpuAttention.supports(backend, [2, 7, 64], [2, 9, 64], [2, 9, 64]), true);
  });

  it('matches for causal and non-causal attention with equal lengths, odd sizes and batch [2, 3]', async () => {
    const cases: Case[] = [
      { q: [1, 1, 16], k: [1, 1, 16], v: [1, 1, 16], causal: true },
      { q: [2, 3, 7, 8], k: [2, 3, 7, 8], v: [2, 3, 7, 8], causal: true },
      { q: [2, 3, 7, 8], k: [2, 3, 7, 8], v: [2, 3, 7, 8], causal: false },
      { q: [2, 65, 64], k: [2, 65, 64], v: [2, 65, 64], causal: true },
      { q: [2, 65, 64], k: [2, 65, 64], v: [2, 65, 64], causal: false },
      { q: [130, 13], k: [130, 13], v: [130, 24], causal: true },
      { q: [2, 3, 13, 16], k: [2, 3, 13, 16], v: [2, 3, 13, 5], causal: false },
    ];
    for (const c of cases) await checkAgainstCpu(c);
  });

  it('matches with Lq != Lk, causal (upper-left aligned) or not, and a given scale', async () => {
    const cases: Case[] = [
      { q: [2, 3, 13, 16], k: [2, 3, 7, 16], v: [2, 3, 7, 5], causal: false },
      { q: [2, 3, 5, 8], k: [2, 3, 130, 8], v: [2, 3, 130, 16], causal: false },
      { q: [2, 13, 8], k: [2, 7, 8], v: [2, 7, 8], causal: true },
      { q: [2, 7, 8], k: [2, 65, 8], v: [2, 65, 8], causal: true },
      { q: [3, 7, 16], k: [3, 13, 16], v: [3, 13, 16], causal: false, scale: 0.3 },
    ];
    for (const c of cases) await checkAgainstCpu(c);
  });

  it('matches a sequence of 256 with head size 64 (the nanoGPT shape, batch cut down)', async () => {
    await checkAgainstCpu({ q: [1, 2, 256, 64], k: [1, 2, 256, 64], v: [1, 2, 256, 64], causal: true });
  });

  it('broadcasts batch axes (stride 0) and sums their gradients back to the input shapes', async () => {
    await checkAgainstCpu({ q: [2, 3, 7, 8], k: [3, 9, 8], v: [1, 3, 9, 8], causal: false });
    await checkAgainstCpu({ q: [7, 8], k: [2, 3, 7, 8], v: [2, 1, 7, 8], causal: true });
  });

  it('reads the GPT block layout in place: heads transposed out of a split [B, T, 3C] (batch axes that do not merge)', async () => {
    const [b, t, h, hd] = [2, 13, 3, 8];
    const c = h * hd;
    const base = randn([b, t, 3 * c]).requiresGrad_();
    const baseGpu = gpu(base);
    const heads = (x: Tensor): Tensor[] => x.split(c, 2).map((z) => z.reshape([b, t, h, hd]).transpose(1, 2));
    const run = (x: Tensor): Tensor => {
      const [q, k, v] = heads(x) as [Tensor, Tensor, Tensor];
      assert.equal(q.isContiguous(), false);
      return F.scaledDotProductAttention(q, k, v, { isCausal: true });
    };
    const want = run(base);
    const n = await counted(async () => {
      const got = run(baseGpu);
      await assertClose(got, want, 1e-4, 1e-5, 'GPT layout: output');
      backwardWithRandom(want, got);
      await assertClose(baseGpu.grad!, base.grad!, 1e-4, 2e-5, 'GPT layout: gradient of the packed q, k, v');
    });
    assert.deepEqual(n, { forward: 1, backward: 1 });
  });

  it('reads a key given transposed (column stride != 1) and an upstream gradient of stride 0', async () => {
    const x = leaves([2, 9, 8], [2, 8, 11], [2, 11, 5]);
    const run = (q: Tensor, kT: Tensor, v: Tensor): Tensor => F.scaledDotProductAttention(q, kT.transpose(1, 2), v, { isCausal: true });
    const want = run(x.cpu[0]!, x.cpu[1]!, x.cpu[2]!);
    const got = run(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!);
    await assertClose(got, want, 1e-4, 1e-5, 'transposed k: output');
    // sum().backward() hands the op an expanded scalar: every stride 0
    want.sum().backward();
    got.sum().backward();
    for (const [i, name] of ['q', 'kT', 'v'].entries()) {
      await assertClose(x.gpu[i]!.grad!, x.cpu[i]!.grad!, 1e-4, 2e-5, `transposed k: gradient of ${name}`);
    }
  });

  it('runs more workgroups than one grid dimension holds (65600 batch entries)', async () => {
    await checkAgainstCpu({ q: [65600, 1, 4], k: [65600, 2, 4], v: [65600, 2, 4], causal: false });
  });

  it('gives the gradient of only the inputs that need one', async () => {
    const q = randn([2, 7, 8]).requiresGrad_();
    const k = randn([2, 7, 8]);
    const v = randn([2, 7, 8]);
    const qg = gpu(q);
    backwardWithRandom(
      F.scaledDotProductAttention(q, k, v, { isCausal: true }),
      F.scaledDotProductAttention(qg, gpu(k), gpu(v), { isCausal: true }),
    );
    await assertClose(qg.grad!, q.grad!, 1e-4, 2e-5, 'gradient of q alone');
  });

  it('a causal TransformerBlock: forward and the gradients of every parameter and the input', async () => {
    const make = (): mox.nn.TransformerBlock => {
      mox.seed(11);
      return new mox.nn.TransformerBlock(24, 3);
    };
    const cpuBlock = make();
    const gpuBlock = make().to('webgpu');
    const x = randn([2, 13, 24]).requiresGrad_();
    const xg = gpu(x);
    const want = cpuBlock.forward(x);
    const n = await counted(async () => {
      const got = gpuBlock.forward(xg);
      await assertClose(got, want, 1e-4, 1e-5, 'block output');
      backwardWithRandom(want, got);
    });
    assert.deepEqual(n, { forward: 1, backward: 1 });
    await assertClose(xg.grad!, x.grad!, 1e-4, 1e-4, 'block: gradient of the input');
    const gpuParams = new Map(gpuBlock.namedParameters());
    for (const [name, p] of cpuBlock.namedParameters()) {
      await assertClose(gpuParams.get(name)!.grad!, p.grad!, 1e-3, 1e-4, `block: gradient of ${name}`);
    }
  });
});

describe('webgpu fused attention against the composed form on the GPU', () => {
  /** Output and gradients with the fused kernels on and then off, on the same GPU inputs. */
  async function fusedVsComposed(shapes: number[][], opts: AttentionOptions): Promise<void> {
    const x = leaves(...shapes);
    const g = gpu(randn([...shapes[0]!.slice(0, -1), shapes[2]![shapes[2]!.length - 1]!]));
    const run = (): Tensor[] => {
      for (const t of x.gpu) t.grad = null;
      const y = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, opts);
      y.mul(g).sum().backward();
      return [y, ...x.gpu.map((t) => t.grad!)];
    };
    const fused = run();
    enableFusedAttention(false);
    try {
      const n = await counted(async () => {
        const composed = run();
        for (const [i, name] of ['output', 'dq', 'dk', 'dv'].entries()) {
          await assertClose(fused[i]!, await composed[i]!.toAsync('cpu'), 1e-4, 2e-5, `fused vs composed on the GPU: ${name}`);
        }
      });
      assert.deepEqual(n, { forward: 0, backward: 0 }, 'switched off, no call reaches the fused kernels');
    } finally {
      enableFusedAttention(true);
    }
  }

  it('agree, causal and not, through the escape hatch', async () => {
    await fusedVsComposed(
      [
        [2, 3, 33, 16],
        [2, 3, 33, 16],
        [2, 3, 33, 16],
      ],
      { isCausal: true },
    );
    await fusedVsComposed(
      [
        [2, 5, 8],
        [2, 40, 8],
        [2, 40, 12],
      ],
      {},
    );
  });

  it('keeps the composed path for an explicit mask, boolean or additive', async () => {
    const x = leaves([2, 7, 8], [2, 7, 8], [2, 7, 8]);
    const boolMask = causalMask(x.cpu[0]!, 7, 7);
    const floatMask = randn([7, 7]);
    for (const mask of [boolMask, floatMask]) {
      const want = F.scaledDotProductAttention(x.cpu[0]!, x.cpu[1]!, x.cpu[2]!, { attnMask: mask });
      const n = await counted(async () => {
        const got = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, { attnMask: gpu(mask) });
        await assertClose(got, want, 1e-4, 1e-5, `${mask.dtype} mask`);
      });
      assert.deepEqual(n, { forward: 0, backward: 0 }, `${mask.dtype} mask: composed`);
    }
  });

  it('keeps the composed path (and the CPU result) for head sizes the kernels do not take', async () => {
    assert.equal(gpuAttention.supports(backend, [1, 3, 300], [1, 3, 300], [1, 3, 300]), false);
    const x = leaves([1, 3, 300], [1, 3, 300], [1, 3, 4]);
    const want = F.scaledDotProductAttention(x.cpu[0]!, x.cpu[1]!, x.cpu[2]!, { isCausal: true });
    const n = await counted(async () => {
      await assertClose(
        F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, { isCausal: true }),
        want,
        1e-4,
        1e-5,
        'head size 300',
      );
    });
    assert.deepEqual(n, { forward: 0, backward: 0 });
    const v = x.gpu.map((t) => t.view_());
    assert.throws(
      () => gpuAttention.forward(backend, v[0]!, v[1]!, v[2]!, true, 1),
      (e: unknown) =>
        e instanceof DeviceError && /head sizes must lie in \[1, 256\]: q \[1,3,300\], k \[1,3,300\], v \[1,3,4\]/.test(e.message),
    );
  });
});

describe('webgpu fused attention dropout', () => {
  const shapes = [
    [2, 3, 13, 8],
    [2, 3, 13, 8],
    [2, 3, 13, 8],
  ];

  it('with p = 0, or outside training, is attention without dropout', async () => {
    const x = leaves(...shapes);
    const plain = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, { isCausal: true });
    const p0 = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, {
      isCausal: true,
      dropoutP: 0,
      generator: new mox.Generator(1),
    });
    const evaluating = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, { isCausal: true, dropoutP: 0.5, training: false });
    const want = await plain.toAsync('cpu');
    await assertClose(p0, want, 0, 0, 'p = 0');
    await assertClose(evaluating, want, 0, 0, 'training false');
  });

  it('is reproducible: the same generator seed gives the same output and gradients, another seed others', async () => {
    const x = leaves(...shapes);
    const g = gpu(randn([2, 3, 13, 8]));
    const run = async (seed: number): Promise<Float32Array[]> => {
      for (const t of x.gpu) t.grad = null;
      const y = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, {
        isCausal: true,
        dropoutP: 0.3,
        generator: new mox.Generator(seed),
      });
      y.mul(g).sum().backward();
      return Promise.all([y, ...x.gpu.map((t) => t.grad!)].map(async (t) => (await t.data()) as Float32Array));
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    a.forEach((arr, i) => assert.deepEqual(b[i], arr, `same seed, tensor ${i}`));
    assert.notDeepEqual(c[0], a[0], 'another seed drops other weights');
  });

  it('forward and backward equal the composed ops given the same mask (rebuilt on the CPU from the seed)', async () => {
    for (const { causal, p, q, k, v } of [
      { causal: true, p: 0.2, q: [2, 3, 40, 8], k: [2, 3, 40, 8], v: [2, 3, 40, 8] },
      { causal: false, p: 0.5, q: [3, 9, 16], k: [3, 33, 16], v: [3, 33, 5] },
    ]) {
      const x = leaves(q, k, v);
      const lead = q.slice(0, -2);
      const [lq, lk] = [q[q.length - 2]!, k[k.length - 2]!];
      // The op draws one uint32 from its generator for the kernels' hash.
      const seed = new mox.Generator(77).nextU32();
      const keep = attentionDropoutMask(seed, p, lead, lq, lk);
      const reference = (qc: Tensor, kc: Tensor, vc: Tensor): Tensor => {
        let scores = qc.matmul(kc.transpose(-2, -1)).mul(1 / Math.sqrt(q[q.length - 1]!));
        if (causal) scores = mox.where(causalMask(qc, lq, lk), scores, -Infinity);
        const weights = scores.softmax(-1);
        return mox.where(keep, weights.mul(1 / (1 - p)), 0).matmul(vc);
      };
      const want = reference(x.cpu[0]!, x.cpu[1]!, x.cpu[2]!);
      const got = F.scaledDotProductAttention(x.gpu[0]!, x.gpu[1]!, x.gpu[2]!, {
        isCausal: causal,
        dropoutP: p,
        generator: new mox.Generator(77),
      });
      const what = `dropout ${p}${causal ? ' causal' : ''}`;
      await assertClose(got, want, 1e-4, 1e-5, `${what}: output`);
      backwardWithRandom(want, got);
      for (const [i, name] of ['q', 'k', 'v'].entries()) {
        await assertClose(x.gpu[i]!.grad!, x.cpu[i]!.grad!, 1e-4, 2e-5, `${what}: gradient of ${name}`);
      }
    }
  });

  it('drops a fraction p of the weights, independently across batch entries, queries and keys', () => {
    const p = 0.2;
    const keep = attentionDropoutMask(12345, p, [4], 64, 64).dataSync() as Uint8Array;
    const kept = keep.reduce((a, b) => a + b, 0) / keep.length;
    // 16384 draws: the standard deviation of the kept fraction is 0.003
    assert.ok(Math.abs(kept - (1 - p)) < 0.015, `kept fraction ${kept}`);
    const row = (b: number, i: number): string => Array.from(keep.subarray((b * 64 + i) * 64, (b * 64 + i + 1) * 64)).join('');
    assert.notEqual(row(0, 0), row(0, 1), 'neighbouring queries');
    assert.notEqual(row(0, 0), row(1, 0), 'neighbouring batch entries');
    const other = attentionDropoutMask(12346, p, [4], 64, 64).dataSync();
    assert.notDeepEqual(other, keep, 'neighbouring seeds');
  });
});
