// The WGSL kernels of quantized weights (src/backend/webgpu/kernels/quant.ts) against the host arithmetic
// every device must reproduce (src/backend/quant-format.ts): quantMatmul for int8, dynamic-int8 and int4
// on odd shapes (K not a multiple of 16 or 32, N odd, M = 1 and M > 1, K = 768 and 3072), with and
// without bias and with rows of x spaced in memory; quantRows against dequantizeWeight; and small
// quantized GPTs (tied head) on webgpu against the same on the CPU.
//
// Tolerances: the integer sums of dynamic-int8 and int4 are exact and their activations are quantized to
// the same integers (the GPU's divisions are correctly rounded), so those outputs differ from the
// float64 reference only by float32 rounding in the epilogue and the sum over groups; int8 sums float
// products in float32. Both stay well under 1e-5 of the output's largest magnitude.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { View } from '../src/backend/backend.js';
import { fusedKernel } from '../src/backend/fused.js';
import {
  type PackedWeight,
  type QuantScheme,
  dequantizeWeight,
  quantMatmulReference,
  quantizeWeight,
} from '../src/backend/quant-format.js';
import { QuantizedWeight, quantizedEmbedding, quantizedLinear } from '../src/ops/quant.js';
import { GPT } from '../src/models/gpt.js';
import { DIV_RN, quantTuning } from '../src/backend/webgpu/kernels/quant.js';
import { ENTRY_ARGS, PRELUDE, Params, linearIndex } from '../src/backend/webgpu/engine.js';
import type { GpuBuffer } from '../src/backend/webgpu/kernels/common.js';
import { openGpu } from '../test-support/webgpu.js';

const backend = await openGpu();
const gen = new mox.Generator(2024);
const SCHEMES: QuantScheme[] = ['int8', 'dynamic-int8', 'int4'];

/** Random float32 values: normal, times `scale`. */
function randn(n: number, scale = 1): Float32Array {
  return Float32Array.from(mox.randn([n], { generator: gen }).dataSync(), (v) => v * scale);
}

/** Asserts every element of `actual` within rtol times the reference's largest magnitude. */
function assertNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  const tol = rtol * maxAbs + 1e-30;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(
    worst <= tol,
    `${what}: element ${at} is ${actual[at]} vs ${expected[at]} (off by ${worst.toExponential(2)}, allowed ${tol.toExponential(2)} = ${rtol} x max ${maxAbs.toExponential(3)})`,
  );
}

/** A random weight [N, K] quantized on the host, with rows of varied magnitude. */
function packedWeight(scheme: QuantScheme, N: number, K: number): PackedWeight {
  const w = randn(N * K, 0.05);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) w[n * K + k]! *= 1 + (n % 5);
  return quantizeWeight(scheme, w, N, K);
}

/** The reference product on the host, in float64. */
function reference(x: Float32Array, M: number, p: PackedWeight, bias: Float32Array | null): Float64Array {
  const out = new Float64Array(M * p.layout.rows);
  quantMatmulReference(x, M, p, bias, out);
  return out;
}

interface Case {
  M: number;
  N: number;
  K: number;
  bias: boolean;
}

// K: odd (37), past one int4 group but not a multiple of 16 (50), GPT-2's 768 and 3072; N odd; M = 1
// (decoding), a few (3) and more than the kernel's 8 rows of x per workgroup (11).
const CASES: Case[] = [
  { M: 1, N: 7, K: 37, bias: true },
  { M: 3, N: 33, K: 50, bias: false },
  { M: 11, N: 65, K: 768, bias: true },
  { M: 1, N: 257, K: 768, bias: false },
  { M: 1, N: 129, K: 3072, bias: true },
  { M: 5, N: 31, K: 3072, bias: false },
];

describe("webgpu div_rn (the quantizers' division)", () => {
  it('is correctly rounded, as float32 division on the host', async () => {
    // the scales the quantizers divide (a range or a block's max by 127) and their inverses (1 / s),
    // over many magnitudes, plus quotients near the ends of the float32 range
    const n = 4096;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    const r = randn(2 * n);
    for (let i = 0; i < n; i++) {
      const mag = Math.fround(Math.abs(r[i]!) * 2 ** ((i % 61) - 30) + 1e-30);
      const kind = i % 4;
      a[i] = kind === 1 ? 1 : kind === 3 ? Math.fround(r[n + i]! * 3e37) : mag;
      b[i] =
        kind === 0
          ? 127
          : kind === 1
            ? mag
            : kind === 2
              ? Math.fround(r[n + i]! * 1e-3 + 1e-7)
              : Math.fround(1e-3 + Math.abs(r[n + i]!) * 1e-3);
    }
    const up = (v: Float32Array): GpuBuffer => backend.fromArray(v) as GpuBuffer;
    const [ab, bb] = [up(a), up(b)];
    const out = backend.alloc('float32', n) as GpuBuffer;
    const code = `${PRELUDE}${DIV_RN}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64) fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(64)};
  if (i >= pu(0u)) { return; }
  Y[i] = div_rn(A[i], B[i]);
}`;
    backend.engine.dispatch(code, [ab.buffer, bb.buffer, out.buffer], new Params().u(n), Math.ceil(n / 64));
    const got = (await backend.readAsync({ buf: out, dtype: 'float32', shape: [n], strides: [1], offset: 0 })) as Float32Array;
    for (const t of [ab, bb, out]) backend.free(t);
    for (let i = 0; i < n; i++) {
      const want = Math.fround(a[i]! / b[i]!);
      // a quotient below the normal range goes to the hardware's division, which may flush it to zero
      if (Math.abs(want) < 2 ** -126) continue;
      assert.equal(got[i], want, `${a[i]} / ${b[i]}`);
    }
  });
});

