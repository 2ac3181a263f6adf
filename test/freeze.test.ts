// Freezing (issue 14): requiresGrad_(false) and Keras's `trainable = false` leave weights bit-identical
// through a plain optimizer loop (every optimizer, AdamW's decoupled decay included) and through fit,
// while the rest move; fit follows a change of `trainable` made after compile; a frozen BatchNorm keeps
// its running statistics; freezeParameters by glob; and fit's gradientAccumulationSteps, where N
// micro-batches of B train exactly as one batch of N*B (a short last batch and group included).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { blobs } from '../test-support/fixtures.js';
import { assertClose } from '../test-support/assert.js';

const { nn, optim, train } = mox;

function mlp(seed = 0): mox.nn.Sequential {
  mox.seed(seed);
  return new nn.Sequential(new nn.Linear(2, 8), new nn.Tanh(), new nn.Linear(8, 8), new nn.Tanh(), new nn.Linear(8, 2));
}

/** Every parameter's values by name (copies). */
function values(m: mox.nn.Module): Map<string, Float32Array> {
  return new Map(m.namedParameters().map(([k, p]) => [k, Float32Array.from(p.dataSync() as Float32Array)]));
}

/** Whether two arrays hold the same bits (Object.is: -0 and NaN as themselves). */
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

/** Asserts the parameters named by `frozen` are bit-identical to `before` and every other one moved. */
function assertFrozen(m: mox.nn.Module, before: Map<string, Float32Array>, frozen: (name: string) => boolean): void {
  let moved = 0;
  for (const [k, p] of m.namedParameters()) {
    const now = p.dataSync();
    if (frozen(k)) assert.ok(sameBits(now, before.get(k)!), `${k} is frozen but changed`);
    else {
      assert.ok(!sameBits(now, before.get(k)!), `${k} is trainable but did not change`);
      moved++;
    }
  }
  assert.ok(moved > 0);
}

const data = blobs(24, 3); // 48 examples

