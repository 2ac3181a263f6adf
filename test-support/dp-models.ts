// The model factories test/data-parallel.test.ts gives fit's `dataParallel`: each worker process
// imports this file and calls one, as PyTorch's mp.spawn calls a function in each rank. The test
// builds rank 0's model with the same function.

import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

/** A small MLP classifier (3 inputs, 3 classes), compiled with SGD and cross-entropy, accuracy as a metric. */
export function mlp(): mox.nn.Module {
  const model = new mox.nn.Sequential(
    new mox.nn.Linear(3, 16),
    new mox.nn.Tanh(),
    new mox.nn.Linear(16, 8),
    new mox.nn.ReLU(),
    new mox.nn.Linear(8, 3),
  );
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.02 });
  return model;
}

/** A model of another shape: its replica does not match rank 0's. */
export function otherShape(): mox.nn.Module {
  const model = new mox.nn.Sequential(new mox.nn.Linear(3, 4), new mox.nn.ReLU(), new mox.nn.Linear(4, 3));
  model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
  return model;
}

/** The MLP's layers without compile(): no loss for a worker. */
export function uncompiled(): mox.nn.Module {
  return new mox.nn.Sequential(
    new mox.nn.Linear(3, 16),
    new mox.nn.Tanh(),
    new mox.nn.Linear(16, 8),
    new mox.nn.ReLU(),
    new mox.nn.Linear(8, 3),
  );
}

/**
 * The MLP, whose forward in the worker of rank 1 fails at its `at`-th call: 'exit' ends the process
 * (code 3), 'throw' raises, 'hang' never returns. In rank 0 (no RANK) it never fails.
 */
export function failing(how: 'exit' | 'throw' | 'hang', at: number): mox.nn.Module {
  const inner = mlp() as mox.nn.Sequential;
  let calls = 0;
  const forward = inner.forward.bind(inner);
  inner.forward = (x: Tensor): Tensor => {
    if (process.env['RANK'] === '1' && ++calls === at) {
      if (how === 'exit') process.exit(3);
      if (how === 'throw') throw new Error('the replica broke on purpose');
      for (;;) {
        // a replica stuck in a loop: only the timeout gets rank 0 out
      }
    }
    return forward(x);
  };
  return inner;
}

/** Three classes of points in 3-D, from a seed: x [n, 3] float32, y [n] int32. */
export function threeClasses(n: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new mox.Generator(seed);
  const xs = new Float32Array(3 * n);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    ys[i] = c;
    for (let j = 0; j < 3; j++) xs[3 * i + j] = (j === c ? 1.5 : 0) + g.normal();
  }
  return { x: mox.tensor(xs, { shape: [n, 3] }), y: mox.tensor(ys, { shape: [n], dtype: 'int32' }) };
}
