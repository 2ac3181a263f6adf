// Tests for mox.optim: every optimizer lowers a quadratic; state survives scopes and round-trips through
// stateDict(); zeroGrad; parameter groups; clipGradNorm against a hand computation; and the fused Adam
// kernel (WASM, reference) against the composed tensor-op version on both thread counts.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { adamUpdate } from '../src/backend/cpu/optim.js';
import { fusedKernel } from '../src/backend/fused.js';
import type { AdamHyper, View } from '../src/backend/backend.js';
import { adamUpdateF32 } from '../src/backend/cpu/wasm/optim.js';
import { maxAbsDiff as maxDiff } from '../test-support/assert.js';

const { SGD, Adam, AdamW, RMSprop, clipGradNorm } = mox.optim;
type AnyOptimizer = mox.optim.Optimizer<any>;

const threadsBefore = mox.getNumThreads();
after(() => mox.setNumThreads(threadsBefore));

/** Replaces p.grad with g, kept past scopes like the gradients backward() writes. */
function setGrad(p: Tensor, g: Tensor): void {
  const old = p.grad;
  p.grad = mox.keep(g);
  old?.dispose();
}

const f32 = (xs: number[]): Tensor => mox.tensor(xs, { dtype: 'float32' });

/** sum((w - target)^2) with its gradient from backward(); returns the loss. */
function quadraticStep(w: Tensor, target: Tensor, opt: AnyOptimizer): number {
  return mox.scope(() => {
    opt.zeroGrad();
    const loss = w.sub(target).square().sum();
    loss.backward();
    opt.step();
    return loss.item();
  });
}

describe('optimizers lower a quadratic', () => {
  const cases: [string, (ps: Tensor[]) => AnyOptimizer][] = [
    ['SGD', (ps) => new SGD(ps, { lr: 0.1 })],
    ['SGD momentum + weight decay', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 })],
    ['SGD nesterov', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ['Adam', (ps) => new Adam(ps, { lr: 0.1 })],
    ['Adam amsgrad + weight decay', (ps) => new Adam(ps, { lr: 0.1, amsgrad: true, weightDecay: 1e-3 })],
    ['Adam composed', (ps) => new Adam(ps, { lr: 0.1, fused: false })],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.1 })],
    ['RMSprop', (ps) => new RMSprop(ps, { lr: 0.05 })],
    ['RMSprop centered + momentum', (ps) => new RMSprop(ps, { lr: 0.02, centered: true, momentum: 0.9, weightDecay: 1e-4 })],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      mox.seed(1);
      const w = mox.keep(mox.randn([4, 5], { requiresGrad: true }));
      const target = mox.keep(mox.randn([4, 5]));
      const storage = w.storage;
      const opt = make([w]);
      const first = quadraticStep(w, target, opt);
      const live = mox.memory().numTensors;
      let last = first;
      for (let i = 0; i < 100; i++) last = quadraticStep(w, target, opt);
      assert.ok(last < first * 0.05, `${name}: loss ${first} -> ${last}`);
      assert.equal(w.storage, storage, 'the parameter is updated in place');
      assert.equal(w.requiresGrad, true);
      assert.ok(w.isLeaf);
      assert.equal(mox.memory().numTensors, live, 'steady memory across steps');
      opt.zeroGrad();
    });
  }
});

