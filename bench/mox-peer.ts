// The mox side of the CPU benchmark. mox has no nn.Module yet, so the models are leaf tensors with
// PyTorch's default init and mox.nn.functional ops, trained with mox.optim.Adam. Every step runs in
// mox.scope, so nothing leaks between reps.

import * as mox from '../src/index.js';
import {
  CNN_BATCH, CONV_BATCH, CONV_LAYERS, GPT_CONFIG, MLP_BATCH, Rng, failure, timeSync, toMeasurement,
  type ConvLayer, type Measurement, type PeerResults, type TimingOptions, type WorkloadDef,
} from './common.js';

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
  dispose: () => void;
}

function gemm(n: number, rng: Rng): Prepared {
  const a = fromF32(rng.normal(n * n), [n, n]);
  const b = fromF32(rng.normal(n * n), [n, n]);
  return {
    step: () => mox.scope(() => { mox.matmul(a, b); }),
    dispose: () => { a.dispose(); b.dispose(); },
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
        mox.scope(() => { F.conv2d(x, w, b).backward(dy); });
        clearGrads(grads);
      }
    : () => mox.noGrad(() => mox.scope(() => { F.conv2d(x, w, b); }));
  return { step, dispose: () => { clearGrads(grads); for (const t of [x, w, b, dy]) t.dispose(); } };
}

function mlp(rng: Rng): Prepared {
  const x = fromF32(rng.normal(MLP_BATCH * 784), [MLP_BATCH, 784]);
  const y = mox.keep(mox.tensor(rng.labels(MLP_BATCH, 10), { shape: [MLP_BATCH] }));
  const w1 = param(rng, [128, 784], 784);
  const b1 = param(rng, [128], 784);
  const w2 = param(rng, [10, 128], 128);
  const b2 = param(rng, [10], 128);
  const params = [w1, b1, w2, b2];
  const opt = new mox.optim.Adam(params, { lr: 1e-3 });
  return {
    step: () => {
      mox.scope(() => {
        const h = F.relu(F.linear(x, w1, b1));
        F.crossEntropy(F.linear(h, w2, b2), y).backward();
      });
      opt.step();
      opt.zeroGrad();
    },
    dispose: () => { opt.zeroGrad(); opt.dispose(); for (const t of [x, y, ...params]) t.dispose(); },
  };
}

function cnn(rng: Rng): Prepared {
  const x = fromF32(rng.normal(CNN_BATCH * 28 * 28), [CNN_BATCH, 1, 28, 28]);
  const y = mox.keep(mox.tensor(rng.labels(CNN_BATCH, 10), { shape: [CNN_BATCH] }));
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
        let h = F.maxPool2d(F.relu(F.conv2d(x, c1w, c1b)), 2); // [64, 32, 13, 13]
        h = F.maxPool2d(F.relu(F.conv2d(h, c2w, c2b)), 2); // [64, 64, 5, 5]
        h = F.relu(F.conv2d(h, c3w, c3b)).flatten(1); // [64, 576]
        h = F.relu(F.linear(h, d1w, d1b));
        F.crossEntropy(F.linear(h, d2w, d2b), y).backward();
      });
      opt.step();
      opt.zeroGrad();
    },
    dispose: () => { opt.zeroGrad(); opt.dispose(); for (const t of [x, y, ...params]) t.dispose(); },
  };
}

/** nanoGPT's training step: AdamW (betas 0.9/0.99, decay 0.1 on 2-D weights), clip 1.0. */
function gpt(rng: Rng): Prepared {
  const { vocabSize, blockSize, nLayer, nHead, nEmbd, batch } = GPT_CONFIG;
  mox.seed(1234);
  const model = new mox.models.GPT({ vocabSize, blockSize, nLayer, nHead, nEmbd });
  const decay = model.parameters().filter((p) => p.ndim >= 2);
  const noDecay = model.parameters().filter((p) => p.ndim < 2);
  const opt = new mox.optim.AdamW([{ params: decay, weightDecay: 0.1 }, { params: noDecay, weightDecay: 0 }], { lr: 1e-3, betas: [0.9, 0.99] });
  const ids = (): Tensor => mox.keep(mox.tensor(rng.labels(batch * blockSize, vocabSize), { shape: [batch, blockSize] }));
  const x = ids();
  const y = ids();
  return {
    step: () => {
      mox.scope(() => { model.forward(x, y).loss!.backward(); });
      mox.optim.clipGradNorm(model.parameters(), 1.0).dispose();
      opt.step();
      opt.zeroGrad();
    },
    dispose: () => { opt.zeroGrad(); opt.dispose(); for (const t of [x, y, ...model.parameters()]) t.dispose(); },
  };
}

function prepare(w: WorkloadDef, rng: Rng): Prepared {
  switch (w.id) {
    case 'gemm-256': return gemm(256, rng);
    case 'gemm-512': return gemm(512, rng);
    case 'gemm-1024': return gemm(1024, rng);
    case 'conv1-fwd': return conv('conv1', false, rng);
    case 'conv1-fwdbwd': return conv('conv1', true, rng);
    case 'conv2-fwd': return conv('conv2', false, rng);
    case 'conv2-fwdbwd': return conv('conv2', true, rng);
    case 'mlp-step': return mlp(rng);
    case 'cnn-step': return cnn(rng);
    case 'gpt-step': return gpt(rng);
    default: throw new Error(`mox: unknown workload ${w.id}`);
  }
}

/** Runs every workload on mox at the current thread setting; reports a live-tensor leak per workload. */
export function runMox(workloads: WorkloadDef[], opts: TimingOptions, log: (s: string) => void): PeerResults {
  const out: PeerResults = {};
  for (const w of workloads) {
    const before = mox.memory().numTensors;
    let m: Measurement;
    let prepared: Prepared | null = null;
    try {
      prepared = prepare(w, new Rng(1234));
      m = toMeasurement(w, timeSync(prepared.step, opts));
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
