// A PyTorch-style loop must not leak: with no mox.scope and no dispose(), the live tensors and bytes of
// `loss = F.crossEntropy(model.forward(x), y); opt.zeroGrad(); loss.backward(); opt.step()` hold flat
// (automatic freeing at backward() boundaries, tensor/memory.ts), for an MLP, a CNN and a GPT. The
// patterns that carry tensors across steps keep working, and a tensor stored and left unused for two
// backward() calls raises a DisposedError that explains itself. The WebGPU twin is
// test/webgpu-memory.test.ts; scripts/memory-curve.mjs runs the loops for 10,000 steps.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { makeLoop, type LoopModel } from '../test-support/memory-loops.js';

const F = mox.nn.functional;

/** Runs `steps` steps and returns the memory after step 20 and after the last. */
function curve(
  kind: LoopModel,
  steps: number,
  device = 'cpu',
): { at20: ReturnType<typeof mox.memory>; last: ReturnType<typeof mox.memory> } {
  const loop = makeLoop(kind, { device });
  let at20: ReturnType<typeof mox.memory> | null = null;
  for (let i = 1; i <= steps; i++) {
    loop.step();
    if (i === 20) at20 = mox.memory({ heap: true });
  }
  const last = mox.memory({ heap: true });
  loop.dispose();
  return { at20: at20!, last };
}

function assertFlat(kind: string, c: ReturnType<typeof curve>, device: string): void {
  const a = c.at20.devices[device]!;
  const b = c.last.devices[device]!;
  const say = `${kind} on ${device}: step 20 ${JSON.stringify(a)}, last step ${JSON.stringify(b)}`;
  assert.ok(c.last.numTensors <= 1.5 * c.at20.numTensors, `live tensors: ${say}`);
  assert.ok(b.numTensors <= 1.5 * a.numTensors, `live tensors: ${say}`);
  assert.ok(b.numBytes <= 1.5 * a.numBytes, `live bytes: ${say}`);
  assert.ok(b.heapBytes! <= 1.5 * a.heapBytes!, `heap bytes in use: ${say}`);
}

describe('a PyTorch-style loop without scope holds memory flat (CPU)', () => {
  const steps: Record<LoopModel, number> = { mlp: 300, cnn: 200, gpt: 150 };
  for (const kind of ['mlp', 'cnn', 'gpt'] as const) {
    test(`${kind}: ${steps[kind]} steps, live tensors and bytes at the end <= 1.5x step 20`, (t) => {
      const c = curve(kind, steps[kind]);
      t.diagnostic(`step 20 ${JSON.stringify(c.at20.devices.cpu)}; step ${steps[kind]} ${JSON.stringify(c.last.devices.cpu)}`);
      assertFlat(kind, c, 'cpu');
    });
  }

  test('with automatic freeing off the same loop grows (what the mechanism fixes)', (t) => {
    mox.setAutoFree(false);
    t.after(() => mox.setAutoFree(true));
    const loop = makeLoop('mlp');
    for (let i = 0; i < 20; i++) loop.step();
    const at20 = mox.memory().numTensors;
    for (let i = 0; i < 40; i++) loop.step();
    assert.ok(mox.memory().numTensors > at20 + 40 * 10, `${at20} -> ${mox.memory().numTensors}`);
    loop.dispose();
  });
});

/** A tiny regression problem with a hand-made weight (no Parameter) and an optimizer. */
function tiny(seed: number): { x: Tensor; y: Tensor; w: Tensor; b: Tensor; opt: mox.optim.SGD } {
  mox.seed(seed);
  const x = mox.randn([32, 4]);
  const y = x.matmul(mox.tensor([[1], [-2], [0.5], [3]], { dtype: 'float32' })).add(0.25);
  const w = mox.zeros([4, 1], { requiresGrad: true });
  const b = mox.zeros([1], { requiresGrad: true });
  return { x, y, w, b, opt: new mox.optim.SGD([w, b], { lr: 0.05 }) };
}

