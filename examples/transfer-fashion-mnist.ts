// Transfer learning on small data: pretrain the small CNN of mnist-cnn on the MNIST digits, replace its
// head (the last Dense) with a fresh one, fine-tune on only the first 1,000 labelled Fashion-MNIST
// training images with the convolutional base frozen (`trainable = false`) for a short warm-up of the new
// head, then unfreeze everything and go on at the full rate. The baseline is the same CNN trained from
// scratch on the same 1,000 images with the same budget (the same epochs, so the same optimizer steps,
// batch size and data order). Both are scored on the full 10,000-image Fashion-MNIST test set.
//
//   pretrain:  small CNN (small-cnn.ts), MNIST 60,000 images, 1 epoch, Adam 1e-3, batch 64
//   transfer:  new Dense(64, 10); conv layers frozen, 2 epochs at Adam 1e-3 (the two Dense train),
//              then all unfrozen, 18 epochs at Adam 1e-3; batch 32
//   scratch:   the same CNN, Keras's initialisation, 20 epochs at Adam 1e-3, batch 32
//
// The recipe (pretraining, frozen epochs, rates) and the scratch rate were each chosen from a small grid
// on a validation split of the Fashion-MNIST *training* images, 50,000-59,999 (--validation scores on
// it instead of the test set); docs/fine-tuning.md has the figures.
//
// Target: transfer_accuracy > scratch_accuracy (improvement > 0). `npm run results` keeps the figure
// in docs/results.md.
//
//   npm run example:transfer-fashion-mnist
//   npm run example:transfer-fashion-mnist -- --validation --seed 1
//   npm run example:transfer-fashion-mnist -- --pretrain-epochs 1 --limit 2000 --epochs 2 --unfreeze-epochs 2
//
// The files are found by mox.data.loadDataset ('mnist' and 'fashion-mnist'): --data-dir DIR (a folder
// holding mnist/ and fashion-mnist/), then $MOX_DATA_DIR, then ~/.cache/mox, and otherwise they are
// downloaded (unless $MOX_DATA_OFFLINE=1); see docs/data.md.
//
// Metrics: --run-dir DIR (default runs/transfer-fashion-mnist) gets each training run's metrics.jsonl (one folder per run: pretrain, frozen, unfrozen, scratch),
// for `mox report` (docs/reports.md).
// Options: --pretrain-epochs N (default 1), --pretrain-shift P (random shifts of up to P pixels while
// pretraining, default 0: off), --limit N (MNIST pretraining images, default all), --finetune-examples N
// (Fashion-MNIST training images, default 1000), --epochs N (frozen-base epochs, default 2),
// --unfreeze-epochs N (default 18; 0 skips the phase), --batch-size N (fine-tuning and scratch, default
// 32), --lr X (frozen phase, default 1e-3), --unfreeze-lr X (default 1e-3), --scratch-lr X (default
// 1e-3), --validation (score on Fashion-MNIST training images 50,000-59,999, not the test set),
// --test-limit N (test or validation images, default all), --seed S (default 0), --data-dir DIR,
// --threads N.
// The last line of output is `RESULT {json}`.

import * as mox from '../src/index.js';
import {
  exampleRunLogger,
  kerasInit,
  loadGreyImages,
  logTestSet,
  parseClassifierArgs,
  positiveInt,
  positiveNumber,
  runMain,
  UsageError,
} from './common.js';
import { smallCnn } from './small-cnn.js';

const NAME = 'transfer-fashion-mnist';
/** The Sequential's index of the head (the last Dense) and of the last layer of the convolutional base. */
const HEAD = 11;
const LAST_CONV_LAYER = 8; // Conv(64) -> ReLU at 7, 8; Flatten at 9, Dense(576, 64) at 10
/** The validation split of --validation: Fashion-MNIST training images 50,000-59,999. */
const VAL_START = 50_000;
const VAL_SIZE = 10_000;
/** The recipe's defaults, chosen on that validation split (docs/fine-tuning.md). */
const PRETRAIN_EPOCHS = 1;
const PRETRAIN_SHIFT = 0;
const FROZEN_EPOCHS = 2;
const UNFREEZE_EPOCHS = 18;
const UNFREEZE_LR = 1e-3;
const SCRATCH_LR = 1e-3;

