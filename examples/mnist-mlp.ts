// MNIST with TensorFlow's beginner quickstart model, Keras-style:
//
//   Flatten -> Dense(128, relu) -> Dropout(0.2) -> Dense(10)
//   model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] })
//   model.fit(xTrain, yTrain, { epochs: 5, batchSize: 32 });  model.evaluate(xTest, yTest)
//
// The Dense layers are mox Linear layers with Keras's initialisation (Glorot-uniform weights, zero
// biases), the model outputs logits, and the pixels are scaled from 0..255 to [0, 1] as in the
// quickstart (x_train / 255.0). Target: test accuracy >= 97.5% after 5 epochs on the 60,000 images.
//
//   npm run example:mnist-mlp                        # 5 epochs, the full training set
//   npm run example:mnist-mlp -- --epochs 1 --limit 1000
//
// The files are found by mox.data.loadDataset('mnist'): --data-dir DIR (the folder with the four IDX
// files, or a folder holding mnist/), then $MOX_DATA_DIR/mnist, then ~/.cache/mox/mnist, and otherwise
// they are downloaded (unless $MOX_DATA_OFFLINE=1); see docs/data.md.
//
// Metrics: --run-dir DIR (default runs/mnist-mlp) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 5), --batch-size N (default 32), --limit N (training examples, default
// all), --test-limit N (test examples, default all), --lr X (default 1e-3, Keras's Adam), --seed S
// (default 0), --data-dir DIR, --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import * as mox from '../src/index.js';
import { loadGreyImages, parseClassifierArgs, runMain, trainAndReport } from './common.js';

const { nn } = mox;

runMain('mnist-mlp', async () => {
  const args = parseClassifierArgs({ epochs: 5, batchSize: 32 });
  const start = performance.now();
  const train = await loadGreyImages('mnist-mlp', 'mnist', 'train', args);
  const test = await loadGreyImages('mnist-mlp', 'mnist', 'test', args);
  console.log(
    `MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test images; ${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );
  mox.seed(args.seed); // the initial weights and the dropout masks
  const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(128, 10));
  await trainAndReport({
    name: 'mnist-mlp',
    model,
    inputShape: [1, 28, 28],
    train,
    test,
    args,
    target: '>= 97.5% with the defaults',
    labels: test.classes,
    start,
  });
});
