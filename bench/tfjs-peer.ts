// The TensorFlow.js side of the CPU benchmark, run in a child process per backend ('wasm' or 'cpu')
// so that one backend's state (or a missing kernel midway through a gradient) cannot touch another
// peer's numbers. Models are tf ops with tf.variable weights, the way tf.layers builds them (fused
// matMul/conv2d with bias, NHWC), trained with tf.train.adam through optimizer.minimize.

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  CNN_BATCH,
  CONV_BATCH,
  CONV_LAYERS,
  MLP_BATCH,
  Rng,
  failure,
  timeSync,
  toMeasurement,
  type ConvLayer,
  type Measurement,
  type PeerResults,
  type TimingOptions,
  type WorkloadDef,
} from './common.js';

interface Prepared {
  step: () => void;
  dispose: () => void;
}

function variable(rng: Rng, shape: number[], fanIn: number): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.variable(tf.tensor(rng.uniformArray(n, 1 / Math.sqrt(fanIn)), shape, 'float32'));
}

function gemm(n: number, rng: Rng): Prepared {
  const a = tf.tensor2d(rng.normal(n * n), [n, n]);
  const b = tf.tensor2d(rng.normal(n * n), [n, n]);
  return {
    // CPU and wasm kernels run eagerly: the product is computed when matMul returns.
    step: () =>
      tf.tidy(() => {
        tf.matMul(a, b);
      }),
    dispose: () => tf.dispose([a, b]),
  };
}

function conv(layer: ConvLayer, backward: boolean, rng: Rng): Prepared {
  const { cin, cout, hw, inputGrad } = CONV_LAYERS[layer];
  const oh = hw - 2;
  const x = tf.tensor4d(rng.normal(CONV_BATCH * cin * hw * hw), [CONV_BATCH, hw, hw, cin]);
  const w = variable(rng, [3, 3, cin, cout], cin * 9);
  const b = variable(rng, [cout], cin * 9);
  const dy = tf.tensor4d(rng.normal(CONV_BATCH * cout * oh * oh), [CONV_BATCH, oh, oh, cout]);
  const fwd = (xx: tf.Tensor4D, ww: tf.Tensor4D, bb: tf.Tensor1D): tf.Tensor4D =>
    tf.fused.conv2d({ x: xx, filter: ww, bias: bb, strides: 1, pad: 'valid' });
  let step: () => void;
  if (!backward) {
    step = () =>
      tf.tidy(() => {
        fwd(x, w as tf.Tensor4D, b as tf.Tensor1D);
      });
  } else if (inputGrad) {
    const g = tf.grads((xx, ww, bb) => fwd(xx as tf.Tensor4D, ww as tf.Tensor4D, bb as tf.Tensor1D));
    step = () =>
      tf.tidy(() => {
        g([x, w, b], dy);
      });
  } else {
    const g = tf.grads((ww, bb) => fwd(x, ww as tf.Tensor4D, bb as tf.Tensor1D));
    step = () =>
      tf.tidy(() => {
        g([w, b], dy);
      });
  }
  return { step, dispose: () => tf.dispose([x, w, b, dy]) };
}

function dense(x: tf.Tensor2D, w: tf.Variable, b: tf.Variable): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b }) as tf.Tensor2D;
}

function trainer(params: tf.Variable[], loss: () => tf.Scalar): Prepared {
  const opt = tf.train.adam(1e-3);
  return {
    step: () => {
      opt.minimize(loss, false, params);
    },
    dispose: () => {
      opt.dispose();
      tf.dispose(params);
    },
  };
}

