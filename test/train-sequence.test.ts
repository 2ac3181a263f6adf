// fit / evaluate / predict with a model whose forward returns an object of tensors ({ logits, state }
// from the LSTM language model) and sequence targets: logits [B, T, V] against labels [B, T].

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { assertClose } from '../test-support/assert.js';

// tol/2 + tol/2 * |b| never exceeds the tol * max(1, |b|) these tests were written against
const close = (a: number, b: number, tol = 1e-5) => assertClose(a, b, { atol: tol / 2, rtol: tol / 2 });

/** Sequences where each next token is (token + 1) mod V: learnable by any LM. */
function counting(n: number, t: number, v: number, seed: number): { x: mox.Tensor; y: mox.Tensor } {
  const g = new mox.Generator(seed);
  const xs = new Int32Array(n * t);
  const ys = new Int32Array(n * t);
  for (let i = 0; i < n; i++) {
    let c = g.int(0, v);
    for (let j = 0; j < t; j++) {
      xs[i * t + j] = c;
      c = (c + 1) % v;
      ys[i * t + j] = c;
    }
  }
  return { x: mox.tensor(xs, { shape: [n, t], dtype: 'int32' }), y: mox.tensor(ys, { shape: [n, t], dtype: 'int32' }) };
}

test('sparseCategoricalCrossentropy on [B, T, V] logits and [B, T] labels is the flattened cross-entropy', () => {
  mox.seed(1);
  const logits = mox.randn([3, 5, 7]);
  const labels = mox.tensor(
    Int32Array.from({ length: 15 }, (_, i) => (i * 3) % 7),
    { shape: [3, 5], dtype: 'int32' },
  );
  const loss = mox.train.losses.sparseCategoricalCrossentropy()(logits, labels).item();
  close(loss, mox.nn.functional.crossEntropy(logits.reshape(15, 7), labels.reshape(15)).item());
  // the accuracy counts every position, the class being the last axis
  const acc = new mox.train.Accuracy();
  acc.update(labels, logits);
  const pred = logits.reshape(15, 7).argmax(1).dataSync();
  const want = Array.from(labels.dataSync()).filter((l, i) => l === pred[i]).length / 15;
  close(acc.result(), want);
  // PyTorch's [N, C, d] layout keeps the classes on axis 1
  const nc = mox.randn([2, 4, 3]);
  const l2 = mox.tensor(Int32Array.from([0, 1, 2, 3, 0, 1]), { shape: [2, 3], dtype: 'int32' });
  close(mox.train.losses.sparseCategoricalCrossentropy()(nc, l2).item(), mox.nn.functional.crossEntropy(nc, l2).item());
});

test('fit / evaluate / predict an LSTM language model whose forward returns { logits, state }', async () => {
  const V = 6;
  const train = counting(48, 8, V, 2);
  const val = counting(16, 8, V, 3);
  const model = new mox.models.LSTMLanguageModel({
    vocabSize: V,
    embedDim: 8,
    hiddenSize: 16,
    numLayers: 2,
    generator: new mox.Generator(4),
  });
  model.compile({ optimizer: 'adam', lr: 1e-2, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const before = model.evaluate(val.x, val.y, { batchSize: 8 });
  const h = await model.fit(train.x, train.y, { epochs: 6, batchSize: 8, seed: 0, verbose: 0, validationData: [val.x, val.y] });
  const losses = h.history['loss']!;
  assert.equal(losses.length, 6);
  assert.ok(losses[5]! < losses[0]! / 2, `loss ${losses}`);
  assert.ok(h.history['val_accuracy']!.at(-1)! > 0.8, `val accuracy ${h.history['val_accuracy']}`);
  // evaluate's loss is the mean over every position, as model.loss computes it
  const after = model.evaluate(val.x, val.y, { batchSize: 16 });
  assert.ok(after.loss! < before.loss!);
  const direct = mox.noGrad(() => {
    model.eval();
    return model.loss(val.x, val.y).loss.item();
  });
  close(after.loss!, direct);
  // predict returns the logits of every example, [N, T, V]
  const p = model.predict(val.x, { batchSize: 5 });
  assert.deepEqual(p.shape, [16, 8, V]);
  const ref = mox.noGrad(() => model.forward(val.x).logits);
  const a = p.dataSync();
  const b = ref.dataSync();
  for (let i = 0; i < a.length; i++) close(a[i]!, b[i]!, 1e-4);
});

test('compile({ output }) picks another entry of the forward object; a missing one is a typed error naming the entries', async () => {
  class TwoHeads extends mox.nn.Module {
    lin = new mox.nn.Linear(3, 2);
    forward(x: mox.Tensor): { main: mox.Tensor; aux: mox.Tensor } {
      const y = this.lin.forward(x);
      return { main: y, aux: y.mul(0) };
    }
  }
  mox.seed(5);
  const x = mox.randn([8, 3]);
  const y = mox.tensor(Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]), { shape: [8], dtype: 'int32' });
  const m = new TwoHeads();
  m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
  await assert.rejects(
    m.fit(x, y, { verbose: 0 }),
    (e: unknown) =>
      e instanceof mox.ValueError &&
      e.op === 'fit' &&
      /returned an object whose 'logits' is missing; its tensors are 'main', 'aux': name the one the loss reads with compile\(\{ output: '\.\.\.' \}\)/.test(
        e.message,
      ),
  );
  m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', output: 'aux' });
  close(m.evaluate(x, y).loss!, Math.log(2)); // zero logits
  m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', output: 'main' });
  close(m.evaluate(x, y).loss!, mox.nn.functional.crossEntropy(m.lin.forward(x), y).item());
  assert.deepEqual(m.predict(x).shape, [8, 2]);
  assert.throws(
    () => m.compile({ loss: 'mse', output: '' }),
    (e: unknown) => e instanceof mox.ValueError && e.op === 'compile',
  );
  class Bad extends mox.nn.Module {
    forward(): number[] {
      return [1];
    }
  }
  assert.throws(() => new Bad().predict(x), /predict: the model's forward\(\) must return a Tensor or an object of tensors .*got an array/);
});
