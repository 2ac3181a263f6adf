// What fit() costs beyond the training step itself: one epoch of the MNIST MLP (the README's Keras
// example: Flatten, Linear 784-128, ReLU, Dropout 0.2, Linear 10; Adam, sparse categorical
// cross-entropy, accuracy; batch 32) through model.fit, against the same number of bare steps
// (forward, loss, backward, Adam step in one mox.scope) on batches sliced before the clock starts.
// Both start from the same seed and run in the same process; each is run `reps` times, alternating,
// and the best time of each is kept (the machine is shared, so the best is the least disturbed).
//
//   tsc -p bench/tsconfig.json && MOX_NUM_THREADS=1 node dist/bench/fit-overhead.js [--reps 3] [--limit N] [--verbose 0|1] [--data-dir DIR]
//     [--blocks N]   (measureFitBlocks instead: N alternating blocks of 100 steps, for a busy machine)
//
// overheadPerBatchMs = (fit - bare) / steps; overheadShare = that over the bare step's time. Both come
// from the clock and from the process's CPU time (see FitEpochMeasure.cpu).

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';

const { nn } = mox;

export interface FitEpochMeasure {
  /** Best time of one fit() epoch, in seconds. */
  fitSeconds: number;
  /** Best time of the same number of bare steps, in seconds. */
  bareSeconds: number;
  steps: number;
  overheadPerBatchMs: number;
  /** overheadPerBatchMs over the bare step's time (0.1 = 10%). */
  overheadShare: number;
  /**
   * The same from the process's CPU time (user + system) instead of the clock: steadier on a busy
   * machine, where other processes' time does not count; with worker threads their time counts too.
   */
  cpu: { fitSeconds: number; bareSeconds: number; overheadPerBatchMs: number; overheadShare: number };
}

interface Timing {
  wall: number;
  cpu: number;
}

/** fit's best times against the bare steps' (wall clock and CPU), and what fit adds per batch. */
function overheadOf(fit: Timing, bare: Timing, steps: number): FitEpochMeasure {
  const overhead = (f: number, b: number): { overheadPerBatchMs: number; overheadShare: number } => ({
    overheadPerBatchMs: ((f - b) * 1e3) / steps,
    overheadShare: (f - b) / b,
  });
  return {
    fitSeconds: fit.wall,
    bareSeconds: bare.wall,
    steps,
    ...overhead(fit.wall, bare.wall),
    cpu: { fitSeconds: fit.cpu, bareSeconds: bare.cpu, ...overhead(fit.cpu, bare.cpu) },
  };
}

function timed(f: () => void): Promise<Timing>;
function timed(f: () => Promise<void>): Promise<Timing>;
async function timed(f: () => void | Promise<void>): Promise<Timing> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const wall = (performance.now() - t0) / 1e3;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

export interface FitEpochOptions {
  batchSize?: number;
  /** fit's verbose: 0 silent, 1 the progress bar (written to a non-terminal sink, as in a log file). */
  verbose?: 0 | 1;
  /** Runs of each, alternating fit and bare; the best of each is kept (default 2). */
  reps?: number;
  seed?: number;
}

function mlp(seed: number): mox.nn.Module {
  mox.seed(seed);
  return new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(128, 10));
}

/** A sink that is not a terminal: the bar writes only each epoch's finished line there. */
const nullStream = { isTTY: false, write: (_s: string): boolean => true };

async function fitEpoch(x: mox.Tensor, y: mox.Tensor, o: Required<FitEpochOptions>): Promise<Timing> {
  const model = mlp(o.seed);
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const t = await timed(async () => {
    await model.fit(x, y, { epochs: 1, batchSize: o.batchSize, seed: o.seed, verbose: o.verbose, stream: nullStream });
  });
  model.optimizer!.dispose();
  return t;
}

async function bareEpoch(batches: [mox.Tensor, mox.Tensor][], seed: number): Promise<Timing> {
  const model = mlp(seed);
  model.train();
  const opt = new mox.optim.Adam(model.parameters(), { lr: 1e-3 });
  const t = await timed(() => {
    for (const [xb, yb] of batches) {
      mox.scope(() => {
        opt.zeroGrad();
        mox.nn.functional.crossEntropy(model.forward(xb) as mox.Tensor, yb).backward();
        opt.step();
      });
    }
  });
  opt.zeroGrad();
  opt.dispose();
  return t;
}

/** One epoch through fit() against as many bare steps (see the file comment). */
export async function measureFitEpoch(x: mox.Tensor, y: mox.Tensor, opts: FitEpochOptions = {}): Promise<FitEpochMeasure> {
  const o: Required<FitEpochOptions> = { batchSize: 32, verbose: 0, reps: 2, seed: 0, ...opts };
  const n = x.shape[0]!;
  const batches: [mox.Tensor, mox.Tensor][] = [];
  for (let at = 0; at < n; at += o.batchSize) {
    const len = Math.min(o.batchSize, n - at);
    batches.push([mox.keep(x.narrow(0, at, len).contiguous()), mox.keep(y.narrow(0, at, len).contiguous())]);
  }
  const fit: Timing = { wall: Infinity, cpu: Infinity },
    bare: Timing = { wall: Infinity, cpu: Infinity };
  const best = (b: Timing, t: Timing): void => {
    b.wall = Math.min(b.wall, t.wall);
    b.cpu = Math.min(b.cpu, t.cpu);
  };
  try {
    for (let r = 0; r < o.reps; r++) {
      best(fit, await fitEpoch(x, y, o));
      best(bare, await bareEpoch(batches, o.seed));
    }
  } finally {
    for (const [a, b] of batches) {
      a.dispose();
      b.dispose();
    }
  }
  const steps = batches.length;
  return overheadOf(fit, bare, steps);
}