describe('freezing in a plain optimizer loop', () => {
  const makers: [string, (ps: mox.Tensor[]) => mox.optim.Optimizer][] = [
    ['SGD (momentum, weight decay)', (ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
    ['Adam (L2 weight decay)', (ps) => new optim.Adam(ps, { lr: 0.01, weightDecay: 0.01 })],
    ['AdamW (decoupled weight decay)', (ps) => new optim.AdamW(ps, { lr: 0.01, weightDecay: 0.1 })],
    ['RMSprop (momentum)', (ps) => new optim.RMSprop(ps, { lr: 0.01, momentum: 0.5, weightDecay: 0.01 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: a parameter without a gradient is skipped entirely, as in PyTorch`, () => {
      const m = mlp(1);
      // the optimizer holds every parameter (PyTorch's usual `optim.AdamW(model.parameters())`), then
      // the first layer is frozen: no gradient, so no update and no weight decay
      const opt = make(m.parameters());
      m.getSubmodule('0').requiresGrad_(false);
      const before = values(m);
      for (let i = 0; i < 5; i++) {
        mox.scope(() => {
          opt.zeroGrad();
          mox.nn.functional.crossEntropy(m.forward(data.x), data.y).backward();
          assert.equal(m.getSubmodule('0').parameters()[0]!.grad, null);
          opt.step();
        });
      }
      assertFrozen(m, before, (k) => k.startsWith('0.'));
    });
  }
});

describe('freezing with compile and fit', () => {
  const compileAdam = (m: mox.nn.Module, opt: 'adam' | 'adamw' | mox.optim.Optimizer = 'adam'): void => {
    m.compile({ optimizer: opt, lr: 0.01, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  };
  const fitQuiet = (m: mox.nn.Module, epochs = 2): Promise<mox.train.History> =>
    m.fit(data.x, data.y, { epochs, batchSize: 8, seed: 0, verbose: 0 });

  it('trainable = false before compile: frozen weights bit-identical after fit, the rest moved; summary counts them', async () => {
    const m = mlp(2);
    m.getSubmodule('0').trainable = false;
    m.getSubmodule('2').trainable = false;
    assert.equal(m.getSubmodule('0').trainable, false);
    assert.equal(m.trainable, true);
    const lines: string[] = [];
    m.summary([2], { printFn: (l) => lines.push(l) });
    // Linear(2, 8) and Linear(8, 8) frozen: 24 + 72 = 96; Linear(8, 2) trainable: 18
    assert.ok(lines.includes('Total params: 114 (456 B)'), lines.join('\n'));
    assert.ok(lines.includes('Trainable params: 18 (72 B)'), lines.join('\n'));
    assert.ok(lines.includes('Non-trainable params: 96 (384 B)'), lines.join('\n'));
    compileAdam(m, 'adamw');
    assert.equal(m.optimizer!.paramGroups[0]!.params.length, 2);
    const before = values(m);
    await fitQuiet(m);
    assertFrozen(m, before, (k) => k.startsWith('0.') || k.startsWith('2.'));
  });

  it('a change of trainable after compile: fit keeps the named optimizer in step, with its state', async () => {
    const m = mlp(3);
    compileAdam(m);
    const opt = m.optimizer!;
    await fitQuiet(m, 1); // 6 steps, every parameter
    // freeze the first layer without compiling again (Keras would silently ignore this until compile())
    m.getSubmodule('0').trainable = false;
    let before = values(m);
    await fitQuiet(m, 1);
    assertFrozen(m, before, (k) => k.startsWith('0.'));
    assert.equal(m.optimizer, opt, 'the same optimizer object (a scheduler holding it still works)');
    assert.deepEqual(
      opt.paramGroups[0]!.params,
      m.parameters().filter((p) => p.requiresGrad),
    );
    assert.equal(m.getSubmodule('0').parameters()[0]!.grad, null, "a frozen parameter's gradient is freed");
    // unfreeze: every parameter trains again, and the moments of those already held went on
    m.trainable = true;
    before = values(m);
    await fitQuiet(m, 1);
    assertFrozen(m, before, () => false);
    const sd = opt.stateDict();
    const steps = opt.paramGroups[0]!.params.map((_, i) => sd.state[i]?.step);
    assert.deepEqual(steps, [12, 12, 18, 18, 18, 18], 'the first layer: 6 + 6 steps; the others 18');
  });

  it('an optimizer given to compile: a newly trainable parameter it lacks is a ValueError naming it', async () => {
    const m = mlp(4);
    m.getSubmodule('0').trainable = false;
    m.getSubmodule('2').trainable = false;
    compileAdam(m, new optim.Adam(m.getSubmodule('4').parameters(), { lr: 0.01 }));
    await fitQuiet(m, 1);
    m.getSubmodule('2').trainable = true;
    await assert.rejects(fitQuiet(m, 1), (e: Error) => {
      assert.ok(e instanceof mox.ValueError);
      assert.match(
        e.message,
        /^fit: 2 parameters became trainable after compile\(\) but are not in the optimizer given to it: '2\.weight', '2\.bias'/,
      );
      return true;
    });
    // PyTorch's idiom stays allowed: an optimizer over part of the model, the rest left requiring grad
    const m2 = mlp(5);
    compileAdam(m2, new optim.Adam(m2.getSubmodule('4').parameters(), { lr: 0.01 }));
    const before = values(m2);
    await fitQuiet(m2, 1);
    assertFrozen(m2, before, (k) => !k.startsWith('4.'));
  });

  it('every parameter frozen: compile and fit say so', async () => {
    const m = mlp(6);
    compileAdam(m);
    m.trainable = false;
    await assert.rejects(fitQuiet(m, 1), /fit: the model has no trainable parameters \(every parameter is frozen\)/);
    assert.throws(() => compileAdam(m), /compile: the model has no trainable parameters/);
  });
});

describe('a frozen BatchNorm', () => {
  function bnModel(): mox.nn.Sequential {
    mox.seed(7);
    return new nn.Sequential(new nn.Linear(2, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Linear(8, 2));
  }
  const buffers = (m: mox.nn.Module): Map<string, number[]> => new Map(m.namedBuffers().map(([k, b]) => [k, Array.from(b.dataSync())]));

  it('trainable = false (Keras): inference mode, its running statistics and weights bit-identical after fit', async () => {
    const m = bnModel();
    m.getSubmodule('1').trainable = false;
    m.compile({ optimizer: 'adam', lr: 0.01, loss: 'sparseCategoricalCrossentropy' });
    const before = values(m);
    const stats = buffers(m);
    await m.fit(data.x, data.y, { epochs: 2, batchSize: 8, verbose: 0 });
    assertFrozen(m, before, (k) => k.startsWith('1.'));
    for (const [k, v] of buffers(m)) assert.ok(sameBits(v, stats.get(k)!), `${k} changed`);
  });

  it('requiresGrad_(false) (PyTorch): weights fixed, but it stays in training mode and its statistics move', async () => {
    const m = bnModel();
    m.getSubmodule('1').requiresGrad_(false);
    m.compile({ optimizer: 'adam', lr: 0.01, loss: 'sparseCategoricalCrossentropy' });
    const before = values(m);
    const stats = buffers(m);
    await m.fit(data.x, data.y, { epochs: 1, batchSize: 8, verbose: 0 });
    assertFrozen(m, before, (k) => k.startsWith('1.'));
    assert.ok(!sameBits(buffers(m).get('1.running_mean')!, stats.get('1.running_mean')!));
    assert.equal(buffers(m).get('1.num_batches_tracked')![0], 6);
  });
});

describe('freezeParameters', () => {
  function nested(): mox.nn.Module {
    mox.seed(8);
    const h = new nn.ModuleList(Array.from({ length: 11 }, () => new nn.Linear(2, 2)));
    const transformer = new nn.ModuleDict({ wte: new nn.Embedding(5, 2), h });
    return new nn.ModuleDict({ transformer, lm_head: new nn.Linear(2, 5, false) });
  }

  it('globs over dotted names: * takes dots too, and block 1 is not block 10', () => {
    const m = nested();
    assert.deepEqual(nn.freezeParameters(m, ['transformer.h.1.*']), ['transformer.h.1.weight', 'transformer.h.1.bias']);
    assert.equal(m.getSubmodule('transformer.h.10').trainable, true);
    assert.equal(m.getSubmodule('transformer.h.1').trainable, false);
    assert.deepEqual(nn.freezeParameters(m, ['transformer.wte.*', 'lm_?ead.weight']), ['transformer.wte.weight', 'lm_head.weight']);
    const biases = nn.freezeParameters(m, ['*.bias']);
    assert.equal(biases.length, 11);
    assert.ok(biases.every((k) => k.endsWith('.bias')));
    assert.equal(m.numParameters(true), 10 * 4); // the weights of h.0, h.2 ... h.10
  });

  it('a pattern that matches nothing is a ValueError listing real names', () => {
    const m = nested();
    assert.throws(
      () => nn.freezeParameters(m, ['transformer.h.0.*', 'transformer.blocks.*']),
      (e: Error) =>
        e instanceof mox.ValueError &&
        /^freezeParameters: 'transformer\.blocks\.\*' matched no parameter of ModuleDict; its 24 parameters are named like transformer\.wte\.weight, transformer\.h\.0\.weight, /.test(
          e.message,
        ),
    );
    assert.equal(m.numParameters(true), m.numParameters(false), 'nothing frozen when a pattern fails');
    assert.throws(() => nn.freezeParameters(m, [''] as string[]), mox.ValueError);
  });
});

describe('gradientAccumulationSteps', () => {
  // 42 examples: batches of 4 make 10 full batches and one of 2; 3 to a step make steps of 12, 12, 12
  // and a short last group of 6 (4 + 2), which is exactly batchSize 12 without accumulation
  const x = blobs(21, 9);
  type Make = (ps: mox.Tensor[]) => mox.optim.Optimizer;
  const cases: [string, Make][] = [
    ['SGD with momentum', (ps) => new optim.SGD(ps, { lr: 0.2, momentum: 0.9 })],
    ['Adam', (ps) => new optim.Adam(ps, { lr: 0.02 })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: 3 micro-batches of 4 equal one batch of 12, the short last batch and group included`, async () => {
      const run = async (batchSize: number, accum: number) => {
        const m = mlp(10);
        m.compile({ optimizer: make(m.parameters()), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
        const sizes: number[] = [];
        const cb = new (class extends train.Callback {
          override onBatchEnd(_b: number, logs: mox.train.Logs): void {
            sizes.push(logs.size!);
          }
        })();
        const h = await m.fit(x.x, x.y, {
          epochs: 3,
          batchSize,
          shuffle: false,
          verbose: 0,
          callbacks: [cb],
          gradientAccumulationSteps: accum,
        });
        return { m, h, sizes };
      };
      const acc = await run(4, 3);
      const big = await run(12, 1);
      assert.deepEqual(acc.sizes, [12, 12, 12, 6, 12, 12, 12, 6, 12, 12, 12, 6], 'callbacks count optimizer steps');
      assert.deepEqual(acc.sizes, big.sizes);
      const ref = new Map(big.m.namedParameters());
      for (const [k, p] of acc.m.namedParameters()) assertClose(p, ref.get(k)!, { atol: 2e-6, rtol: 1e-4, msg: k });
      assertClose(acc.h.history.loss!, big.h.history.loss!, { atol: 1e-6, rtol: 1e-5 });
      assert.deepEqual(acc.h.history.accuracy, big.h.history.accuracy);
      // and it differs from not accumulating at all (steps of 4)
      const small = await run(4, 1);
      assert.ok(!sameBits(small.m.parameters()[0]!.dataSync(), acc.m.parameters()[0]!.dataSync()));
    });
  }

  it('a per-batch scheduler steps once per optimizer step; the progress bar counts them', async () => {
    const m = mlp(11);
    const opt = new optim.SGD(m.parameters(), { lr: 1 });
    m.compile({ optimizer: opt, loss: 'sparseCategoricalCrossentropy' });
    const sched = new train.SchedulerCallback(new optim.StepLR(opt, 1, 0.5), { interval: 'batch' });
    let text = '';
    const stream = {
      isTTY: false,
      write: (s: string): boolean => {
        text += s;
        return true;
      },
    };
    await m.fit(x.x, x.y, {
      epochs: 1,
      batchSize: 4,
      shuffle: false,
      callbacks: [sched],
      gradientAccumulationSteps: 3,
      verbose: 2,
      stream,
    });
    assert.equal(opt.lr, 0.5 ** 4);
    assert.match(text, /^4\/4 - /m);
  });

  it("nonFinite 'skip' skips the whole accumulated step when one micro-batch is bad", async () => {
    const m = mlp(12);
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    const xs = Float32Array.from(x.x.dataSync() as Float32Array);
    xs[2 * 5] = Number.NaN; // example 5: the second micro-batch of the first step
    const bad = mox.tensor(xs, { shape: x.x.shape });
    const h = await m.fit(bad, x.y, {
      epochs: 1,
      batchSize: 4,
      shuffle: false,
      gradientAccumulationSteps: 3,
      nonFinite: 'skip',
      verbose: 0,
    });
    assert.deepEqual(h.history.skipped, [1]);
    assert.ok(Number.isFinite(h.history.loss![0]!), 'the skipped step is not counted in the loss');
    for (const p of m.parameters()) assert.ok(Array.from(p.dataSync()).every(Number.isFinite));
  });

  it('rejects a count that is not a positive integer', async () => {
    const m = mlp(13);
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    for (const bad of [0, 1.5, -2])
      await assert.rejects(
        m.fit(x.x, x.y, { verbose: 0, gradientAccumulationSteps: bad }),
        new RegExp(`fit: gradientAccumulationSteps must be a positive integer, got ${bad}`),
      );
  });
});
