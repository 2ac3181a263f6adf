// LR schedules against hand-computed sequences from PyTorch's closed forms (and nanoGPT's get_lr),
// ReduceLROnPlateau's patience / cooldown / threshold / floor rules, per-group learning rates, and
// stateDict round trips.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { assertClose } from '../test-support/assert.js';

const { SGD, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, CosineWithWarmup, LambdaLR, ReduceLROnPlateau, lrScheduler } =
  mox.optim;

function sgd(lr = 1, groups?: number[]): mox.optim.SGD {
  if (groups)
    return new SGD(
      groups.map((g) => ({ params: [mox.zeros([2], { requiresGrad: true })], lr: g })),
      { lr },
    );
  return new SGD([mox.zeros([2], { requiresGrad: true })], { lr });
}

/** The lr of group 0 after construction and after each of `steps` step() calls. */
function sequence(sched: { step(): void; getLastLr(): number[] }, opt: mox.optim.SGD, steps: number): number[] {
  const out = [opt.lr];
  assert.equal(sched.getLastLr()[0], opt.lr);
  for (let i = 0; i < steps; i++) {
    sched.step();
    out.push(opt.lr);
    assert.equal(sched.getLastLr()[0], opt.lr);
  }
  return out;
}

const close = (actual: number[], expected: number[], tol = 1e-12): void =>
  assertClose(actual, expected, { atol: tol, rtol: 0, msg: `learning rates (${actual.join(', ')})` });

describe('epoch schedules', () => {
  it('StepLR: base * gamma^floor(epoch / stepSize)', () => {
    const opt = sgd(0.1);
    close(sequence(new StepLR(opt, 2, 0.5), opt, 6), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]);
  });

  it('MultiStepLR: one gamma per milestone passed', () => {
    const opt = sgd(1);
    close(sequence(new MultiStepLR(opt, [3, 1], 0.1), opt, 4), [1, 0.1, 0.1, 0.01, 0.01], 1e-15);
  });

  it('ExponentialLR: base * gamma^epoch', () => {
    const opt = sgd(0.1);
    close(sequence(new ExponentialLR(opt, 0.9), opt, 3), [0.1, 0.09, 0.081, 0.0729], 1e-15);
  });

  it('CosineAnnealingLR: half a cosine to etaMin over tMax, rising again after (as PyTorch)', () => {
    const opt = sgd(1);
    const c = (t: number): number => 0.1 + (0.9 * (1 + Math.cos((Math.PI * t) / 4))) / 2;
    close(sequence(new CosineAnnealingLR(opt, 4, 0.1), opt, 6), [1, c(1), 0.55, c(3), 0.1, c(5), c(6)]);
    // the values PyTorch prints for CosineAnnealingLR(SGD(lr=1), T_max=4, eta_min=0.1) at epochs 1 and 5
    assert.ok(Math.abs(c(1) - 0.8681980515339464) < 1e-12);
    assert.ok(Math.abs(c(5) - 0.23180194846605362) < 1e-12);
  });

  it('LambdaLR: base * fn(epoch)', () => {
    const opt = sgd(2);
    close(sequence(new LambdaLR(opt, (e) => 1 / (e + 1)), opt, 3), [2, 1, 2 / 3, 0.5]);
  });

  it('every group keeps its own base lr', () => {
    const opt = sgd(1, [1, 0.1]);
    const s = new StepLR(opt, 1, 0.5);
    s.step();
    close(s.getLastLr(), [0.5, 0.05]);
    close(
      opt.paramGroups.map((g) => g.lr),
      [0.5, 0.05],
    );
    close(s.baseLrs, [1, 0.1]);
  });

  it('is reachable as mox.optim.lrScheduler too', () => {
    assert.equal(lrScheduler.StepLR, StepLR);
    assert.equal(lrScheduler.ReduceLROnPlateau, ReduceLROnPlateau);
  });

  it('stateDict/loadStateDict resumes the sequence', () => {
    const opt = sgd(1);
    const s = new CosineAnnealingLR(opt, 10, 0);
    for (let i = 0; i < 3; i++) s.step();
    const sd = s.stateDict();
    assert.equal(sd.lastEpoch, 3);
    assert.deepEqual(sd.baseLrs, [1]);
    assert.ok(!('optimizer' in sd));
    const json = JSON.parse(JSON.stringify(sd));
    // a fresh optimizer whose lr was saved separately, and a scheduler restored from the dict
    const opt2 = sgd(1);
    const s2 = new CosineAnnealingLR(opt2, 99, 0);
    s2.loadStateDict(json);
    assert.equal(s2.tMax, 10);
    s.step();
    s2.step();
    assert.equal(opt2.lr, opt.lr);
    assert.equal(s2.lastEpoch, 4);
    assert.throws(() => s2.loadStateDict({ bogus: 1 }), /unexpected key 'bogus'/);
  });

  it('resuming with lastEpoch reads initialLr from the groups (as PyTorch)', () => {
    const opt = sgd(1);
    const s = new StepLR(opt, 1, 0.5);
    s.step();
    s.step();
    const again = new StepLR(opt, 1, 0.5, s.lastEpoch);
    assert.equal(opt.lr, 0.125);
    close(again.baseLrs, [1]);
    assert.throws(() => new StepLR(sgd(1), 1, 0.5, 3), /no initialLr to resume from/);
  });

  it('rejects bad arguments with ValueErrors', () => {
    assert.throws(
      () => new StepLR(sgd(), 0),
      (e: unknown) => e instanceof mox.ValueError && /stepSize must be an integer >= 1, got 0/.test((e as Error).message),
    );
    assert.throws(() => new ExponentialLR(sgd(), -1), /gamma must be > 0/);
    assert.throws(() => new CosineAnnealingLR(sgd(), 0), /tMax must be an integer >= 1/);
  });
});