describe('patterns that carry tensors across steps', () => {
  test('warm-up: one backward() so that what follows is managed', () => {
    const a = mox.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    a.sum().backward();
    assert.ok(mox.autoFreeStats().generation >= 1);
  });

  test('RNN hidden state carried with h = h.detach() survives, memory flat', () => {
    mox.seed(3);
    const rnn = new mox.nn.GRU(3, 8);
    const head = new mox.nn.Linear(8, 1);
    const opt = new mox.optim.Adam([...rnn.parameters(), ...head.parameters()], { lr: 1e-2 });
    let h = mox.zeros([1, 4, 8]); // [layers, batch, hidden]
    let at20 = 0;
    for (let step = 1; step <= 200; step++) {
      const x = mox.randn([5, 4, 3]); // [time, batch, features]
      const [out, hN] = rnn.forward(x, h);
      const loss = F.mseLoss(head.forward(out) as Tensor, x.sum(2, true));
      opt.zeroGrad();
      loss.backward();
      opt.step();
      h = hN.detach(); // used by the next step's forward: survives
      if (step === 20) at20 = mox.memory().numTensors;
    }
    assert.equal(h.isDisposed, false);
    assert.ok(mox.memory().numTensors <= 1.5 * at20, `${at20} -> ${mox.memory().numTensors}`);
  });

  test('a running loss tensor (running = running.add(loss.detach())) and a hand-made weight', () => {
    const { x, y, w, b, opt } = tiny(4);
    let running = mox.zeros([]);
    let first = 0;
    for (let step = 1; step <= 200; step++) {
      const loss = F.mseLoss(x.matmul(w).add(b), y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      running = running.add(loss.detach());
      if (step === 1) first = loss.item();
    }
    const mean = running.item() / 200;
    assert.ok(Number.isFinite(mean) && mean < first, `mean loss ${mean}, first ${first}`);
    assert.equal(w.isDisposed, false);
  });

  test('GAN-style: two backward() calls per step, the generator output reused by both', () => {
    mox.seed(5);
    const G = new mox.nn.Linear(2, 2);
    const D = new mox.nn.Sequential(new mox.nn.Linear(2, 8), new mox.nn.Tanh(), new mox.nn.Linear(8, 1));
    const optG = new mox.optim.Adam(G.parameters(), { lr: 1e-3 });
    const optD = new mox.optim.Adam(D.parameters(), { lr: 1e-3 });
    const ones = mox.ones([16, 1]);
    const zeros = mox.zeros([16, 1]);
    let at20 = 0;
    for (let step = 1; step <= 150; step++) {
      const real = mox.randn([16, 2]).add(2);
      const fake = G.forward(mox.randn([16, 2])) as Tensor;
      const lossD = F.binaryCrossEntropyWithLogits(D.forward(real) as Tensor, ones).add(
        F.binaryCrossEntropyWithLogits(D.forward(fake.detach()) as Tensor, zeros),
      );
      optD.zeroGrad();
      lossD.backward();
      optD.step();
      const lossG = F.binaryCrossEntropyWithLogits(D.forward(fake) as Tensor, ones);
      optG.zeroGrad();
      lossG.backward();
      optG.step();
      if (step === 20) at20 = mox.memory().numTensors;
    }
    assert.ok(mox.memory().numTensors <= 1.5 * at20, `${at20} -> ${mox.memory().numTensors}`);
    assert.equal(ones.isDisposed || zeros.isDisposed, false);
  });

  test('an eval loop without backward between epochs; a kept test set; eval outputs freed later', () => {
    const { x, y, w, b, opt } = tiny(6);
    const evalX = mox.keep(mox.randn([8, 4])); // made after a backward(), used once per epoch: kept
    const outputs: Tensor[] = [];
    for (let epoch = 0; epoch < 5; epoch++) {
      for (let step = 0; step < 20; step++) {
        const loss = F.mseLoss(x.matmul(w).add(b), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      }
      const preds = mox.noGrad(() => evalX.matmul(w).add(b));
      assert.ok(Number.isFinite(preds.sum().item()));
      outputs.push(preds);
    }
    // each epoch's predictions were read, then left: freed by the next epoch's backward() calls
    assert.deepEqual(
      outputs.map((o) => o.isDisposed),
      [true, true, true, true, false],
    );
    evalX.dispose();
  });

  test('keep() saves a stored tensor; one used, then left for two backward() calls, raises the explained DisposedError', () => {
    const { x, y, w, b, opt } = tiny(7);
    const kept = mox.keep(mox.ones([3]));
    const stored = mox.ones([3]);
    const ahead = mox.ones([2]); // made ahead and not used yet: left alone until its first use
    assert.equal(stored.sum().item(), 3); // used once, then stored and left unused
    const losses: Tensor[] = [];
    for (let step = 0; step < 10; step++) {
      const loss = F.mseLoss(x.matmul(w).add(b), y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      losses.push(loss);
    }
    assert.deepEqual(Array.from(kept.dataSync()), [1, 1, 1]);
    assert.throws(
      () => stored.dataSync(),
      (e: unknown) =>
        e instanceof mox.DisposedError &&
        /tensor \[3\] float32 was freed automatically when backward\(\) #\d+ completed/.test(e.message) &&
        /mox\.keep\(t\)/.test(e.message) &&
        /setAutoFree\(false\)/.test(e.message),
    );
    assert.deepEqual(Array.from(ahead.dataSync()), [1, 1]);
    // the losses of the last two steps are still there; older ones were freed
    assert.equal(losses[9]!.isDisposed, false);
    assert.equal(losses[0]!.isDisposed, true);
    kept.dispose();
  });

  test('tensors made inside mox.scope are the scope\u2019s: a loop in scope frees them at once', () => {
    const { x, y, w, b, opt } = tiny(8);
    const step = (): number =>
      mox.scope(() => {
        const loss = F.mseLoss(x.matmul(w).add(b), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        return loss.item();
      });
    step();
    step();
    step();
    const before = mox.autoFreeStats().managed;
    for (let i = 0; i < 20; i++) step();
    assert.ok(mox.autoFreeStats().managed <= before, 'nothing made in a scope is managed');
  });

  test('fit() gives the same history with automatic freeing on and off', async (t) => {
    const run = async (on: boolean): Promise<Record<string, number[]>> => {
      mox.setAutoFree(on);
      mox.seed(9);
      const x = mox.randn([64, 4]);
      const y = x.sum(1).gt(0).to('int32');
      const model = new mox.nn.Sequential(new mox.nn.Linear(4, 16), new mox.nn.ReLU(), new mox.nn.Linear(16, 2));
      model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
      const h = await model.fit(x, y, { epochs: 10, batchSize: 16, verbose: 0, validationData: [x, y], seed: 0 });
      return h.history;
    };
    t.after(() => mox.setAutoFree(true));
    const on = await run(true);
    const off = await run(false);
    assert.deepEqual(on, off);
    assert.ok(on.accuracy!.at(-1)! > 0.9, `accuracy ${on.accuracy}`);
  });
});
