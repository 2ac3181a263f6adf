// CIFAR-10 with the small CNN of Keras's convolutional tutorial, trained with augmentation:
//
//   Conv(32, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu)
//   -> Flatten -> Dense(64, relu) -> Dense(10)          (32x32 -> 30 -> 15 -> 13 -> 6 -> 4: 1,024 features)
//
// Each training batch is augmented on the fly by the DataLoader's `transform`: a random 32x32 crop of
// the image padded by 4 pixels, then a random horizontal flip (torchvision's CIFAR recipe, seeded).
// Pixels are in [0, 1]; the model outputs logits; Adam at Keras's 1e-3. The test set is every image of
// test_batch.bin (the 1,000-image test subset when the folder holds it, otherwise all 10,000).
// Target: test accuracy >= 50% on the 4,000-image CIFAR-10 subset with the defaults (40 epochs,
// batch 32): the small training set needs many passes, and augmentation keeps them from overfitting.
//
//   npm run example:cifar10-cnn                      # 40 epochs, every training image in the folder
//   npm run example:cifar10-cnn -- --epochs 2 --limit 1000
//
// The files are found by mox.data.loadDataset('cifar10'): --data-dir DIR (the folder with
// data_batch_*.bin and test_batch.bin, or a folder holding cifar10/), then $MOX_DATA_DIR/cifar10, then
// ~/.cache/mox/cifar10, and otherwise the archive is downloaded (unless $MOX_DATA_OFFLINE=1); see
// docs/data.md.
//
// Metrics: --run-dir DIR (default runs/cifar10-cnn) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 40), --batch-size N (default 32), --limit N (training examples,
// default all), --test-limit N (test examples, default all), --lr X (default 1e-3), --seed S
// (default 0), --no-augment, --data-dir DIR, --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import * as mox from '../src/index.js';
import { loadExampleDataset, parseClassifierArgs, runMain, trainAndReport } from './common.js';
import { smallCnn } from './small-cnn.js';

const { data } = mox;

runMain('cifar10-cnn', async () => {
  const args = parseClassifierArgs({ epochs: 40, batchSize: 32 }, { 'no-augment': { type: 'boolean' } });
  const augmentOn = !args.values['no-augment'];
  const start = performance.now();
  // [N, 3, 32, 32] float32 in [0, 1] (the bytes / 255) and [N] int32 labels
  const train = await loadExampleDataset('cifar10-cnn', 'cifar10', { split: 'train', dataDir: args.dataDir, limit: args.limit });
  const test = await loadExampleDataset('cifar10-cnn', 'cifar10', { split: 'test', dataDir: args.dataDir, limit: args.testLimit });
  console.log(
    `CIFAR-10: ${train.length} training images (${train.files.length} batch file${train.files.length === 1 ? '' : 's'}), ` +
      `${test.length} test images; ${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );

  // per-batch augmentation with its own seeded generator, so a run is repeatable
  const gen = new mox.Generator(args.seed + 1);
  const augment = data.compose(data.randomCrop(32, { padding: 4, generator: gen }), data.randomHorizontalFlip(0.5, { generator: gen }));
  const loader = new data.DataLoader<readonly mox.Tensor[], mox.Tensor[]>(train, {
    batchSize: args.batchSize,
    shuffle: true,
    seed: args.seed,
    transform: augmentOn ? ([x, y]) => [augment(x!), y!] : undefined,
  });
  console.log(`augmentation: ${augmentOn ? 'random crop 32 with padding 4, random horizontal flip' : 'off'}`);

  mox.seed(args.seed); // the initial weights
  const model = smallCnn(3, 32); // 32x32 -> 30 -> 15 -> 13 -> 6 -> 4: 1,024 features into Dense(64)
  await trainAndReport({
    name: 'cifar10-cnn',
    model,
    inputShape: [3, 32, 32],
    train: loader,
    test: { x: test.x, y: test.y },
    args,
    target: '>= 50% on the 4,000-image subset with the defaults',
    start,
    extra: { train_examples: train.length, augment: augmentOn },
    labels: test.classes,
  });
});