describe('CosineWithWarmup (nanoGPT get_lr)', () => {
  it('warms up linearly, follows the cosine to minLr at totalSteps, then stays there', () => {
    const opt = sgd(1);
    const s = new CosineWithWarmup(opt, { warmupSteps: 2, totalSteps: 6, minLr: 0.1 });
    const cos = (r: number): number => 0.1 + 0.5 * (1 + Math.cos(Math.PI * r)) * 0.9;
    close(sequence(s, opt, 8), [1 / 3, 2 / 3, 1, cos(0.25), 0.55, cos(0.75), 0.1, 0.1, 0.1]);
    assert.ok(Math.abs(cos(0.25) - 0.8681980515339464) < 1e-12);
  });

  it('no warmup starts at the base lr; minLr may differ per group', () => {
    const opt = sgd(1, [1, 0.5]);
    const s = new CosineWithWarmup(opt, { warmupSteps: 0, totalSteps: 2, minLr: [0, 0.1] });
    close(s.getLastLr(), [1, 0.5]);
    s.step();
    close(s.getLastLr(), [0.5, 0.3]);
    s.step();
    close(s.getLastLr(), [0, 0.1]);
  });

  it('checks its options', () => {
    assert.throws(
      () => new CosineWithWarmup(sgd(), { warmupSteps: 5, totalSteps: 5 }),
      /totalSteps \(5\) must be greater than warmupSteps \(5\)/,
    );
    assert.throws(() => new CosineWithWarmup(sgd(), { warmupSteps: -1, totalSteps: 5 }), /warmupSteps must be an integer >= 0/);
    assert.throws(() => new CosineWithWarmup(sgd(1, [1, 1]), { warmupSteps: 1, totalSteps: 5, minLr: [0] }), /expected 2 values of minLr/);
  });
});

describe('ReduceLROnPlateau', () => {
  function run(opts: mox.optim.ReduceLROnPlateauOptions, metrics: number[], lr = 1): number[] {
    const opt = sgd(lr);
    const s = new ReduceLROnPlateau(opt, opts);
    return metrics.map((m) => {
      s.step(m);
      assert.equal(s.getLastLr()[0], opt.lr);
      return opt.lr;
    });
  }

  it('halves after more than `patience` epochs without a relative improvement', () => {
    close(run({ patience: 2, factor: 0.5 }, [10, 9, 9, 9, 9, 8, 8, 8, 8]), [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]);
    // 9.0005 is not better than 9 * (1 - 1e-4) = 8.9991: it counts as a bad epoch
    close(run({ patience: 0, factor: 0.5 }, [9, 9.0005, 8.999]), [1, 0.5, 0.5]);
  });

  it('cooldown: bad epochs are not counted for `cooldown` epochs after a reduction', () => {
    close(run({ patience: 1, factor: 0.5, cooldown: 2 }, [5, 5, 5, 5, 5, 5, 5, 5]), [1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]);
    close(run({ patience: 1, factor: 0.5 }, [5, 5, 5, 5, 5, 5, 5, 5]), [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]);
  });

  it("mode 'max' with an absolute threshold", () => {
    // 0.55 is not above 0.5 + 0.1; 0.7 is
    close(
      run({ mode: 'max', thresholdMode: 'abs', threshold: 0.1, patience: 1, factor: 0.1 }, [0.5, 0.55, 0.7, 0.75, 0.79]),
      [1, 1, 1, 1, 0.1],
    );
  });

  it('never goes below minLr, and skips reductions smaller than eps', () => {
    close(run({ patience: 0, factor: 0.1, minLr: 0.05 }, [1, 1, 1, 1]), [1, 0.1, 0.05, 0.05]);
  });

  it('accepts a one-element tensor as the metric, and round-trips its state', () => {
    const opt = sgd(1);
    const s = new ReduceLROnPlateau(opt, { patience: 0, factor: 0.5 });
    s.step(mox.tensor([3]));
    s.step(mox.tensor([4]));
    assert.equal(opt.lr, 0.5);
    const sd = s.stateDict();
    assert.equal(sd.best, 3);
    const s2 = new ReduceLROnPlateau(sgd(0.5), { patience: 5 });
    s2.loadStateDict(sd);
    assert.equal(s2.patience, 0);
    assert.equal(s2.best, 3);
  });

  it('rejects bad options and a missing metric', () => {
    assert.throws(() => new ReduceLROnPlateau(sgd(), { factor: 1 }), /factor must be in \[0, 1\), got 1/);
    assert.throws(() => new ReduceLROnPlateau(sgd(), { mode: 'up' as 'min' }), /mode must be 'min' or 'max'/);
    const s = new ReduceLROnPlateau(sgd());
    assert.throws(() => s.step(), /needs the metric/);
    assert.throws(() => s.step(NaN), /got NaN/);
  });
});
