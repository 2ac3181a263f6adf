// Data-parallel training on one machine (mox.distributed, fit's `dataParallel`, `mox train gpt
// --workers`), with 2 processes on the CPU. The reference is the same run in one process: every step
// must match it to float tolerance. Not bit for bit: the ranks' gradients are summed in another order
// than one backward over the whole batch sums them (shard means weighted by rows, then added), which
// moves the last bits of a float32, and those grow a little with each step.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { DistributedError, ValueError } from '../src/errors.js';
import { DataParallel, shardRanges } from '../src/distributed/data-parallel.js';
import { replicaLoss, weightsOf } from '../src/distributed/replica.js';
import { compiledOf } from '../src/train/model.js';
import { runTrainGpt, trainGptOptions } from '../src/cli/commands/train-gpt.js';
import { moxOk, wordText } from '../test-support/cli.js';
import { failing, mlp, threeClasses } from '../test-support/dp-models.js';

const FACTORY = new URL('../test-support/dp-models.js', import.meta.url);
const factory = (name: string, args: unknown[] = []) => ({ module: FACTORY, export: name, args });

/** The largest |a - b| over two models' parameters. */
function maxDiff(a: mox.nn.Module, b: mox.nn.Module): number {
  const wa = weightsOf(a);
  const wb = weightsOf(b);
  assert.equal(wa.length, wb.length);
  let d = 0;
  for (let i = 0; i < wa.length; i++) d = Math.max(d, Math.abs(wa[i]! - wb[i]!));
  return d;
}

