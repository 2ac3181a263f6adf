// The fused-kernel registry and its one dispatcher (backend/fused.ts, ops/fused.ts): an op runs the
// device's registered kernel where the call is eligible and the kernel supports it, the composed
// reference otherwise, and the two agree in value and gradient.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { fusedKernel, fusedKernelNames, registerFusedKernel, unregisterFusedKernel } from '../src/backend/fused.js';
import { dispatchFused } from '../src/ops/fused.js';
import { assertClose } from '../test-support/assert.js';

const F = mox.nn.functional;
const gen = new mox.Generator(12);
const layerNormKernel = fusedKernel('cpu', 'layerNorm')!;
const calls = { forward: 0, backward: 0 };

/** The CPU's layer norm kernel, wrapped to count the calls that reach it. */
function countingLayerNorm(): void {
  registerFusedKernel('cpu', 'layerNorm', {
    forward: (...args) => {
      calls.forward++;
      return layerNormKernel.forward(...args);
    },
    backward: (...args) => {
      calls.backward++;
      return layerNormKernel.backward(...args);
    },
  });
}

/** Layer norm's output and the gradients of x, weight and bias, for a fixed upstream gradient. */
function layerNormWithGrads(x: Tensor, w: Tensor, b: Tensor, g: Tensor): Float32Array[] {
  const [xl, wl, bl] = [x, w, b].map((t) => t.clone().requiresGrad_());
  const y = F.layerNorm(xl!, [x.shape[x.ndim - 1]!], wl, bl);
  y.mul(g).sum().backward();
  return [y, xl!.grad!, wl!.grad!, bl!.grad!].map((t) => t.dataSync() as Float32Array);
}

after(() => registerFusedKernel('cpu', 'layerNorm', layerNormKernel));

describe('fused kernels: registry and dispatch', () => {
  it('the CPU and its six fused kernels are registered', () => {
    assert.deepEqual(fusedKernelNames('cpu').sort(), ['adamStep', 'attention', 'crossEntropy', 'layerNorm', 'quantMatmul', 'quantRows']);
    assert.equal(fusedKernel('no-such-device', 'layerNorm'), null);
  });

  it('runs the registered kernel, and the composed reference once it is unregistered; the two agree', () =>
    mox.scope(() => {
      const x = mox.randn([6, 10], { generator: gen }).mul(2).add(1);
      const [w, b, g] = [mox.randn([10], { generator: gen }), mox.randn([10], { generator: gen }), mox.randn([6, 10], { generator: gen })];
      countingLayerNorm();
      const fused = layerNormWithGrads(x, w!, b!, g!);
      assert.deepEqual(calls, { forward: 1, backward: 1 }, 'the fused kernel ran once each way');

      unregisterFusedKernel('cpu', 'layerNorm');
      const reference = layerNormWithGrads(x, w!, b!, g!);
      assert.deepEqual(calls, { forward: 1, backward: 1 }, 'unregistered: the reference ran');
      ['y', 'dx', 'dweight', 'dbias'].forEach((name, i) => assertClose(fused[i]!, reference[i]!, { atol: 1e-4, rtol: 1e-4, msg: name }));
    }));

  it('takes the reference for calls that are not eligible, without asking the kernel', () =>
    mox.scope(() => {
      countingLayerNorm();
      const before = { ...calls };
      // over two trailing axes: the kernel normalises the last one only
      F.layerNorm(mox.randn([3, 4, 5], { generator: gen }), [4, 5]);
      assert.deepEqual(calls, before);
    }));

  it("asks the kernel's supports check and takes the reference where it says no", () => {
    const b = mox.getBackend('cpu');
    const seen: string[] = [];
    registerFusedKernel('test-device', 'attention', {
      supports: (_b, q) => q[0] === 1,
      forward: () => {
        throw new Error('not called');
      },
      backward: () => {
        throw new Error('not called');
      },
    });
    try {
      const run = (q: number[]): string =>
        dispatchFused('attention', {
          backend: { ...b, name: 'test-device' } as typeof b,
          eligible: true,
          supports: [q, q, q],
          fused: () => 'fused',
          reference: () => 'reference',
        });
      seen.push(run([1, 2, 3]), run([2, 2, 3]));
    } finally {
      unregisterFusedKernel('test-device', 'attention');
    }
    assert.deepEqual(seen, ['fused', 'reference']);
  });
});
