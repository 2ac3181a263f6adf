// Memory without ceremony: a training loop inside mox.scope holds exactly steady memory for 10,000
// steps; scope() frees what does not escape, moves what escapes to the parent, keeps what an escaping
// graph needs; storage lives until its last view is disposed; exceptions still free.
//
// The counts are exact: every test body here is synchronous, so the FinalizationRegistry backstop
// (which runs between tasks) cannot change mox.memory() in the middle of a measurement.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

const F = mox.nn.functional;
// These tests count scopes and dispose() exactly. Automatic freeing at backward() boundaries would free
// the leftovers of earlier tests in the middle of a count, so it is off here; test/memory-loop.test.ts
// tests it.
mox.setAutoFree(false);
type Mem = ReturnType<typeof mox.memory>;
const mem = (): Mem => mox.memory();

describe('training loop memory', () => {
  test('MLP 8 -> 32 -> 32 -> 3, 10,000 SGD steps in mox.scope: memory flat, loss decreases', (t) => {
    mox.seed(0);
    const batch = 64;
    const lr = 0.05;
    const start = mem();
    const x = mox.randn([batch, 8]);
    const y = mox.randint(0, 3, [batch]);
    // He-initialised weights; the scope frees the unscaled draw and returns the scaled leaf
    const weight = (out: number, inp: number): Tensor => mox.scope(() => mox.randn([out, inp]).mul(Math.sqrt(2 / inp))).requiresGrad_();
    const bias = (n: number): Tensor => mox.zeros([n], { requiresGrad: true });
    const params = [weight(32, 8), bias(32), weight(32, 32), bias(32), weight(3, 32), bias(3)];
    const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    const live = mem();
    assert.equal(live.numTensors - start.numTensors, 8, 'data + 6 parameters and nothing else');

    const step = (): number =>
      mox.scope(() => {
        const h1 = F.relu(F.linear(x, w1, b1));
        const h2 = F.relu(F.linear(h1, w2, b2));
        const loss = F.crossEntropy(F.linear(h2, w3, b3), y);
        loss.backward();
        mox.noGrad(() => {
          for (const p of params) {
            p.copy_(p.sub(p.grad!.mul(lr)));
            p.grad!.dispose();
            p.grad = null;
          }
        });
        return loss.item();
      });

    const t0 = performance.now();
    const losses: number[] = [];
    let at100: Mem | null = null;
    for (let i = 1; i <= 10_000; i++) {
      losses.push(step());
      if (i === 1) assert.deepEqual(mem(), live, 'one step leaves nothing behind');
      if (i === 100) at100 = mem();
    }
    const ms = performance.now() - t0;
    const at10k = mem();
    t.diagnostic(`10,000 steps, batch ${batch}: ${(ms / 1000).toFixed(1)} s; memory ${JSON.stringify(at10k)}`);
    assert.deepEqual(at100, live);
    assert.deepEqual(at10k, at100);
    assert.equal(at10k.numTensors, at100!.numTensors);
    assert.equal(at10k.numBytes, at100!.numBytes);
    const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const first = avg(losses.slice(0, 10));
    const last = avg(losses.slice(-10));
    assert.ok(Number.isFinite(last) && last < first * 0.25, `loss ${first} -> ${last}`);

    for (const p of params) p.dispose();
    x.dispose();
    y.dispose();
    assert.deepEqual(mem(), start);
  });

  test('zeroing grads in place (p.grad.zero_()) also holds memory flat', () => {
    mox.seed(1);
    const x = mox.randn([16, 4]);
    const y = mox.randint(0, 2, [16]);
    const w = mox.scope(() => mox.randn([2, 4]).mul(0.5)).requiresGrad_();
    const b = mox.zeros([2], { requiresGrad: true });
    const step = (): number =>
      mox.scope(() => {
        const loss = F.crossEntropy(F.linear(x, w, b), y);
        loss.backward();
        mox.noGrad(() => {
          for (const p of [w, b]) {
            p.copy_(p.sub(p.grad!.mul(0.1)));
            p.grad!.zero_();
          }
        });
        return loss.item();
      });
    step();
    const after1 = mem(); // now the two .grad tensors exist
    let last = 0;
    for (let i = 0; i < 500; i++) last = step();
    assert.deepEqual(mem(), after1);
    assert.ok(last < 0.69);
    for (const t of [x, y, w, b]) t.dispose();
  });
});