/**
 * The same comparison in short blocks, for a busy machine where whole epochs differ by more than the
 * overhead: fit() for one epoch over `blockSteps` batches of examples drawn at random from all of x
 * (so each batch is gathered from scattered rows, as in a full epoch) alternates with as many bare
 * steps, `blocks` times; the fastest block of each side is kept. One model per side trains on.
 */
export async function measureFitBlocks(
  x: mox.Tensor,
  y: mox.Tensor,
  opts: FitEpochOptions & { blockSteps?: number; blocks?: number } = {},
): Promise<FitEpochMeasure> {
  const o = { batchSize: 32, verbose: 0 as 0 | 1, seed: 0, blockSteps: 100, blocks: 20, ...opts };
  const n = x.shape[0]!;
  const rows = o.blockSteps * o.batchSize;
  const all = new mox.data.TensorDataset(x, y);
  const pick = mox.data.randperm(n, new mox.Generator(o.seed)).slice(0, rows);
  const subset = new mox.data.Subset(all, pick);
  const batches: [mox.Tensor, mox.Tensor][] = [];
  for (let at = 0; at < rows; at += o.batchSize) {
    batches.push([mox.keep(x.narrow(0, at, o.batchSize).contiguous()), mox.keep(y.narrow(0, at, o.batchSize).contiguous())]);
  }
  const fitModel = mlp(o.seed);
  fitModel.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const bareModel = mlp(o.seed);
  bareModel.train();
  const opt = new mox.optim.Adam(bareModel.parameters(), { lr: 1e-3 });
  const fit: Timing = { wall: Infinity, cpu: Infinity },
    bare: Timing = { wall: Infinity, cpu: Infinity };
  const best = (b: Timing, t: Timing): void => {
    b.wall = Math.min(b.wall, t.wall);
    b.cpu = Math.min(b.cpu, t.cpu);
  };
  try {
    for (let r = 0; r < o.blocks; r++) {
      best(
        fit,
        await timed(async () => {
          await fitModel.fit(subset, { epochs: 1, batchSize: o.batchSize, seed: o.seed + r, verbose: o.verbose, stream: nullStream });
        }),
      );
      best(
        bare,
        await timed(() => {
          for (const [xb, yb] of batches) {
            mox.scope(() => {
              opt.zeroGrad();
              mox.nn.functional.crossEntropy(bareModel.forward(xb) as mox.Tensor, yb).backward();
              opt.step();
            });
          }
        }),
      );
    }
  } finally {
    for (const [a, b] of batches) {
      a.dispose();
      b.dispose();
    }
    opt.zeroGrad();
    opt.dispose();
    fitModel.optimizer!.dispose();
  }
  const steps = o.blockSteps;
  return overheadOf(fit, bare, steps);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '3' },
      limit: { type: 'string' },
      verbose: { type: 'string' },
      'data-dir': { type: 'string' },
      blocks: { type: 'string' },
    },
  });
  // as the tests: $MOX_DATA_DIR, else ../shared/data beside the repository (dist/bench/ is two below it)
  const dataDir =
    values['data-dir'] ?? process.env.MOX_DATA_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data');
  const ds = await mox.data.loadDataset('mnist', {
    split: 'train',
    dataDir,
    limit: values.limit ? Number(values.limit) : undefined,
    scale: 'raw',
  });
  const x = mox.keep(ds.x.div(255));
  ds.x.dispose();
  const verboses: (0 | 1)[] = values.verbose !== undefined ? [Number(values.verbose) as 0 | 1] : [0, 1];
  const how = values.blocks ? `best of ${values.blocks} alternating blocks of 100 steps` : `best of ${values.reps} epochs`;
  console.log(`MNIST MLP, ${x.shape[0]} images, batch 32, ${mox.getNumThreads()} threads, ${how}`);
  // a short untimed run first, so neither side of the first comparison pays for compiling the code
  await measureFitEpoch(x.narrow(0, 0, Math.min(x.shape[0]!, 3200)), ds.y.narrow(0, 0, Math.min(x.shape[0]!, 3200)), { reps: 1 });
  for (const verbose of verboses) {
    const m = values.blocks
      ? await measureFitBlocks(x, ds.y, { verbose, blocks: Number(values.blocks) })
      : await measureFitEpoch(x, ds.y, { verbose, reps: Number(values.reps) });
    const line = (what: string, f: number, b: number, perBatch: number, share: number): string =>
      `verbose ${verbose}, ${what}: fit ${f.toFixed(3)} s, bare ${b.toFixed(3)} s, ${m.steps} steps: ` +
      `overhead ${perBatch.toFixed(3)} ms/batch = ${(100 * share).toFixed(1)}% of a step (${((b * 1e3) / m.steps).toFixed(3)} ms)`;
    console.log(line('wall', m.fitSeconds, m.bareSeconds, m.overheadPerBatchMs, m.overheadShare));
    console.log(line('cpu ', m.cpu.fitSeconds, m.cpu.bareSeconds, m.cpu.overheadPerBatchMs, m.cpu.overheadShare));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
