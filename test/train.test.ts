// Tests for mox.train: compile/fit/evaluate/predict on a separable problem, History, validation,
// callbacks (EarlyStopping, ModelCheckpoint, LR schedules, CSV/JSONL loggers), metrics on hand-checked
// examples, the Keras-format progress bar (terminal and not) and flat memory over a long fit.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { blobs } from '../test-support/fixtures.js';
import type { Tensor } from '../src/index.js';
import { TensorDataset } from '../src/data/dataset.js';
import { DataLoader } from '../src/data/dataloader.js';
import { assertClose } from '../test-support/assert.js';

const { nn, train } = mox;
const { metrics } = train;

function mlp(seed = 0): mox.nn.Module {
  mox.seed(seed);
  return new nn.Sequential(new nn.Linear(2, 16), new nn.Tanh(), new nn.Linear(16, 2));
}

/** A stream that records what is written, as a terminal or not. */
function capture(isTTY: boolean): { write(s: string): boolean; isTTY: boolean; text: string } {
  return {
    isTTY,
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

/** Clones of a model's state, kept past scopes. */
function snapshot(m: mox.nn.Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.dataSync())]));
}

let dir: string;
let data: { x: Tensor; y: Tensor };
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-train-'));
  data = blobs(200, 1);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fit / evaluate / predict', () => {
  it('learns two blobs: the loss falls and the accuracy is high; History holds every epoch', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
    const h = await model.fit(data.x, data.y, { epochs: 5, batchSize: 32, verbose: 0, seed: 0 });
    assert.deepEqual(h.epoch, [0, 1, 2, 3, 4]);
    assert.deepEqual(Object.keys(h.history).sort(), ['accuracy', 'loss']);
    assert.equal(h.history.loss!.length, 5);
    assert.ok(h.history.loss![4]! < h.history.loss![0]! * 0.5, `loss ${h.history.loss}`);
    assert.ok(h.history.accuracy![4]! > 0.97, `accuracy ${h.history.accuracy}`);
    assert.equal(model.history, h);
    assert.equal(h.params.steps, Math.ceil(400 / 32));
    const ev = model.evaluate(data.x, data.y, { batchSize: 64 });
    assert.deepEqual(Object.keys(ev), ['loss', 'accuracy']);
    assert.ok(ev.accuracy! > 0.97 && ev.loss! < 0.2, JSON.stringify(ev));
    const out = model.predict(data.x, { batchSize: 48 }); // 400 = 8 * 48 + 16: a short last batch
    assert.deepEqual(out.shape, [400, 2]);
    assert.equal(out.requiresGrad, false);
    const acc = metrics.accuracy(data.y, out);
    assert.ok(Math.abs(acc - ev.accuracy!) < 1e-9);
  });

  it('evaluate on a mean-loss basis matches the loss over the whole data', () => {
    const model = mlp(3);
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    const whole = mox.nn.functional.crossEntropy(model.predict(data.x), data.y).item();
    const ev = model.evaluate(data.x, data.y, { batchSize: 30 }); // 400 = 13 * 30 + 10
    assert.ok(Math.abs(ev.loss! - whole) < 1e-5, `${ev.loss} vs ${whole}`);
  });

  it('validationSplit holds out the last examples and logs val_*', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
    const h = await model.fit(data.x, data.y, { epochs: 2, batchSize: 40, validationSplit: 0.25, verbose: 0 });
    assert.deepEqual(Object.keys(h.history).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);
    assert.equal(h.params.steps, 8);
    const lastQuarter = model.evaluate(data.x.slice([300, 400]), data.y.slice([300, 400]));
    assert.ok(Math.abs(lastQuarter.loss! - h.history.val_loss![1]!) < 1e-5);
  });

  it('validationData as tensors, a Dataset and a DataLoader; fit on a Dataset and a DataLoader', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
    const v = blobs(50, 7);
    const h1 = await model.fit(data.x, data.y, { epochs: 1, validationData: [v.x, v.y], verbose: 0 });
    assert.ok(h1.history.val_accuracy![0]! > 0.9);
    const ds = new TensorDataset(data.x, data.y);
    const h2 = await model.fit(ds, { epochs: 1, batchSize: 50, validationData: new TensorDataset(v.x, v.y), verbose: 0 });
    assert.equal(h2.params.steps, 8);
    const loader = new DataLoader(ds, { batchSize: 100, shuffle: true, seed: 1 });
    const h3 = await model.fit(loader, {
      epochs: 2,
      validationData: new DataLoader(new TensorDataset(v.x, v.y), { batchSize: 25 }),
      verbose: 0,
    });
    assert.equal(h3.params.steps, 4);
    assert.equal(h3.history.val_loss!.length, 2);
    assert.deepEqual(model.predict(loader).shape, [400, 2]);
    const ev = model.evaluate(ds, { batchSize: 128 });
    assert.ok(ev.accuracy! > 0.95);
  });

  it('trains in train() mode and validates/predicts in eval() mode, restoring the mode after', async () => {
    class Probe extends nn.Module {
      modes: boolean[] = [];
      constructor(readonly inner: mox.nn.Module) {
        super();
      }
      forward(x: Tensor): Tensor {
        this.modes.push(this.training);
        return this.inner.forward(x);
      }
    }
    const model = new Probe(mlp());
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    model.eval();
    await model.fit(data.x, data.y, { epochs: 1, batchSize: 200, validationData: [data.x, data.y], validationBatchSize: 400, verbose: 0 });
    assert.deepEqual(model.modes, [true, true, false]);
    assert.equal(model.training, false);
    model.train();
    model.modes = [];
    model.predict(data.x, { batchSize: 400 });
    assert.deepEqual(model.modes, [false]);
    assert.equal(model.training, true);
  });

  it('other losses and optimizers: binary logits, categorical one-hot, mse, an Optimizer instance, a loss function', async () => {
    mox.seed(2);
    const bin = new nn.Sequential(new nn.Linear(2, 1));
    bin.compile({ optimizer: 'rmsprop', loss: 'binaryCrossentropy', metrics: ['accuracy'], lr: 0.05 });
    const hb = await bin.fit(data.x, data.y, { epochs: 3, verbose: 0 });
    assert.ok(hb.history.accuracy![2]! > 0.97, `${hb.history.accuracy}`);

    const oneHot = mox.tensor(Array.from(data.y.dataSync(), (c) => (c ? [0, 1] : [1, 0])));
    const cat = mlp(4);
    cat.compile({ optimizer: new mox.optim.Adam(cat.parameters(), { lr: 0.01 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const hc = await cat.fit(data.x, oneHot, { epochs: 3, verbose: 0 });
    assert.ok(hc.history.accuracy![2]! > 0.97);

    const probs = new nn.Sequential(new nn.Linear(2, 2), new nn.Softmax(1));
    probs.compile({ optimizer: 'adam', lr: 0.05, loss: 'sparseCategoricalCrossentropy', fromLogits: false, metrics: ['accuracy'] });
    const hp = await probs.fit(data.x, data.y, { epochs: 3, verbose: 0 });
    assert.ok(hp.history.loss![2]! < hp.history.loss![0]!);

    const reg = new nn.Sequential(new nn.Linear(2, 1));
    reg.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'], lr: 0.05 });
    const target = data.x
      .matmul(mox.tensor([[1.5], [-0.5]]))
      .add(0.25)
      .squeeze(1); // [N] target, [N,1] output
    const hr = await reg.fit(data.x, target, { epochs: 10, verbose: 0 });
    assert.ok(hr.history.loss![9]! < 1e-3, `${hr.history.loss}`);
    assert.ok(hr.history.mae![9]! < 0.03);

    const fnModel = mlp(5);
    fnModel.compile({ optimizer: 'adamw', loss: mox.nn.functional.crossEntropy, metrics: ['accuracy', 'f1'] });
    const hf = await fnModel.fit(data.x, data.y, { epochs: 2, verbose: 0 });
    assert.ok('f1' in hf.history);
  });

  it('reports clear errors', async () => {
    const model = mlp();
    await assert.rejects(() => model.fit(data.x, data.y), /must be compiled first/);
    assert.throws(() => model.compile({ optimizer: 'adagrad' as 'adam', loss: 'mse' }), /unknown optimizer 'adagrad'/);
    assert.throws(() => model.compile({ loss: 'hinge' as 'mse' }), /unknown loss 'hinge'/);
    assert.throws(() => model.compile({ loss: 'mse', metrics: ['auc' as 'f1'] }), /unknown metric 'auc'/);
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    await assert.rejects(() => model.fit(data.x, data.y.slice([0, 10]), { verbose: 0 }), /same number of examples/);
    await assert.rejects(() => model.fit(data.x, data.y, { batchSize: 0, verbose: 0 }), /batchSize must be a positive integer/);
    await assert.rejects(() => model.fit(data.x, data.y, { validationSplit: 1.5, verbose: 0 }), /validationSplit/);
  });

  it('initialEpoch resumes the epoch count', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const out = capture(false);
    const h = await model.fit(data.x, data.y, { epochs: 4, initialEpoch: 2, batchSize: 200, stream: out });
    assert.deepEqual(h.epoch, [2, 3]);
    assert.match(out.text, /^Epoch 3\/4\n/);
  });
});

describe('callbacks', () => {
  it('EarlyStopping stops after `patience` epochs without improvement and restores the best weights', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', lr: 0.01 });
    const states: Record<string, number[]>[] = [];
    class Recorder extends train.Callback {
      override onEpochEnd(): void {
        states.push(snapshot(this.model));
      }
    }
    // the loss falls every epoch, so watching it in 'max' mode never sees an improvement after epoch 0
    const es = new train.EarlyStopping({ monitor: 'loss', mode: 'max', patience: 2, restoreBestWeights: true });
    const h = await model.fit(data.x, data.y, { epochs: 10, batchSize: 50, verbose: 0, callbacks: [new Recorder(), es] });
    assert.deepEqual(h.epoch, [0, 1, 2]);
    assert.equal(es.stoppedEpoch, 2);
    assert.equal(es.bestEpoch, 0);
    assert.deepEqual(snapshot(model), states[0]);
    assert.notDeepEqual(states[2], states[0]);
  });

  it('MaxNorm caps each row of a weight at the given L2 norm after every batch (Keras max_norm)', async () => {
    const w = mox.tensor([
      [3, 4],
      [0.3, 0.4],
      [0, 0],
    ]); // row norms 5, 0.5, 0
    mox.optim.maxNorm_(w, 2, 1);
    const v = Array.from(w.dataSync());
    [1.2, 1.6, 0.3, 0.4, 0, 0].forEach((e, i) => assert.ok(Math.abs(v[i]! - e) < 1e-5, `${v}`));
    assert.throws(() => mox.optim.maxNorm_(w, 0, 1), /maxValue/);
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', lr: 0.5 }); // a large step, to exceed the cap
    const last = [...model.modules()].filter((m): m is mox.nn.Linear => m instanceof mox.nn.Linear).at(-1)!;
    let worst = 0;
    class Check extends train.Callback {
      override onBatchEnd(): void {
        const n = last.weight.square().sum(1).sqrt().dataSync();
        worst = Math.max(worst, ...Array.from(n));
      }
    }
    await model.fit(data.x, data.y, {
      epochs: 2,
      batchSize: 50,
      verbose: 0,
      callbacks: [new train.MaxNorm(last.weight, 0.5, 1), new Check()],
    });
    assert.ok(worst > 0.4 && worst <= 0.5 + 1e-5, `largest row norm ${worst}`);
  });

  it('EarlyStopping in min mode keeps going while the loss improves; stopTraining from a callback ends fit', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', lr: 0.01 });
    const es = new train.EarlyStopping({ monitor: 'loss', patience: 1 });
    const h = await model.fit(data.x, data.y, { epochs: 4, batchSize: 50, verbose: 0, callbacks: [es] });
    assert.equal(h.epoch.length, 4);
    assert.equal(es.stoppedEpoch, -1);
    class StopAtBatch3 extends train.Callback {
      batches = 0;
      override onBatchEnd(batch: number): void {
        this.batches++;
        if (batch === 3) this.model.stopTraining = true;
      }
    }
    const stop = new StopAtBatch3();
    const h2 = await model.fit(data.x, data.y, { epochs: 4, batchSize: 50, verbose: 0, callbacks: [stop] });
    assert.equal(stop.batches, 4);
    assert.equal(h2.epoch.length, 1);
  });

  it('ModelCheckpoint writes a loadable safetensors file, only on improvement with saveBestOnly', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', lr: 0.01 });
    const file = path.join(dir, 'ckpt', 'best.safetensors');
    let first: Record<string, number[]> = {};
    class Recorder extends train.Callback {
      override onEpochEnd(epoch: number): void {
        if (epoch === 0) first = snapshot(this.model);
      }
    }
    const best = new train.ModelCheckpoint({ path: file, monitor: 'loss', mode: 'max', saveBestOnly: true });
    const every = new train.ModelCheckpoint({ path: path.join(dir, 'ckpt', 'e{epoch:02d}-{loss:.3f}.safetensors') });
    await model.fit(data.x, data.y, { epochs: 3, batchSize: 50, verbose: 0, callbacks: [new Recorder(), best, every] });
    assert.deepEqual(best.saved, [file]);
    assert.equal(every.saved.length, 3);
    assert.match(path.basename(every.saved[2]!), /^e03-0\.\d{3}\.safetensors$/);
    const { tensors, metadata } = await mox.loadSafetensors(file);
    assert.equal(metadata.epoch, '1');
    const fresh = mlp(9);
    fresh.loadStateDict(tensors);
    assert.deepEqual(snapshot(fresh), first);
  });

  it('LearningRateScheduler sets the optimizer lr each epoch and logs it', async () => {
    const model = mlp();
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    assert.equal(model.optimizer!.lr, 0.01); // Keras's default for sgd
    const seen: number[] = [];
    class Seen extends train.Callback {
      override onBatchEnd(): void {
        seen.push(this.model.optimizer!.lr);
      }
    }
    const sched = new train.LearningRateScheduler((epoch) => 0.1 * 0.5 ** epoch);
    const h = await model.fit(data.x, data.y, { epochs: 3, batchSize: 200, verbose: 0, callbacks: [sched, new Seen()] });
    assert.deepEqual(h.history.lr, [0.1, 0.05, 0.025]);
    assert.deepEqual(seen, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    assert.equal(model.optimizer!.lr, 0.025);
  });

  it('SchedulerCallback steps a mox.optim scheduler per epoch or per batch', async () => {
    const model = mlp();
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', lr: 0.1 });
    const perEpoch = new train.SchedulerCallback(new mox.optim.StepLR(model.optimizer!, 1, 0.5));
    const h = await model.fit(data.x, data.y, { epochs: 3, batchSize: 200, verbose: 0, callbacks: [perEpoch] });
    assert.deepEqual(h.history.lr, [0.1, 0.05, 0.025]);
    assert.ok(Math.abs(model.optimizer!.lr - 0.0125) < 1e-12);

    const m2 = mlp();
    m2.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', lr: 0.1 });
    const perBatch = new train.SchedulerCallback(new mox.optim.StepLR(m2.optimizer!, 2, 0.1), { interval: 'batch' });
    await m2.fit(data.x, data.y, { epochs: 2, batchSize: 100, verbose: 0, callbacks: [perBatch] }); // 8 steps
    assert.ok(Math.abs(m2.optimizer!.lr - 0.1 * 0.1 ** 4) < 1e-12);

    const m3 = mlp();
    m3.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', lr: 0.1 });
    const plateau = new mox.optim.ReduceLROnPlateau(m3.optimizer!, { mode: 'max', patience: 0, factor: 0.5 });
    await m3.fit(data.x, data.y, {
      epochs: 3,
      batchSize: 200,
      verbose: 0,
      callbacks: [new train.SchedulerCallback(plateau, { monitor: 'loss' })],
    });
    assert.ok(m3.optimizer!.lr < 0.1); // the loss falls, which is no improvement in 'max' mode
  });

  it('CSVLogger and JSONLLogger write one row per epoch, and append when asked', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const csv = path.join(dir, 'log.csv');
    const jsonl = path.join(dir, 'logs', 'log.jsonl');
    const fitOnce = (append: boolean, epochs: number): Promise<unknown> =>
      model.fit(data.x, data.y, {
        epochs,
        batchSize: 100,
        validationSplit: 0.5,
        verbose: 0,
        callbacks: [new train.CSVLogger(csv, { append }), new train.JSONLLogger(jsonl, { append })],
      });
    await fitOnce(false, 2);
    let lines = fs.readFileSync(csv, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'epoch,accuracy,loss,val_accuracy,val_loss');
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /^0,[\d.e-]+,[\d.e-]+,[\d.e-]+,[\d.e-]+$/);
    let rows = fs
      .readFileSync(jsonl, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(rows.length, 2);
    assert.deepEqual(Object.keys(rows[1]!), ['epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy']);
    assert.equal(rows[1]!.epoch, 1);
    assert.equal(String(rows[1]!.loss), lines[2]!.split(',')[2]);

    await fitOnce(true, 1);
    lines = fs.readFileSync(csv, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines.filter((l) => l.startsWith('epoch')).length, 1);
    rows = fs
      .readFileSync(jsonl, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(rows.length, 3);

    await fitOnce(false, 1);
    assert.equal(fs.readFileSync(csv, 'utf8').trimEnd().split('\n').length, 2);
  });
});