describe('scope', () => {
  test('returns escaping tensors alive and frees the rest', () => {
    const before = mem();
    const out = mox.scope(() => {
      const a = mox.ones([4]);
      const b = a.mul(3).add(1);
      const c = mox.zeros([100]);
      void c;
      return { b, list: [a.sum()], n: 5 };
    });
    const after = mem();
    assert.equal(after.numTensors - before.numTensors, 2);
    assert.equal(after.numStorages - before.numStorages, 2);
    assert.equal(after.numBytes - before.numBytes, 4 * 4 + 4);
    assert.deepEqual(out.b.tolist(), [4, 4, 4, 4]);
    assert.equal(out.list[0]!.item(), 4);
    assert.equal(out.n, 5);
    out.b.dispose();
    out.list[0]!.dispose();
    assert.deepEqual(mem(), before);
  });

  test('a returned view keeps its storage although its base is freed', () => {
    const before = mem();
    const v = mox.scope(() => mox.arange(6).reshape(2, 3).T);
    assert.deepEqual(v.tolist(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.equal(mem().numTensors - before.numTensors, 1);
    assert.equal(mem().numStorages - before.numStorages, 1);
    v.dispose();
    assert.deepEqual(mem(), before);
  });

  test('nested scopes move escaping tensors to the parent, which frees them unless they escape again', () => {
    const before = mem();
    let inner: Tensor | null = null;
    let innerTmp: Tensor | null = null;
    const kept = mox.scope(() => {
      inner = mox.scope(() => {
        innerTmp = mox.ones([3]);
        return innerTmp.mul(2);
      });
      assert.equal(innerTmp!.isDisposed, true);
      assert.equal(inner.isDisposed, false);
      const outerOnly = inner.add(1);
      return outerOnly;
    });
    assert.equal(inner!.isDisposed, true, 'the parent scope freed what the inner one handed it');
    assert.equal(kept.isDisposed, false);
    assert.deepEqual(kept.tolist(), [3, 3, 3]);
    kept.dispose();
    assert.deepEqual(mem(), before);
  });

  test('keep() takes a tensor out of every scope', () => {
    const before = mem();
    let k: Tensor | null = null;
    let plain: Tensor | null = null;
    mox.scope(() => {
      mox.scope(() => {
        k = mox.keep(mox.ones([2]));
        plain = mox.ones([2]);
      });
    });
    assert.equal(k!.isDisposed, false);
    assert.equal(plain!.isDisposed, true);
    assert.equal(mem().numTensors - before.numTensors, 1);
    k!.dispose();
    assert.deepEqual(mem(), before);
  });

  test('a tensor whose graph escapes keeps what its backward needs', () => {
    const before = mem();
    const x = mox.tensor([0.5, -1, 2], { requiresGrad: true });
    mox.scope(() => {
      const y = mox.scope(() => {
        const h = x.mul(2).exp(); // exp saves its output for backward
        const z = x.tanh(); // tanh too
        return h.mul(z).sum();
      });
      y.backward(); // after the scope that made the graph
      const expect = [0.5, -1, 2].map((v) => 2 * Math.exp(2 * v) * Math.tanh(v) + Math.exp(2 * v) * (1 - Math.tanh(v) ** 2));
      Array.from(x.grad!.dataSync()).forEach((g, i) => assert.ok(Math.abs(g - expect[i]!) < 1e-4 * Math.abs(expect[i]!) + 1e-5));
    });
    // the outer scope freed the escaped graph; only x and its grad remain
    assert.equal(mem().numTensors - before.numTensors, 2);
    x.dispose();
    assert.deepEqual(mem(), before, 'dispose() of a leaf frees its grad too');
  });

  test('a loss returned after backward keeps only itself, not the freed graph', () => {
    mox.seed(2);
    const x = mox.randn([16, 4]);
    const y = mox.randint(0, 2, [16]);
    const w = mox.scope(() => mox.randn([2, 4]).mul(0.5)).requiresGrad_();
    const before = mem();
    const step = (retainGraph: boolean): Tensor =>
      mox.scope(() => {
        const loss = F.crossEntropy(F.linear(x, w), y);
        loss.backward(undefined, { retainGraph });
        return loss;
      });
    for (let i = 0; i < 20; i++) {
      const loss = step(false);
      assert.equal(mem().numTensors - before.numTensors, 2, 'the loss and w.grad');
      assert.throws(() => loss.backward(), mox.AutogradError);
      loss.dispose();
    }
    // with retainGraph the graph stays alive for a second backward outside the scope
    w.grad!.dispose();
    w.grad = null;
    const kept = mox.scope(() => {
      const loss = step(true);
      const g1 = Array.from(w.grad!.dataSync());
      loss.backward();
      Array.from(w.grad!.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - 2 * g1[i]!) < 1e-6));
      return 0;
    });
    assert.equal(kept, 0);
    assert.equal(mem().numTensors - before.numTensors, 1, 'only w.grad is left');
    for (const t of [x, y, w]) t.dispose();
  });

  test('an exception inside scope still frees, and grad mode and scope nesting recover', () => {
    const before = mem();
    let made: Tensor | null = null;
    assert.throws(
      () =>
        mox.scope(() => {
          made = mox.ones([10]).mul(2);
          mox.scope(() => {
            mox.zeros([5]);
            throw new RangeError('boom');
          });
        }),
      RangeError,
    );
    assert.equal(made!.isDisposed, true);
    assert.deepEqual(mem(), before);
    // the scope stack unwound: a tensor made now belongs to no scope
    const free = mox.ones([1]);
    mox.scope(() => undefined);
    assert.equal(free.isDisposed, false);
    free.dispose();
  });

  test('an exception thrown by backward inside scope still frees the graph', () => {
    const before = mem();
    const x = mox.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    assert.throws(
      () =>
        mox.scope(() => {
          const y = x.mul(x).sum();
          y.backward();
          y.backward(); // graph already freed
        }),
      mox.AutogradError,
    );
    x.dispose();
    assert.deepEqual(mem(), before);
  });
});

