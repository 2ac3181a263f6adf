// The tape: backward on scalars and with explicit gradients, accumulation, retainGraph, detach,
// noGrad, retainGrad, shared inputs, deep graphs, broadcasting, requiresGrad rules and gradcheck.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { record } from '../src/ops/make.js';

const near = (actual: Tensor | null, expected: number[] | number[][], tol = 1e-5): void => {
  assert.ok(actual, 'expected a gradient, got null');
  const a = Array.from(actual.dataSync());
  const e = expected.flat() as number[];
  assert.deepEqual(
    actual.shape.reduce((p, d) => p * d, 1),
    e.length,
    `shape ${actual.shape}`,
  );
  a.forEach((v, i) => assert.ok(Math.abs(v - e[i]!) <= tol, `element ${i}: ${v} vs ${e[i]} (got [${a}])`));
};

describe('backward', () => {
  test('on a scalar: d/dx sum(x^2 + 3x) = 2x + 3', () => {
    const x = mox.tensor([1, -2, 0.5], { requiresGrad: true });
    const y = x.mul(x).add(x.mul(3)).sum();
    assert.deepEqual(y.shape, []);
    y.backward();
    near(x.grad, [5, -1, 4]);
    assert.equal(x.grad!.requiresGrad, false);
    assert.equal(x.grad!.dtype, 'float32');
  });

  test('with an explicit gradient on a non-scalar', () => {
    const leaf = mox.tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float32', requiresGrad: true },
    );
    const y = leaf.mul(leaf); // dy/dx = 2x
    y.backward(
      mox.tensor([
        [1, 0.5],
        [0, -1],
      ]),
    );
    near(leaf.grad, [
      [2, 2],
      [0, -8],
    ]);
  });

  test('a non-scalar without a gradient, or a wrong-shaped gradient, is an error', () => {
    const x = mox.ones([2, 2], { requiresGrad: true });
    const y = x.mul(2);
    assert.throws(() => y.backward(), mox.AutogradError);
    assert.throws(() => y.backward(mox.ones([4])), mox.ShapeError);
    assert.throws(() => mox.ones([1]).backward(), mox.AutogradError);
  });

  test('.grad accumulates across two backward calls', () => {
    const x = mox.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    x.mul(3).sum().backward();
    near(x.grad, [3, 3]);
    x.mul(x).sum().backward();
    near(x.grad, [5, 7]);
    x.grad!.zero_();
    x.mul(2).sum().backward();
    near(x.grad, [2, 2]);
  });

  test('retainGraph allows a second backward; without it the second backward throws', () => {
    const x = mox.tensor([2, 3], { dtype: 'float32', requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward(undefined, { retainGraph: true });
    near(x.grad, [4, 6]);
    y.backward();
    near(x.grad, [8, 12]);
    assert.throws(() => y.backward(), mox.AutogradError);

    const w = mox.tensor([1, 1], { dtype: 'float32', requiresGrad: true });
    const z = w.exp().mul(w).sum();
    z.backward();
    assert.throws(
      () => z.backward(),
      (e: unknown) => e instanceof mox.AutogradError && /second time/.test(e.message),
    );
  });

  test('detach() cuts the graph and shares storage', () => {
    const x = mox.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    const d = x.mul(2).detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    const y = x.mul(d).sum(); // d is a constant: dy/dx = d = 2x
    y.backward();
    near(x.grad, [2, 4]);
    const dx = x.detach();
    assert.equal(dx.storage, x.storage);
    assert.equal(dx.requiresGrad, false);
  });

  test('noGrad(fn) records nothing; enableGrad re-enables inside it', () => {
    const x = mox.ones([3], { requiresGrad: true });
    const y = mox.noGrad(() => x.mul(2).add(1).exp().sum());
    assert.equal(y.requiresGrad, false);
    assert.equal(y._node, null);
    assert.equal(mox.isGradEnabled(), true);
    mox.noGrad(() => {
      assert.equal(mox.isGradEnabled(), false);
      const z = mox.enableGrad(() => x.mul(2));
      assert.equal(z.requiresGrad, true);
    });
    assert.throws(() => y.backward(), mox.AutogradError);
    // grad mode is restored even when fn throws
    assert.throws(() =>
      mox.noGrad(() => {
        throw new Error('boom');
      }),
    );
    assert.equal(mox.isGradEnabled(), true);
  });

  test('retainGrad keeps .grad on a non-leaf; other non-leaves get none', () => {
    const x = mox.tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
    const y = x.mul(2).retainGrad();
    const h = y.add(1);
    const z = h.mul(h).sum(); // dz/dh = 2h = 2(2x+1), dz/dy = dz/dh
    z.backward();
    near(y.grad, [6, 10, 14]);
    assert.equal(h.grad, null);
    near(x.grad, [12, 20, 28]);
  });

  test('a diamond graph sums the gradients of both paths', () => {
    const x = mox.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    const a = x.mul(3);
    const b = x.exp();
    const y = a.add(b).mul(a).sum(); // y = (3x + e^x) * 3x; dy/dx = (3 + e^x)3x + 3(3x + e^x)
    y.backward();
    const expect = [1, 2].map((v) => (3 + Math.exp(v)) * 3 * v + 3 * (3 * v + Math.exp(v)));
    near(x.grad, expect, 1e-4);
  });

  test('x.add(x) and x.mul(x) count x twice', () => {
    const x = mox.tensor([1, -3], { dtype: 'float32', requiresGrad: true });
    x.add(x).sum().backward();
    near(x.grad, [2, 2]);
    x.grad = null;
    x.mul(x).sum().backward();
    near(x.grad, [2, -6]);
  });

  test('each leaf owns its .grad: an in-place change to one does not reach another', () => {
    // add's backward hands the same gradient tensor to both inputs
    const a = mox.ones([3], { requiresGrad: true });
    const b = mox.ones([3], { requiresGrad: true });
    a.add(b).backward(mox.tensor([1, 2, 3], { dtype: 'float32' }));
    assert.notEqual(a.grad!.storage, b.grad!.storage);
    a.grad!.fill_(5);
    near(b.grad, [1, 2, 3]);
    const c = mox.ones([2, 2], { requiresGrad: true });
    const d = mox.ones([2, 2], { requiresGrad: true });
    c.add(d)
      .mul(
        mox.tensor(
          [
            [1, 2],
            [3, 4],
          ],
          { dtype: 'float32' },
        ),
      )
      .sum()
      .backward();
    c.grad!.zero_();
    near(d.grad, [
      [1, 2],
      [3, 4],
    ]);
    // nor does it reach the gradient the caller passed in
    const e = mox.ones([2], { requiresGrad: true });
    const seed = mox.tensor([1, 2], { dtype: 'float32' });
    e.backward(seed);
    e.grad!.zero_();
    assert.deepEqual(seed.tolist(), [1, 2]);
  });

  test('a chain of 20,000 ops does not overflow the stack', () => {
    const x = mox.tensor([1], { dtype: 'float32', requiresGrad: true });
    mox.scope(() => {
      let y = x;
      for (let i = 0; i < 20_000; i++) y = y.mul(1.00001);
      y.sum().backward();
    });
    near(x.grad, [1.00001 ** 20_000], 1e-3);
    // the same depth through two-input ops (add of a constant tensor)
    const w = mox.tensor([0.5], { dtype: 'float32', requiresGrad: true });
    const one = mox.ones([1]);
    mox.scope(() => {
      let y = w;
      for (let i = 0; i < 20_000; i++) y = y.add(one);
      y.sum().backward();
    });
    near(w.grad, [1]);
  });

  test('the gradient of a broadcast operand is summed back to its shape', () => {
    const a = mox.tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: 'float32', requiresGrad: true },
    );
    const b = mox.tensor([10, 20, 30], { dtype: 'float32', requiresGrad: true });
    const c = mox.tensor([[2], [3]], { dtype: 'float32', requiresGrad: true });
    const s = mox.tensor(0.5, { requiresGrad: true });
    const y = a.mul(b).add(c).mul(s).sum();
    y.backward();
    near(a.grad, [
      [5, 10, 15],
      [5, 10, 15],
    ]);
    near(b.grad, [2.5, 3.5, 4.5]);
    near(c.grad, [[1.5], [1.5]]);
    assert.deepEqual(s.grad!.shape, []);
    near(s.grad, [10 + 40 + 90 + 40 + 100 + 180 + 3 * 2 + 3 * 3]); // sum(a*b + c)
    // expand is a broadcast too
    const e = mox.tensor([[1], [2]], { dtype: 'float32', requiresGrad: true });
    e.expand(2, 4).mul(mox.arange(8).float().reshape(2, 4)).sum().backward();
    near(e.grad, [[6], [22]]);
  });

  test('requiresGrad propagation rules', () => {
    const x = mox.ones([2], { requiresGrad: true });
    const c = mox.ones([2]);
    assert.equal(x.isLeaf, true);
    assert.equal(c.requiresGrad, false);
    const y = x.add(c);
    assert.equal(y.requiresGrad, true);
    assert.equal(y.isLeaf, false);
    const k = c.mul(2);
    assert.equal(k.requiresGrad, false);
    assert.equal(k.isLeaf, true);
    // views of a tensor that requires grad are in the graph too
    assert.equal(x.reshape(2, 1).requiresGrad, true);
    assert.equal(x.slice([0, 1]).requiresGrad, true);
    // comparisons and integer casts give no gradient
    assert.equal(x.gt(0).requiresGrad, false);
    assert.equal(x.int().requiresGrad, false);
    assert.equal(x.argmax().requiresGrad, false);
    // only float tensors can require grad; a non-leaf cannot stop requiring it
    assert.throws(() => mox.arange(3).requiresGrad_(), mox.DTypeError);
    assert.throws(() => mox.tensor([1, 2], { requiresGrad: true }), mox.DTypeError); // int32 data
    assert.throws(() => {
      y.requiresGrad = false;
    }, mox.ValueError);
    const z = mox.zeros([2]).requiresGrad_();
    assert.equal(z.requiresGrad, true);
    z.requiresGrad = false;
    assert.equal(z.requiresGrad, false);
    // a leaf that does not require grad gets no .grad
    const w = mox.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    w.mul(c).sum().backward();
    assert.equal(c.grad, null);
    near(w.grad, [1, 1]);
  });
});