describe('stateDict', () => {
  const makers: [string, (ps: Tensor[], lr: number) => AnyOptimizer][] = [
    ['SGD', (ps, lr) => new SGD(ps, { lr, momentum: 0.9, dampening: 0.1 })],
    ['Adam', (ps, lr) => new Adam(ps, { lr, amsgrad: true })],
    ['AdamW', (ps, lr) => new AdamW(ps, { lr, betas: [0.8, 0.99] })],
    ['RMSprop', (ps, lr) => new RMSprop(ps, { lr, centered: true, momentum: 0.5 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: a loaded state dict resumes identically`, () => {
      mox.seed(2);
      const a = [mox.keep(mox.randn([3, 4])), mox.keep(mox.randn([5]))];
      const grads = Array.from({ length: 10 }, () => a.map((p) => mox.keep(mox.randn(p.shape))));
      const optA = make(a, 0.01);
      for (let s = 0; s < 5; s++) {
        a.forEach((p, i) => setGrad(p, grads[s]![i]!.clone()));
        optA.step();
      }
      const sd = optA.stateDict();
      assert.deepEqual(Object.keys(sd.state), ['0', '1']);
      assert.equal(sd.paramGroups[0]!.lr, 0.01);
      assert.deepEqual(sd.paramGroups[0]!.params, [0, 1]);
      const b = a.map((p) => mox.keep(p.clone()));
      const optB = make(b, 0.5);
      optB.loadStateDict(sd);
      assert.equal(optB.lr, 0.01, 'hyperparameters come back');
      for (let s = 5; s < 10; s++) {
        a.forEach((p, i) => setGrad(p, grads[s]![i]!.clone()));
        b.forEach((p, i) => setGrad(p, grads[s]![i]!.clone()));
        optA.step();
        optB.step();
      }
      a.forEach((p, i) => assert.deepEqual(Array.from(p.dataSync()), Array.from(b[i]!.dataSync()), `${name} param ${i}`));
      // the snapshot is a copy: later steps did not change it
      const again = make(
        a.map((p) => p.clone()),
        0.01,
      );
      again.loadStateDict(sd);
      assert.deepEqual(again.stateDict().state[0]!.step ?? null, sd.state[0]!.step ?? null);
    });
  }

  it('checks the loaded dict against the optimizer', () => {
    const p = mox.keep(mox.zeros([2]));
    const opt = new Adam([p]);
    setGrad(p, mox.ones([2]));
    opt.step();
    const sd = opt.stateDict();
    const other = new Adam([mox.keep(mox.zeros([3]))]);
    const live = mox.memory().numTensors;
    assert.throws(() => other.loadStateDict(sd), mox.ShapeError);
    assert.equal(mox.memory().numTensors, live, 'a failed load frees what it copied');
    const two = new Adam([{ params: [mox.keep(mox.zeros([2]))] }, { params: [mox.keep(mox.zeros([2]))] }]);
    assert.throws(() => two.loadStateDict(sd), mox.ValueError);
  });

  it('state tensors survive the scopes that stepped them', () => {
    const p = mox.keep(mox.randn([6], { requiresGrad: true }));
    const opt = new Adam([p], { lr: 0.1 });
    mox.scope(() => {
      p.mul(p).sum().backward();
      opt.step();
    });
    const st = opt.stateDict().state[0]!;
    assert.equal(st.step, 1);
    for (const k of ['exp_avg', 'exp_avg_sq']) assert.ok(!(st[k] as Tensor).isDisposed && (st[k] as Tensor).shape[0] === 6, k);
  });
});

describe('zeroGrad', () => {
  it('sets gradients to null and frees them, or zeroes them', (t) => {
    // an exact count across a backward(): automatic freeing would free earlier tests' leftovers in it
    mox.setAutoFree(false);
    t.after(() => mox.setAutoFree(true));
    const w = mox.keep(mox.randn([3], { requiresGrad: true }));
    const opt = new SGD([w], { lr: 0.1 });
    const before = mox.memory().numTensors;
    mox.scope(() => w.mul(2).sum().backward());
    const g = w.grad!;
    assert.deepEqual(Array.from(g.dataSync()), [2, 2, 2]);
    opt.zeroGrad(false);
    assert.equal(w.grad, g);
    assert.deepEqual(Array.from(g.dataSync()), [0, 0, 0]);
    opt.zeroGrad();
    assert.equal(w.grad, null);
    assert.ok(g.isDisposed);
    assert.equal(mox.memory().numTensors, before);
    opt.step(); // no gradients: nothing to do
  });
});

describe('parameter groups', () => {
  it('each group steps with its own learning rate', () => {
    const a = mox.keep(mox.zeros([2]));
    const b = mox.keep(mox.zeros([2]));
    const opt = new SGD([{ params: [a], lr: 0.1 }, { params: [b] }], { lr: 0.01 });
    setGrad(a, mox.ones([2]));
    setGrad(b, mox.ones([2]));
    opt.step();
    assert.deepEqual(Array.from(a.dataSync()), [-0.1, -0.1].map(Math.fround));
    assert.deepEqual(Array.from(b.dataSync()), [-0.01, -0.01].map(Math.fround));
    opt.paramGroups[1]!.lr = 1;
    opt.step();
    assert.deepEqual(Array.from(b.dataSync()), [Math.fround(Math.fround(-0.01) - 1), Math.fround(Math.fround(-0.01) - 1)]);
    opt.lr = 0.5;
    assert.deepEqual(
      opt.paramGroups.map((g) => g.lr),
      [0.5, 0.5],
    );
    assert.equal(opt.lr, 0.5);
  });

  it('rejects bad parameters and hyperparameters', () => {
    const p = mox.keep(mox.zeros([2]));
    assert.throws(() => new Adam([]), mox.ValueError);
    assert.throws(() => new Adam([p], { lr: -1 }), mox.ValueError);
    assert.throws(() => new Adam([p], { betas: [1, 0.9] }), mox.ValueError);
    assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), mox.ValueError);
    assert.throws(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }), mox.ValueError);
    assert.throws(() => new SGD([mox.keep(mox.zeros([2], { dtype: 'int32' }))], { lr: 0.1 }), mox.DTypeError);
    mox.scope(() => {
      const leaf = mox.zeros([2], { requiresGrad: true });
      assert.throws(() => new SGD([leaf.mul(2)], { lr: 0.1 }), mox.ValueError);
    });
  });
});

describe('clipGradNorm', () => {
  it('scales the gradients to the max norm and returns the total norm', () => {
    const a = mox.keep(mox.zeros([2]));
    const b = mox.keep(mox.zeros([1]));
    const c = mox.keep(mox.zeros([1])); // no gradient: skipped
    setGrad(a, f32([3, 4]));
    setGrad(b, f32([12]));
    const total = clipGradNorm([a, b, c], 6.5);
    assert.ok(Math.abs(total.item() - 13) < 1e-5);
    const k = 6.5 / (13 + 1e-6);
    assert.ok(maxDiff(a.grad!, f32([3 * k, 4 * k])) < 1e-6);
    assert.ok(maxDiff(b.grad!, f32([12 * k])) < 1e-6);
    assert.equal(c.grad, null);

    // already inside the limit: unchanged (the factor clamps at 1)
    setGrad(a, f32([3, 4]));
    assert.ok(Math.abs(clipGradNorm(a, 10).item() - 5) < 1e-6);
    assert.deepEqual(Array.from(a.grad!.dataSync()), [3, 4]);

    // other norms: inf is the largest magnitude, 1 the sum of magnitudes
    setGrad(a, f32([3, -4]));
    setGrad(b, f32([-2]));
    assert.equal(clipGradNorm([a, b], 100, Infinity).item(), 4);
    assert.equal(clipGradNorm([a, b], 100, 1).item(), 9);
    assert.ok(Math.abs(clipGradNorm([a, b], 100, 3).item() - Math.cbrt(27 + 64 + 8)) < 1e-5);
    setGrad(a, f32([NaN, 1]));
    assert.throws(() => clipGradNorm([a], 1, 2, { errorIfNonfinite: true }), mox.ValueError);
  });
});

describe('fused Adam', () => {
  const variants: [string, Partial<mox.optim.AdamOptions>, boolean][] = [
    ['Adam', { lr: 1e-2 }, false],
    ['Adam L2 decay', { lr: 1e-2, weightDecay: 0.05, betas: [0.8, 0.99] }, false],
    ['Adam amsgrad + maximize', { lr: 1e-2, amsgrad: true, maximize: true }, false],
    ['AdamW', { lr: 3e-2, weightDecay: 0.1, betas: [0.9, 0.95] }, true],
  ];
  // float64 runs the TypeScript reference kernel, the same on any thread count
  const runs = [
    [1, 'float32'],
    [2, 'float32'],
    [1, 'float64'],
  ] as const;
  for (const [threads, dtype] of runs) {
    for (const [name, opts, decoupled] of variants) {
      it(`${name}, ${dtype}, ${threads} thread(s): fused equals composed over 20 steps`, () => {
        mox.setNumThreads(threads);
        mox.seed(3);
        // odd sizes with a scalar tail; with two threads, 131,769 elements to split into two ranges
        const shapes = [[1], [7], [13], [127], threads === 2 ? [363, 363] : [61, 67]];
        const fusedP = shapes.map((s) => mox.keep(mox.randn(s, { dtype })));
        const composedP = fusedP.map((p) => mox.keep(p.clone()));
        const Cls = decoupled ? AdamW : Adam;
        const fused = new Cls(fusedP, { ...opts, fused: true });
        const composed = new Cls(composedP, { ...opts, fused: false });
        for (let s = 0; s < 20; s++) {
          mox.scope(() => {
            fusedP.forEach((p, i) => {
              const g = mox.randn(p.shape, { dtype });
              setGrad(p, g.clone());
              setGrad(composedP[i]!, g.clone());
            });
            fused.step();
            composed.step();
          });
        }
        const tol = dtype === 'float32' ? 5e-6 : 1e-12;
        fusedP.forEach((p, i) => {
          const d = maxDiff(p, composedP[i]!);
          assert.ok(d <= tol, `param ${i} ${p.shape}: max difference ${d}`);
        });
        const [sf, sc] = [fused.stateDict().state, composed.stateDict().state];
        for (const k of Object.keys(sc[4]!)) {
          if (typeof sc[4]![k] === 'number') assert.equal(sf[4]![k], sc[4]![k]);
          else assert.ok(maxDiff(sf[4]![k] as Tensor, sc[4]![k] as Tensor) <= tol, k);
        }
      });
    }
  }

  it('the WASM kernel matches the reference kernel on odd sizes', () => {
    mox.seed(4);
    for (const n of [1, 3, 4, 7, 13, 127, 70001]) {
      for (const amsgrad of [false, true]) {
        const h: AdamHyper = {
          lr: 1e-2,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0.01,
          decoupled: n % 2 === 0,
          step: 3,
          maximize: n === 7,
        };
        mox.scope(() => {
          const make = () => [mox.randn([n]), mox.randn([n]), mox.randn([n]).mul(0.1), mox.rand([n]), mox.rand([n])];
          const a = make();
          const b = a.map((t) => t.clone());
          const view = (t: Tensor): View => t.view_();
          const rt = cpuBackend.rt;
          if (rt)
            assert.ok(
              adamUpdateF32(rt, view(a[0]!), view(a[1]!), view(a[2]!), view(a[3]!), h, amsgrad ? view(a[4]!) : null),
              'the WASM path applies',
            );
          else
            fusedKernel('cpu', 'adamStep')!.forward(
              cpuBackend,
              view(a[0]!),
              view(a[1]!),
              view(a[2]!),
              view(a[3]!),
              h,
              amsgrad ? view(a[4]!) : null,
            );
          adamUpdate(view(b[0]!), view(b[1]!), view(b[2]!), view(b[3]!), h, amsgrad ? view(b[4]!) : null);
          a.forEach((t, i) => assert.ok(maxDiff(t, b[i]!) < 1e-6, `n=${n} amsgrad=${amsgrad} tensor ${i}: ${maxDiff(t, b[i]!)}`));
        });
      }
    }
  });
});
