// Sentence polarity (Pang & Lee's rt-polarity: 5331 positive + 5331 negative movie-review snippets)
// with Kim's (2014) convolutional classifier, CNN-rand: word embeddings learned from scratch,
// convolutions of width 3, 4 and 5 with 100 filters each, ReLU, max-over-time pooling, dropout 0.5,
// a linear layer to the two classes (mox.models.TextCNN), trained Keras-style:
//
//   model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] })
//   model.fit(xTrain, yTrain, { epochs, batchSize: 50, validationData: [xVal, yVal], callbacks: [
//     new mox.train.MaxNorm(model.fc.weight, 3, 1),    // Keras: kernel_constraint=max_norm(3)
//     new mox.train.EarlyStopping({ monitor: 'val_accuracy', patience: 1, restoreBestWeights: true }) ] });
//   model.evaluate(xTest, yTest)
//
// The test set is a fixed 10% of each class (mox.data.textClassificationSplit, seed 0, whatever
// --seed is: 9596 training, 1066 test sentences); a seeded stratified 10% of the training split
// is held out for early stopping (958), so the model trains on 8638 and the test set is only used at the
// end. The vocabulary comes from the training split only (mox.text.WordTokenizer, lowercased; unseen
// test words become <unk>), and each sentence is padded or cut to --max-len words. As Kim's
// CNN-rand, the embeddings start at U(-0.25, 0.25) and each class's weights in the last layer are
// capped at L2 norm 3 after every step. Kim reports 76.1% (10-fold cross-validation, Adadelta,
// 300-dimensional embeddings); Adam 1e-3 with 128 dimensions peaks within 2-3 epochs and then
// overfits, hence early stopping. Target: test accuracy >= 75% with the defaults.
//
//   npm run example:text-cnn-rt-polarity
//   npm run example:text-cnn-rt-polarity -- --epochs 1 --limit 2000
//
// The files (rt-polarity.pos, rt-polarity.neg; Windows-1252) are found by
// mox.data.loadDataset('rt-polarity'): --data-dir DIR (the folder with the two files, or a folder
// holding rt-polarity/), then $MOX_DATA_DIR/rt-polarity, then ~/.cache/mox/rt-polarity, and otherwise
// the published tarball is downloaded (unless $MOX_DATA_OFFLINE=1); see docs/data.md.
//
// Metrics: --run-dir DIR (default runs/text-cnn-rt-polarity) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (at most; default 5), --batch-size N (default 50), --limit N (training sentences, a
// seeded sample; default all), --test-limit N (test sentences, default all), --lr X (default 1e-3),
// --seed S (default 0: weights, dropout, shuffling), --embed-dim N (default 128), --max-len N
// (default 56, the longest sentence has 59 words), --data-dir DIR, --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import * as mox from '../src/index.js';
import { parseClassifierArgs, positiveInt, runMain, trainAndReport, withDataHelp } from './common.js';

/** The first `limit` examples of a seeded shuffle (both classes, unlike the first `limit` lines). */
function sample(ds: mox.data.TextClassificationDataset, limit: number | undefined, seed: number): mox.data.TextClassificationDataset {
  if (limit === undefined || limit >= ds.texts.length) return ds;
  const idx = mox.data.randperm(ds.texts.length, new mox.Generator(seed)).slice(0, limit);
  return { ...ds, texts: idx.map((i) => ds.texts[i]!), labels: Int32Array.from(idx, (i) => ds.labels[i]!) };
}

runMain('text-cnn-rt-polarity', async () => {
  const args = parseClassifierArgs({ epochs: 5, batchSize: 50 }, { 'embed-dim': { type: 'string' }, 'max-len': { type: 'string' } });
  const embedDim = positiveInt('embed-dim', args.values['embed-dim'] as string | undefined, 128);
  const maxLen = positiveInt('max-len', args.values['max-len'] as string | undefined, 56);
  const start = performance.now();
  const all = await withDataHelp('text-cnn-rt-polarity', () => mox.data.loadDataset('rt-polarity', { dataDir: args.dataDir }));
  const [fullTrain, fullTest] = mox.data.textClassificationSplit(all, { testFraction: 0.1, seed: 0 });
  // a seeded stratified 10% of the training split for early stopping; the test split is only evaluated at the end
  const [fitSplit, valSplit] = mox.data.textClassificationSplit(sample(fullTrain, args.limit, args.seed), { testFraction: 0.1, seed: 1 });
  const train = fitSplit;
  const test = sample(fullTest, args.testLimit, args.seed);

  const tokenizer = mox.text.WordTokenizer.fromCorpus([...train.texts, ...valSplit.texts]); // the training split's words
  const encode = (ds: mox.data.TextClassificationDataset): { x: mox.Tensor; y: mox.Tensor } => ({
    x: tokenizer.encodeBatch(ds.texts, maxLen),
    y: mox.tensor(ds.labels, { shape: [ds.labels.length], dtype: 'int32' }),
  });
  console.log(
    `rt-polarity: ${train.texts.length} training, ${valSplit.texts.length} validation and ${test.texts.length} test sentences, ` +
      `vocabulary ${tokenizer.vocabSize} words (training split only), length ${maxLen}; ${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );

  mox.seed(args.seed); // the initial weights and the dropout masks
  const model = new mox.models.TextCNN({
    vocabSize: tokenizer.vocabSize,
    embedDim,
    numClasses: 2,
    kernelSizes: [3, 4, 5],
    numFilters: 100,
    dropout: 0.5,
    embeddingInit: 0.25,
  });
  await trainAndReport({
    name: 'text-cnn-rt-polarity',
    model,
    inputShape: null,
    train: encode(train),
    test: encode(test),
    args,
    validation: encode(valSplit),
    callbacks: [
      new mox.train.MaxNorm(model.fc.weight, 3, 1), // Kim's l2 cap s = 3 on each class's weights
      new mox.train.EarlyStopping({ monitor: 'val_accuracy', patience: 1, restoreBestWeights: true }),
    ],
    target: '>= 75% with the defaults (Kim 2014, CNN-rand: 76.1%)',
    labels: all.classes,
    extra: { target: 0.75, vocab_size: tokenizer.vocabSize, embed_dim: embedDim, max_len: maxLen, embedding_init: 0.25, max_norm: 3 },
    start,
  });
});
