// PyTorch-style training loops for the memory tests (test/memory-loop.test.ts,
// test/webgpu-memory.test.ts) and scripts/memory-curve.mjs: an MLP, a small CNN and a small GPT,
// each stepped as a PyTorch user writes it, with no mox.scope and no dispose():
//
//   const loss = F.crossEntropy(model.forward(x), y);
//   opt.zeroGrad(); loss.backward(); opt.step();
//
// The data (a few batches) is made before the first step, as a script loads its data set before
// training; each step takes a batch as a view (narrow), so the loop makes tensors of its own every
// step besides the model's activations. `scoped: true` runs the same step inside mox.scope, the
// path fit() takes, for the curves with and without scope.

import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

const F = mox.nn.functional;

export type LoopModel = 'mlp' | 'cnn' | 'gpt';

export interface LoopOptions {
  device?: string;
  /** Run each step inside mox.scope (fit's path) instead of the bare PyTorch-style loop. */
  scoped?: boolean;
  seed?: number;
}

export interface Loop {
  /** One training step (its loss is dropped, as a loop that never reads it). */
  step(): void;
  readonly model: mox.nn.Module;
  /** Frees the model, the optimizer state and the data. */
  dispose(): void;
}

const BATCHES = 4;

/** The loop for one model: data on the device, Adam, and a step in the form. */
export function makeLoop(kind: LoopModel, opts: LoopOptions = {}): Loop {
  const device = opts.device ?? 'cpu';
  mox.seed(opts.seed ?? 0);
  let model: mox.nn.Module;
  let xs: Tensor;
  let ys: Tensor;
  let batch: number;
  let loss: (x: Tensor, y: Tensor) => Tensor;
  if (kind === 'mlp') {
    // the 256-256-10 MLP
    batch = 32;
    model = new mox.nn.Sequential(new mox.nn.Linear(256, 256), new mox.nn.ReLU(), new mox.nn.Linear(256, 10));
    xs = mox.randn([BATCHES * batch, 256]);
    ys = mox.randint(0, 10, [BATCHES * batch]);
    loss = (x, y) => F.crossEntropy(model.forward(x) as Tensor, y);
  } else if (kind === 'cnn') {
    batch = 16;
    model = new mox.nn.Sequential(
      new mox.nn.Conv2d(1, 8, 3),
      new mox.nn.ReLU(),
      new mox.nn.MaxPool2d(2),
      new mox.nn.Conv2d(8, 16, 3),
      new mox.nn.ReLU(),
      new mox.nn.Flatten(),
      new mox.nn.Linear(16 * 3 * 3, 10),
    );
    xs = mox.randn([BATCHES * batch, 1, 12, 12]);
    ys = mox.randint(0, 10, [BATCHES * batch]);
    loss = (x, y) => F.crossEntropy(model.forward(x) as Tensor, y);
  } else {
    batch = 4;
    const vocabSize = 32;
    const blockSize = 16;
    const gpt = new mox.models.GPT({ vocabSize, blockSize, nLayer: 2, nHead: 2, nEmbd: 32 });
    model = gpt;
    xs = mox.randint(0, vocabSize, [BATCHES * batch, blockSize]);
    ys = mox.randint(0, vocabSize, [BATCHES * batch, blockSize]);
    loss = (x, y) => F.crossEntropy(gpt.forward(x).logits.reshape([-1, vocabSize]), y.reshape([-1]));
  }
  if (device !== 'cpu') {
    model.to(device);
    const [gx, gy] = [xs.to(device), ys.to(device)];
    xs.dispose();
    ys.dispose();
    xs = gx;
    ys = gy;
  }
  const opt = new mox.optim.Adam(model.parameters(), { lr: 1e-3 });
  let i = 0;
  const bare = (): void => {
    const at = (i++ % BATCHES) * batch;
    const x = xs.narrow(0, at, batch);
    const y = ys.narrow(0, at, batch);
    const l = loss(x, y);
    opt.zeroGrad();
    l.backward();
    opt.step();
  };
  return {
    step: opts.scoped ? () => mox.scope(bare) : bare,
    model,
    dispose: () => {
      opt.zeroGrad();
      opt.dispose();
      for (const p of model.parameters()) p.dispose();
      xs.dispose();
      ys.dispose();
    },
  };
}
