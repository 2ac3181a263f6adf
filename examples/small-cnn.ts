// The small CNN of Keras's convolutional tutorial, and the whole program that trains it on a 28x28 grey
// dataset (mnist-cnn and fashion-mnist-cnn are this program with another dataset and target):
//
//   Conv(32, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu)
//   -> Flatten -> Dense(64, relu) -> Dense(10)
//   model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] })
//
// This module is shared, not an example itself (no `example:small-cnn` script).

import * as mox from '../src/index.js';
import { loadGreyImages, parseClassifierArgs, runMain, trainAndReport } from './common.js';

const { nn } = mox;

/**
 * The CNN for `size` x `size` images of `channels` channels, outputting logits for 10 classes. Each
 * 3x3 convolution takes 2 pixels off and each pooling halves (floor): 28 -> 26 -> 13 -> 11 -> 5 -> 3 gives
 * 64*3*3 = 576 features (93,322 parameters); 32 -> 30 -> 15 -> 13 -> 6 -> 4 gives 1,024.
 */
export function smallCnn(channels: number, size: number): mox.nn.Sequential {
  const s = Math.floor((Math.floor((size - 2) / 2) - 2) / 2) - 2;
  return new nn.Sequential(
    new nn.Conv2d(channels, 32, 3),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(64, 64, 3),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(64 * s * s, 64),
    new nn.ReLU(),
    new nn.Linear(64, 10),
  );
}

export interface GreyCnnProgram {
  /** The example's name: its RESULT line's `example` and the prefix of its errors. */
  name: string;
  dataset: 'mnist' | 'fashion-mnist';
  /** How the dataset is named in the output. */
  title: string;
  /** The accuracy to reach with the defaults, for the closing line. */
  target: string;
}

/** The example's main: parse the flags, load both splits, build and train the CNN (5 epochs of 64), report. */
export function runGreyCnn(p: GreyCnnProgram): void {
  runMain(p.name, async () => {
    const args = parseClassifierArgs({ epochs: 5, batchSize: 64 });
    const start = performance.now();
    const train = await loadGreyImages(p.name, p.dataset, 'train', args);
    const test = await loadGreyImages(p.name, p.dataset, 'test', args);
    console.log(
      `${p.title}: ${train.x.shape[0]} training and ${test.x.shape[0]} test images; ${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
    );
    mox.seed(args.seed); // the initial weights
    const model = smallCnn(1, 28);
    await trainAndReport({
      name: p.name,
      model,
      inputShape: [1, 28, 28],
      train,
      test,
      args,
      target: p.target,
      start,
      extra: { dataset: p.dataset },
      labels: test.classes,
    });
  });
}
