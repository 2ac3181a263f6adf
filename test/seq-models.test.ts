// The LSTM language model and Kim's text CNN: shapes, learning a repeating sequence, stateful
// continuation, fitting a toy sentiment set with model.fit, and max-over-time pooling with padding.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { LSTMLanguageModel, TextCNN } from '../src/models/index.js';
import { WordTokenizer } from '../src/text/word.js';
import { maxAbsDiff } from '../test-support/assert.js';

function ids2d(rows: number[][]): mox.Tensor {
  return mox.tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'int32' });
}

test('LSTMLanguageModel: shapes, state, tied weights, validation', () => {
  mox.seed(0);
  const m = new LSTMLanguageModel({ vocabSize: 11, embedDim: 8, hiddenSize: 12 });
  const { logits, state } = m.forward(
    ids2d([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]),
  );
  assert.deepEqual(logits.shape, [2, 5, 11]);
  assert.deepEqual(state[0].shape, [2, 2, 12]);
  assert.deepEqual(state[1].shape, [2, 2, 12]);
  assert.equal(m.config.numLayers, 2);
  const tied = new LSTMLanguageModel({ vocabSize: 11, embedDim: 8, hiddenSize: 8, tieWeights: true });
  assert.equal(tied.decoder.weight, tied.encoder.weight);
  assert.equal(tied.parameters().filter((p) => p === tied.encoder.weight).length, 1);
  assert.throws(() => new LSTMLanguageModel({ vocabSize: 11, embedDim: 8, hiddenSize: 12, tieWeights: true }), /tieWeights/);
  assert.throws(() => m.forward(mox.tensor([1, 2, 3], { dtype: 'int32' })), /\[B, T\]/);
});

test('LSTMLanguageModel: stateful continuation equals running the whole sequence', () => {
  mox.seed(1);
  const m = new LSTMLanguageModel({ vocabSize: 9, embedDim: 6, hiddenSize: 7, numLayers: 2, dropout: 0.3 });
  m.eval();
  const seq = [
    [1, 4, 2, 8, 5, 7, 3, 0],
    [2, 2, 6, 1, 8, 3, 4, 4],
  ];
  mox.noGrad(() => {
    const whole = m.forward(ids2d(seq));
    const a = m.forward(ids2d(seq.map((r) => r.slice(0, 3))));
    const b = m.forward(ids2d(seq.map((r) => r.slice(3))), a.state);
    const joined = mox.cat([a.logits, b.logits], 1);
    assert.ok(maxAbsDiff(whole.logits, joined) < 1e-5);
    assert.ok(maxAbsDiff(whole.state[0], b.state[0]) < 1e-5);
    assert.ok(maxAbsDiff(whole.state[1], b.state[1]) < 1e-5);
  });
});

test('LSTMLanguageModel learns a repeating sequence and generates it greedily', () => {
  mox.seed(2);
  const V = 6;
  const period = [1, 3, 5, 2, 4, 0];
  const stream = Array.from({ length: 4 * 13 }, (_, i) => period[i % period.length]!);
  // 4 rows of 12 inputs, targets shifted by one
  const rows = [0, 1, 2, 3].map((r) => stream.slice(r * 13, r * 13 + 13));
  const x = ids2d(rows.map((r) => r.slice(0, 12)));
  const y = ids2d(rows.map((r) => r.slice(1)));
  const m = new LSTMLanguageModel({ vocabSize: V, embedDim: 8, hiddenSize: 16 });
  const opt = new mox.optim.Adam(m.parameters(), { lr: 0.02 });
  let first = 0;
  let last = 0;
  for (let i = 0; i < 60; i++) {
    last = mox.scope(() => {
      const { loss } = m.loss(x, y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });
    if (i === 0) first = last;
  }
  assert.ok(first > 0.8 * Math.log(V), `first loss ${first}`);
  assert.ok(last < 0.1, `loss ${first} -> ${last}, ln(V) = ${Math.log(V)}`);
  const out = m.generate([1, 3, 5], { maxNewTokens: 9, temperature: 0 });
  assert.deepEqual(out, [[2, 4, 0, 1, 3, 5, 2, 4, 0]]);
  assert.equal(m.training, true);
  // sampling is reproducible with a seed
  const s1 = m.generate([[1], [2]], { maxNewTokens: 5, temperature: 1, seed: 3 });
  const s2 = m.generate([[1], [2]], { maxNewTokens: 5, temperature: 1, seed: 3 });
  assert.deepEqual(s1, s2);
  assert.equal(s1.length, 2);
});

function sentiment(): { texts: string[]; labels: number[] } {
  const pos = ['good', 'great', 'wonderful'];
  const neg = ['bad', 'awful', 'terrible'];
  const fillers = 'the movie plot was acting and really quite a film story i thought it'.split(' ');
  const g = new mox.Generator(11);
  const texts: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 80; i++) {
    const label = i % 2;
    const words = Array.from({ length: g.int(3, 9) }, () => fillers[g.int(0, fillers.length)]!);
    const key = (label ? pos : neg)[g.int(0, 3)]!;
    words.splice(g.int(0, words.length + 1), 0, key);
    texts.push(words.join(' '));
    labels.push(label);
  }
  return { texts, labels };
}

