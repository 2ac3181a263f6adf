// The mox side of the CPU benchmark. The step workloads are leaf tensors with PyTorch's default init
// and mox.nn.functional ops, trained with mox.optim.Adam, each step in mox.scope so nothing leaks
// between reps; their batches come from the real data (bench/mox-data.ts), as PyTorch's do. The epoch
// workloads use what a user writes: nn.Sequential, and a plain loop, a DataLoader loop or fit().

import * as mox from '../src/index.js';
import {
  CNN_BATCH,
  CONV_BATCH,
  CONV_LAYERS,
  GPT_CONFIG,
  MLP_BATCH,
  Rng,
  failure,
  timeAsync,
  timeSync,
  toMeasurement,
  type ConvLayer,
  type Measurement,
  type PeerResults,
  type TimingOptions,
  type WorkloadDef,
} from './common.js';
import { gptBatch, loadMnist, loadShakespeare, randomMnist, randomText, type MnistData, type TextData } from './mox-data.js';

/** Where the data comes from and how much of it an epoch takes. */
export interface MoxContext {
  root: string;
  epochImages: number;
  /** Load no dataset: small random data instead (bench/mox-state.ts, a fresh process's state). */
  noData?: boolean;
}

const mnistOf = (ctx: MoxContext): MnistData => (ctx.noData ? randomMnist(640) : loadMnist(ctx.root));
const textOf = (ctx: MoxContext): TextData => (ctx.noData ? randomText(100_000) : loadShakespeare(ctx.root));

const F = mox.nn.functional;
type Tensor = mox.Tensor;

/** The optional threading API the WebAssembly backend adds; absent on the reference backend. */
interface MoxThreads {
  setNumThreads?: (n: number) => void;
  getNumThreads?: () => number;
}
const threadsApi = mox as unknown as MoxThreads;

export function moxHasThreads(): boolean {
  return typeof threadsApi.setNumThreads === 'function';
}

export function moxSetThreads(n: number): void {
  if (typeof threadsApi.setNumThreads === 'function') threadsApi.setNumThreads(n);
}

function fromF32(data: Float32Array, shape: number[], requiresGrad = false): Tensor {
  return mox.keep(mox.tensor(data, { shape, requiresGrad }));
}

/** A weight or bias with PyTorch's default bound 1/sqrt(fan_in). */
function param(rng: Rng, shape: number[], fanIn: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return fromF32(rng.uniformArray(n, 1 / Math.sqrt(fanIn)), shape, true);
}

