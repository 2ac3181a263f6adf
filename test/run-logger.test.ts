// fit(..., { runDir }) and train.RunLogger: the run record, the train and val scalars, the confusion
// matrix (its counts sum to the validation set and agree with evaluate's accuracy), and resumes
// (initialEpoch, BackupAndRestore) that continue the file with no step twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { ValueError } from '../src/errors.js';
import { blobs } from '../test-support/fixtures.js';

const { readRunLog, RunLogger } = mox.train;
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mox-runlogger-'));

/** Three Gaussian blobs in 2-D, classes 0, 1, 2 (overlapping, so the matrix is not diagonal). */
function threeBlobs(n: number, seed: number): { x: mox.Tensor; y: mox.Tensor } {
  const g = new mox.Generator(seed);
  const xs = new Float32Array(2 * n);
  const ys = new Int32Array(n);
  const centers = [
    [-1, 0],
    [1, 0],
    [0, 1.5],
  ];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    xs[2 * i] = centers[c]![0]! + g.normal();
    xs[2 * i + 1] = centers[c]![1]! + g.normal();
    ys[i] = c;
  }
  return { x: mox.tensor(xs, { shape: [n, 2] }), y: mox.tensor(ys) };
}

function classifier(classes: number): mox.nn.Sequential {
  mox.seed(1);
  const m = new mox.nn.Sequential(new mox.nn.Linear(2, 8), new mox.nn.ReLU(), new mox.nn.Linear(8, classes));
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.02 });
  return m;
}

test('fit with runDir: run record, train scalars every logEvery steps and per epoch, val scalars, confusion', async () => {
  const dir = path.join(tmpDir(), 'blobs');
  const train = threeBlobs(96, 1);
  const val = threeBlobs(45, 2);
  const model = classifier(3);
  const labels = ['left', 'right', 'top'];
  await model.fit(train.x, train.y, {
    epochs: 3,
    batchSize: 16,
    verbose: 0,
    seed: 4,
    validationData: [val.x, val.y],
    runDir: dir,
    runLog: { logEvery: 2, labels, config: { data: 'three blobs' } },
  });
  const data = readRunLog(dir);
  // the run: model, compile and fit settings, the user's config
  assert.equal(data.run.kind, 'classifier');
  assert.equal(data.run.name, 'blobs');
  const cfg = data.run.config as Record<string, any>;
  assert.equal(cfg.model.class, 'Sequential');
  assert.equal(cfg.model.parameters, 2 * 8 + 8 + 8 * 3 + 3);
  assert.deepEqual(
    cfg.model.layers.map((l: { type: string }) => l.type),
    ['Linear', 'ReLU', 'Linear'],
  );
  assert.equal(cfg.compile.optimizer.name, 'Adam');
  assert.equal(cfg.compile.optimizer.lr, 0.02);
  assert.deepEqual(cfg.compile.optimizer.betas, [0.9, 0.999]);
  assert.equal(cfg.compile.loss, 'sparseCategoricalCrossentropy');
  assert.deepEqual(cfg.compile.metrics, ['accuracy']);
  assert.equal(cfg.fit.batchSize, 16);
  assert.equal(cfg.fit.epochs, 3);
  assert.equal(cfg.fit.stepsPerEpoch, 6);
  assert.equal(cfg.data, 'three blobs');
  // every 2 steps (6 per epoch, 18 in all) and once per epoch
  const running = data.scalars.filter((s) => s.split === 'train' && s.epoch === undefined);
  assert.deepEqual(
    running.map((s) => s.step),
    [2, 4, 6, 8, 10, 12, 14, 16, 18],
  );
  for (const s of running) {
    assert.deepEqual(Object.keys(s.values).sort(), ['accuracy', 'loss', 'lr', 'samples_per_s']);
    assert.equal(s.values.lr, 0.02);
    assert.ok(s.values.samples_per_s! > 0);
  }
  const epochs = data.scalars.filter((s) => s.epoch !== undefined);
  assert.deepEqual(
    epochs.map((s) => [s.split, s.epoch, s.step]),
    [
      ['train', 0, 6],
      ['val', 0, 6],
      ['train', 1, 12],
      ['val', 1, 12],
      ['train', 2, 18],
      ['val', 2, 18],
    ],
  );
  const h = model.history!.history;
  // each running record is the mean over its own 2 batches of 16 (not the epoch's running mean): the
  // three windows of an epoch average to the epoch's loss and accuracy
  for (let e = 0; e < 3; e++) {
    const windows = running.slice(3 * e, 3 * e + 3);
    for (const k of ['loss', 'accuracy'] as const) {
      const mean = windows.reduce((a, s) => a + s.values[k]!, 0) / 3;
      assert.ok(Math.abs(mean - h[k]![e]!) < 1e-6, `epoch ${e} ${k}: windows average ${mean}, the epoch's ${h[k]![e]}`);
    }
  }
  assert.deepEqual(
    epochs.filter((s) => s.split === 'val').map((s) => s.values.accuracy),
    h.val_accuracy,
  );
  assert.deepEqual(
    epochs.filter((s) => s.split === 'train').map((s) => s.values.loss),
    h.loss,
  );
  // the confusion matrix at the end: counts over the 45 validation examples, its diagonal evaluate's accuracy
  assert.equal(data.confusion.length, 1);
  const c = data.confusion[0]!;
  assert.equal(c.split, 'val');
  assert.equal(c.step, 18);
  assert.deepEqual(c.labels, labels);
  const total = c.matrix.flat().reduce((a, b) => a + b, 0);
  assert.equal(total, 45);
  assert.deepEqual(
    c.matrix.map((row) => row.reduce((a, b) => a + b, 0)),
    [15, 15, 15],
  );
  const correct = c.matrix.reduce((a, row, i) => a + row[i]!, 0);
  const ev = model.evaluate(val.x, val.y, { verbose: 0 });
  assert.ok(Math.abs(correct / total - ev.accuracy!) < 1e-6, `${correct}/${total} vs ${ev.accuracy}`);
  assert.ok(correct / total > 0.5);
});

