// MNIST with a small Vision Transformer (mox.models.ViT, "An Image is Worth 16x16 Words"), trained as
// ViTs are: AdamW with decoupled weight decay (none on biases, norms, the class token and the
// positions, as timm's no_weight_decay), a linear warmup and a cosine decay of the learning rate per
// step, and timm's initialisation (the ViT's own, not Keras's):
//
//   28x28 image -> 16 patches of 7x7 (a Conv2d, kernel = stride = 7) + a class token, dim 64
//   -> 4 Transformer blocks (4 heads, MLP 256, exact GELU, pre-LayerNorm, no causal mask)
//   -> LayerNorm -> Linear(64, 10) on the class token          205,066 parameters
//
//   model.compile({ optimizer: new AdamW(groups, { lr, weightDecay }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] })
//   model.fit(xTrain, yTrain, { epochs, batchSize, callbacks: [SchedulerCallback(CosineWithWarmup, per batch)] })
//
// The pixels are scaled from 0..255 to [0, 1], then normalised with MNIST's mean 0.1307 and standard
// deviation 0.3081 (torchvision's usual Normalize); there is no augmentation. Target: test accuracy >= 97%
// on the 10,000 test images with the defaults (about 5 minutes on 2 cores).
//
//   npm run example:vit-mnist                        # the defaults, the full training set
//   npm run example:vit-mnist -- --epochs 1 --limit 2000
//
// The files are found by mox.data.loadDataset('mnist'): --data-dir DIR (the folder with the four IDX
// files, or a folder holding mnist/), then $MOX_DATA_DIR/mnist, then ~/.cache/mox/mnist, and otherwise
// they are downloaded (unless $MOX_DATA_OFFLINE=1); see docs/data.md.
//
// Metrics: --run-dir DIR (default runs/vit-mnist) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 5), --batch-size N (default 128), --limit N (training examples, default
// all), --test-limit N (test examples, default all), --lr X (peak learning rate, default 3e-3),
// --weight-decay X (default 0.05), --warmup N (warmup steps, default 5% of the steps), --seed S
// (default 0), --data-dir DIR, --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import * as mox from '../src/index.js';
import { UsageError, exampleRunLogger, loadGreyImages, logTestSet, parseClassifierArgs, runMain } from './common.js';

const NAME = 'vit-mnist';
const TARGET = 0.97;
/** MNIST's pixel mean and standard deviation (of [0, 1] pixels), as torchvision's usual Normalize. */
const MEAN = 0.1307;
const STD = 0.3081;

function normalise(d: { x: mox.Tensor; y: mox.Tensor }): { x: mox.Tensor; y: mox.Tensor } {
  const x = d.x.sub(MEAN).div(STD);
  d.x.dispose();
  return { x, y: d.y };
}

const MODEL = { imageSize: 28, patchSize: 7, inChannels: 1, numClasses: 10, dim: 64, depth: 4, heads: 4, mlpRatio: 4, dropout: 0 };

runMain(NAME, async () => {
  const args = parseClassifierArgs({ epochs: 5, batchSize: 128 }, { 'weight-decay': { type: 'string' }, warmup: { type: 'string' } });
  const lr = args.values.lr === undefined ? 3e-3 : args.lr;
  const wdArg = args.values['weight-decay'];
  const weightDecay = typeof wdArg === 'string' ? Number(wdArg) : 0.05;
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) throw new UsageError(`--weight-decay must be a number >= 0, got '${wdArg}'`);
  const start = performance.now();
  const train = normalise(await loadGreyImages(NAME, 'mnist', 'train', args));
  const test = normalise(await loadGreyImages(NAME, 'mnist', 'test', args));
  const stepsPerEpoch = Math.ceil(train.x.shape[0]! / args.batchSize);
  const totalSteps = args.epochs * stepsPerEpoch;
  const warmArg = args.values.warmup;
  const warmup = typeof warmArg === 'string' ? Number(warmArg) : Math.floor(totalSteps / 20);
  if (!Number.isInteger(warmup) || warmup < 0 || warmup >= totalSteps) {
    throw new UsageError(`--warmup must be an integer from 0 to ${totalSteps - 1} (the steps), got '${warmArg}'`);
  }
  console.log(
    `MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test images; ${totalSteps} steps of ${args.batchSize}; ` +
      `${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );

  mox.seed(args.seed); // the construction's draws
  const model = new mox.models.ViT({ ...MODEL, generator: new mox.Generator(args.seed) });
  model.summary([1, 28, 28]);
  // timm's rule: no decay on 1-D parameters (biases, LayerNorms) nor on the class token and positions
  const noDecay = (name: string, p: mox.Tensor): boolean => p.ndim <= 1 || name === 'cls_token' || name === 'pos_embed';
  const named = model.namedParameters();
  const optimizer = new mox.optim.AdamW(
    [
      { params: named.filter(([n, p]) => !noDecay(n, p)).map(([, p]) => p), weightDecay },
      { params: named.filter(([n, p]) => noDecay(n, p)).map(([, p]) => p), weightDecay: 0 },
    ],
    { lr },
  );
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const schedule = new mox.optim.CosineWithWarmup(optimizer, { warmupSteps: warmup, totalSteps, minLr: lr / 100 });

  const runLogger = exampleRunLogger(NAME, args, { config: { model: MODEL, warmupSteps: warmup, weightDecay } });
  const fitStart = performance.now();
  const history = await model.fit(train.x, train.y, {
    epochs: args.epochs,
    batchSize: args.batchSize,
    seed: args.seed,
    callbacks: [new mox.train.TerminateOnNaN(), new mox.train.SchedulerCallback(schedule, { interval: 'batch' }), runLogger],
  });
  const fitSeconds = (performance.now() - fitStart) / 1000;

  console.log('Evaluating on the test set');
  const { loss, accuracy } = model.evaluate(test.x, test.y, { batchSize: 256, verbose: 1 });
  await logTestSet(runLogger, { loss: loss!, accuracy: accuracy! }, test);
  console.log(
    `test accuracy ${(100 * accuracy!).toFixed(2)}% (target >= ${100 * TARGET}% with the defaults), test loss ${loss!.toFixed(4)}`,
  );

  const round = (v: number, d = 4): number => Number(v.toFixed(d));
  const last = (k: string): number => history.history[k]!.at(-1)!;
  const result = {
    example: NAME,
    epochs: args.epochs,
    batch_size: args.batchSize,
    train_examples: train.x.shape[0],
    epochs_run: history.epoch.length,
    test_examples: test.x.shape[0],
    seed: args.seed,
    model: MODEL,
    parameters: model.numParameters(),
    lr,
    weight_decay: weightDecay,
    warmup_steps: warmup,
    steps: totalSteps,
    train_loss: round(last('loss')),
    train_accuracy: round(last('accuracy')),
    test_loss: round(loss!),
    test_accuracy: round(accuracy!),
    fit_seconds: round(fitSeconds, 1),
    seconds: round((performance.now() - start) / 1000, 1),
    threads: mox.getNumThreads(),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
});
