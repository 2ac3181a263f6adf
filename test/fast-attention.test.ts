// The CPU's fused attention (assembly/attention.ts behind scaledDotProductAttention) against the
// composed matmul/softmax form on the same CPU (mox.enableFusedAttention(false)): outputs and the
// gradients of q, k and v, causal or not, odd and unequal lengths, several query blocks, batch axes
// that cannot be merged (a GPT block's transposed heads) or that broadcast, one and two threads; its
// attention dropout against the composed ops given the mask the hash defines; and its typed errors.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { attentionDropoutMask, causalMask, enableFusedAttention, type AttentionOptions } from '../src/ops/attention.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { fusedKernel, registerFusedKernel } from '../src/backend/fused.js';
import { DTypeError, ShapeError } from '../src/errors.js';
import { assertClose } from '../test-support/assert.js';

const F = mox.nn.functional;
const fast = cpuBackend.info().kernels !== 'typescript';
const gen = new mox.Generator(2026);
const randn = (shape: number[]): Tensor => mox.randn(shape, { generator: gen });

const calls = { forward: 0, backward: 0 };
const cpuAttention = fusedKernel('cpu', 'attention')!;
if (fast) {
  // the registered kernel, wrapped to count the calls that reach it
  registerFusedKernel('cpu', 'attention', {
    ...cpuAttention,
    forward: (...args) => {
      calls.forward++;
      return cpuAttention.forward(...args);
    },
    backward: (...args) => {
      calls.backward++;
      return cpuAttention.backward(...args);
    },
  });
}

const close = (actual: Tensor, expected: Tensor, rtol: number, atol: number, what: string): void =>
  assertClose(actual, expected, { rtol, atol, msg: what });

/** Output and input gradients of attention over (q, k, v) made by `inputs`, for one upstream gradient. */
function run(inputs: () => Tensor[], leaves: Tensor[], g: Tensor, opts: AttentionOptions): Tensor[] {
  for (const t of leaves) t.grad = null;
  const [q, k, v] = inputs();
  const y = F.scaledDotProductAttention(q!, k!, v!, opts);
  y.mul(g).sum().backward();
  return [y.detach(), ...leaves.map((t) => t.grad!)];
}

/** Fused (one kernel call each way) against composed, on the same leaves. */
function fusedVsComposed(what: string, leaves: Tensor[], inputs: () => Tensor[], opts: AttentionOptions, outShape: number[]): void {
  const g = randn(outShape);
  const before = { ...calls };
  const fused = run(inputs, leaves, g, opts);
  assert.deepEqual(
    { forward: calls.forward - before.forward, backward: calls.backward - before.backward },
    { forward: 1, backward: 1 },
    `${what}: the fused kernels ran once each way`,
  );
  enableFusedAttention(false);
  let composed: Tensor[];
  try {
    composed = run(inputs, leaves, g, opts);
  } finally {
    enableFusedAttention(true);
  }
  const names = ['output', ...(leaves.length === 3 ? ['dq', 'dk', 'dv'] : leaves.map((_, i) => `gradient of leaf ${i}`))];
  for (const [i, name] of names.entries()) close(fused[i]!, composed[i]!, 1e-4, 2e-5, `${what}: ${name}`);
}

