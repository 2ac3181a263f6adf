// Knowledge distillation: mox.nn.functional.distillationLoss against PyTorch
// (test/fixtures/distillation-loss.json, written by scripts/golden-distillation.py), its gradient by
// finite differences, its errors; and mox.train.Distiller with fit().

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

const F = mox.nn.functional;
// dist/test/distillation.test.js -> the source tree's test/fixtures
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/distillation-loss.json', import.meta.url));

interface Case {
  shape: number[];
  temperature: number;
  alpha: number;
  student: number[];
  teacher: number[];
  labels: number[];
  loss: number;
  grad: number[];
}
const cases = (JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { cases: Case[] }).cases;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('distillationLoss: agreement with PyTorch', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    it(`matches F.kl_div(batchmean) * T^2 * alpha + (1 - alpha) * F.cross_entropy (${dtype})`, () => {
      const tol = dtype === 'float64' ? 1e-12 : 2e-5;
      for (const c of cases) {
        mox.scope(() => {
          const s = mox.tensor(c.student, { shape: c.shape, dtype, requiresGrad: true });
          const t = mox.tensor(c.teacher, { shape: c.shape, dtype });
          const y = mox.tensor(c.labels, { shape: c.shape.slice(0, -1), dtype: 'int32' });
          const loss = F.distillationLoss(s, t, y, { temperature: c.temperature, alpha: c.alpha });
          loss.backward();
          const label = `shape [${c.shape}] T ${c.temperature} alpha ${c.alpha}`;
          assert.ok(Math.abs(loss.item() - c.loss) <= tol * Math.max(1, Math.abs(c.loss)), `${label}: ${loss.item()} vs ${c.loss}`);
          assert.ok(maxDiff(s.grad!.dataSync(), c.grad) <= tol, `${label}: gradient differs by ${maxDiff(s.grad!.dataSync(), c.grad)}`);
        });
      }
    });
  }

  it('alpha 0 is the cross-entropy, alpha 1 the scaled KL alone; the teacher gets no gradient', () => {
    mox.seed(3);
    const s = mox.randn([5, 4], { dtype: 'float64' });
    const t = mox.randn([5, 4], { dtype: 'float64', requiresGrad: true });
    const y = mox.tensor([0, 3, 1, 2, 2], { dtype: 'int32' });
    assert.equal(F.distillationLoss(s, t, y, { temperature: 2, alpha: 0 }).item(), F.crossEntropy(s, y).item());
    const kl = F.klDiv(F.logSoftmax(s.div(2), 1), F.logSoftmax(t.div(2), 1), { reduction: 'batchmean', logTarget: true }).item() * 4;
    assert.ok(Math.abs(F.distillationLoss(s, t, y, { temperature: 2, alpha: 1 }).item() - kl) < 1e-12);
    const l = F.distillationLoss(s.clone().requiresGrad_(), t, y, { temperature: 2, alpha: 0.5 });
    l.backward();
    assert.equal(t.grad, null);
  });

  it('gradcheck (float64 central differences), rows and sequences', () => {
    mox.seed(7);
    const y2 = mox.tensor([1, 0, 2], { dtype: 'int32' });
    const s2 = mox.randn([3, 4], { dtype: 'float64', requiresGrad: true });
    const t2 = mox.randn([3, 4], { dtype: 'float64' });
    assert.ok(mox.gradcheck((s) => F.distillationLoss(s, t2, y2, { temperature: 3, alpha: 0.7 }), [s2]));
    const y3 = mox.tensor([1, 0, 2, 3, -100, 1], { shape: [2, 3], dtype: 'int32' });
    const s3 = mox.randn([2, 3, 5], { dtype: 'float64', requiresGrad: true });
    const t3 = mox.randn([2, 3, 5], { dtype: 'float64' });
    assert.ok(mox.gradcheck((s) => F.distillationLoss(s, t3, y3, { temperature: 1.5, alpha: 0.4 }), [s3]));
  });

  it('bad input: typed errors naming the operation and the values', () => {
    const s = mox.zeros([2, 3]);
    const y = mox.tensor([0, 1], { dtype: 'int32' });
    assert.throws(
      () => F.distillationLoss(s, mox.zeros([2, 4]), y),
      (e: Error) => e instanceof mox.ShapeError && /distillationLoss.*\[2,3\].*\[2,4\]/.test(e.message),
    );
    assert.throws(
      () => F.distillationLoss(s, s, mox.tensor([0, 1, 2], { dtype: 'int32' })),
      (e: Error) => e instanceof mox.ShapeError && /labels \[3\]/.test(e.message),
    );
    assert.throws(() => F.distillationLoss(mox.zeros([3]), mox.zeros([3]), y), mox.ShapeError);
    for (const temperature of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => F.distillationLoss(s, s, y, { temperature }),
        (e: Error) => e instanceof mox.ValueError && /temperature must be/.test(e.message),
      );
    }
    assert.throws(
      () => F.distillationLoss(s, s, y, { alpha: 1.5 }),
      (e: Error) => e instanceof mox.ValueError && /alpha must be in \[0, 1\], got 1.5/.test(e.message),
    );
  });
});