describe('webgpu quantMatmul against quantMatmulReference', () => {
  for (const scheme of SCHEMES) {
    for (const { M, N, K, bias } of CASES) {
      it(`${scheme}: [${M}, ${K}] x [${N}, ${K}]^T${bias ? ' + bias' : ''}`, async () => {
        const p = packedWeight(scheme, N, K);
        const x = randn(M * K);
        // a row of zeros (dynamic-int8's range 0, int4's empty blocks) and one with no negative value
        if (M > 2) {
          x.fill(0, 0, K);
          for (let k = 0; k < K; k++) x[K + k] = Math.abs(x[K + k]!);
        }
        const b = bias ? randn(N) : null;
        const w = QuantizedWeight.fromPacked(p, 'webgpu');
        const xt = mox.tensor(x, { shape: [M, K], device: 'webgpu' });
        const bt = b ? mox.tensor(b, { shape: [N], device: 'webgpu' }) : null;
        const y = mox.noGrad(() => quantizedLinear(xt, w, bt));
        assert.deepEqual([...y.shape], [M, N]);
        assertNear(await y.data(), reference(x, M, p, b), 1e-5, `${scheme} [${M}, ${N}, ${K}]`);
        w.dispose();
      });
    }
  }

  it('takes x with spaced rows and a bias at an offset (the kernel contract), for each scheme', async () => {
    const [M, N, K] = [4, 19, 70];
    const wide = randn(M * 2 * K);
    const x = new Float32Array(M * K);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) x[m * K + k] = wide[m * 2 * K + 5 + k]!;
    const b = randn(N + 3);
    const base = mox.tensor(wide, { shape: [M, 2 * K], device: 'webgpu' });
    const bb = mox.tensor(b, { shape: [N + 3], device: 'webgpu' });
    const xv: View = { ...base.view_(), shape: [M, K], strides: [2 * K, 1], offset: 5 };
    const bv: View = { ...bb.view_(), shape: [N], strides: [1], offset: 3 };
    const kernel = fusedKernel('webgpu', 'quantMatmul')!;
    for (const scheme of SCHEMES) {
      const p = packedWeight(scheme, N, K);
      const w = QuantizedWeight.fromPacked(p, 'webgpu');
      const out = kernel.forward(backend, xv, w.views(), bv);
      const y = (await backend.readAsync({ buf: out, dtype: 'float32', shape: [M, N], strides: [N, 1], offset: 0 })) as Float32Array;
      backend.free(out);
      assertNear(y, reference(x, M, p, b.subarray(3)), 1e-5, `${scheme} with spaced rows`);
      w.dispose();
    }
  });

  it('spreads a grid past 65535 workgroups over two dimensions (one weight row per workgroup)', async () => {
    // the grid's head is one template for every scheme; one scheme keeps the 70001 workgroups cheap
    const [M, N, K] = [2, 70001, 9];
    quantTuning.rowsPerGroup.int8 = 1;
    try {
      const p = packedWeight('int8', N, K);
      const x = randn(M * K);
      const w = QuantizedWeight.fromPacked(p, 'webgpu');
      const y = mox.noGrad(() => quantizedLinear(mox.tensor(x, { shape: [M, K], device: 'webgpu' }), w));
      assertNear(await y.data(), reference(x, M, p, null), 1e-5, `int8 [${M}, ${N}, ${K}]`);
      w.dispose();
    } finally {
      quantTuning.rowsPerGroup.int8 = 16;
    }
  });

  it('refuses an input of the wrong width or dtype', () => {
    const w = QuantizedWeight.fromPacked(packedWeight('int8', 5, 40), 'webgpu');
    const kernel = fusedKernel('webgpu', 'quantMatmul')!;
    const x = mox.zeros([2, 41], { device: 'webgpu' });
    assert.throws(() => kernel.forward(backend, x.view_(), w.views(), null), { name: 'ShapeError', message: /\[M, 40\].*\[2,41\]/ });
    const xi = mox.zeros([2, 40], { dtype: 'int32', device: 'webgpu' });
    assert.throws(() => kernel.forward(backend, xi.view_(), w.views(), null), { name: 'DTypeError', message: /float32/ });
    quantTuning.rowsPerGroup.int8 = 3;
    try {
      const ok = mox.zeros([2, 40], { device: 'webgpu' });
      assert.throws(() => kernel.forward(backend, ok.view_(), w.views(), null), { name: 'DeviceError', message: /power of two.*got 3/ });
    } finally {
      quantTuning.rowsPerGroup.int8 = 16;
    }
  });
});