test('RunLogger: initialEpoch continues the file with no step twice; BackupAndRestore resumes it too', async () => {
  const { x, y } = blobs(24, 3);
  const opts = { batchSize: 8, verbose: 0 as const, seed: 5, validationSplit: 0.25, runLog: { logEvery: 4 } };
  // 48 examples, 36 for training: 5 batches per epoch
  const dir = path.join(tmpDir(), 'run');
  const model = classifier(2);
  await model.fit(x, y, { ...opts, epochs: 2, runDir: dir });
  await model.fit(x, y, { ...opts, epochs: 4, initialEpoch: 2, runDir: dir });
  const data = readRunLog(dir);
  const steps = data.scalars.filter((s) => s.split === 'train').map((s) => [s.step, s.epoch ?? null]);
  assert.deepEqual(steps, [
    [4, null],
    [5, 0],
    [8, null],
    [10, 1],
    [12, null],
    [15, 2],
    [16, null],
    [20, null],
    [20, 3],
  ]);
  assert.equal(data.resumes.length, 1);
  assert.equal(data.resumes[0]!.resumedFrom, 10);
  // the first fit's confusion (step 10) stays; the second adds its own at step 20
  assert.deepEqual(
    data.confusion.map((c) => c.step),
    [10, 20],
  );
  // a second fit from initialEpoch 1 drops what came after epoch 0
  await model.fit(x, y, { ...opts, epochs: 2, initialEpoch: 1, runDir: dir });
  const again = readRunLog(dir);
  assert.deepEqual(
    again.scalars.filter((s) => s.split === 'val').map((s) => [s.step, s.epoch]),
    [
      [5, 0],
      [10, 1],
    ],
  );
  assert.equal(again.resumes.at(-1)!.resumedFrom, 5);

  // BackupAndRestore: a fit stopped after epoch 1 of 3, started again, goes on from the backup's step
  const dir2 = path.join(tmpDir(), 'backed');
  const backupDir = path.join(dir2, 'backup');
  class StopAfter extends mox.train.Callback {
    override onEpochEnd(epoch: number): void {
      if (epoch === 1) throw new Error('interrupted');
    }
  }
  await assert.rejects(
    classifier(2).fit(x, y, {
      ...opts,
      epochs: 3,
      runDir: dir2,
      callbacks: [new mox.train.BackupAndRestore({ backupDir, verbose: 0 }), new StopAfter()],
    }),
    /interrupted/,
  );
  // the backup of epoch 1 (step 10) was written before the interruption, the logger's epoch record not
  await classifier(2).fit(x, y, {
    ...opts,
    epochs: 3,
    runDir: dir2,
    callbacks: [new mox.train.BackupAndRestore({ backupDir, verbose: 0 })],
  });
  const resumed = readRunLog(dir2);
  const trainSteps = resumed.scalars.filter((s) => s.split === 'train').map((s) => s.step);
  // epoch 1's summary, lost with the interruption (after the backup, before the logger), is written
  // again from the restored History when the fit resumes
  assert.deepEqual(trainSteps, [4, 5, 8, 10, 12, 15]);
  const uninterrupted = path.join(tmpDir(), 'whole');
  await classifier(2).fit(x, y, { ...opts, epochs: 3, runDir: uninterrupted });
  const epochSummaries = (d: mox.train.RunData) =>
    d.scalars.filter((s) => s.epoch !== undefined).map((s) => [s.split, s.step, s.epoch, s.values]);
  assert.deepEqual(epochSummaries(resumed), epochSummaries(readRunLog(uninterrupted)));
  assert.equal(resumed.resumes[0]!.resumedFrom, 10);
});