describe('gradcheck', () => {
  // square(x) computed outside the tape, with a backward we write by hand
  const square =
    (wrongBy: number) =>
    (x: Tensor): Tensor => {
      const out = mox.noGrad(() => x.mul(x));
      return record(out, 'square', [x], (g) => [g.mul(x).mul(2 + wrongBy)]);
    };

  test('passes for a right gradient', () => {
    const x = mox.tensor([0.3, -1.2, 2], { requiresGrad: true });
    assert.equal(mox.gradcheck(square(0), [x]), true);
    const r = mox.gradcheckDetailed(square(0), [x]);
    assert.ok(r.ok && r.maxError < 1e-6, r.message);
  });

  test('fails for a wrong gradient: throws by default, false with raiseException: false', () => {
    const x = mox.tensor([0.3, -1.2, 2], { requiresGrad: true });
    assert.throws(() => mox.gradcheck(square(1), [x]), mox.AutogradError);
    assert.equal(mox.gradcheck(square(1), [x], { raiseException: false }), false);
    const r = mox.gradcheckDetailed(square(0.01), [x], { raiseException: false });
    assert.equal(r.ok, false);
    assert.ok(r.maxError > 1e-3);
  });

  test('passes for composed ops with several inputs and broadcasting', () => {
    mox.seed(11);
    const a = mox.randn([3, 4], { requiresGrad: true });
    const b = mox.randn([4], { requiresGrad: true });
    assert.equal(
      mox.gradcheck((p, q) => p.mul(q).tanh().add(p.exp()).sum(1), [a, b]),
      true,
    );
  });
});