describe('webgpu quantRows against dequantizeWeight', () => {
  for (const scheme of SCHEMES) {
    for (const [N, K] of [
      [9, 37],
      [65, 64],
      [300, 768],
    ] as const) {
      it(`${scheme}: rows of a [${N}, ${K}] table, repeated ids`, async () => {
        const p = packedWeight(scheme, N, K);
        const w = QuantizedWeight.fromPacked(p, 'webgpu');
        const ids = [0, N - 1, 3, 3, Math.floor(N / 2), 1];
        const t = mox.tensor(Int32Array.from(ids), { shape: [2, 3], dtype: 'int32', device: 'webgpu' });
        const y = quantizedEmbedding(t, w);
        assert.deepEqual([...y.shape], [2, 3, K]);
        // the same float32 products as the host: exact
        assert.deepEqual(Array.from(await y.data()), Array.from(dequantizeWeight(p, ids)));
        w.dispose();
      });
    }
  }

  it('gives rows of zeros for ids out of range, as the GPU embedding lookup does', async () => {
    const p = packedWeight('int4', 10, 40);
    const w = QuantizedWeight.fromPacked(p, 'webgpu');
    const y = quantizedEmbedding(mox.tensor(Int32Array.from([2, -1, 10, 9]), { dtype: 'int32', device: 'webgpu' }), w);
    const got = await y.data();
    const want = dequantizeWeight(p, [2, 0, 0, 9]);
    want.fill(0, 40, 120);
    assert.deepEqual(Array.from(got), Array.from(want));
  });
});

describe('a quantized GPT on webgpu', () => {
  const cfg = { vocabSize: 65, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 64, tiedEmbeddings: true };
  const ids = mox.tensor(
    Int32Array.from({ length: 2 * 24 }, (_, i) => (i * 17 + 5) % 65),
    { shape: [2, 24], dtype: 'int32' },
  );
  // int8 keeps the activations in float: only float rounding separates the devices (~2e-7 of the
  // largest logit, measured). int4 and dynamic-int8 quantize activations that the two devices compute
  // with float32 differences of ~1e-7 upstream (layer norm, attention, GELU), and now and then one lands
  // on the other side of a rounding boundary of the quantizer: both results are then right, a step of
  // one activation apart. Measured on lavapipe over 16 weight seeds: 14 within 2e-5 of the largest
  // logit, two at 4.7e-3 and 6.2e-3 (one such step each). The kernels themselves are held to 1e-5
  // above, on the same activations; here a wrong kernel would be off by the order of the logits.
  const TOL: Record<QuantScheme, number> = { int8: 1e-4, 'dynamic-int8': 1e-2, int4: 1e-2 };
  for (const scheme of SCHEMES) {
    it(`${scheme}: logits match the CPU's (tied head, Module.to)`, async () => {
      const build = (): GPT => {
        const m = new GPT({ ...cfg, generator: new mox.Generator(7) });
        m.eval();
        return mox.quantize(m, { scheme });
      };
      const cpu = build();
      const dev = build().to('webgpu');
      const want = mox.noGrad(() => cpu.forward(ids).logits);
      const got = mox.noGrad(() => dev.forward(ids.to('webgpu')).logits);
      assert.equal(got.device, 'webgpu');
      assertNear(await got.data(), want.dataSync(), TOL[scheme], `${scheme} GPT logits`);
      if (scheme === 'int8') {
        // decoding with the KV cache (M = 1 per step); greedy, so the tokens must agree (int4 and
        // dynamic-int8 could pick another token where a quantizer step meets a near-tie)
        const prompt = [[1, 2, 3]];
        const opts = { maxNewTokens: 8, temperature: 0 };
        const res = await mox.models.generateAsync(dev, prompt, opts);
        assert.equal(res.ids.device, 'webgpu');
        assert.deepEqual(res.newTokens, mox.models.generate(cpu, prompt, opts).newTokens);
      }
      // and back: the packed weight survives the round trip to the GPU byte for byte
      const back = await dev.toAsync('cpu');
      const again = mox.noGrad(() => back.forward(ids).logits);
      assert.deepEqual(Array.from(again.dataSync()), Array.from(want.dataSync()));
    });
  }
});
