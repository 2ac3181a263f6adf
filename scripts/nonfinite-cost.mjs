// What fit's non-finite check costs a training step: a 784-128-10 MLP on random data, batch 64,
// Adam, on the CPU, fitted with nonFinite 'ignore' (no check) and 'skip' (the check: one sum per
// gradient, a stack and one read, before the optimizer step) in alternation, ROUNDS times; prints
// the median ms per step of each and their ratio. Also anomaly mode's cost (mox.setDetectAnomaly),
// a debugging aid. Run after `npm run build`: node scripts/nonfinite-cost.mjs [rounds]

import * as mox from '../dist/src/index.js';

const ROUNDS = Number(process.argv[2] ?? 15);
const STEPS = 20;
const BATCH = 64;
mox.setNumThreads(1);
mox.seed(0);
const x = mox.randn([STEPS * BATCH, 784]);
const y = mox.randint(0, 10, [STEPS * BATCH], { dtype: 'int32' });

function model(nonFinite) {
  mox.seed(1);
  const m = new mox.nn.Sequential(new mox.nn.Linear(784, 128), new mox.nn.ReLU(), new mox.nn.Linear(128, 10));
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', nonFinite });
  return m;
}

async function msPerStep(mode, anomaly = false) {
  const m = model(mode);
  await m.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 }); // warm-up
  mox.setDetectAnomaly(anomaly);
  const t0 = performance.now();
  await m.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
  const ms = (performance.now() - t0) / STEPS;
  mox.setDetectAnomaly(false);
  return ms;
}

const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
const times = { ignore: [], skip: [], anomaly: [] };
const ratios = [];
for (let r = 0; r < ROUNDS; r++) {
  const a = await msPerStep('ignore');
  const b = await msPerStep('skip');
  times.ignore.push(a);
  times.skip.push(b);
  ratios.push(b / a);
  if (r < 5) times.anomaly.push(await msPerStep('ignore', true));
}
const fmt = (v) => v.toFixed(3);
console.log(`MLP 784-128-10, batch ${BATCH}, Adam, 1 thread, ${ROUNDS} rounds of ${STEPS} steps`);
console.log(`nonFinite 'ignore': ${fmt(median(times.ignore))} ms/step (median)`);
console.log(`nonFinite 'skip'  : ${fmt(median(times.skip))} ms/step (median)`);
console.log(`check / no check  : median of paired ratios ${fmt(median(ratios))}`);
console.log(`anomaly mode on   : ${fmt(median(times.anomaly))} ms/step (median of ${times.anomaly.length})`);
