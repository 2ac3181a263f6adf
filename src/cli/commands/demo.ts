// `mox demo`: trains a small MLP on the "two spirals" problem with nothing but tensors and autograd,
// a hand-written SGD step and mox.scope, and shows the live tensor count staying flat while it learns.

import * as mox from '../../index.js';
import type { Tensor } from '../../index.js';

export interface DemoOptions {
  steps: number;
  seed: number;
  /** Points per class. */
  points?: number;
  hidden?: number;
  lr?: number;
  momentum?: number;
}

export interface DemoResult {
  finalLoss: number;
  accuracy: number;
  tensorsBefore: number;
  tensorsAfter: number;
  seconds: number;
}

/**
 * Two interleaved spirals, one per class, with a little noise: not linearly separable, so a model
 * must learn a curved boundary. Returns inputs [2n, 2] (float32) and labels [2n] (int32).
 */
export function twoSpirals(n: number, gen: mox.Generator): { x: Tensor; y: Tensor } {
  const xs = new Float32Array(2 * n * 2);
  const ys = new Int32Array(2 * n);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < n; i++) {
      const t = (i / n) * 3 * Math.PI + 0.5; // angle: 1.5 turns
      const r = t / (3 * Math.PI + 0.5); // radius grows with the angle, up to 1
      const a = t + c * Math.PI; // the second spiral is the first turned by 180°
      const k = c * n + i;
      xs[2 * k] = r * Math.cos(a) + 0.02 * gen.normal();
      xs[2 * k + 1] = r * Math.sin(a) + 0.02 * gen.normal();
      ys[k] = c;
    }
  }
  return { x: mox.tensor(xs, { shape: [2 * n, 2] }), y: mox.tensor(ys, { shape: [2 * n] }) };
}

/** A weight [out, in] with He-style scaling and a zero bias; both leaves that require grad. */
function layer(inF: number, outF: number, gen: mox.Generator): [Tensor, Tensor] {
  const w = mox.randn([outF, inF], { generator: gen }).mul(Math.sqrt(2 / inF));
  return [w.requiresGrad_(), mox.zeros([outF], { requiresGrad: true })];
}

export function runDemo(opts: DemoOptions, log: (line: string) => void = console.log): DemoResult {
  const { steps, seed } = opts;
  const points = opts.points ?? 200;
  const hidden = opts.hidden ?? 32;
  const lr = opts.lr ?? 0.1;
  const momentum = opts.momentum ?? 0.9;
  const start = performance.now();

  const gen = new mox.Generator(seed);
  const { x, y } = twoSpirals(points, gen);
  const params = [...layer(2, hidden, gen), ...layer(hidden, hidden, gen), ...layer(hidden, 2, gen)];
  const velocity = params.map((p) => mox.zerosLike(p));
  const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  const forward = (input: Tensor): Tensor => {
    const h1 = mox.linear(input, w1, b1).tanh();
    const h2 = mox.linear(h1, w2, b2).tanh();
    return mox.linear(h2, w3, b3);
  };

  log(
    `two spirals: ${2 * points} points, MLP 2-${hidden}-${hidden}-2 (tanh), ` +
      `SGD lr ${lr} momentum ${momentum}, ${steps} full-batch steps, seed ${seed}`,
  );
  const before = mox.memory();
  const tensorsBefore = before.numTensors;
  log(`live before training: ${tensorsBefore} tensors, ${before.numBytes} bytes`);

  const every = Math.max(1, Math.round(steps / 10));
  let finalLoss = NaN;
  for (let step = 1; step <= steps; step++) {
    // Everything made inside the scope (activations, the loss, the graph, the update's temporaries)
    // is freed when it ends; parameters, velocities and data were made outside it and live on.
    const loss = mox.scope(() => {
      const l = mox.nn.functional.crossEntropy(forward(x), y);
      l.backward();
      mox.noGrad(() => {
        params.forEach((p, i) => {
          const v = velocity[i]!;
          v.copy_(v.mul(momentum).add(p.grad!));
          p.copy_(p.sub(v.mul(lr)));
          p.grad!.dispose(); // zero_grad(set_to_none): the next backward makes a fresh one
          p.grad = null;
        });
      });
      return l.item();
    });
    finalLoss = loss;
    if (step % every === 0 || step === 1 || step === steps) {
      log(`step ${String(step).padStart(String(steps).length)}  loss ${loss.toFixed(4)}  ` + `live tensors ${mox.memory().numTensors}`);
    }
  }

  const accuracy = mox.scope(() => mox.noGrad(() => forward(x).argmax(1).eq(y).float().mean().item()));
  const after = mox.memory();
  const tensorsAfter = after.numTensors;
  const seconds = (performance.now() - start) / 1000;
  log(`train accuracy: ${(accuracy * 100).toFixed(1)}%`);
  log(
    `live after training:  ${tensorsAfter} tensors, ${after.numBytes} bytes ` +
      `(${tensorsAfter === tensorsBefore && after.numBytes === before.numBytes ? 'flat' : 'changed'})`,
  );
  log(`time: ${seconds.toFixed(2)} s`);
  return { finalLoss, accuracy, tensorsBefore, tensorsAfter, seconds };
}