function clearGrads(ts: Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

interface Prepared {
  step: () => void;
  /** Set for workloads that are asynchronous (fit): timed with timeAsync instead of step. */
  asyncStep?: () => Promise<void>;
  dispose: () => void;
}

function gemm(n: number, rng: Rng): Prepared {
  const a = fromF32(rng.normal(n * n), [n, n]);
  const b = fromF32(rng.normal(n * n), [n, n]);
  return {
    step: () =>
      mox.scope(() => {
        mox.matmul(a, b);
      }),
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

function conv(layer: ConvLayer, backward: boolean, rng: Rng): Prepared {
  const { cin, cout, hw, inputGrad } = CONV_LAYERS[layer];
  const oh = hw - 2;
  const x = fromF32(rng.normal(CONV_BATCH * cin * hw * hw), [CONV_BATCH, cin, hw, hw], backward && inputGrad);
  const w = param(rng, [cout, cin, 3, 3], cin * 9);
  const b = param(rng, [cout], cin * 9);
  const dy = fromF32(rng.normal(CONV_BATCH * cout * oh * oh), [CONV_BATCH, cout, oh, oh]);
  const grads = [x, w, b];
  const step = backward
    ? () => {
        mox.scope(() => {
          F.conv2d(x, w, b).backward(dy);
        });
        clearGrads(grads);
      }
    : () =>
        mox.noGrad(() =>
          mox.scope(() => {
            F.conv2d(x, w, b);
          }),
        );
  return {
    step,
    dispose: () => {
      clearGrads(grads);
      for (const t of [x, w, b, dy]) t.dispose();
    },
  };
}

/** Consecutive batches of the loaded images, round and round (views, no copy), as torch_bench.py. */
function mnistBatches(data: MnistData, batch: number, flat: boolean): () => { x: Tensor; y: Tensor } {
  const n = Math.floor(data.y.shape[0]! / batch);
  let i = 0;
  return () => {
    const at = i * batch;
    i = (i + 1) % n;
    const x = data.x.narrow(0, at, batch);
    return { x: flat ? x.reshape([batch, 784]) : x, y: data.y.narrow(0, at, batch) };
  };
}

function mlp(rng: Rng, ctx: MoxContext): Prepared {
  const next = mnistBatches(mnistOf(ctx), MLP_BATCH, true);
  const w1 = param(rng, [128, 784], 784);
  const b1 = param(rng, [128], 784);
  const w2 = param(rng, [10, 128], 128);
  const b2 = param(rng, [10], 128);
  const params = [w1, b1, w2, b2];
  const opt = new mox.optim.Adam(params, { lr: 1e-3 });
  return {
    step: () => {
      mox.scope(() => {
        const { x, y } = next();
        const h = F.relu(F.linear(x, w1, b1));
        F.crossEntropy(F.linear(h, w2, b2), y).backward();
      });
      opt.step();
      opt.zeroGrad();
    },
    dispose: () => {
      opt.zeroGrad();
      opt.dispose();
      for (const t of params) t.dispose();
    },
  };
}

function cnn(rng: Rng, ctx: MoxContext): Prepared {
  const next = mnistBatches(mnistOf(ctx), CNN_BATCH, false);
  const c1w = param(rng, [32, 1, 3, 3], 9);
  const c1b = param(rng, [32], 9);
  const c2w = param(rng, [64, 32, 3, 3], 32 * 9);
  const c2b = param(rng, [64], 32 * 9);
  const c3w = param(rng, [64, 64, 3, 3], 64 * 9);
  const c3b = param(rng, [64], 64 * 9);
  const d1w = param(rng, [64, 576], 576);
  const d1b = param(rng, [64], 576);
  const d2w = param(rng, [10, 64], 64);
  const d2b = param(rng, [10], 64);
  const params = [c1w, c1b, c2w, c2b, c3w, c3b, d1w, d1b, d2w, d2b];
  const opt = new mox.optim.Adam(params, { lr: 1e-3 });
  return {
    step: () => {
      mox.scope(() => {
        const { x, y } = next();
        let h = F.maxPool2d(F.relu(F.conv2d(x, c1w, c1b)), 2); // [64, 32, 13, 13]
        h = F.maxPool2d(F.relu(F.conv2d(h, c2w, c2b)), 2); // [64, 64, 5, 5]
        h = F.relu(F.conv2d(h, c3w, c3b)).flatten(1); // [64, 576]
        h = F.relu(F.linear(h, d1w, d1b));
        F.crossEntropy(F.linear(h, d2w, d2b), y).backward();
      });
      opt.step();
      opt.zeroGrad();
    },
    dispose: () => {
      opt.zeroGrad();
      opt.dispose();
      for (const t of params) t.dispose();
    },
  };
}

/** nanoGPT's training step on Tiny Shakespeare batches (its get_batch): AdamW (betas 0.9/0.99, decay
 *  0.1 on 2-D weights), clip 1.0. */
function gpt(rng: Rng, ctx: MoxContext): Prepared {
  const text = textOf(ctx);
  const { vocabSize, blockSize, nLayer, nHead, nEmbd, batch } = GPT_CONFIG;
  mox.seed(1234);
  const model = new mox.models.GPT({ vocabSize, blockSize, nLayer, nHead, nEmbd });
  const decay = model.parameters().filter((p) => p.ndim >= 2);
  const noDecay = model.parameters().filter((p) => p.ndim < 2);
  const opt = new mox.optim.AdamW(
    [
      { params: decay, weightDecay: 0.1 },
      { params: noDecay, weightDecay: 0 },
    ],
    { lr: 1e-3, betas: [0.9, 0.99] },
  );
  return {
    step: () => {
      mox.scope(() => {
        const { x, y } = gptBatch(text.train, blockSize, batch, rng);
        model.forward(x, y).loss!.backward();
      });
      mox.optim.clipGradNorm(model.parameters(), 1.0).dispose();
      opt.step();
      opt.zeroGrad();
    },
    dispose: () => {
      opt.zeroGrad();
      opt.dispose();
      for (const t of model.parameters()) t.dispose();
    },
  };
}

/** A null stream for fit's progress bar: the bar's work is measured, not the terminal's. */
const nullStream = { write: (_s: string): boolean => true, isTTY: false };

/**
 * One epoch of the README's Keras MLP (Flatten, Linear 784-128, ReLU, Linear 128-10; Adam 1e-3, batch
 * 32, shuffled, no metrics) over the first ctx.epochImages images: through fit() (verbose 0, or 1 to
 * a null stream), a mox DataLoader loop, or a plain loop (a permutation, then indexSelect per batch).
 */
function mlpEpoch(how: 'loop' | 'dataloader' | 'fit' | 'fit-v1', ctx: MoxContext): Prepared {
  const data = mnistOf(ctx);
  const n = Math.min(ctx.epochImages, data.y.shape[0]!);
  const x = mox.keep(data.x.narrow(0, 0, n));
  const y = mox.keep(data.y.narrow(0, 0, n));
  mox.seed(1234);
  const { nn } = mox;
  const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
  const opt = new mox.optim.Adam(model.parameters(), { lr: 1e-3 });
  const trainBatch = (xb: Tensor, yb: Tensor): void => {
    mox.scope(() => {
      F.crossEntropy(model.forward(xb), yb).backward();
    });
    opt.step();
    opt.zeroGrad();
  };
  let step: () => void;
  if (how === 'fit' || how === 'fit-v1') {
    model.compile({ optimizer: opt, loss: 'sparseCategoricalCrossentropy' });
    const verbose = how === 'fit' ? 0 : 1;
    // fit() is async (callbacks may await): timed with timeAsync, as a user's `await model.fit(...)`
    return {
      step: () => {
        throw new Error('mox: fit is timed through asyncStep');
      },
      asyncStep: async () => {
        await model.fit(x, y, { epochs: 1, batchSize: MLP_BATCH, verbose, stream: nullStream });
      },
      dispose: () => {
        opt.zeroGrad();
        opt.dispose();
        x.dispose();
        y.dispose();
        for (const p of model.parameters()) p.dispose();
      },
    };
  }
  if (how === 'dataloader') {
    const loader = new mox.data.DataLoader(new mox.data.TensorDataset(x, y), { batchSize: MLP_BATCH, shuffle: true });
    step = () => {
      for (const [xb, yb] of loader) {
        trainBatch(xb!, yb!);
        xb!.dispose();
        yb!.dispose();
      }
    };
  } else {
    step = () => {
      const perm = mox.data.randperm(n);
      for (let i = 0; i < n; i += MLP_BATCH) {
        mox.scope(() => {
          const idx = mox.tensor(Int32Array.from(perm.slice(i, i + MLP_BATCH)), { dtype: 'int32' });
          trainBatch(x.indexSelect(0, idx), y.indexSelect(0, idx));
        });
      }
    };
  }
  return {
    step,
    dispose: () => {
      opt.zeroGrad();
      opt.dispose();
      x.dispose();
      y.dispose();
      for (const p of model.parameters()) p.dispose();
    },
  };
}

export function prepare(w: WorkloadDef, rng: Rng, ctx: MoxContext): Prepared {
  switch (w.id) {
    case 'gemm-256':
      return gemm(256, rng);
    case 'gemm-512':
      return gemm(512, rng);
    case 'gemm-1024':
      return gemm(1024, rng);
    case 'conv1-fwd':
      return conv('conv1', false, rng);
    case 'conv1-fwdbwd':
      return conv('conv1', true, rng);
    case 'conv2-fwd':
      return conv('conv2', false, rng);
    case 'conv2-fwdbwd':
      return conv('conv2', true, rng);
    case 'mlp-step':
      return mlp(rng, ctx);
    case 'cnn-step':
      return cnn(rng, ctx);
    case 'gpt-step':
      return gpt(rng, ctx);
    case 'mlp-epoch-loop':
      return mlpEpoch('loop', ctx);
    case 'mlp-epoch-dataloader':
      return mlpEpoch('dataloader', ctx);
    case 'mlp-epoch-fit':
      return mlpEpoch('fit', ctx);
    case 'mlp-epoch-fit-v1':
      return mlpEpoch('fit-v1', ctx);
    default:
      throw new Error(`mox: unknown workload ${w.id}`);
  }
}

/** Runs every workload on mox at the current thread setting; reports a live-tensor leak per workload. */
export async function runMox(
  workloads: WorkloadDef[],
  opts: TimingOptions,
  log: (s: string) => void,
  ctx: MoxContext,
): Promise<PeerResults> {
  const out: PeerResults = {};
  for (const w of workloads) {
    const before = mox.memory().numTensors;
    let m: Measurement;
    let prepared: Prepared | null = null;
    try {
      prepared = prepare(w, new Rng(1234), ctx);
      m = toMeasurement(w, prepared.asyncStep ? await timeAsync(prepared.asyncStep, opts) : timeSync(prepared.step, opts));
    } catch (e) {
      m = failure(e);
    } finally {
      prepared?.dispose();
    }
    const leaked = mox.memory().numTensors - before;
    if (leaked !== 0) m.note = `${m.note ? `${m.note}; ` : ''}${leaked} tensors leaked`;
    out[w.id] = m;
    log(`  mox ${w.id}: ${m.value === null ? m.note : `${m.value.toFixed(2)} ${w.unit}`}`);
  }
  return out;
}