describe('dispose and storage', () => {
  test('dispose() twice is a no-op; use after dispose is a DisposedError', () => {
    const before = mem();
    const t = mox.ones([3]);
    t.dispose();
    const once = mem();
    assert.deepEqual(once, before);
    t.dispose();
    assert.deepEqual(mem(), once);
    assert.throws(() => t.dataSync(), mox.DisposedError);
    assert.throws(() => t.add(1), mox.DisposedError);
    assert.equal(t.isDisposed, true);
  });

  test('storage is freed only when the last view is disposed', () => {
    const before = mem();
    const base = mox.zeros([4, 4]);
    const v1 = base.reshape(16);
    const v2 = base.T;
    const v3 = v1.slice([2, 6]);
    assert.equal(mem().numStorages - before.numStorages, 1);
    assert.equal(mem().numTensors - before.numTensors, 4);
    assert.equal(mem().numBytes - before.numBytes, 64);
    base.dispose();
    v1.dispose();
    assert.equal(mem().numStorages - before.numStorages, 1);
    assert.equal(mem().numBytes - before.numBytes, 64);
    v3.fill_(7);
    assert.deepEqual(
      mox.scope(() => v2.slice(null, 0).tolist()),
      [0, 0, 7, 7],
    );
    v2.dispose();
    assert.equal(mem().numStorages - before.numStorages, 1);
    v3.dispose();
    assert.deepEqual(mem(), before);
  });

  test('a copy made by contiguous() or a non-view reshape owns its own storage', () => {
    const before = mem();
    const t = mox.scope(() => mox.arange(6).reshape(2, 3));
    const tv = t.T;
    const c = tv.contiguous();
    assert.equal(mem().numStorages - before.numStorages, 2);
    t.dispose();
    tv.dispose();
    assert.equal(mem().numStorages - before.numStorages, 1);
    assert.deepEqual(c.tolist(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    c.dispose();
    assert.deepEqual(mem(), before);
  });
});
