// Linear regression by gradient descent, with nothing but tensors and autograd.
//
// The data are y = 3*x1 - 2*x2 + 0.5 + noise (x ~ N(0, 1), noise ~ N(0, 0.1^2), seeded). The weights
// w [2, 1] and the bias b [1] are leaf tensors that require gradients; each step computes the mean
// squared error over the whole training set, calls backward(), and moves w and b against their
// gradients under noGrad (the update itself must not be recorded), then zeroes the gradients. The
// run ends with the learned w and b next to the generating values.
//
//   npm run example:linear-regression -- --epochs 100 --lr 0.1
//
// Metrics: --run-dir DIR (default runs/linear-regression) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (gradient steps, default 100), --limit N (training examples, default 1000),
// --lr X (default 0.1), --noise X (standard deviation, default 0.1), --seed S (default 0),
// --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { RUN_DIR_OPTION, integer, positiveInt, positiveNumber, runMain, runDirOf } from './common.js';

const TRUE_W = [3, -2] as const;
const TRUE_B = 0.5;

function main(): void {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string' },
      limit: { type: 'string' },
      lr: { type: 'string' },
      noise: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      ...RUN_DIR_OPTION,
    },
    strict: true,
  });
  const epochs = positiveInt('epochs', values.epochs, 100);
  const n = positiveInt('limit', values.limit, 1000);
  const lr = positiveNumber('lr', values.lr, 0.1);
  const noise = values.noise === '0' ? 0 : positiveNumber('noise', values.noise, 0.1);
  const seed = integer('seed', values.seed, 0);
  if (values.threads !== undefined) mox.setNumThreads(positiveInt('threads', values.threads, 1));

  const start = performance.now();
  mox.seed(seed);

  // the data: x [n, 2], y [n, 1] = x @ [3, -2]^T + 0.5 + noise
  const x = mox.randn([n, 2]);
  const trueW = mox.tensor([[TRUE_W[0]], [TRUE_W[1]]]);
  const y = mox.scope(() =>
    x
      .matmul(trueW)
      .add(TRUE_B)
      .add(mox.randn([n, 1]).mul(noise)),
  );

  // the parameters: leaf tensors that require gradients
  const w = mox.zeros([2, 1], { requiresGrad: true });
  const b = mox.zeros([1], { requiresGrad: true });

  console.log(
    `linear regression: ${n} examples of y = ${TRUE_W[0]}*x1 ${TRUE_W[1] < 0 ? '-' : '+'} ${Math.abs(TRUE_W[1])}*x2 + ${TRUE_B} + N(0, ${noise}^2), ` +
      `full-batch gradient descent, lr ${lr}, ${epochs} steps, seed ${seed}`,
  );
  // a loop of one's own writes its metrics with a RunLog: --run-dir/metrics.jsonl, for `mox report`
  const log = new mox.train.RunLog(runDirOf('linear-regression', values), {
    kind: 'other',
    config: { examples: n, lr, noise, seed, steps: epochs, trueW: [...TRUE_W], trueB: TRUE_B },
  });
  const every = Math.max(1, Math.round(epochs / 10));
  let firstLoss = NaN;
  let loss = NaN;
  for (let step = 1; step <= epochs; step++) {
    // everything made inside the scope (predictions, loss, graph, update temporaries) is freed at its end
    loss = mox.scope(() => {
      const pred = x.matmul(w).add(b); // [n, 1]
      const l = pred.sub(y).square().mean(); // mean squared error
      l.backward(); // fills w.grad and b.grad
      mox.noGrad(() => {
        for (const p of [w, b]) {
          p.copy_(p.sub(p.grad!.mul(lr))); // p <- p - lr * dL/dp
          p.grad!.zero_();
        }
      });
      return l.item();
    });
    if (step === 1) firstLoss = loss;
    const [w1, w2] = w.dataSync();
    log.scalars(step, 'train', { loss, lr, w1: w1!, w2: w2!, b: b.item() });
    if (step % every === 0 || step === 1 || step === epochs) {
      console.log(
        `step ${String(step).padStart(String(epochs).length)}/${epochs} - loss: ${loss.toFixed(6)} - w: [${w1!.toFixed(4)}, ${w2!.toFixed(4)}] - b: ${b.item().toFixed(4)}`,
      );
    }
  }

  const learnedW = Array.from(w.dataSync(), Number);
  const learnedB = b.item();
  const maxAbsError = Math.max(...learnedW.map((v, i) => Math.abs(v - TRUE_W[i]!)), Math.abs(learnedB - TRUE_B));
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `learned w = [${learnedW.map((v) => v.toFixed(4)).join(', ')}], b = ${learnedB.toFixed(4)}; ` +
      `true w = [${TRUE_W.join(', ')}], b = ${TRUE_B}; max abs error ${maxAbsError.toFixed(4)}`,
  );
  const round = (v: number, d = 6): number => Number(v.toFixed(d));
  const result = {
    example: 'linear-regression',
    epochs,
    train_examples: n,
    lr,
    noise,
    seed,
    w: learnedW.map((v) => round(v)),
    b: round(learnedB),
    true_w: [...TRUE_W],
    true_b: TRUE_B,
    max_abs_error: round(maxAbsError),
    initial_loss: round(firstLoss),
    final_loss: round(loss),
    seconds: round(seconds, 3),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

runMain('linear-regression', async () => main());