test('RunLogger: logConfusion on a test set with one-hot targets; bad options are ValueErrors', async () => {
  const dir = tmpDir();
  const { x, y } = threeBlobs(30, 7);
  mox.seed(2);
  const model = new mox.nn.Sequential(new mox.nn.Linear(2, 3));
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', lr: 0.1 });
  const ys = y.dataSync();
  const oneHot = mox.tensor(
    Float32Array.from({ length: 90 }, (_, i) => (Number(ys[Math.floor(i / 3)]) === i % 3 ? 1 : 0)),
    { shape: [30, 3] },
  );
  const logger = new RunLogger(dir, { labels: ['a', 'b', 'c'], logEvery: 0 });
  await model.fit(x, oneHot, { epochs: 1, batchSize: 10, verbose: 0, callbacks: [logger] });
  assert.equal(await logger.logConfusion([x, oneHot], 'test'), true);
  const data = readRunLog(dir);
  assert.equal(data.confusion.length, 1); // no validation data: only the test set's
  assert.equal(data.confusion[0]!.split, 'test');
  assert.equal(data.confusion[0]!.step, 3);
  assert.equal(
    data.confusion[0]!.matrix.flat().reduce((a, b) => a + b, 0),
    30,
  );
  assert.deepEqual(
    data.scalars.map((s) => [s.split, s.step, s.epoch]),
    [['train', 3, 0]],
  );
  // a regression model is not a classifier: nothing is written
  const reg = new mox.nn.Sequential(new mox.nn.Linear(2, 1));
  reg.compile({ optimizer: 'sgd', loss: 'mse' });
  const regDir = tmpDir();
  await reg.fit(x, mox.zeros([30, 1]), { epochs: 1, batchSize: 10, verbose: 0, runDir: regDir, validationData: [x, mox.zeros([30, 1])] });
  assert.equal(readRunLog(regDir).run.kind, 'other');
  assert.equal(readRunLog(regDir).confusion.length, 0);
  assert.throws(() => new RunLogger(''), ValueError);
  assert.throws(() => new RunLogger(dir, { logEvery: -1 }), /logEvery must be a non-negative integer, got -1/);
  assert.throws(() => new RunLogger(dir, { confusion: 'always' as 'end' }), /confusion must be 'end', 'epoch' or 'none'/);
  const wrong = new RunLogger(tmpDir(), { labels: ['a', 'b'] });
  await model.fit(x, oneHot, { epochs: 1, batchSize: 10, verbose: 0, callbacks: [wrong] });
  await assert.rejects(wrong.logConfusion([x, oneHot]), /2 labels given for a model with 3 classes/);
});
