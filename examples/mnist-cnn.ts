// MNIST with the small CNN of Keras's convolutional tutorial, Keras-style (the model and the program
// are in small-cnn.ts, shared with fashion-mnist-cnn):
//
//   Conv(32, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu)
//   -> Flatten -> Dense(64, relu) -> Dense(10)
//   model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] })
//
// 28x28 -> 26 -> 13 -> 11 -> 5 -> 3, so the Flatten gives 64*3*3 = 576 features (93,322 parameters).
// The layers use Keras's initialisation (Glorot-uniform kernels, zero biases), the model outputs
// logits, and the pixels are scaled from 0..255 to [0, 1]. Target: test accuracy >= 99.0% after 5
// epochs (batch 64) on the 60,000 images.
//
//   npm run example:mnist-cnn                        # 5 epochs, the full training set
//   npm run example:mnist-cnn -- --epochs 1 --limit 2000
//
// The files are found by mox.data.loadDataset('mnist'): --data-dir DIR (the folder with the four IDX
// files, or a folder holding mnist/), then $MOX_DATA_DIR/mnist, then ~/.cache/mox/mnist, and otherwise
// they are downloaded (unless $MOX_DATA_OFFLINE=1); see docs/data.md.
//
// Metrics: --run-dir DIR (default runs/mnist-cnn) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 5), --batch-size N (default 64), --limit N (training examples, default
// all), --test-limit N (test examples, default all), --lr X (default 1e-3, Keras's Adam), --seed S
// (default 0), --data-dir DIR, --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import { runGreyCnn } from './small-cnn.js';

runGreyCnn({ name: 'mnist-cnn', dataset: 'mnist', title: 'MNIST', target: '>= 99.0% with the defaults' });