function mlp(seed: number, hidden: number): mox.nn.Module {
  mox.seed(seed);
  return new mox.nn.Sequential(new mox.nn.Linear(6, hidden), new mox.nn.ReLU(), new mox.nn.Linear(hidden, 3));
}

function data(): { x: Tensor; y: Tensor } {
  mox.seed(11);
  const x = mox.randn([40, 6]);
  const y = x.narrow(1, 0, 3).argmax(1).int();
  return { x, y };
}

const weights = (m: mox.nn.Module): number[][] => m.parameters().map((p) => Array.from(p.dataSync()));

describe('train.Distiller', () => {
  it('fit trains the student on the combined loss; the teacher stays frozen and in eval mode', async () => {
    const { x, y } = data();
    const teacher = mlp(1, 16);
    const before = weights(teacher);
    const student = mlp(2, 4);
    const d = new mox.train.Distiller(student, teacher);
    d.compile({ optimizer: 'sgd', lr: 0.1, metrics: ['accuracy'], alpha: 0.7, temperature: 2 });
    // the first batch's loss is distillationLoss of the initial student against the teacher
    const expected = mox.noGrad(() => F.distillationLoss(student.forward(x), teacher.forward(x), y, { temperature: 2, alpha: 0.7 }).item());
    const h = await d.fit(x, y, { epochs: 1, batchSize: 40, shuffle: false, verbose: 0 });
    assert.ok(Math.abs(h.history['loss']![0]! - expected) < 1e-5, `${h.history['loss']![0]} vs ${expected}`);
    assert.deepEqual(weights(teacher), before);
    assert.equal(teacher.training, false);
    assert.equal(student.training, true);
    assert.ok(teacher.parameters().every((p) => !p.requiresGrad));
    // evaluate reports the student's own loss and metrics
    const ev = d.evaluate(x, y);
    const ce = mox.noGrad(() => F.crossEntropy(student.forward(x), y).item());
    assert.ok(Math.abs(ev['loss']! - ce) < 1e-5, `${ev['loss']} vs ${ce}`);
    assert.ok(ev['accuracy']! >= 0 && ev['accuracy']! <= 1);
    assert.deepEqual(d.predict(x).shape, [40, 3]);
  });

  it('alpha 0 trains the student exactly as compile/fit alone', async () => {
    const { x, y } = data();
    const alone = mlp(2, 4);
    alone.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', lr: 0.01 });
    await alone.fit(x, y, { epochs: 2, batchSize: 8, seed: 5, verbose: 0 });
    const student = mlp(2, 4);
    const d = new mox.train.Distiller(student, mlp(1, 16));
    d.compile({ optimizer: 'adam', lr: 0.01, alpha: 0, temperature: 4 });
    await d.fit(x, y, { epochs: 2, batchSize: 8, seed: 5, verbose: 0 });
    assert.deepEqual(weights(student), weights(alone));
  });

  it('bad settings and mismatched outputs: typed errors', async () => {
    const d = new mox.train.Distiller(mlp(2, 4), mlp(1, 16));
    assert.throws(
      () => d.compile({ temperature: 0 }),
      (e: Error) => e instanceof mox.ValueError && /Distiller.compile.*temperature.*got 0/.test(e.message),
    );
    assert.throws(
      () => d.compile({ alpha: -0.1 }),
      (e: Error) => e instanceof mox.ValueError && /alpha must be in \[0, 1\], got -0.1/.test(e.message),
    );
    const bad = new mox.train.Distiller(mlp(2, 4), new mox.nn.Linear(6, 5));
    bad.compile({});
    const { x, y } = data();
    await assert.rejects(
      bad.fit(x, y, { epochs: 1, verbose: 0 }),
      (e: Error) => e instanceof mox.ValueError && /teacher's outputs \[\d+, 5\]/.test(e.message),
    );
  });
});