test('TextCNN: shapes, short inputs, validation', () => {
  mox.seed(3);
  const m = new TextCNN({ vocabSize: 20, embedDim: 8, numClasses: 3, numFilters: 5 });
  assert.deepEqual(
    m.forward(
      ids2d([
        [2, 3, 4, 5, 6, 0, 0],
        [7, 8, 0, 0, 0, 0, 0],
      ]),
    ).shape,
    [2, 3],
  );
  assert.deepEqual(m.features(ids2d([[2, 3, 4, 5, 6, 0, 0]])).shape, [1, 15]);
  assert.deepEqual(m.forward(ids2d([[2, 3]])).shape, [1, 3]); // shorter than the widest window: padded
  assert.equal(m.convs.length, 3);
  assert.equal(m.embedding.paddingIdx, 0);
  assert.throws(() => new TextCNN({ vocabSize: 20, embedDim: 8, numClasses: 2, kernelSizes: [] }), /kernelSizes/);
});

test('TextCNN: embeddingInit draws the embeddings from U(-a, a), the padding row zero', () => {
  mox.seed(5);
  const m = new TextCNN({ vocabSize: 50, embedDim: 8, numClasses: 2, embeddingInit: 0.25 });
  const w = Array.from(m.embedding.weight.dataSync());
  assert.ok(w.slice(0, 8).every((v) => v === 0));
  assert.ok(w.slice(8).every((v) => Math.abs(v) <= 0.25) && Math.max(...w.map(Math.abs)) > 0.2);
  assert.throws(() => new TextCNN({ vocabSize: 20, embedDim: 8, numClasses: 2, embeddingInit: -1 }), /embeddingInit/);
});

test('TextCNN: max-over-time is independent of where the words sit in the padding', () => {
  mox.seed(4);
  const m = new TextCNN({ vocabSize: 20, embedDim: 6, numClasses: 2, kernelSizes: [2, 3], numFilters: 4 });
  m.eval();
  mox.noGrad(() => {
    // at least max(kernelSizes) pads on both sides: the same set of windows, so the same features
    const a = m.forward(ids2d([[0, 0, 0, 5, 9, 13, 0, 0, 0, 0, 0]]));
    const b = m.forward(ids2d([[0, 0, 0, 0, 0, 5, 9, 13, 0, 0, 0]]));
    const c = m.forward(ids2d([[0, 0, 0, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])); // more padding
    assert.ok(maxAbsDiff(a, b) < 1e-6);
    assert.ok(maxAbsDiff(a, c) < 1e-6);
    // the pooled features are the per-filter maxima of the ReLU'd convolution, so never negative
    const f = m.features(ids2d([[0, 0, 0, 5, 9, 13, 0, 0, 0]]));
    assert.ok(Array.from(f.dataSync()).every((v) => Number(v) >= 0));
  });
  // every window holds a word, and windows over the pad id still give it no gradient
  m.forward(ids2d([[3, 4, 5, 0]]))
    .sum()
    .backward();
  const g = m.embedding.weight.grad!.tolist() as number[][];
  assert.ok(g[0]!.every((v) => v === 0));
  assert.ok([3, 4, 5].some((i) => g[i]!.some((v) => v !== 0)));
});

test('TextCNN fits a toy sentiment set with model.fit', async () => {
  mox.seed(5);
  const { texts, labels } = sentiment();
  const tok = WordTokenizer.fromCorpus(texts);
  const x = tok.encodeBatch(texts, 12);
  const y = mox.tensor(Int32Array.from(labels), { dtype: 'int32' });
  const m = new TextCNN({ vocabSize: tok.vocabSize, embedDim: 16, numClasses: 2, numFilters: 8, dropout: 0.5 });
  m.compile({ optimizer: 'adam', lr: 0.01, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  await m.fit(x, y, { epochs: 8, batchSize: 16, verbose: 0, seed: 0 });
  const r = m.evaluate(x, y);
  assert.equal(r.accuracy, 1, `train accuracy ${r.accuracy}, loss ${r.loss}`);
  const pred = m
    .predict(tok.encodeBatch(['what a great film', 'the acting was awful'], 12))
    .argmax(1)
    .tolist();
  assert.deepEqual(pred, [1, 0]);
});