function mlp(rng: Rng): Prepared {
  const x = tf.tensor2d(rng.normal(MLP_BATCH * 784), [MLP_BATCH, 784]);
  const y = tf.oneHot(tf.tensor1d(rng.labels(MLP_BATCH, 10), 'int32'), 10);
  const w1 = variable(rng, [784, 128], 784);
  const b1 = variable(rng, [128], 784);
  const w2 = variable(rng, [128, 10], 128);
  const b2 = variable(rng, [10], 128);
  const t = trainer([w1, b1, w2, b2], () => tf.losses.softmaxCrossEntropy(y, dense(tf.relu(dense(x, w1, b1)), w2, b2)) as tf.Scalar);
  return {
    step: t.step,
    dispose: () => {
      t.dispose();
      tf.dispose([x, y]);
    },
  };
}

function cnn(rng: Rng): Prepared {
  const x = tf.tensor4d(rng.normal(CNN_BATCH * 28 * 28), [CNN_BATCH, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(rng.labels(CNN_BATCH, 10), 'int32'), 10);
  const c1w = variable(rng, [3, 3, 1, 32], 9);
  const c1b = variable(rng, [32], 9);
  const c2w = variable(rng, [3, 3, 32, 64], 32 * 9);
  const c2b = variable(rng, [64], 32 * 9);
  const c3w = variable(rng, [3, 3, 64, 64], 64 * 9);
  const c3b = variable(rng, [64], 64 * 9);
  const d1w = variable(rng, [576, 64], 576);
  const d1b = variable(rng, [64], 576);
  const d2w = variable(rng, [64, 10], 64);
  const d2b = variable(rng, [10], 64);
  const conv3 = (h: tf.Tensor4D, w: tf.Variable, b: tf.Variable): tf.Tensor4D =>
    tf.relu(tf.fused.conv2d({ x: h, filter: w as tf.Tensor4D, bias: b, strides: 1, pad: 'valid' }));
  const t = trainer([c1w, c1b, c2w, c2b, c3w, c3b, d1w, d1b, d2w, d2b], () => {
    let h = tf.maxPool(conv3(x, c1w, c1b), 2, 2, 'valid'); // [64, 13, 13, 32]
    h = tf.maxPool(conv3(h, c2w, c2b), 2, 2, 'valid'); // [64, 5, 5, 64]
    const f = tf.reshape(conv3(h, c3w, c3b), [CNN_BATCH, 576]) as tf.Tensor2D;
    return tf.losses.softmaxCrossEntropy(y, dense(tf.relu(dense(f, d1w, d1b)), d2w, d2b)) as tf.Scalar;
  });
  return {
    step: t.step,
    dispose: () => {
      t.dispose();
      tf.dispose([x, y]);
    },
  };
}

function prepare(w: WorkloadDef, rng: Rng): Prepared {
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
      return mlp(rng);
    case 'cnn-step':
      return cnn(rng);
    case 'gpt-step':
      throw new Error('not written for tfjs (no GPT model in this benchmark)');
    default:
      throw new Error(`tfjs: unknown workload ${w.id}`);
  }
}

export async function runTfjs(
  backend: 'wasm' | 'cpu',
  workloads: WorkloadDef[],
  opts: TimingOptions,
  log: (s: string) => void,
): Promise<{ info: Record<string, unknown>; results: PeerResults }> {
  if (backend === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: backend '${backend}' failed to initialize`);
  await tf.ready();
  const info: Record<string, unknown> = { version: tf.version.tfjs, backend: tf.getBackend() };
  if (backend === 'wasm') {
    info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    info.multithread = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  const results: PeerResults = {};
  for (const w of workloads) {
    let m: Measurement;
    let prepared: Prepared | null = null;
    try {
      prepared = prepare(w, new Rng(1234));
      m = toMeasurement(w, timeSync(prepared.step, opts));
    } catch (e) {
      m = failure(e);
    } finally {
      try {
        prepared?.dispose();
      } catch {
        /* a failed gradient may have left state behind */
      }
    }
    results[w.id] = m;
    log(`  tfjs-${backend} ${w.id}: ${m.value === null ? m.note : `${m.value.toFixed(2)} ${w.unit}`}`);
  }
  return { info, results };
}
