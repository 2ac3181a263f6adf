// The PyTorch training loop, step by step: a Linear(2, 1) model, the MSE loss, SGD with lr 0.01, and
//
//   optimizer.zeroGrad(); const loss = mseLoss(model.forward(x), y); loss.backward(); optimizer.step();
//
// over seeded mini-batches of synthetic data (y = 1.5*x1 - 0.7*x2 + 0.3 + noise). Each epoch prints a
// Keras-style progress line. At the end the model's state dict (PyTorch's key names: weight, bias) is
// saved with saveSafetensors, loaded back into a fresh Linear(2, 1), and checked to be equal.
//
//   npm run example:simple-net -- --epochs 20 --out /tmp/simple-net.safetensors
//
// Metrics: --run-dir DIR (default runs/simple-net) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 20), --limit N (training examples, default 1000), --batch-size N
// (default 32), --lr X (default 0.01), --seed S (default 0), --out FILE (default
// <os.tmpdir()>/mox-simple-net.safetensors), --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { RUN_DIR_OPTION, integer, positiveInt, positiveNumber, runMain, runDirOf } from './common.js';

const { nn, optim, data, train } = mox;
const { mseLoss } = nn.functional;

const TRUE_W = [1.5, -0.7] as const;
const TRUE_B = 0.3;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string' },
      limit: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      threads: { type: 'string' },
      ...RUN_DIR_OPTION,
    },
    strict: true,
  });
  const epochs = positiveInt('epochs', values.epochs, 20);
  const n = positiveInt('limit', values.limit, 1000);
  const batchSize = positiveInt('batch-size', values['batch-size'], 32);
  const lr = positiveNumber('lr', values.lr, 0.01);
  const seed = integer('seed', values.seed, 0);
  const out = resolve(values.out ?? join(tmpdir(), 'mox-simple-net.safetensors'));
  if (values.threads !== undefined) mox.setNumThreads(positiveInt('threads', values.threads, 1));

  const start = performance.now();
  mox.seed(seed);

  // synthetic data: x [n, 2], y [n, 1]
  const x = mox.randn([n, 2]);
  const y = mox.scope(() =>
    x
      .matmul(mox.tensor([[TRUE_W[0]], [TRUE_W[1]]]))
      .add(TRUE_B)
      .add(mox.randn([n, 1]).mul(0.05)),
  );
  const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize, shuffle: true, seed });

  const model = new nn.Linear(2, 1);
  const optimizer = new optim.SGD(model.parameters(), { lr });
  console.log(model.toString());
  console.log(`${n} examples, batch size ${batchSize}, SGD lr ${lr}, ${epochs} epochs, seed ${seed}`);

  // the loss over the whole training set, without a graph
  const fullLoss = (): number => mox.scope(() => mox.noGrad(() => mseLoss(model.forward(x), y).item()));
  const initialLoss = fullLoss();
  // a loop of one's own writes its metrics with a RunLog: --run-dir/metrics.jsonl, for `mox report`
  const log = new mox.train.RunLog(runDirOf('simple-net', values), {
    kind: 'other',
    config: { model: 'Linear(2, 1)', optimizer: { name: 'SGD', lr }, loss: 'mse', batchSize, epochs, examples: n, seed },
  });
  let steps = 0;

  let epochLoss = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    console.log(`Epoch ${epoch + 1}/${epochs}`);
    const bar = new train.ProgressBar(loader.length);
    let sum = 0;
    let count = 0;
    let step = 0;
    for (const [xb, yb] of loader) {
      const value = mox.scope(() => {
        optimizer.zeroGrad();
        const loss = mseLoss(model.forward(xb!), yb!);
        loss.backward();
        optimizer.step();
        return loss.item();
      });
      const size = xb!.shape[0]!;
      xb!.dispose();
      yb!.dispose();
      sum += value * size;
      count += size;
      if (++steps % 10 === 0) log.scalars(steps, 'train', { loss: sum / count, lr });
      bar.update(++step, { loss: sum / count });
    }
    epochLoss = sum / count;
    bar.finish(step, { loss: epochLoss });
    log.scalars(steps, 'train', { loss: epochLoss, lr }, epoch);
  }
  const finalLoss = fullLoss();

  // save the state dict, load it into a fresh model, and compare
  const state = model.stateDict();
  await mox.saveSafetensors(out, state, { example: 'simple-net' });
  const loaded = await mox.loadSafetensors(out);
  const fresh = new nn.Linear(2, 1);
  fresh.loadStateDict(loaded.tensors);
  const freshState = fresh.stateDict();
  const keys = Object.keys(state); // PyTorch's names: weight, bias
  let equal = keys.slice().sort().join() === Object.keys(freshState).sort().join();
  for (const k of keys) {
    const a = state[k]!.dataSync();
    const b = freshState[k]!.dataSync();
    equal &&= a.length === b.length && a.every((v, i) => v === b[i]);
  }
  const samePredictions = mox.scope(() => mox.noGrad(() => model.forward(x).eq(fresh.forward(x)).logicalNot().float().sum().item() === 0));
  if (!equal || !samePredictions) throw new Error(`simple-net: the model reloaded from ${out} differs from the one saved`);

  const weight = Array.from(model.weight.dataSync(), Number);
  const bias = model.bias!.item();
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `loss ${initialLoss.toFixed(6)} -> ${finalLoss.toFixed(6)}; weight [${weight.map((v) => v.toFixed(4)).join(', ')}] ` +
      `(true [${TRUE_W.join(', ')}]), bias ${bias.toFixed(4)} (true ${TRUE_B})`,
  );
  console.log(`saved the state dict (${keys.join(', ')}) to ${out}; reloaded into a fresh Linear(2, 1): equal`);
  const round = (v: number, d = 6): number => Number(v.toFixed(d));
  const result = {
    example: 'simple-net',
    epochs,
    train_examples: n,
    batch_size: batchSize,
    lr,
    seed,
    initial_loss: round(initialLoss),
    final_loss: round(finalLoss),
    last_epoch_loss: round(epochLoss),
    weight: weight.map((v) => round(v)),
    bias: round(bias),
    true_weight: [...TRUE_W],
    true_bias: TRUE_B,
    saved: out,
    state_dict_keys: keys,
    reloaded_equal: true,
    seconds: round(seconds, 3),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

runMain('simple-net', main);
