// Quantizing the MNIST CNN (small-cnn.ts, Keras's tutorial CNN; issue 15): trained 2 epochs (Adam 1e-3,
// batch 64) on the 60,000 images, then each scheme applied by mox.quantize to a copy of the trained
// weights. As torch.ao.quantization.quantize_dynamic does by default, the Linear layers are quantized
// (Dense 576 -> 64 and 64 -> 10, 36,938 of the 93,322 parameters) and the convolutions stay float.
//
// Target: int8 loses at most 0.2 points of test accuracy. It also reports dynamic-int8 and int4, and ends
// with a `RESULT {json}` line.
//
//   npm run example:quantize-mnist-cnn
//   npm run example:quantize-mnist-cnn -- --epochs 1 --limit 2000
//
// Metrics: --run-dir DIR (default runs/quantize-mnist-cnn) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 2), --batch-size N (default 64), --limit N, --test-limit N, --lr X
// (default 1e-3), --seed S (default 0), --data-dir DIR, --threads N, as mnist-cnn.

import * as mox from '../src/index.js';
import type { QuantScheme } from '../src/backend/quant-format.js';
import { exampleRunLogger, kerasInit, loadGreyImages, logTestSet, parseClassifierArgs, runMain } from './common.js';
import { smallCnn } from './small-cnn.js';

const NAME = 'quantize-mnist-cnn';
const round = (v: number, d = 4): number => Number(v.toFixed(d));

runMain(NAME, async () => {
  const args = parseClassifierArgs({ epochs: 2, batchSize: 64 });
  const start = performance.now();
  const train = await loadGreyImages(NAME, 'mnist', 'train', args);
  const test = await loadGreyImages(NAME, 'mnist', 'test', args);
  console.log(
    `MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test images; ${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );
  mox.seed(args.seed);
  const model = smallCnn(1, 28);
  kerasInit(model);
  model.compile({ optimizer: 'adam', lr: args.lr, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  console.log(`Training the CNN, ${args.epochs} epochs`);
  const runLogger = exampleRunLogger(NAME, args, { labels: test.classes });
  await model.fit(train.x, train.y, {
    epochs: args.epochs,
    batchSize: args.batchSize,
    seed: args.seed,
    verbose: 2,
    callbacks: [runLogger],
  });
  const accuracy = (m: mox.nn.Module): number => m.evaluate(test.x, test.y, { batchSize: 256 }).accuracy!;
  const fp32Logs = model.evaluate(test.x, test.y, { batchSize: 256 });
  await logTestSet(runLogger, fp32Logs, test);
  const fp32 = fp32Logs.accuracy!;
  console.log(`fp32: test accuracy ${(100 * fp32).toFixed(2)}%`);
  const state = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, t.clone()]));
  const result: Record<string, unknown> = { example: NAME, fp32_accuracy: round(fp32) };
  for (const scheme of ['int8', 'dynamic-int8', 'int4'] as QuantScheme[]) {
    const q = smallCnn(1, 28);
    q.loadStateDict(state);
    q.eval();
    mox.quantize(q, { scheme, layers: ['linear'] });
    q.compile({ loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const acc = accuracy(q);
    const key = scheme.replace('-', '_');
    console.log(
      `${scheme}: test accuracy ${(100 * acc).toFixed(2)}% (${(100 * (acc - fp32)).toFixed(2)} points)${scheme === 'int8' ? ', target >= -0.2' : ''}`,
    );
    runLogger.logScalars('test', { [`${key}_accuracy`]: acc });
    Object.assign(result, { [`${key}_accuracy`]: round(acc), [`${key}_drop_points`]: round(100 * (fp32 - acc), 2) });
  }
  result['seconds'] = round((performance.now() - start) / 1000, 1);
  console.log(`RESULT ${JSON.stringify(result)}`);
});