const round = (v: number, d = 4): number => Number(v.toFixed(d));
const silent = { verbose: 0 as const };

runMain(NAME, async () => {
  const args = parseClassifierArgs(
    { epochs: FROZEN_EPOCHS, batchSize: 32 },
    {
      'pretrain-epochs': { type: 'string' },
      'finetune-examples': { type: 'string' },
      'unfreeze-epochs': { type: 'string' },
      'unfreeze-lr': { type: 'string' },
      'scratch-lr': { type: 'string' },
      'pretrain-shift': { type: 'string' },
      validation: { type: 'boolean' },
    },
  );
  const str = (k: string): string | undefined => (typeof args.values[k] === 'string' ? (args.values[k] as string) : undefined);
  const pretrainEpochs = positiveInt('pretrain-epochs', str('pretrain-epochs'), PRETRAIN_EPOCHS);
  const finetuneExamples = positiveInt('finetune-examples', str('finetune-examples'), 1000);
  const unfreezeRaw = str('unfreeze-epochs');
  const unfreezeEpochs = unfreezeRaw === '0' ? 0 : positiveInt('unfreeze-epochs', unfreezeRaw, UNFREEZE_EPOCHS);
  const unfreezeLr = positiveNumber('unfreeze-lr', str('unfreeze-lr'), UNFREEZE_LR);
  const scratchLr = positiveNumber('scratch-lr', str('scratch-lr'), SCRATCH_LR);
  const shiftRaw = str('pretrain-shift');
  const pretrainShift = shiftRaw === '0' ? 0 : positiveInt('pretrain-shift', shiftRaw, PRETRAIN_SHIFT);
  const validation = args.values.validation === true;
  const start = performance.now();

  const mnist = await loadGreyImages(NAME, 'mnist', 'train', args);
  const mnistTest = await loadGreyImages(NAME, 'mnist', 'test', args);
  // --validation scores on training images 50,000-59,999 instead of the test set: the split the recipe
  // (rates, epochs, pretraining) was chosen on, which the fine-tuning images (the first N) never reach
  const fashionAll = await loadGreyImages(NAME, 'fashion-mnist', 'train', { ...args, limit: validation ? undefined : finetuneExamples });
  const available = fashionAll.x.shape[0]!;
  if (available < (validation ? VAL_START + VAL_SIZE : finetuneExamples))
    throw new UsageError(
      validation
        ? `--validation needs all ${VAL_START + VAL_SIZE} Fashion-MNIST training images, the folder has ${available}`
        : `--finetune-examples ${finetuneExamples}: the Fashion-MNIST training set has only ${available} images`,
    );
  if (validation && finetuneExamples > VAL_START)
    throw new UsageError(
      `--finetune-examples ${finetuneExamples} with --validation: at most ${VAL_START} (the images before the validation split)`,
    );
  const rows = (t: mox.Tensor, start: number, count: number): mox.Tensor => t.narrow(0, start, count).contiguous();
  const fashion = validation ? { x: rows(fashionAll.x, 0, finetuneExamples), y: rows(fashionAll.y, 0, finetuneExamples) } : fashionAll;
  const valCount = args.testLimit === undefined ? VAL_SIZE : Math.min(args.testLimit, VAL_SIZE);
  const fashionTest = validation
    ? { x: rows(fashionAll.x, VAL_START, valCount), y: rows(fashionAll.y, VAL_START, valCount) }
    : await loadGreyImages(NAME, 'fashion-mnist', 'test', args);
  const evalName = validation ? `validation (training images ${VAL_START}-${VAL_START + valCount - 1})` : 'test';
  const n = fashion.x.shape[0]!;
  console.log(
    `MNIST: ${mnist.x.shape[0]} pretraining images; Fashion-MNIST: the first ${n} training images, ` +
      `${fashionTest.x.shape[0]} ${validation ? 'validation' : 'test'} images; ` +
      `${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );
  const compile = (model: mox.nn.Module, lr: number): void => {
    model.compile({ optimizer: 'adam', lr, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  };
  // one run folder per training run: --run-dir/pretrain, /frozen, /unfrozen, /scratch
  const logger = (sub: string, classes: readonly string[]) => exampleRunLogger(NAME, args, { sub, labels: classes });
  const fitFashion = (model: mox.nn.Module, epochs: number, log: mox.train.RunLogger): Promise<mox.train.History> =>
    model.fit(fashion.x, fashion.y, { epochs, batchSize: args.batchSize, seed: args.seed, verbose: 2, callbacks: [log] });
  const testAccuracy = async (model: mox.nn.Module, data: { x: mox.Tensor; y: mox.Tensor }, log: mox.train.RunLogger): Promise<number> => {
    const logs = model.evaluate(data.x, data.y, { batchSize: 256, ...silent });
    await logTestSet(log, logs, data);
    return logs.accuracy!;
  };
  const fashionClasses = fashionAll.classes;

  // 1. pretrain on MNIST
  const shiftNote = pretrainShift > 0 ? `, random shifts of up to ${pretrainShift} pixels` : '';
  console.log(`\n== 1. pretraining on MNIST (${pretrainEpochs} epoch${pretrainEpochs > 1 ? 's' : ''}, batch 64, Adam 1e-3${shiftNote})`);
  mox.seed(args.seed);
  const model = smallCnn(1, 28);
  kerasInit(model);
  compile(model, 1e-3);
  const pretrainStart = performance.now();
  const pretrainLog = logger('pretrain', mnistTest.classes);
  if (pretrainShift > 0) {
    // each batch shifted at random: padded by pretrainShift pixels, then a 28x28 window cut (seeded)
    const shift = mox.data.randomCrop(28, { padding: pretrainShift, generator: new mox.Generator(args.seed + 3) });
    const loader = new mox.data.DataLoader<readonly mox.Tensor[], mox.Tensor[]>(new mox.data.TensorDataset(mnist.x, mnist.y), {
      batchSize: 64,
      shuffle: true,
      seed: args.seed,
      transform: ([x, y]) => [shift(x!), y!],
    });
    await model.fit(loader, { epochs: pretrainEpochs, verbose: 2, callbacks: [pretrainLog] });
  } else
    await model.fit(mnist.x, mnist.y, { epochs: pretrainEpochs, batchSize: 64, seed: args.seed, verbose: 2, callbacks: [pretrainLog] });
  const pretrainSeconds = (performance.now() - pretrainStart) / 1000;
  const pretrainAccuracy = await testAccuracy(model, mnistTest, pretrainLog);
  console.log(`MNIST test accuracy of the base: ${(100 * pretrainAccuracy).toFixed(2)}%`);

  // 2. a fresh head, the convolutional base frozen
  const epochs = args.epochs + unfreezeEpochs;
  console.log(`\n== 2. transfer: a new head, the conv base frozen (${args.epochs} epochs at ${args.lr})`);
  mox.seed(args.seed + 1);
  const head = new mox.nn.Linear(64, 10);
  kerasInit(head);
  model.setSubmodule(String(HEAD), head);
  for (let i = 0; i <= LAST_CONV_LAYER; i++) model.getSubmodule(String(i)).trainable = false;
  model.summary([1, 28, 28]);
  const frozen = new Map(
    model
      .namedParameters()
      .filter(([, p]) => !p.requiresGrad)
      .map(([k, p]) => [k, Array.from(p.dataSync())]),
  );
  const trainableFrozenPhase = model.numParameters(true);
  compile(model, args.lr); // as in Keras: compile after changing `trainable`
  const transferStart = performance.now();
  const frozenLog = logger('frozen', fashionClasses);
  await fitFashion(model, args.epochs, frozenLog);
  // the frozen weights must not have moved by a single bit
  for (const [k, p] of model.namedParameters()) {
    const before = frozen.get(k);
    if (before && !Array.from(p.dataSync()).every((v, i) => Object.is(v, before[i])))
      throw new Error(`${NAME}: the frozen parameter '${k}' changed during fine-tuning`);
  }
  const frozenAccuracy = await testAccuracy(model, fashionTest, frozenLog);
  console.log(`Fashion-MNIST ${evalName} accuracy with the base frozen: ${(100 * frozenAccuracy).toFixed(2)}%`);
  let lastLog = frozenLog;
  if (unfreezeEpochs > 0) {
    console.log(`\n== 3. transfer: everything unfrozen (${unfreezeEpochs} epochs at ${unfreezeLr})`);
    model.trainable = true;
    compile(model, unfreezeLr);
    lastLog = logger('unfrozen', fashionClasses);
    await fitFashion(model, unfreezeEpochs, lastLog);
  }
  const transferSeconds = (performance.now() - transferStart) / 1000;
  // the frozen phase's run was scored above; a second score of the same weights would only repeat it
  const transferAccuracy = unfreezeEpochs > 0 ? await testAccuracy(model, fashionTest, lastLog) : frozenAccuracy;
  console.log(`Fashion-MNIST ${evalName} accuracy, transfer: ${(100 * transferAccuracy).toFixed(2)}%`);

  // 4. the baseline: the same CNN from scratch, the same images, epochs and batches
  console.log(`\n== 4. from scratch: the same CNN on the same ${n} images (${epochs} epochs at ${scratchLr})`);
  mox.seed(args.seed);
  const scratch = smallCnn(1, 28);
  kerasInit(scratch);
  compile(scratch, scratchLr);
  const scratchStart = performance.now();
  const scratchLog = logger('scratch', fashionClasses);
  await fitFashion(scratch, epochs, scratchLog);
  const scratchSeconds = (performance.now() - scratchStart) / 1000;
  const scratchAccuracy = await testAccuracy(scratch, fashionTest, scratchLog);
  console.log(`Fashion-MNIST ${evalName} accuracy, from scratch: ${(100 * scratchAccuracy).toFixed(2)}%`);

  const improvement = transferAccuracy - scratchAccuracy;
  console.log(
    `\ntransfer ${(100 * transferAccuracy).toFixed(2)}% vs from scratch ${(100 * scratchAccuracy).toFixed(2)}%: ` +
      `${improvement >= 0 ? '+' : ''}${(100 * improvement).toFixed(2)} points (target: transfer higher)`,
  );
  const result = {
    example: NAME,
    pretrain_examples: mnist.x.shape[0],
    pretrain_epochs: pretrainEpochs,
    pretrain_shift: pretrainShift,
    pretrain_test_accuracy: round(pretrainAccuracy),
    finetune_examples: n,
    epochs_frozen: args.epochs,
    epochs_unfrozen: unfreezeEpochs,
    batch_size: args.batchSize,
    steps: epochs * Math.ceil(n / args.batchSize),
    lr: args.lr,
    unfreeze_lr: unfreezeLr,
    scratch_lr: scratchLr,
    trainable_params_frozen_phase: trainableFrozenPhase,
    total_params: model.numParameters(false),
    eval_set: validation ? 'validation' : 'test',
    test_examples: fashionTest.x.shape[0],
    frozen_phase_accuracy: round(frozenAccuracy),
    transfer_accuracy: round(transferAccuracy),
    scratch_accuracy: round(scratchAccuracy),
    improvement: round(improvement),
    seed: args.seed,
    pretrain_seconds: round(pretrainSeconds, 1),
    transfer_seconds: round(transferSeconds, 1),
    scratch_seconds: round(scratchSeconds, 1),
    seconds: round((performance.now() - start) / 1000, 1),
    threads: mox.getNumThreads(),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
});