describe('metrics', () => {
  // class 2 is never predicted: its precision is 0/0, counted as 0 (sklearn's zero_division=0)
  const yTrue = mox.tensor([0, 0, 1, 1, 2, 2], { dtype: 'int32' });
  const yPred = mox.tensor([0, 0, 1, 0, 1, 1], { dtype: 'int32' });
  const close = (a: number, b: number): void => assertClose(a, b, { atol: 1e-12, rtol: 0 });

  it('accuracy, macro precision / recall / F1 and the confusion matrix on a hand-checked example', () => {
    close(metrics.accuracy(yTrue, yPred), 0.5);
    close(metrics.precision(yTrue, yPred), (2 / 3 + 1 / 3 + 0) / 3); // sklearn: 0.3333
    close(metrics.recall(yTrue, yPred), (1 + 0.5 + 0) / 3); // 0.5
    close(metrics.f1Score(yTrue, yPred), (0.8 + 0.4 + 0) / 3); // 0.4
    const cm = metrics.confusionMatrix(yTrue, yPred, 3);
    assert.equal(cm.dtype, 'int32');
    assert.deepEqual(cm.tolist(), [
      [2, 0, 0],
      [1, 1, 0],
      [0, 2, 0],
    ]);
    assert.deepEqual(metrics.confusionMatrix(yTrue, yPred, 4).shape, [4, 4]);
    assert.throws(() => metrics.confusionMatrix(yTrue, yPred, 2), /outside \[0, 2\)/);
    // micro averaging equals accuracy for single-label data; 'binary' is class 1 alone
    close(metrics.precision(yTrue, yPred, { average: 'micro' }), 0.5);
    close(metrics.recall(yTrue, yPred, { average: 'binary' }), 0.5);
    // with numClasses, a class absent from both counts in the macro mean (as sklearn's labels=)
    close(metrics.recall(yTrue, yPred, { numClasses: 4 }), 1.5 / 4);
  });

  it('takes logits or probabilities (argmax), one-hot targets, and binary scores (threshold)', () => {
    const logits = mox.tensor(
      [
        [3, 1, 0],
        [2, 0, 1],
        [0, 4, 1],
        [5, 1, 2],
        [0, 2, 1],
        [1, 3, 2],
      ],
      { dtype: 'float32' },
    );
    const oneHot = mox.tensor([
      [1, 0, 0],
      [1, 0, 0],
      [0, 1, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0, 0, 1],
    ]);
    close(metrics.accuracy(yTrue, logits), 0.5);
    close(metrics.f1Score(oneHot, logits), 0.4);
    assert.deepEqual(metrics.confusionMatrix(oneHot, logits).tolist(), [
      [2, 0, 0],
      [1, 1, 0],
      [0, 2, 0],
    ]);
    const p = mox.tensor([0.2, 0.7, 0.5, 0.4]);
    const t = mox.tensor([0, 1, 1, 1], { dtype: 'int32' });
    close(metrics.accuracy(t, p), 0.75);
    close(metrics.accuracy(t, p.reshape([4, 1])), 0.75);
    close(metrics.accuracy(t, mox.tensor([-1, 2, 0.1, -0.3]), { fromLogits: true }), 0.75);
    close(metrics.recall(t, p, { average: 'binary' }), 2 / 3);
    close(metrics.precision(t, p, { average: 'binary' }), 1);
  });

  it('accumulates counts over batches (not a mean of batch ratios)', () => {
    const prec = new metrics.Precision();
    const f1 = new metrics.F1Score();
    const acc = new metrics.Accuracy();
    for (const [a, b] of [
      [0, 1],
      [1, 5],
      [5, 6],
    ] as const) {
      const t = yTrue.slice([a, b]),
        p = yPred.slice([a, b]);
      prec.update(t, p);
      f1.update(t, p);
      acc.update(t, p);
    }
    close(prec.result(), 1 / 3);
    close(f1.result(), 0.4);
    close(acc.result(), 0.5);
    prec.reset();
    assert.equal(prec.result(), 0);
    // batch accuracies 1/1 and 0/3 average to 0.5; the pooled accuracy is 1/4
    acc.reset();
    acc.update(mox.tensor([1], { dtype: 'int32' }), mox.tensor([1], { dtype: 'int32' }));
    acc.update(mox.tensor([1, 1, 1], { dtype: 'int32' }), mox.tensor([0, 0, 0], { dtype: 'int32' }));
    close(acc.result(), 0.25);
  });

  it('labels read on the host equal the argmax / threshold ops, ties and NaN included', () => {
    // ties go to the first maximum, a NaN wins wherever it is (the argmax kernel's rule)
    const rows = [
      [1, 3, 3],
      [NaN, 5, 1],
      [2, NaN, 9],
      [0, 0, 0],
      [-1, -2, -1],
      [4, 1, NaN],
    ];
    const x = mox.tensor(rows, { dtype: 'float32' });
    const viaOp = (t: Tensor): number[] => Array.from(t.argmax(1).dataSync());
    assert.deepEqual(Array.from(metrics.predictedLabels(x)), [1, 0, 1, 0, 0, 2]);
    assert.deepEqual(Array.from(metrics.predictedLabels(x)), viaOp(x));
    mox.seed(3);
    const r = mox.randn([7, 4, 5]); // argmax over axis 1 of [N, C, L]: per position
    assert.deepEqual(Array.from(metrics.predictedLabels(r)), viaOp(r));
    const rt = mox.randn([5, 7]).transpose(0, 1); // a non-contiguous view
    assert.deepEqual(Array.from(metrics.predictedLabels(rt)), viaOp(rt));
    assert.deepEqual(Array.from(metrics.trueLabels(rt, rt)), viaOp(rt)); // one-hot-shaped targets
    const p = mox.tensor([0.2, 0.5, NaN, 0.7]);
    assert.deepEqual(Array.from(metrics.predictedLabels(p)), Array.from(p.ge(0.5).int().dataSync()));
    assert.deepEqual(Array.from(metrics.predictedLabels(p, { fromLogits: true })), [1, 1, 0, 1]);
    assert.deepEqual(Array.from(metrics.trueLabels(mox.tensor([0, 1, 0.6]))), [0, 1, 1]);
    assert.deepEqual(Array.from(metrics.predictedLabels(mox.tensor([true, false, true]))), [1, 0, 1]);
    assert.deepEqual(Array.from(metrics.trueLabels(mox.tensor([2, 0, 1], { dtype: 'int32' }))), [2, 0, 1]);
  });

  it("an epoch's logged loss and accuracy equal a hand computation over every example", async () => {
    // lr 0: the weights stay put, so each batch's loss and predictions are those of the final model;
    // batches of 48 over 400 examples leave a short last batch, which the means must weight by size
    const model = mlp(8);
    model.compile({ optimizer: 'sgd', lr: 0, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const seen: number[] = [];
    const cb = new (class extends train.Callback {
      override onBatchEnd(_b: number, logs: Record<string, number>): void {
        seen.push(logs.accuracy!);
      }
    })();
    const h = await model.fit(data.x, data.y, { epochs: 1, batchSize: 48, verbose: 0, seed: 1, callbacks: [cb] });
    const out = model.predict(data.x);
    const loss = mox.nn.functional.crossEntropy(out, data.y).item();
    const close6 = (a: number, b: number): void => assertClose(a, b, { atol: 1e-6, rtol: 0 });
    close6(h.history.loss![0]!, loss);
    close(h.history.accuracy![0]!, metrics.accuracy(data.y, out));
    assert.equal(seen.length, 9);
    close(seen.at(-1)!, h.history.accuracy![0]!);
  });

  it('compiled precision/recall/f1 over a fit match the standalone functions on the same predictions', () => {
    const model = mlp(6);
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy', 'precision', 'recall', 'f1'] });
    const ev = model.evaluate(data.x, data.y, { batchSize: 37 });
    const out = model.predict(data.x);
    close(ev.precision!, metrics.precision(data.y, out));
    close(ev.recall!, metrics.recall(data.y, out));
    close(ev.f1!, metrics.f1Score(data.y, out));
    close(ev.accuracy!, metrics.accuracy(data.y, out));
  });
});

describe('progress bar', () => {
  const val = /\d+\.\d{4}(e[+-]\d\d)?/.source;
  const line1 = new RegExp(
    `^(\\d+)/\\1 \\[={30}\\] - \\d+s \\d+(s|ms|us)/step - loss: ${val} - accuracy: ${val} - val_loss: ${val} - val_accuracy: ${val}$`,
  );

  it('prints one plain Keras-format line per epoch when the output is not a terminal', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const out = capture(false);
    await model.fit(data.x, data.y, { epochs: 2, batchSize: 32, validationData: [data.x, data.y], stream: out });
    assert.ok(!out.text.includes('\r'));
    const lines = out.text.split('\n');
    assert.equal(lines.length, 5);
    assert.equal(lines[0], 'Epoch 1/2');
    assert.match(lines[1]!, line1);
    assert.ok(lines[1]!.startsWith('13/13 [=============================='), lines[1]);
    assert.equal(lines[2], 'Epoch 2/2');
    assert.match(lines[3]!, line1);
    assert.equal(lines[4], '');
  });

  it('redraws in place with \\r on a terminal and ends each epoch with a newline', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const out = capture(true);
    await model.fit(data.x, data.y, { epochs: 1, batchSize: 32, validationData: [data.x, data.y], stream: out });
    assert.ok(out.text.startsWith('Epoch 1/1\n\r 1/13 [=>............................] - ETA: '), JSON.stringify(out.text.slice(0, 80)));
    assert.ok(out.text.endsWith('\n'));
    const last = out.text.slice(out.text.lastIndexOf('\r') + 1, -1);
    assert.match(last.trimEnd(), line1);

    const bar = new train.ProgressBar(10, { stream: out, intervalMs: 0 });
    out.text = '';
    for (let i = 1; i <= 10; i++) bar.update(i, { loss: 1 / i });
    assert.equal(out.text.split('\r').length, 11);
    assert.match(out.text, /\r 5\/10 \[==============>...............\] - ETA: \d+s - loss: 0\.2000/);
  });

  it('verbose 2 prints one line per epoch; verbose 0 prints nothing', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const out = capture(true);
    await model.fit(data.x, data.y, { epochs: 2, batchSize: 100, verbose: 2, stream: out });
    const lines = out.text.split('\n');
    assert.equal(lines[0], 'Epoch 1/2');
    assert.match(lines[1]!, new RegExp(`^4/4 - \\d+s - loss: ${val} - accuracy: ${val} - \\d+(s|ms|us)/epoch - \\d+(s|ms|us)/step$`));
    assert.ok(!out.text.includes('\r'));
    const quiet = capture(false);
    await model.fit(data.x, data.y, { epochs: 1, verbose: 0, stream: quiet });
    assert.equal(quiet.text, '');
  });

  it('formats values as Keras does', () => {
    assert.equal(train.formatValue(0.16912), '0.1691');
    assert.equal(train.formatValue(0.00012345), '1.2345e-04');
    assert.equal(train.formatValue(12.5), '12.5000');
  });
});

describe('memory', () => {
  it('a fit holds steady memory: the live tensor count is the same after epoch 1 and epoch 3', async () => {
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy', 'f1'] });
    const counts: number[] = [];
    class Count extends train.Callback {
      override onEpochEnd(): void {
        counts.push(mox.memory().numTensors);
      }
    }
    const before = mox.memory().numTensors;
    await model.fit(data.x, data.y, { epochs: 3, batchSize: 16, validationSplit: 0.2, verbose: 0, callbacks: [new Count()] });
    assert.equal(counts.length, 3);
    assert.equal(counts[2], counts[0], `live tensors after each epoch: ${counts}`);
    // what stays is the optimizer's state and the gradients: a few tensors per parameter
    assert.ok(counts[0]! - before <= 4 * model.parameters().length, `${before} -> ${counts}`);
  });
});
