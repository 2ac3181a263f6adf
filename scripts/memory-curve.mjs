// The memory curve of a PyTorch-style training loop (no mox.scope, no dispose()): steps vs live tensors,
// live bytes and the allocator's bytes in use, for the loop bare and inside mox.scope, and (for a few
// steps) bare with automatic freeing off, which is how it leaked before. Every figure counts from just
// before the loop was made (model, optimizer and data included). Prints Markdown tables
// (docs/memory.md has the output). Run after `npm run build`:
//
//   node scripts/memory-curve.mjs [--steps 10000] [--models mlp,cnn,gpt] [--device cpu|webgpu]
//
// --steps applies to the MLP; the CNN and GPT run a fifth of it (their steps cost more).

import * as mox from '../dist/src/index.js';
import { makeLoop } from '../dist/test-support/memory-loops.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const steps = Number(arg('steps', '10000'));
const models = arg('models', 'mlp,cnn,gpt').split(',');
const device = arg('device', 'cpu');
if (device !== 'cpu') await mox.initDevice(device);

const marks = (n) => [1, 10, 20, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000].filter((s) => s < n).concat([n]);
const mib = (b) => (b / 2 ** 20).toFixed(2);

/** Runs a loop and returns { step: { tensors, bytes, heap } } at each mark. */
async function run(kind, n, { scoped, autoFree }) {
  mox.setAutoFree(autoFree);
  // counted from here: a run with automatic freeing off leaves its leak behind in this process
  const m0 = mox.memory({ heap: true });
  const d0 = m0.devices[device] ?? { numBytes: 0, heapBytes: 0 };
  const loop = makeLoop(kind, { device, scoped });
  const want = new Set(marks(n));
  const out = new Map();
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    loop.step();
    if (want.has(i)) {
      if (device !== 'cpu') await mox.sync();
      const m = mox.memory({ heap: true });
      const d = m.devices[device];
      out.set(i, { tensors: m.numTensors - m0.numTensors, bytes: d.numBytes - d0.numBytes, heap: d.heapBytes - d0.heapBytes });
    }
  }
  const ms = (performance.now() - t0) / n;
  loop.dispose();
  mox.setAutoFree(true);
  return { out, ms };
}

for (const kind of models) {
  const n = kind === 'mlp' ? steps : Math.max(100, Math.round(steps / 5));
  const offSteps = Math.min(n, 1000);
  const bare = await run(kind, n, { scoped: false, autoFree: true });
  const scoped = await run(kind, n, { scoped: true, autoFree: true });
  const off = await run(kind, offSteps, { scoped: false, autoFree: false });
  console.log(`\n### ${kind} on ${device}: ${n} steps\n`);
  console.log(
    `ms/step: no scope ${bare.ms.toFixed(2)}, in mox.scope ${scoped.ms.toFixed(2)}, no scope with setAutoFree(false) ${off.ms.toFixed(2)} (${offSteps} steps)\n`,
  );
  console.log(
    '| step | no scope: tensors | MiB | heap MiB | in mox.scope: tensors | MiB | heap MiB | no scope, auto-free off: tensors | MiB |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of marks(n)) {
    const a = bare.out.get(s);
    const b = scoped.out.get(s);
    const c = off.out.get(s);
    console.log(
      `| ${s} | ${a.tensors} | ${mib(a.bytes)} | ${mib(a.heap)} | ${b.tensors} | ${mib(b.bytes)} | ${mib(b.heap)} | ${c ? c.tensors : ''} | ${c ? mib(c.bytes) : ''} |`,
    );
  }
}