for (const threads of [1, 2]) {
  describe(`cpu fused attention vs composed (${threads} thread${threads > 1 ? 's' : ''})`, {
    skip: !fast && 'WASM kernels unavailable',
  }, () => {
    const saved = mox.getNumThreads();
    mox.setNumThreads(threads);
    after(() => mox.setNumThreads(saved));

    it('matches causal and non-causal, odd and unequal lengths, one and several query blocks', () =>
      mox.scope(() => {
        const cases: { q: number[]; k: number[]; v: number[]; causal: boolean; scale?: number }[] = [
          { q: [1, 1, 1], k: [1, 1, 1], v: [1, 1, 1], causal: true },
          { q: [2, 3, 7, 8], k: [2, 3, 7, 8], v: [2, 3, 7, 8], causal: true },
          { q: [2, 3, 7, 8], k: [2, 3, 9, 8], v: [2, 3, 9, 5], causal: false },
          { q: [4, 4, 70, 16], k: [4, 4, 70, 16], v: [4, 4, 70, 16], causal: true }, // 3 query blocks, split across threads
          { q: [130, 13], k: [130, 13], v: [130, 24], causal: false },
          { q: [3, 70, 8], k: [3, 40, 8], v: [3, 40, 8], causal: true }, // Lq > Lk: late rows see every key
          { q: [3, 20, 8], k: [3, 100, 8], v: [3, 100, 6], causal: true, scale: 0.3 }, // Lq < Lk, upper-left aligned
        ];
        for (const c of cases) {
          const leaves = [randn(c.q), randn(c.k), randn(c.v)].map((t) => t.requiresGrad_());
          fusedVsComposed(
            `q [${c.q}] k [${c.k}] v [${c.v}]${c.causal ? ' causal' : ''}`,
            leaves,
            () => leaves,
            { isCausal: c.causal, scale: c.scale },
            [...c.q.slice(0, -1), c.v[c.v.length - 1]!],
          );
        }
      }));

    it("takes a GPT block's transposed heads and broadcast keys without copies of its own", () =>
      mox.scope(() => {
        // qkv [B, T, 3C] split into heads [B, H, T, D]: the batch axes do not merge into one stride
        const [B, T, H, D] = [3, 37, 4, 8];
        const qkv = randn([B, T, 3 * H * D]).requiresGrad_();
        const heads = (i: number): Tensor =>
          qkv
            .slice(null, null, [i * H * D, (i + 1) * H * D])
            .reshape([B, T, H, D])
            .transpose(1, 2);
        fusedVsComposed('transposed heads', [qkv], () => [heads(0), heads(1), heads(2)], { isCausal: true }, [B, H, T, D]);
        // one k and v for every query batch (expanded with stride 0, gradients summed back)
        const q = randn([5, 11, 8]).requiresGrad_();
        const k = randn([11, 8]).requiresGrad_();
        const v = randn([1, 11, 4]).requiresGrad_();
        fusedVsComposed('broadcast k and v', [q, k, v], () => [q, k, v], {}, [5, 11, 4]);
      }));

    it('dropout equals the composed ops given the mask its hash defines, and is reproducible', () =>
      mox.scope(() => {
        for (const { causal, p, q, k, v } of [
          { causal: true, p: 0.2, q: [2, 3, 40, 8], k: [2, 3, 40, 8], v: [2, 3, 40, 8] },
          { causal: false, p: 0.5, q: [3, 9, 16], k: [3, 33, 16], v: [3, 33, 5] },
        ]) {
          const leaves = [randn(q), randn(k), randn(v)].map((t) => t.requiresGrad_());
          const [lq, lk] = [q[q.length - 2]!, k[k.length - 2]!];
          const keep = attentionDropoutMask(new mox.Generator(77).nextU32(), p, q.slice(0, -2), lq, lk);
          const reference = (qc: Tensor, kc: Tensor, vc: Tensor): Tensor => {
            let scores = qc.matmul(kc.transpose(-2, -1)).mul(1 / Math.sqrt(q[q.length - 1]!));
            if (causal) scores = mox.where(causalMask(qc, lq, lk), scores, -Infinity);
            return mox.where(keep, scores.softmax(-1).mul(1 / (1 - p)), 0).matmul(vc);
          };
          const g = randn([...q.slice(0, -1), v[v.length - 1]!]);
          const what = `dropout ${p}${causal ? ' causal' : ''}`;
          const fused = run(() => leaves, leaves, g, { isCausal: causal, dropoutP: p, generator: new mox.Generator(77) });
          for (const t of leaves) t.grad = null;
          const want = reference(leaves[0]!, leaves[1]!, leaves[2]!);
          want.mul(g).sum().backward();
          for (const [i, x] of [want, ...leaves.map((t) => t.grad!)].entries())
            close(fused[i]!, x.detach(), 1e-4, 2e-5, `${what}: tensor ${i}`);
          const again = run(() => leaves, leaves, g, { isCausal: causal, dropoutP: p, generator: new mox.Generator(77) });
          fused.forEach((t, i) => assert.deepEqual(again[i]!.dataSync(), t.dataSync(), `${what}: same seed, tensor ${i}`));
        }
      }));
  });
}

describe('cpu fused attention: errors and the escape hatch', { skip: !fast && 'WASM kernels unavailable' }, () => {
  it('raises typed errors naming the operation and the shapes', () =>
    mox.scope(() => {
      const v = (t: Tensor) => t.view_();
      assert.throws(
        () =>
          cpuAttention.forward(
            cpuBackend,
            v(mox.zeros([2, 3, 4], { dtype: 'float64' })),
            v(mox.zeros([2, 3, 4])),
            v(mox.zeros([2, 3, 4])),
            false,
            1,
          ),
        (e: unknown) => e instanceof DTypeError && /attention: q must be float32, got float64 \[2,3,4\]/.test(e.message),
      );
      assert.throws(
        () => cpuAttention.forward(cpuBackend, v(mox.zeros([2, 3, 4])), v(mox.zeros([2, 5, 4])), v(mox.zeros([2, 6, 4])), false, 1),
        (e: unknown) => e instanceof ShapeError && /attention: .*q \[2,3,4\], k \[2,5,4\], v \[2,6,4\]/.test(e.message),
      );
      assert.equal(cpuAttention.supports(cpuBackend, [2, 3, 4], [2, 0, 4], [2, 0, 4]), false, 'no keys: the composed path');
      const [q, k, vv] = [mox.zeros([2, 3, 4]), mox.zeros([2, 5, 4]), mox.zeros([2, 5, 6])].map(v);
      const { out, lse } = cpuAttention.forward(cpuBackend, q!, k!, vv!, false, 1);
      const o = { buf: out, dtype: 'float32' as const, shape: [2, 3, 6], strides: [18, 6, 1], offset: 0 };
      const l = { buf: lse, dtype: 'float32' as const, shape: [2, 3], strides: [3, 1], offset: 0 };
      assert.throws(
        () => cpuAttention.backward(cpuBackend, v(mox.zeros([2, 3, 5])), q!, k!, vv!, o, l, false, 1),
        (e: unknown) => e instanceof ShapeError && /attentionBackward: g \[2,3,5\] and out \[2,3,6\] must be \[2,3,6\]/.test(e.message),
      );
    }));

  it('switched off, no call reaches the kernels', () =>
    mox.scope(() => {
      const before = { ...calls };
      enableFusedAttention(false);
      try {
        F.scaledDotProductAttention(randn([2, 5, 4]), randn([2, 5, 4]), randn([2, 5, 4]), { isCausal: true });
      } finally {
        enableFusedAttention(true);
      }
      assert.deepEqual(calls, before);
    }));
});