function close(actual: number[], expected: number[], rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, i) => {
    assert.ok(Math.abs(v - expected[i]!) <= rtol * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${v} vs ${expected[i]}`);
  });
}

/** The MLP of seed 5, fresh: both runs start from the same weights. */
function freshMlp(): mox.nn.Module {
  mox.seed(5);
  return mlp();
}

test('shardRanges splits rows as numpy array_split: the first n % world ranks take one more', () => {
  assert.deepEqual(shardRanges(10, 3), [
    [0, 4],
    [4, 3],
    [7, 3],
  ]);
  assert.deepEqual(shardRanges(7, 2), [
    [0, 4],
    [4, 3],
  ]);
  assert.deepEqual(shardRanges(1, 2), [
    [0, 1],
    [1, 0],
  ]);
});

test('fit with 2 workers: the losses, metrics and weights of the single-process fit', async () => {
  // 50 examples in batches of 7: 7 full batches and one of 1, whose worker shard is empty
  const { x, y } = threeClasses(50, 3);
  const opts = { epochs: 3, batchSize: 7, seed: 11, verbose: 0 as const, validationSplit: 0.2 };
  const single = freshMlp();
  const h1 = await single.fit(x, y, opts);
  const dp = freshMlp();
  const t0 = performance.now();
  const h2 = await dp.fit(x, y, { ...opts, dataParallel: { workers: 2, modelFactory: factory('mlp') } });
  const ms = performance.now() - t0;
  for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) close(h2.history[k]!, h1.history[k]!, 1e-5, k);
  const d = maxDiff(dp, single);
  assert.ok(d < 1e-5, `weights differ by ${d}`);
  assert.ok(h1.history['loss']![2]! < h1.history['loss']![0]!, 'the model learns');
  console.log(`fit, 3 epochs: 2 workers ${ms.toFixed(0)} ms (start-up included); max weight difference ${d.toExponential(2)}`);
});

test('fit with 2 workers and gradient accumulation: the single-process run', async () => {
  const { x, y } = threeClasses(30, 4);
  const opts = { epochs: 2, batchSize: 5, seed: 2, verbose: 0 as const, gradientAccumulationSteps: 2 };
  const single = freshMlp();
  const h1 = await single.fit(x, y, opts);
  const dp = freshMlp();
  const h2 = await dp.fit(x, y, { ...opts, dataParallel: { workers: 2, modelFactory: factory('mlp') } });
  close(h2.history['loss']!, h1.history['loss']!, 1e-5, 'loss');
  assert.ok(maxDiff(dp, single) < 1e-5);
});

test('replicas hold rank 0 weights bit for bit, also after a step that gave a worker no rows', async () => {
  const model = freshMlp();
  const c = compiledOf('test', model);
  const group = await DataParallel.start(model, {
    workers: 2,
    factory: { module: FACTORY.href, export: 'mlp', args: [] },
    loss: 'compiled',
  });
  try {
    const { x, y } = threeClasses(12, 8);
    const lossOf = replicaLoss('compiled', c);
    // batches of 6, 1 (rank 1 gets nothing), 5, then one more whose broadcast the check reads
    for (const [start, len] of [
      [0, 6],
      [6, 1],
      [7, 5],
      [0, 4],
    ] as const) {
      c.optimizer.zeroGrad();
      const step = mox.scope(() =>
        group.backward([x.narrow(0, start, len)], y.narrow(0, start, len), { lossOf, scale: 1, newWeights: true, wantOutput: false }),
      );
      const { loss } = await group.reduce(step);
      loss.dispose();
      if (start !== 0 || len !== 4) c.optimizer.step();
    }
    const [replica] = await group.replicaStates();
    assert.deepEqual(replica!.params, weightsOf(model), 'the replica of rank 1 is rank 0 model');
    assert.equal(replica!.version, 3);
  } finally {
    await group.close();
  }
});

test('a worker that exits, raises or hangs gives a DistributedError, not a hang', async () => {
  const { x, y } = threeClasses(20, 1);
  const cases = [
    { how: 'exit', reason: 'exit', message: /worker 1 exited with code 3/ },
    { how: 'throw', reason: 'error', message: /worker 1 raised in a training step: Error: the replica broke on purpose/ },
    { how: 'hang', reason: 'timeout', message: /worker 1 did not answer a training step within 3000 ms/ },
  ] as const;
  for (const k of cases) {
    mox.seed(5);
    const model = failing(k.how, 3);
    const t0 = performance.now();
    await assert.rejects(
      model.fit(x, y, {
        epochs: 2,
        batchSize: 4,
        verbose: 0,
        dataParallel: { workers: 2, modelFactory: factory('failing', [k.how, 3]), timeoutMs: 3000 },
      }),
      (e: unknown) => {
        assert.ok(e instanceof DistributedError, String(e));
        assert.equal(e.rank, 1);
        assert.equal(e.reason, k.reason);
        assert.match(e.message, k.message);
        return true;
      },
    );
    // far below the 30-minute default: the 3 s timeout, or the exit, ended it (the rest is start-up under load)
    assert.ok(performance.now() - t0 < 90_000, `${k.how}: gave up in time`);
  }
  // the model and the thread count are rank 0's again, and it trains on alone
  mox.seed(5);
  const again = failing('exit', 3);
  await again.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
});

test('bad settings are typed errors naming what is wrong', async () => {
  const { x, y } = threeClasses(9, 1);
  const model = freshMlp();
  await assert.rejects(
    model.fit(x, y, { verbose: 0, dataParallel: { workers: 0, modelFactory: FACTORY } }),
    /fit: dataParallel.workers must be a positive integer, got 0/,
  );
  await assert.rejects(
    model.fit(x, y, { verbose: 0, dataParallel: { workers: 2, modelFactory: './dp-models.js' } }),
    (e: unknown) => e instanceof ValueError && /must be a URL or an absolute path/.test(e.message),
  );
  await assert.rejects(model.fit(x, y, { verbose: 0, dataParallel: { workers: 2, modelFactory: factory('otherShape') } }), (e: unknown) => {
    assert.ok(e instanceof DistributedError);
    assert.match(
      e.message,
      /worker 1 raised in init \(building the replica\): ValueError: dataParallel: the factory's model differs from rank 0's/,
    );
    return true;
  });
  await assert.rejects(
    model.fit(x, y, { verbose: 0, dataParallel: { workers: 2, modelFactory: factory('nothing') } }),
    /has no function export 'nothing'/,
  );
  await assert.rejects(
    model.fit(x, y, { verbose: 0, dataParallel: { workers: 2, modelFactory: factory('threeClasses', [3, 1]) } }),
    /did not return an nn.Module/,
  );
  // a model that was never compiled has no loss for the worker to compute
  await assert.rejects(
    model.fit(x, y, { verbose: 0, dataParallel: { workers: 2, modelFactory: factory('uncompiled') } }),
    /the model must be compiled first/,
  );
});

test('mox train gpt --workers 2: the losses of --workers 1, an exact --resume, the command line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-dp-'));
  try {
    const data = path.join(dir, 'words.txt');
    fs.writeFileSync(data, wordText(4000));
    const base = {
      data,
      nLayer: 1,
      nHead: 2,
      nEmbd: 16,
      blockSize: 16,
      batchSize: 5,
      maxIters: 6,
      evalInterval: 100,
      evalIters: 1,
      warmupIters: 2,
    };
    const quiet = () => {};
    const t1 = performance.now();
    const one = await runTrainGpt(trainGptOptions({ ...base, out: path.join(dir, 'one') }), new Set(), quiet);
    const ms1 = performance.now() - t1;
    const t2 = performance.now();
    const two = await runTrainGpt(trainGptOptions({ ...base, out: path.join(dir, 'two'), workers: 2, gradAccum: 1 }), new Set(), quiet);
    const ms2 = performance.now() - t2;
    close(two.losses, one.losses, 1e-5, 'loss');
    close(
      two.history.map((h) => h.val),
      one.history.map((h) => h.val),
      1e-4,
      'val loss',
    );
    console.log(`train gpt, 6 iterations: 1 process ${ms1.toFixed(0)} ms, 2 workers ${ms2.toFixed(0)} ms (start-up included)`);
    // gradient accumulation splits each micro-batch
    const accum1 = await runTrainGpt(trainGptOptions({ ...base, maxIters: 3, gradAccum: 2, out: path.join(dir, 'a1') }), new Set(), quiet);
    const accum2 = await runTrainGpt(
      trainGptOptions({ ...base, maxIters: 3, gradAccum: 2, workers: 2, out: path.join(dir, 'a2') }),
      new Set(),
      quiet,
    );
    close(accum2.losses, accum1.losses, 1e-5, 'accumulated loss');
    // a run with workers resumes exactly, as one process does: 3 iterations, then 3 more from the checkpoint
    const every3 = { ...base, evalInterval: 3, lrDecayIters: 6, workers: 2 };
    const straight = await runTrainGpt(trainGptOptions({ ...every3, out: path.join(dir, 'straight') }), new Set(), quiet);
    await runTrainGpt(trainGptOptions({ ...every3, maxIters: 3, out: path.join(dir, 'resumed') }), new Set(), quiet);
    const resumed = await runTrainGpt(
      trainGptOptions({ ...every3, resume: true, out: path.join(dir, 'resumed') }),
      new Set(['maxIters']),
      quiet,
    );
    assert.deepEqual(resumed.losses, straight.losses);
    const out = moxOk([
      'train',
      'gpt',
      '--data',
      data,
      '--out',
      path.join(dir, 'cli'),
      '--workers',
      '2',
      '--n-layer',
      '1',
      '--n-head',
      '2',
      '--n-embd',
      '16',
      '--block-size',
      '16',
      '--batch-size',
      '3',
      '--max-iters',
      '2',
      '--eval-iters',
      '1',
    ]);
    assert.match(out, /threads \d+ in each of 2 processes/);
    assert.match(out, /done: 2 iterations/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
