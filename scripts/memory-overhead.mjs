// What automatic freeing costs the scoped path (fit's, and bench/'s): the MLP and GPT training steps of
// bench/mox-peer.ts (same shapes, same step inside mox.scope, random data), timed with
// mox.setAutoFree(true) and (false) alternately in one process, several rounds; prints the median
// ms/step of each and their ratio. Run after `npm run build`:
//
//   node scripts/memory-overhead.mjs [--rounds 7] [--steps 40]
//
// Off still pays what cannot be switched off (one store per use in Tensor.view_(), one branch per
// tensor made); compare builds (this script run from two checkouts) to see that part.

import * as mox from '../dist/src/index.js';
import { GPT_CONFIG, MLP_BATCH } from '../dist/bench/common.js';

const F = mox.nn.functional;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg('rounds', 7);
const steps = arg('steps', 40);

function mlp() {
  mox.seed(0);
  const x = mox.randn([MLP_BATCH * 8, 784]);
  const y = mox.randint(0, 10, [MLP_BATCH * 8]);
  const model = new mox.nn.Sequential(new mox.nn.Linear(784, 128), new mox.nn.ReLU(), new mox.nn.Linear(128, 10));
  const opt = new mox.optim.Adam(model.parameters(), { lr: 1e-3 });
  let i = 0;
  return () => {
    mox.scope(() => {
      const at = (i++ % 8) * MLP_BATCH;
      F.crossEntropy(model.forward(x.narrow(0, at, MLP_BATCH)), y.narrow(0, at, MLP_BATCH)).backward();
    });
    opt.step();
    opt.zeroGrad();
  };
}

function gpt() {
  const { vocabSize, blockSize, nLayer, nHead, nEmbd, batch } = GPT_CONFIG;
  mox.seed(1234);
  const model = new mox.models.GPT({ vocabSize, blockSize, nLayer, nHead, nEmbd });
  const opt = new mox.optim.AdamW(model.parameters(), { lr: 1e-3, betas: [0.9, 0.99] });
  const xs = mox.randint(0, vocabSize, [batch * 4, blockSize]);
  const ys = mox.randint(0, vocabSize, [batch * 4, blockSize]);
  let i = 0;
  return () => {
    mox.scope(() => {
      const at = (i++ % 4) * batch;
      model.forward(xs.narrow(0, at, batch), ys.narrow(0, at, batch)).loss.backward();
    });
    mox.optim.clipGradNorm(model.parameters(), 1.0).dispose();
    opt.step();
    opt.zeroGrad();
  };
}

const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

for (const [name, make] of [
  ['mlp-step', mlp],
  ['gpt-step', gpt],
]) {
  const step = make();
  for (let i = 0; i < 5; i++) step(); // warm-up
  const times = { on: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 ? ['off', 'on'] : ['on', 'off']) {
      mox.setAutoFree(mode === 'on');
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) step();
      times[mode].push((performance.now() - t0) / steps);
    }
  }
  mox.setAutoFree(true);
  const on = median(times.on);
  const off = median(times.off);
  console.log(
    `${name}: auto-free on ${on.toFixed(3)} ms/step, off ${off.toFixed(3)} ms/step, on/off ${(on / off).toFixed(4)} (median of ${rounds} rounds x ${steps} steps)`,
  );
}
